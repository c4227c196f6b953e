//! Workload managers: what installing, updating, pausing and removing a workload of each type
//! means on this node. Each type is provisioned by the daemon that owns it, over the bus:
//! volumes (btrfs subvolumes) and zmounts (virtual disks) by storaged, zdb namespaces by the
//! node's zdb ([`crate::zdb`]). A type this node cannot
//! run yet fails with [`ProvisionError::Unsupported`], which the engine records as the
//! workload's `error` state.
//!
//! On-host names are the workload ids (`<twin>-<contract>-<name>`), so every call is idempotent:
//! installing again after a reboot finds what exists. Owns no state of its own.

use gridtypes::types::{VolumeResult, ZMountResult};
use gridtypes::{WorkloadData, WorkloadId, WorkloadType};
use serde_json::Value;
use zbus::Connection;
use zos_bus::storage::{kind, StorageError, StorageProxy};

use crate::zdb::{ZdbManager, ZdbSetup};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("this node cannot run {0} workloads yet")]
    Unsupported(WorkloadType),
    #[error("invalid workload data: {0}")]
    Data(String),
    #[error("{0}")]
    Storage(String),
    #[error("{0}")]
    Refused(String),
}

impl From<StorageError> for ProvisionError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NoSpace(m) | StorageError::InvalidArgument(m) => {
                ProvisionError::Refused(m)
            }
            other => ProvisionError::Storage(other.to_string()),
        }
    }
}

/// The managers, reached over the bus.
#[derive(Clone)]
pub struct Provisioners {
    bus: Connection,
    zdb: ZdbManager,
}

impl Provisioners {
    pub fn new(bus: Connection, zdb: ZdbSetup) -> Self {
        Provisioners {
            zdb: ZdbManager::new(bus.clone(), zdb),
            bus,
        }
    }

    async fn storage(&self) -> Result<StorageProxy<'static>, ProvisionError> {
        StorageProxy::new(&self.bus)
            .await
            .map_err(|e| ProvisionError::Storage(format!("storaged: {e}")))
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
            WorkloadData::Volume(v) => {
                let storage = self.storage().await?;
                if resize {
                    storage.resize_volume(&name, v.size).await?;
                } else {
                    storage.create_volume(&name, v.size, kind::SSD).await?;
                }
                Ok(result(&VolumeResult { id: name }))
            }
            WorkloadData::ZMount(m) => {
                let storage = self.storage().await?;
                if resize {
                    storage.resize_vdisk(&name, m.size).await?;
                } else {
                    storage.create_vdisk(&name, m.size).await?;
                }
                Ok(result(&ZMountResult { id: name }))
            }
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
            WorkloadType::Volume => Ok(self.storage().await?.delete_volume(&name).await?),
            WorkloadType::ZMount => Ok(self.storage().await?.delete_vdisk(&name).await?),
            WorkloadType::Zdb => self.zdb.remove(id).await,
            // Nothing of other types is ever installed here.
            _ => Ok(()),
        }
    }
}

fn result<T: serde::Serialize>(data: &T) -> Value {
    serde_json::to_value(data).unwrap_or(Value::Null)
}
