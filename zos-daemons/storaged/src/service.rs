//! `tf.zos.Storage1` on the bus: the object storaged serves at `/tf/zos/Storage` under
//! `tf.zos.Storage`. The contract (names, types, errors) lives in `zos_bus::storage`.
//!
//! Every call runs on a blocking thread while holding the one lock over [`Storage`], so calls are
//! serialised and a slow disk never blocks the bus connection.

use std::sync::{Arc, Mutex};

use zbus::Connection;
use zos_bus::storage::{
    self, disk_state, Cache, Disk, Pool, StorageCapacity, StorageError, Vdisk, Volume,
};

use crate::discovery::DiskState;
use crate::pool::Kind;
use crate::store::{Storage, StoreError, VdiskInfo, VolumeInfo};

#[derive(Debug)]
pub struct StorageService {
    storage: Arc<Mutex<Storage>>,
}

impl StorageService {
    pub fn new(storage: Storage) -> Self {
        StorageService {
            storage: Arc::new(Mutex::new(storage)),
        }
    }

    /// Grows the cache every `period` while it fills up (see [`Storage::grow_cache`]); runs
    /// until the task is dropped.
    pub fn keep_cache_growing(
        &self,
        period: std::time::Duration,
    ) -> impl std::future::Future<Output = ()> {
        let storage = self.storage.clone();
        async move {
            let mut ticks = tokio::time::interval(period);
            loop {
                ticks.tick().await;
                let storage = storage.clone();
                let grown = tokio::task::spawn_blocking(move || {
                    storage
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .grow_cache()
                })
                .await;
                if let Ok(Err(error)) = grown {
                    tracing::warn!(%error, "cannot check the cache's size");
                }
            }
        }
    }

    /// Runs `op` on a blocking thread with the storage locked, mapping errors to bus errors.
    async fn run<T, F>(&self, method: &'static str, op: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Storage) -> Result<T, StoreError> + Send + 'static,
    {
        let storage = self.storage.clone();
        let joined = tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave btrfs half-changed in memory (the
            // state is on disk), so a poisoned lock is still usable.
            let guard = storage.lock().unwrap_or_else(|p| p.into_inner());
            op(&guard)
        })
        .await;
        match joined {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                let error = to_bus(error);
                tracing::warn!(method, %error, "call failed");
                Err(error)
            }
            Err(error) => Err(StorageError::Failed(format!(
                "{method} did not finish: {error}",
                error = zos_base::Report(&error)
            ))),
        }
    }
}

fn to_bus(error: StoreError) -> StorageError {
    let text = zos_base::report(&error);
    match error {
        StoreError::NoSpace(_) => StorageError::NoSpace(text),
        StoreError::InvalidName(_) => StorageError::InvalidName(text),
        StoreError::InvalidArgument(_) => StorageError::InvalidArgument(text),
        StoreError::NotFound(_) => StorageError::NotFound(text),
        StoreError::Exists(_) => StorageError::Exists(text),
        StoreError::Btrfs(_) | StoreError::Io { .. } | StoreError::Discovery(_) => {
            StorageError::Failed(text)
        }
    }
}

fn volume(v: VolumeInfo) -> Volume {
    Volume {
        name: v.name,
        pool: v.pool,
        kind: v.kind.to_string(),
        path: v.path.to_string_lossy().into_owned(),
        size: v.size,
        used: v.used,
    }
}

fn vdisk(d: VdiskInfo) -> Vdisk {
    Vdisk {
        name: d.name,
        pool: d.pool,
        path: d.path.to_string_lossy().into_owned(),
        size: d.size,
    }
}

fn kind(word: &str) -> Result<Kind, StoreError> {
    Kind::parse(word).ok_or_else(|| {
        StoreError::InvalidArgument(format!("kind {word:?} is neither \"ssd\" nor \"hdd\""))
    })
}

#[zbus::interface(name = "tf.zos.Storage1")]
impl StorageService {
    async fn disks(&self) -> Result<Vec<Disk>, StorageError> {
        self.run("Disks", |s| {
            Ok(s.disks()
                .iter()
                .map(|d| {
                    let state = match (&d.info.state, &d.pool) {
                        (_, Some(_)) => disk_state::POOL,
                        (DiskState::Foreign { .. }, _) => disk_state::FOREIGN,
                        (DiskState::InUse, _) => disk_state::IN_USE,
                        // Empty or a pool that could not be made or opened: see the reason.
                        _ => disk_state::IGNORED,
                    };
                    Disk {
                        name: d.info.name.clone(),
                        path: d.info.path.to_string_lossy().into_owned(),
                        size: d.info.size,
                        rotational: d.info.rotational,
                        removable: d.info.removable,
                        model: d.info.model.clone(),
                        serial: d.info.serial.clone(),
                        state: state.to_string(),
                        pool: d.pool.clone().unwrap_or_default(),
                        reason: d.reason.clone(),
                    }
                })
                .collect())
        })
        .await
    }

