//! The node's storage as one value: discovered disks, mounted pools, and the volume and virtual
//! disk operations with the allocation policy.
//!
//! Policy: a pool's *allocated* bytes are the sum of its volume limits and virtual disk sizes;
//! its free bytes are its disk size minus that. A volume goes to the pool of the asked kind with
//! the most free bytes, a virtual disk to the SSD pool with the most free bytes; a request that
//! fits nowhere is refused before anything is written.
//!
//! Crash safety: nothing is kept outside btrfs. A volume is created as subvolume
//! `<name>.partial`, limited, committed (`BTRFS_IOC_SYNC`), then renamed to `<name>`; a virtual disk is created as
//! `vdisks/<name>.partial`, made NOCOW, sized, synced, then renamed. Listings skip partial names
//! (they are not valid names) and [`crate::pool::open`] removes them at start. Callers serialise
//! calls (the service holds one lock).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::btrfs::{self, BtrfsError};
use crate::cache::{self, CacheMount};
use crate::discovery::{Discovery, DiskInfo, DiskState};
use crate::names::{self, NameError};
use crate::pool::{self, Kind, Pool, PoolError};
use crate::seek;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NoSpace(String),
    #[error(transparent)]
    InvalidName(#[from] NameError),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Exists(String),
    #[error(transparent)]
    Btrfs(#[from] BtrfsError),
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Discovery(#[from] zos_disks::DiskError),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// A disk with the pool on it, if any, and a reason for people.
#[derive(Debug, Clone)]
pub struct DiskReport {
    pub info: DiskInfo,
    pub pool: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    pub name: String,
    pub pool: String,
    pub kind: Kind,
    pub path: PathBuf,
    pub size: u64,
    pub used: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VdiskInfo {
    pub name: String,
    pub pool: String,
    pub path: PathBuf,
    pub size: u64,
    /// Bytes the sparse file occupies.
    pub used: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUsage {
    pub pool: Pool,
    pub allocated: u64,
    pub used: u64,
}

/// Totals by kind: (total, allocated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub sru_total: u64,
    pub sru_used: u64,
    pub hru_total: u64,
    pub hru_used: u64,
}

#[derive(Debug)]
pub struct Storage {
    pub(crate) pools: Vec<Pool>,
    disks: Vec<DiskReport>,
    /// Where the node's cache is mounted, once [`Storage::mount_cache`] ran.
    pub(crate) cache: Option<CacheMount>,
}

impl Storage {
    /// Discovers the disks, formats the empty ones, mounts every pool under `mnt_root`.
    /// A disk that cannot be formatted or mounted is reported and skipped.
    pub fn start(discovery: &Discovery, mnt_root: &Path) -> Result<Storage, StoreError> {
        let mut pools = Vec::new();
        let mut disks = Vec::new();
        for info in discovery.disks()? {
            let disk = info.name.clone();
            let (pool, reason) = match &info.state {
                DiskState::Empty => {
                    let verdict = seek::judge(
                        &info.path,
                        &disk,
                        info.size,
                        &discovery.sys,
                        discovery.virtualized,
                        info.rotational,
                    );
                    let kind = verdict.kind;
                    tracing::info!(%disk, %kind, why = %verdict.why, "disk classified");
                    match create_pool(&info, kind, mnt_root) {
                        Ok(p) => {
                            tracing::info!(%disk, pool = %p.name, %kind, size = info.size, "pool created");
                            (Some(p), "new pool".to_string())
                        }
                        Err(error) => {
                            tracing::error!(%disk, %error, "cannot create a pool");
                            (
                                None,
                                format!(
                                    "cannot create a pool: {error}",
                                    error = zos_base::Report(&error)
                                ),
                            )
                        }
                    }
                }
                DiskState::Pool { label } => {
                    let kind = Kind::of_label(label).unwrap_or(if info.rotational {
                        Kind::Hdd
                    } else {
                        Kind::Ssd
                    });
                    match pool::open(&info.path, label, kind, info.size, mnt_root) {
                        Ok(p) => (Some(p), "pool".to_string()),
                        Err(error) => {
                            tracing::error!(%disk, pool = %label, %error, "cannot open the pool");
                            (
                                None,
                                format!(
                                    "cannot open pool {label}: {error}",
                                    error = zos_base::Report(&error)
                                ),
                            )
                        }
                    }
                }
                DiskState::Foreign { what } => {
                    tracing::warn!(%disk, %what, "disk holds data storaged did not write: left alone; wipe it to give it to the node");
                    (None, format!("holds {what}; wipe it to use it"))
                }
                DiskState::InUse => {
                    tracing::info!(%disk, "disk in use (mounted or held): left alone");
                    (None, "in use (mounted or held)".to_string())
                }
                DiskState::Ignored { why } => (None, why.clone()),
            };
            let pool_name = pool.as_ref().map(|p| p.name.clone());
            if let Some(p) = pool {
                pools.push(p);
            }
            disks.push(DiskReport {
                info,
                pool: pool_name,
                reason,
            });
        }
        Ok(Storage {
            pools,
            disks,
            cache: None,
        })
    }

    pub fn disks(&self) -> &[DiskReport] {
        &self.disks
    }

    pub fn pools(&self) -> Result<Vec<PoolUsage>, StoreError> {
        self.pools.iter().map(|p| self.usage(p)).collect()
    }

    /// Per-kind totals and allocations.
    pub fn totals(&self) -> Result<Totals, StoreError> {
        let mut t = Totals::default();
        for u in self.pools()? {
            match u.pool.kind {
                Kind::Ssd => {
                    t.sru_total += u.pool.size;
                    t.sru_used += u.allocated;
                }
                Kind::Hdd => {
                    t.hru_total += u.pool.size;
                    t.hru_used += u.allocated;
                }
            }
        }
        Ok(t)
    }

    fn usage(&self, pool: &Pool) -> Result<PoolUsage, StoreError> {
        let (mut allocated, mut used) = (0u64, 0u64);
        for v in volumes_in(pool)? {
            allocated = allocated.saturating_add(v.size);
            used = used.saturating_add(v.used);
        }
        for d in vdisks_in(pool)? {
            allocated = allocated.saturating_add(d.size);
            used = used.saturating_add(d.used);
        }
        if let Some(cache) = cache::volume_in(pool)? {
            allocated = allocated.saturating_add(cache.size);
            used = used.saturating_add(cache.used);
        }
        Ok(PoolUsage {
            pool: pool.clone(),
            allocated,
            used,
        })
    }

    /// The pool of `kind` with the most free bytes, if `size` fits there.
    pub(crate) fn place(&self, kind: Kind, size: u64, what: &str) -> Result<&Pool, StoreError> {
        let mut best: Option<(&Pool, u64)> = None;
        for pool in self.pools.iter().filter(|p| p.kind == kind) {
            let free = pool.size.saturating_sub(self.usage(pool)?.allocated);
            if best.is_none_or(|(_, f)| free > f) {
                best = Some((pool, free));
            }
        }
        match best {
            None => Err(StoreError::NoSpace(format!(
                "this node has no {kind} pool; {what} needs {}",
                human(size)
            ))),
            Some((pool, free)) if free < size => Err(StoreError::NoSpace(format!(
                "pool {} has {} free, {what} needs {}",
                pool.name,
                human(free),
                human(size)
            ))),
            Some((pool, _)) => Ok(pool),
        }
    }

    pub(crate) fn free(&self, pool: &Pool) -> Result<u64, StoreError> {
        Ok(pool.size.saturating_sub(self.usage(pool)?.allocated))
    }

    // ---- volumes ----

    pub fn volumes(&self) -> Result<Vec<VolumeInfo>, StoreError> {
        let mut all = Vec::new();
        for pool in &self.pools {
            all.extend(volumes_in(pool)?);
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    fn find_volume(&self, name: &str) -> Option<(&Pool, PathBuf)> {
        self.pools.iter().find_map(|p| {
            let path = p.path.join(name);
            btrfs::is_subvolume(&path).then_some((p, path))
        })
    }

    /// Creates volume `name` on the pool of `kind` with the most room.
    pub fn create_volume(
        &self,
        name: &str,
        size: u64,
        kind: Kind,
    ) -> Result<VolumeInfo, StoreError> {
        self.create_volume_where(
            name,
            size,
            |v| v.kind == kind,
            || self.place(kind, size, &format!("volume {name}")),
        )
    }

    /// Creates volume `name` on the pool named `pool` (for services that keep one volume per
    /// pool, like zdb's per HDD pool).
    pub fn create_volume_on(
        &self,
        pool: &str,
        name: &str,
        size: u64,
    ) -> Result<VolumeInfo, StoreError> {
        self.create_volume_where(
            name,
            size,
            |v| v.name == pool,
            || {
                let target = self
                    .pools
                    .iter()
                    .find(|p| p.name == pool)
                    .ok_or_else(|| StoreError::NotFound(format!("no pool {pool}")))?;
                let free = self.free(target)?;
                if free < size {
                    return Err(StoreError::NoSpace(format!(
                        "pool {pool} has {} free, volume {name} needs {}",
                        human(free),
                        human(size)
                    )));
                }
                Ok(target)
            },
        )
    }

    /// Returns the existing volume if it has `size` and its pool passes `same_pool`, else
    /// creates it on the pool `choose` picks.
    fn create_volume_where<'a>(
        &'a self,
        name: &str,
        size: u64,
        same_pool: impl Fn(&Pool) -> bool,
        choose: impl FnOnce() -> Result<&'a Pool, StoreError>,
    ) -> Result<VolumeInfo, StoreError> {
        names::validate(name)?;
        if size == 0 {
            return Err(StoreError::InvalidArgument(
                "a volume needs a size above 0".into(),
            ));
        }
        if let Some((pool, path)) = self.find_volume(name) {
            let v = volume_info(pool, name, &path)?;
            if v.size == size && same_pool(pool) {
                return Ok(v);
            }
            return Err(StoreError::Exists(format!(
                "volume {name} exists on {} pool {} with {}, not {}",
                pool.kind,
                pool.name,
                human(v.size),
                human(size)
            )));
        }
        let pool = choose()?;
        create_limited_subvolume(pool, name, size)?;
        tracing::info!(volume = name, pool = %pool.name, size, "volume created");
        volume_info(pool, name, &pool.path.join(name))
    }

    pub fn resize_volume(&self, name: &str, size: u64) -> Result<VolumeInfo, StoreError> {
        names::validate(name)?;
        let (pool, path) = self
            .find_volume(name)
            .ok_or_else(|| StoreError::NotFound(format!("no volume {name}")))?;
        btrfs::sync(&path)?;
        let v = volume_info(pool, name, &path)?;
        if size == v.size {
            return Ok(v);
        }
        if size < v.used {
            return Err(StoreError::InvalidArgument(format!(
                "volume {name} uses {}, it cannot shrink to {}",
                human(v.used),
                human(size)
            )));
        }
        if size > v.size {
            let more = size - v.size;
            let free = self.free(pool)?;
            if free < more {
                return Err(StoreError::NoSpace(format!(
                    "pool {} has {} free, growing volume {name} needs {} more",
                    pool.name,
                    human(free),
                    human(more)
                )));
            }
        }
        btrfs::set_limit(&path, size)?;
        tracing::info!(volume = name, pool = %pool.name, from = v.size, to = size, "volume resized");
        volume_info(pool, name, &path)
    }

    /// Deletes volume `name`; `Ok(false)` when there was none.
    pub fn delete_volume(&self, name: &str) -> Result<bool, StoreError> {
        names::validate(name)?;
        let Some((pool, path)) = self.find_volume(name) else {
            return Ok(false);
        };
        btrfs::delete_subvolume(&path)?;
        tracing::info!(volume = name, pool = %pool.name, "volume deleted");
        Ok(true)
    }

    pub fn volume_usage(&self, name: &str) -> Result<VolumeInfo, StoreError> {
        names::validate(name)?;
        let (pool, path) = self
            .find_volume(name)
            .ok_or_else(|| StoreError::NotFound(format!("no volume {name}")))?;
        btrfs::sync(&path)?;
        volume_info(pool, name, &path)
    }

    // ---- virtual disks ----

    pub fn vdisks(&self) -> Result<Vec<VdiskInfo>, StoreError> {
        let mut all = Vec::new();
        for pool in &self.pools {
            all.extend(vdisks_in(pool)?);
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    fn find_vdisk(&self, name: &str) -> Option<(&Pool, PathBuf)> {
        self.pools.iter().find_map(|p| {
            let path = p.vdisks().join(name);
            path.is_file().then_some((p, path))
        })
    }

    pub fn create_vdisk(&self, name: &str, size: u64) -> Result<VdiskInfo, StoreError> {
        names::validate(name)?;
        if size == 0 {
            return Err(StoreError::InvalidArgument(
                "a virtual disk needs a size above 0".into(),
            ));
        }
        if let Some((pool, path)) = self.find_vdisk(name) {
            let d = vdisk_info(pool, name, &path)?;
            if d.size == size {
                return Ok(d);
            }
            return Err(StoreError::Exists(format!(
                "virtual disk {name} exists on pool {} with {}, not {}",
                pool.name,
                human(d.size),
                human(size)
            )));
        }
        let pool = self.place(Kind::Ssd, size, &format!("virtual disk {name}"))?;
        let dir = pool.vdisks();
        let partial = dir.join(names::partial(name));
        let path = dir.join(name);
        let make = || -> Result<(), StoreError> {
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&partial)
                .map_err(io("cannot create", &partial))?;
            btrfs::set_nocow(&file, &partial)?;
            file.set_len(size).map_err(io("cannot size", &partial))?;
            file.sync_all().map_err(io("cannot sync", &partial))?;
            rename_new(&partial, &path)?;
            sync_dir(&dir)
        };
        if let Err(error) = make() {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
        tracing::info!(vdisk = name, pool = %pool.name, size, "virtual disk created");
        vdisk_info(pool, name, &path)
    }

    pub fn resize_vdisk(&self, name: &str, size: u64) -> Result<VdiskInfo, StoreError> {
        names::validate(name)?;
        let (pool, path) = self
            .find_vdisk(name)
            .ok_or_else(|| StoreError::NotFound(format!("no virtual disk {name}")))?;
        let d = vdisk_info(pool, name, &path)?;
        if size == d.size {
            return Ok(d);
        }
        if size < d.size {
            return Err(StoreError::InvalidArgument(format!(
                "virtual disk {name} has {}: it can only grow, not shrink to {}",
                human(d.size),
                human(size)
            )));
        }
        let more = size - d.size;
        let free = self.free(pool)?;
        if free < more {
            return Err(StoreError::NoSpace(format!(
                "pool {} has {} free, growing virtual disk {name} needs {} more",
                pool.name,
                human(free),
                human(more)
            )));
        }
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io("cannot open", &path))?;
        file.set_len(size).map_err(io("cannot grow", &path))?;
        file.sync_all().map_err(io("cannot sync", &path))?;
        tracing::info!(vdisk = name, pool = %pool.name, from = d.size, to = size, "virtual disk resized");
        vdisk_info(pool, name, &path)
    }

    /// Deletes virtual disk `name`; `Ok(false)` when there was none.
    pub fn delete_vdisk(&self, name: &str) -> Result<bool, StoreError> {
        names::validate(name)?;
        let Some((pool, path)) = self.find_vdisk(name) else {
            return Ok(false);
        };
        std::fs::remove_file(&path).map_err(io("cannot delete", &path))?;
        sync_dir(&pool.vdisks())?;
        tracing::info!(vdisk = name, pool = %pool.name, "virtual disk deleted");
        Ok(true)
    }
}

fn create_pool(info: &DiskInfo, kind: Kind, mnt_root: &Path) -> Result<Pool, PoolError> {
    let label = pool::new_label(kind)?;
    pool::format(&info.path, &label)?;
    pool::open(&info.path, &label, kind, info.size, mnt_root)
}

/// Creates subvolume `<pool>/<name>` limited to `size` bytes: made as `<name>.partial`, limited,
/// committed, then renamed, so no crash ever leaves a visible subvolume without its limit.
pub(crate) fn create_limited_subvolume(
    pool: &Pool,
    name: &str,
    size: u64,
) -> Result<(), StoreError> {
    let partial = pool.path.join(names::partial(name));
    if btrfs::is_subvolume(&partial) {
        btrfs::delete_subvolume(&partial)?;
    }
    btrfs::create_subvolume(&partial)?;
    let finish = || -> Result<(), StoreError> {
        btrfs::set_limit(&partial, size)?;
        btrfs::sync(&partial)?;
        rename_new(&partial, &pool.path.join(name))?;
        sync_dir(&pool.path)
    };
    finish().inspect_err(|_| {
        if let Err(cleanup) = btrfs::delete_subvolume(&partial) {
            tracing::warn!(subvolume = name, %cleanup, "cannot remove the partial subvolume; removed at next start");
        }
    })
}

/// Renames `from` to `to`, refusing to replace anything at `to` (something that is not ours,
/// since a volume or virtual disk of that name was looked for first).
fn rename_new(from: &Path, to: &Path) -> Result<(), StoreError> {
    if to.symlink_metadata().is_ok() {
        return Err(StoreError::Exists(format!(
            "{} exists and is not a volume or virtual disk storaged made",
            to.display()
        )));
    }
    std::fs::rename(from, to).map_err(io("cannot rename", from))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io("cannot sync", dir))
}

/// The volumes of `pool`: subvolumes at its root with valid names.
fn volumes_in(pool: &Pool) -> Result<Vec<VolumeInfo>, StoreError> {
    let entries = std::fs::read_dir(&pool.path).map_err(io("cannot list", &pool.path))?;
    let mut found = BTreeMap::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if names::validate(&name).is_ok() && btrfs::is_subvolume(&path) {
            found.insert(name.clone(), volume_info(pool, &name, &path)?);
        }
    }
    Ok(found.into_values().collect())
}

pub(crate) fn volume_info(pool: &Pool, name: &str, path: &Path) -> Result<VolumeInfo, StoreError> {
    let q = btrfs::qgroup(path)?;
    Ok(VolumeInfo {
        name: name.to_string(),
        pool: pool.name.clone(),
        kind: pool.kind,
        path: path.to_path_buf(),
        size: q.limit.unwrap_or(0),
        used: q.referenced,
    })
}

fn vdisks_in(pool: &Pool) -> Result<Vec<VdiskInfo>, StoreError> {
    let dir = pool.vdisks();
    let entries = std::fs::read_dir(&dir).map_err(io("cannot list", &dir))?;
    let mut found = BTreeMap::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if names::validate(&name).is_ok() && path.is_file() {
            found.insert(name.clone(), vdisk_info(pool, &name, &path)?);
        }
    }
    Ok(found.into_values().collect())
}

fn vdisk_info(pool: &Pool, name: &str, path: &Path) -> Result<VdiskInfo, StoreError> {
    let meta = std::fs::metadata(path).map_err(io("cannot stat", path))?;
    Ok(VdiskInfo {
        name: name.to_string(),
        pool: pool.name.clone(),
        path: path.to_path_buf(),
        size: meta.len(),
        used: meta.blocks().saturating_mul(512),
    })
}

pub use zos_base::human;
