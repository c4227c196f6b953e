//! The node's cache: the persistent directory (node identity, daemon state) every other daemon
//! keeps its files in, mounted at one path (the node's `/var/cache`) before they start.
//!
//! It is the subvolume [`names::CACHE`] of one pool with a quota limit, bind-mounted on the
//! mount point; the pool is the one that already holds it, else the SSD pool with the most free
//! bytes, else an HDD pool (as zos does). The limit starts at [`INITIAL_SIZE`] and grows by
//! [`GROW_STEP`] when [`GROW_AT_PERCENT`] of it is used ([`Storage::grow_cache`], called
//! periodically); its limit counts as allocated space of its pool, so it is system-reserved SRU
//! (or HRU). With no pool at all, a [`TMPFS_SIZE`] tmpfs is mounted instead, with a loud warning:
//! nothing survives a reboot and the cache reports itself as not persistent (noded then refuses
//! to register, as zos does with its "limited cache").
//!
//! Owns only the cache subvolume and the mount at the mount point; the subvolume is created with
//! the same crash-safe steps as a volume, and a restart finds and remounts it.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use crate::btrfs;
use crate::names;
use crate::pool::{self, Kind, Pool};
use crate::store::{self, human, Storage, StoreError, VolumeInfo};

const GIB: u64 = 1 << 30;
/// The cache's first limit.
pub const INITIAL_SIZE: u64 = 5 * GIB;
/// How much the limit grows at a time.
pub const GROW_STEP: u64 = 5 * GIB;
/// The share of the limit in use that makes it grow.
pub const GROW_AT_PERCENT: u64 = 60;
/// Size of the fallback tmpfs.
pub const TMPFS_SIZE: &str = "500m";

/// Where the cache is mounted and what backs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMount {
    pub mount_point: PathBuf,
    /// The pool holding the subvolume; `None`: a tmpfs (not persistent).
    pub pool: Option<String>,
}

/// The cache as reported on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheInfo {
    pub mount_point: PathBuf,
    pub pool: Option<String>,
    /// The limit (bytes); 0 for a tmpfs.
    pub size: u64,
    pub used: u64,
}

impl CacheInfo {
    pub fn persistent(&self) -> bool {
        self.pool.is_some()
    }
}

/// The cache subvolume of `pool`, if it holds it.
pub(crate) fn volume_in(pool: &Pool) -> Result<Option<VolumeInfo>, StoreError> {
    let path = pool.path.join(names::CACHE);
    if !btrfs::is_subvolume(&path) {
        return Ok(None);
    }
    store::volume_info(pool, names::CACHE, &path).map(Some)
}

