//! Workload managers: what installing, updating, pausing and removing a workload of each type
//! means on this node. Each type is provisioned by the daemon that owns it: volumes (btrfs
//! subvolumes) and zmounts (virtual disks) by storaged over the bus ([`storage`]), zdb
//! namespaces by the node's zdb processes ([`zdb`]). A type this node cannot run yet fails with
//! [`ProvisionError::Unsupported`], which the engine records as the workload's `error` state.
//!
//! On-host names are the workload ids (`<twin>-<contract>-<name>`), so every call is idempotent:
//! installing again after a reboot finds what exists. Owns no state of its own.

mod error;
pub mod storage;
pub mod zdb;

use gridtypes::{WorkloadData, WorkloadId, WorkloadType};
use serde_json::Value;
use zbus::Connection;

pub use error::ProvisionError;
use storage::StorageManager;
use zdb::{ZdbManager, ZdbSetup};

/// The managers, reached over the bus.
#[derive(Debug, Clone)]
pub struct Provisioners {
    storage: StorageManager,
    zdb: ZdbManager,
}

impl Provisioners {
    pub fn new(bus: Connection, zdb: ZdbSetup) -> Self {
        Provisioners {
            zdb: ZdbManager::new(bus.clone(), zdb),
            storage: StorageManager::new(bus),
        }
    }

    /// Installs the workload (or finds it installed) and returns its result data.
    pub async fn install(
        &self,
        id: &WorkloadId,
        data: &WorkloadData,
    ) -> Result<Value, ProvisionError> {
        self.apply(id, data, false).await
    }

    /// Applies new data to an installed workload (sizes: volumes not below what is used,
    /// zmounts grow only).
    pub async fn update(
        &self,
        id: &WorkloadId,
        data: &WorkloadData,
    ) -> Result<Value, ProvisionError> {
        self.apply(id, data, true).await
    }

    async fn apply(
        &self,
        id: &WorkloadId,
        data: &WorkloadData,
        resize: bool,
    ) -> Result<Value, ProvisionError> {
        let name = id.to_string();
        match data {
            WorkloadData::Volume(v) => self.storage.volume(&name, v, resize).await,
            WorkloadData::ZMount(m) => self.storage.zmount(&name, m, resize).await,
            WorkloadData::Zdb(z) if resize => self.zdb.update(id, z).await,
            WorkloadData::Zdb(z) => self.zdb.install(id, z).await,
            other => Err(ProvisionError::Unsupported(other.workload_type())),
        }
    }

    /// Pauses (the owner's grace period) or resumes a workload; types with nothing running
    /// only change state.
    pub async fn pause(
        &self,
        id: &WorkloadId,
        ty: &WorkloadType,
        paused: bool,
    ) -> Result<(), ProvisionError> {
        match ty {
            WorkloadType::Zdb => self.zdb.pause(id, paused).await,
            _ => Ok(()),
        }
    }

    /// Removes the workload and its data; removing what does not exist succeeds.
    pub async fn remove(&self, id: &WorkloadId, ty: &WorkloadType) -> Result<(), ProvisionError> {
        let name = id.to_string();
        match ty {
            WorkloadType::Volume => self.storage.remove_volume(&name).await,
            WorkloadType::ZMount => self.storage.remove_zmount(&name).await,
            WorkloadType::Zdb => self.zdb.remove(id).await,
            // Nothing of other types is ever installed here.
            _ => Ok(()),
        }
    }
}

/// A result's JSON (zos's shapes, which always serialise).
fn result<T: serde::Serialize>(data: &T) -> Result<Value, ProvisionError> {
    serde_json::to_value(data)
        .map_err(|e| ProvisionError::Storage(format!("result: {e}", e = zos_base::Report(&e))))
}
