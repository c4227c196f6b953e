//! Volumes (btrfs subvolumes) and zmounts (virtual disks): storaged makes them, named after the
//! workload id, so installing again finds what exists.

use gridtypes::types::{Volume, VolumeResult, ZMount, ZMountResult};
use serde_json::Value;
use zbus::Connection;
use zos_bus::storage::{kind, StorageProxy};

use super::{result, ProvisionError};

/// Volumes and zmounts, through storaged.
#[derive(Debug, Clone)]
pub struct StorageManager {
    bus: Connection,
}

impl StorageManager {
    pub fn new(bus: Connection) -> Self {
        StorageManager { bus }
    }

    async fn storage(&self) -> Result<StorageProxy<'static>, ProvisionError> {
        StorageProxy::new(&self.bus).await.map_err(|e| {
            ProvisionError::Storage(format!("storaged: {e}", e = zos_base::Report(&e)))
        })
    }

    /// Makes (or with `resize`, resizes: not below what is used) the volume `name`.
    pub async fn volume(
        &self,
        name: &str,
        v: &Volume,
        resize: bool,
    ) -> Result<Value, ProvisionError> {
        let storage = self.storage().await?;
        if resize {
            storage.resize_volume(name, v.size).await?;
        } else {
            storage.create_volume(name, v.size, kind::SSD).await?;
        }
        result(&VolumeResult { id: name.into() })
    }

    /// Makes (or with `resize`, grows) the virtual disk `name`.
    pub async fn zmount(
        &self,
        name: &str,
        m: &ZMount,
        resize: bool,
    ) -> Result<Value, ProvisionError> {
        let storage = self.storage().await?;
        if resize {
            storage.resize_vdisk(name, m.size).await?;
        } else {
            storage.create_vdisk(name, m.size).await?;
        }
        result(&ZMountResult { id: name.into() })
    }

    pub async fn remove_volume(&self, name: &str) -> Result<(), ProvisionError> {
        Ok(self.storage().await?.delete_volume(name).await?)
    }

    pub async fn remove_zmount(&self, name: &str) -> Result<(), ProvisionError> {
        Ok(self.storage().await?.delete_vdisk(name).await?)
    }
}