    async fn pools(&self) -> Result<Vec<Pool>, StorageError> {
        self.run("Pools", |s| {
            Ok(s.pools()?
                .into_iter()
                .map(|u| Pool {
                    name: u.pool.name,
                    kind: u.pool.kind.to_string(),
                    device: u.pool.device.to_string_lossy().into_owned(),
                    path: u.pool.path.to_string_lossy().into_owned(),
                    size: u.pool.size,
                    allocated: u.allocated,
                    used: u.used,
                })
                .collect())
        })
        .await
    }

    async fn capacity(&self) -> Result<StorageCapacity, StorageError> {
        self.run("Capacity", |s| {
            let t = s.totals()?;
            Ok(StorageCapacity {
                sru_total: t.sru_total,
                sru_used: t.sru_used,
                hru_total: t.hru_total,
                hru_used: t.hru_used,
            })
        })
        .await
    }

    async fn cache(&self) -> Result<Cache, StorageError> {
        self.run("Cache", |s| {
            let c = s.cache()?;
            Ok(Cache {
                mount_point: c.mount_point.to_string_lossy().into_owned(),
                persistent: c.persistent(),
                pool: c.pool.unwrap_or_default(),
                size: c.size,
                used: c.used,
            })
        })
        .await
    }

    async fn volumes(&self) -> Result<Vec<Volume>, StorageError> {
        self.run("Volumes", |s| {
            Ok(s.volumes()?.into_iter().map(volume).collect())
        })
        .await
    }

    async fn create_volume(
        &self,
        name: String,
        size: u64,
        kind_word: String,
    ) -> Result<Volume, StorageError> {
        self.run("CreateVolume", move |s| {
            s.create_volume(&name, size, kind(&kind_word)?).map(volume)
        })
        .await
    }

    async fn create_volume_on(
        &self,
        pool: String,
        name: String,
        size: u64,
    ) -> Result<Volume, StorageError> {
        self.run("CreateVolumeOn", move |s| {
            s.create_volume_on(&pool, &name, size).map(volume)
        })
        .await
    }

    async fn resize_volume(&self, name: String, size: u64) -> Result<Volume, StorageError> {
        self.run("ResizeVolume", move |s| {
            s.resize_volume(&name, size).map(volume)
        })
        .await
    }

    async fn delete_volume(&self, name: String) -> Result<(), StorageError> {
        self.run("DeleteVolume", move |s| s.delete_volume(&name).map(|_| ()))
            .await
    }

    async fn volume_usage(&self, name: String) -> Result<Volume, StorageError> {
        self.run("VolumeUsage", move |s| s.volume_usage(&name).map(volume))
            .await
    }

    async fn vdisks(&self) -> Result<Vec<Vdisk>, StorageError> {
        self.run("Vdisks", |s| {
            Ok(s.vdisks()?.into_iter().map(vdisk).collect())
        })
        .await
    }

    async fn create_vdisk(&self, name: String, size: u64) -> Result<Vdisk, StorageError> {
        self.run("CreateVdisk", move |s| {
            s.create_vdisk(&name, size).map(vdisk)
        })
        .await
    }

    async fn resize_vdisk(&self, name: String, size: u64) -> Result<Vdisk, StorageError> {
        self.run("ResizeVdisk", move |s| {
            s.resize_vdisk(&name, size).map(vdisk)
        })
        .await
    }

    async fn delete_vdisk(&self, name: String) -> Result<(), StorageError> {
        self.run("DeleteVdisk", move |s| s.delete_vdisk(&name).map(|_| ()))
            .await
    }
}

/// Serves `service` at `/tf/zos/Storage`, then takes the name `tf.zos.Storage` (so whoever sees
/// the name can call the object). Fails when another process owns the name.
pub async fn serve(conn: &Connection, service: StorageService) -> Result<(), zos_bus::ServeError> {
    zos_bus::serve(conn, storage::PATH, storage::NAME, service).await
}
