//! zdb workloads: 0-db namespaces on the node's HDD capacity, as zos serves them.
//!
//! Each HDD pool that holds namespaces has its own zdb process (our `zdb`, 0-db compatible;
//! see [`instance`]): its data lives in the storaged volume `zdb-<pool>` on that pool, whose
//! quota is the sum of its namespaces' sizes (so storaged's HRU accounting stays true), it
//! listens on its own port, and has its own admin password, with `--protect`. A new namespace
//! goes to the running zdb whose pool has the most room for it, else a zdb is started on the
//! HDD pool with the most room (zos: "reuse a container whose disk has room, else allocate a
//! new disk"). When a zdb's last namespace goes, the process is stopped and its volume
//! deleted, which frees the pool.
//!
//! A workload is the namespace named after its workload id, with the workload's size
//! (`maxsize`), mode, password and public flag; pause and resume freeze it (read-only) and thaw
//! it; an update may grow it and change password and public, not its mode. The result carries
//! the namespace, the node's IPs and the zdb's port (zos's JSON shape).
//!
//! Quotas are recomputed from what zdb reports, never adjusted by deltas, and a namespace found
//! already made gets the workload's settings again, so a job interrupted half-way is put right
//! by the next one. Every job starts every zdb first: if one cannot start, zdb jobs fail rather
//! than risk making a namespace a second time on another pool.

mod instance;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use gridtypes::types::{Zdb, ZdbResult, ZDB_MODE_SEQ};
use gridtypes::WorkloadId;
use serde_json::Value;
use tokio::sync::Mutex;
use zbus::Connection;
use zos_bus::storage::{kind, StorageError, StorageProxy, Volume};

use zdb::admin::{AdminClient, AdminError, Property};
use zdb::format::Mode;

use super::ProvisionError;
use instance::{Instance, VOLUME_PREFIX};

pub use instance::{Settings, SETTINGS};

/// How long networkd gets to say the node's addresses.
const NETWORK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The port of the first zdb; the next ones take the next free ports.
pub const FIRST_PORT: u16 = 9900;

/// Where the node's parts are (tests point them elsewhere).
#[derive(Debug, Clone)]
pub struct ZdbSetup {
    /// The zdb binary.
    pub binary: PathBuf,
    /// The address zdb listens on for clients.
    pub listen: IpAddr,
    /// The first zdb's port.
    pub first_port: u16,
    /// The init's control socket.
    pub init_socket: PathBuf,
    /// The init's service directory.
    pub services: PathBuf,
    /// Where the zdb processes' unix sockets are.
    pub run_dir: PathBuf,
}

impl ZdbSetup {
    /// A node's: zdb from the image, on every address, supervised by the node's init.
    pub fn node() -> Self {
        ZdbSetup {
            binary: PathBuf::from("/sbin/zdb"),
            listen: IpAddr::from([0, 0, 0, 0]),
            first_port: FIRST_PORT,
            init_socket: PathBuf::from(zos_init_control::SOCKET),
            services: PathBuf::from("/etc/zinit"),
            run_dir: PathBuf::from("/run/zdb"),
        }
    }
}

/// The zdb processes and their namespaces.
#[derive(Debug, Clone)]
pub struct ZdbManager {
    bus: Connection,
    setup: ZdbSetup,
    /// Placement reads then changes several zdbs and volumes: one change at a time. Holds the
    /// admin client of each zdb (by volume), whose connection is kept between jobs.
    lock: Arc<Mutex<Clients>>,
}

/// The admin client of each zdb, by volume name.
type Clients = HashMap<String, AdminClient>;

pub(crate) fn failed(what: impl std::fmt::Display) -> ProvisionError {
    ProvisionError::Storage(format!("zdb: {what}"))
}

impl ZdbManager {
    pub fn new(bus: Connection, setup: ZdbSetup) -> Self {
        ZdbManager {
            bus,
            setup,
            lock: Arc::new(Mutex::new(Clients::new())),
        }
    }