impl Storage {
    /// Finds or creates the cache subvolume and mounts it at `mount_point` (unless something is
    /// mounted there already: a restart of storaged), or mounts a tmpfs when there is no pool.
    pub fn mount_cache(&mut self, mount_point: &Path) -> Result<CacheInfo, StoreError> {
        let pool = self.cache_pool()?;
        std::fs::create_dir_all(mount_point).map_err(|source| StoreError::Io {
            what: "cannot create",
            path: mount_point.to_path_buf(),
            source,
        })?;
        let already = pool::is_mount_point(mount_point);
        match &pool {
            Some(pool) if already => {
                tracing::info!(pool = %pool.name, mount = %mount_point.display(), "cache already mounted");
            }
            Some(pool) => {
                let source = pool.path.join(names::CACHE);
                bind(&source, mount_point)?;
                tracing::info!(pool = %pool.name, mount = %mount_point.display(), "cache mounted");
            }
            None if already => {
                tracing::warn!(mount = %mount_point.display(), "no pool: keeping what is mounted on the cache mount point");
            }
            None => {
                mount(
                    Some("tmpfs"),
                    mount_point,
                    Some("tmpfs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    Some(format!("size={TMPFS_SIZE},mode=0755").as_str()),
                )
                .map_err(|e| mount_error(mount_point, e))?;
                tracing::error!(
                    mount = %mount_point.display(),
                    "!!! NO DISK FOR THE CACHE: {} is a {TMPFS_SIZE} tmpfs; the node's identity and state will NOT survive a reboot",
                    mount_point.display()
                );
            }
        }
        self.cache = Some(CacheMount {
            mount_point: mount_point.to_path_buf(),
            pool: pool.map(|p| p.name),
        });
        self.cache()
    }

    /// The cache's pool and usage; `NotFound` when storaged runs without a cache.
    pub fn cache(&self) -> Result<CacheInfo, StoreError> {
        let mount = self.cache.as_ref().ok_or_else(|| {
            StoreError::NotFound("storaged runs without a cache (no --cache-mount)".into())
        })?;
        let volume = match &mount.pool {
            Some(name) => self.pools.iter().find(|p| &p.name == name).map(|pool| {
                let path = pool.path.join(names::CACHE);
                btrfs::sync(&path)?;
                store::volume_info(pool, names::CACHE, &path)
            }),
            None => None,
        }
        .transpose()?;
        Ok(CacheInfo {
            mount_point: mount.mount_point.clone(),
            pool: mount.pool.clone(),
            size: volume.as_ref().map_or(0, |v| v.size),
            used: volume.as_ref().map_or(0, |v| v.used),
        })
    }

    /// Grows the cache's limit by [`GROW_STEP`] when it is [`GROW_AT_PERCENT`] used and its pool
    /// has room; returns the new limit when it grew. Nothing to do without a cache.
    pub fn grow_cache(&self) -> Result<Option<u64>, StoreError> {
        if self.cache.is_none() {
            return Ok(None);
        }
        let info = self.cache()?;
        let Some(pool) = info
            .pool
            .as_ref()
            .and_then(|name| self.pools.iter().find(|p| &p.name == name))
        else {
            return Ok(None);
        };
        if info.used.saturating_mul(100) < info.size.saturating_mul(GROW_AT_PERCENT) {
            return Ok(None);
        }
        let free = self.free(pool)?;
        if free < GROW_STEP {
            tracing::warn!(pool = %pool.name, used = info.used, size = info.size, free, "the cache is filling up and its pool has no room to grow it");
            return Ok(None);
        }
        let size = info.size + GROW_STEP;
        btrfs::set_limit(&pool.path.join(names::CACHE), size)?;
        tracing::info!(pool = %pool.name, from = info.size, to = size, "cache grown");
        Ok(Some(size))
    }

    /// The pool for the cache, creating the subvolume on first use; `None`: no pool has room.
    fn cache_pool(&self) -> Result<Option<Pool>, StoreError> {
        let mut ordered: Vec<&Pool> = self.pools.iter().collect();
        ordered.sort_by_key(|p| (p.kind != Kind::Ssd, p.name.clone()));
        for pool in ordered {
            if volume_in(pool)?.is_some() {
                return Ok(Some(pool.clone()));
            }
        }
        for kind in [Kind::Ssd, Kind::Hdd] {
            match self.place(kind, INITIAL_SIZE, "the node's cache") {
                Ok(pool) => {
                    store::create_limited_subvolume(pool, names::CACHE, INITIAL_SIZE)?;
                    tracing::info!(pool = %pool.name, size = %human(INITIAL_SIZE), "cache created");
                    return Ok(Some(pool.clone()));
                }
                Err(StoreError::NoSpace(why)) => tracing::debug!(%why, "no room for the cache"),
                Err(other) => return Err(other),
            }
        }
        Ok(None)
    }
}

fn bind(source: &Path, target: &Path) -> Result<(), StoreError> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| mount_error(target, e))
}

fn mount_error(target: &Path, error: nix::Error) -> StoreError {
    StoreError::Io {
        what: "cannot mount the cache on",
        path: target.to_path_buf(),
        source: error.into(),
    }
}