    async fn storage(&self) -> Result<StorageProxy<'static>, ProvisionError> {
        StorageProxy::new(&self.bus).await.map_err(failed)
    }

    /// Creates the namespace (or finds it) on the zdb of a pool with room for it. A namespace
    /// found gets its settings again: a job cut short between NSNEW and the NSSETs must not
    /// leave a private namespace open.
    pub async fn install(&self, id: &WorkloadId, z: &Zdb) -> Result<Value, ProvisionError> {
        let mut clients = self.lock.lock().await;
        let name = id.to_string();
        let instances = self.instances(&mut clients).await?;
        let zdb = match find(&instances, &name).await? {
            Some(found) => {
                self.settle_quota(&found, 0).await?;
                found
            }
            None => {
                let zdb = self.place(&mut clients, &instances, z.size).await?;
                // Room first: a namespace never exists beyond its zdb's quota.
                self.settle_quota(&zdb, z.size).await?;
                zdb.admin.create(&name).await.map_err(refused)?;
                tracing::info!(namespace = %name, pool = %zdb.pool, size = z.size, "zdb namespace created");
                zdb
            }
        };
        self.configure(&zdb, &name, z, true).await?;
        self.result(&zdb, &name).await
    }

    /// Applies a new size (grow only), password and public flag; the mode cannot change.
    pub async fn update(&self, id: &WorkloadId, z: &Zdb) -> Result<Value, ProvisionError> {
        let mut clients = self.lock.lock().await;
        let (zdb, name) = self.holder(&mut clients, id).await?;
        self.configure(&zdb, &name, z, false).await?;
        self.result(&zdb, &name).await
    }

    /// Gives the namespace `z`'s size (never smaller: the quota grows first), public flag,
    /// password and mode. The mode may be set only on an empty namespace being installed.
    async fn configure(
        &self,
        zdb: &Instance,
        name: &str,
        z: &Zdb,
        installing: bool,
    ) -> Result<(), ProvisionError> {
        let info = zdb
            .admin
            .info(name)
            .await
            .map_err(failed)?
            .ok_or_else(|| failed(format!("namespace {name} is gone")))?;
        let size = info.data_limits_bytes;
        let mut properties = Vec::new();
        let wanted = if z.mode == ZDB_MODE_SEQ {
            Mode::Seq
        } else {
            Mode::User
        };
        if wanted != info.mode {
            if !(installing && info.entries == 0) {
                return Err(ProvisionError::Refused(
                    "the mode of a zdb namespace cannot change".into(),
                ));
            }
            properties.push(Property::Mode(wanted));
        }
        if z.size < size && size != 0 {
            return Err(ProvisionError::Refused(format!(
                "a zdb namespace cannot shrink (from {size} to {} bytes)",
                z.size
            )));
        }
        if z.size > size {
            self.settle_quota(zdb, z.size - size).await?;
        }
        let password = (!z.password.is_empty()).then(|| z.password.clone());
        properties.extend([
            Property::MaxSize(z.size),
            Property::Public(z.public),
            Property::Password(password),
        ]);
        for property in &properties {
            zdb.admin.set(name, property).await.map_err(refused)?;
        }
        Ok(())
    }

    /// Freezes (pause) or thaws the namespace.
    pub async fn pause(&self, id: &WorkloadId, paused: bool) -> Result<(), ProvisionError> {
        let mut clients = self.lock.lock().await;
        let (zdb, name) = self.holder(&mut clients, id).await?;
        zdb.admin
            .set(&name, &Property::Freeze(paused))
            .await
            .map_err(refused)
    }

    /// Deletes the namespace and its data; the zdb it leaves empty is stopped and its volume
    /// deleted, otherwise its quota shrinks by the namespace's size.
    pub async fn remove(&self, id: &WorkloadId) -> Result<(), ProvisionError> {
        let mut clients = self.lock.lock().await;
        let name = id.to_string();
        let instances = self.instances(&mut clients).await?;
        let Some(zdb) = find(&instances, &name).await? else {
            return Ok(());
        };
        zdb.admin.delete(&name).await.map_err(refused)?;
        tracing::info!(namespace = %name, pool = %zdb.pool, "zdb namespace deleted");
        if zdb.namespaces().await?.is_empty() {
            zdb.stop(&self.setup).await?;
            clients.remove(&zdb.volume);
            self.storage().await?.delete_volume(&zdb.volume).await?;
            tracing::info!(pool = %zdb.pool, "zdb stopped: its last namespace is gone");
        } else if let Err(error) = self.settle_quota(&zdb, 0).await {
            // Not below what is used: a shrink storaged refuses leaves the quota larger.
            tracing::warn!(%error, "zdb volume not shrunk");
        }
        Ok(())
    }

    /// Every zdb volume as a running instance.
    async fn instances(&self, clients: &mut Clients) -> Result<Vec<Instance>, ProvisionError> {
        let volumes: Vec<_> = self
            .storage()
            .await?
            .volumes()
            .await?
            .into_iter()
            .filter(|v| v.name.starts_with(VOLUME_PREFIX) && v.kind == kind::HDD)
            .collect();
        let mut instances: Vec<Instance> = Vec::new();
        // Settings that exist first, so a volume without any takes a port nobody has.
        let (with, without): (Vec<_>, Vec<_>) = volumes
            .into_iter()
            .partition(|v| PathBuf::from(&v.path).join(SETTINGS).exists());
        for v in with.into_iter().chain(without) {
            let zdb = self.start(clients, v, &instances).await?;
            instances.push(zdb);
        }
        Ok(instances)
    }

    /// Runs the zdb of `volume`; a new one takes a port none of `others` has. Its admin client
    /// is the one kept for the volume, unless the socket or password changed.
    async fn start(
        &self,
        clients: &mut Clients,
        volume: Volume,
        others: &[Instance],
    ) -> Result<Instance, ProvisionError> {
        let taken: Vec<u16> = others.iter().map(|i| i.settings.port).collect();
        let name = volume.name.clone();
        let zdb = Instance::open(
            volume.name,
            volume.pool,
            PathBuf::from(volume.path),
            &taken,
            &self.setup,
            |socket, password| match clients.get(&name) {
                Some(kept) if kept.is_for(&socket, password) => kept.clone(),
                _ => AdminClient::new(socket, password),
            },
        )?;
        clients.insert(name, zdb.admin.clone());
        zdb.ensure_running(&self.setup).await?;
        Ok(zdb)
    }

    /// The zdb holding the namespace of workload `id`, and the namespace's name.
    async fn holder(
        &self,
        clients: &mut Clients,
        id: &WorkloadId,
    ) -> Result<(Instance, String), ProvisionError> {
        let name = id.to_string();
        let zdb = find(&self.instances(clients).await?, &name)
            .await?
            .ok_or_else(|| failed(format!("namespace {name} is gone")))?;
        Ok((zdb, name))
    }

    /// The zdb for a new namespace of `size`: the running one whose pool has the most room,
    /// else a new one on the HDD pool with the most room.
    async fn place(
        &self,
        clients: &mut Clients,
        instances: &[Instance],
        size: u64,
    ) -> Result<Instance, ProvisionError> {
        let storage = self.storage().await?;
        let mut pools: Vec<_> = storage
            .pools()
            .await?
            .into_iter()
            .filter(|p| p.kind == kind::HDD)
            .map(|p| (p.size.saturating_sub(p.allocated), p))
            .filter(|(free, _)| *free >= size)
            .collect();
        pools.sort_by_key(|(free, _)| std::cmp::Reverse(*free));
        if let Some(zdb) = pools
            .iter()
            .find_map(|(_, p)| instances.iter().find(|i| i.pool == p.name))
        {
            return Ok(zdb.clone());
        }
        let Some((_, pool)) = pools.into_iter().next() else {
            return Err(ProvisionError::Refused(format!(
                "no HDD pool of this node has {size} bytes free for a zdb namespace"
            )));
        };
        let volume = storage
            .create_volume_on(&pool.name, &Instance::volume_of(&pool.name), size)
            .await?;
        self.start(clients, volume, instances).await
    }

    /// Sets the zdb volume's quota to the sum of its namespaces' sizes plus `extra` (room for
    /// a namespace about to be made or grown).
    async fn settle_quota(&self, zdb: &Instance, extra: u64) -> Result<(), ProvisionError> {
        let sum: u64 = zdb.namespaces().await?.iter().map(|(_, size)| size).sum();
        let storage = self.storage().await?;
        let used = storage.volume_usage(&zdb.volume).await?.used;
        let quota = (sum + extra).max(used).max(1);
        match storage.resize_volume(&zdb.volume, quota).await {
            Ok(_) => Ok(()),
            Err(StorageError::NoSpace(m)) => Err(ProvisionError::Refused(m)),
            Err(e) => Err(e.into()),
        }
    }

    /// zos's result: the namespace, the node's IPs, the zdb's port.
    async fn result(&self, zdb: &Instance, name: &str) -> Result<Value, ProvisionError> {
        serde_json::to_value(ZdbResult {
            namespace: name.to_string(),
            ips: self.node_ips().await,
            port: u64::from(zdb.settings.port),
        })
        .map_err(failed)
    }

    /// The node's addresses, as networkd reports them (none without networkd).
    async fn node_ips(&self) -> Vec<String> {
        zos_bus::network::status_if_up(&self.bus, NETWORK_TIMEOUT)
            .await
            .map(|s| s.ips())
            .unwrap_or_default()
    }
}

/// The zdb that has namespace `name`.
async fn find(instances: &[Instance], name: &str) -> Result<Option<Instance>, ProvisionError> {
    for zdb in instances {
        if zdb.admin.info(name).await.map_err(failed)?.is_some() {
            return Ok(Some(zdb.clone()));
        }
    }
    Ok(None)
}

/// zdb's refusal as the workload's error (`zdb NSSET: ...`), anything else as a failure.
fn refused(e: AdminError) -> ProvisionError {
    match e {
        AdminError::Refused { command, message } => {
            ProvisionError::Refused(format!("zdb {command}: {message}"))
        }
        other => failed(other),
    }
}
