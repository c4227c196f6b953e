//! Pools: one btrfs filesystem per whole disk, labelled `zos-pool-<ssd|hdd>-<8 hex>` so it is
//! recognised after every reboot, mounted at `<mnt>/<label>` with quotas on, and holding the
//! subvolume [`names::VDISKS`].
//!
//! Formatting runs `mkfs.btrfs` with a fixed argument vector and without `-f`, so mkfs itself
//! refuses a device that holds a filesystem (a second guard after discovery's zero check).
//! Existing pools are mounted, never formatted. At every mount, leftovers of creations that were
//! interrupted (`*.partial`) are removed.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{mount, MsFlags};

use crate::btrfs::{self, BtrfsError};
use crate::discovery::POOL_LABEL_PREFIX;
use crate::names::{self, PARTIAL_SUFFIX};

/// The formatting tool (from btrfs-progs), looked up in `PATH`.
pub const MKFS: &str = "mkfs.btrfs";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ssd,
    Hdd,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ssd => zos_bus::storage::kind::SSD,
            Kind::Hdd => zos_bus::storage::kind::HDD,
        }
    }

    pub fn parse(word: &str) -> Option<Kind> {
        match word {
            zos_bus::storage::kind::SSD => Some(Kind::Ssd),
            zos_bus::storage::kind::HDD => Some(Kind::Hdd),
            _ => None,
        }
    }

    /// The kind a pool label records (`zos-pool-<kind>-...`).
    pub fn of_label(label: &str) -> Option<Kind> {
        let rest = label.strip_prefix(POOL_LABEL_PREFIX)?;
        Kind::parse(rest.split('-').next()?)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("cannot run {MKFS} for {device} (btrfs-progs must be installed)")]
    MkfsSpawn {
        device: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{MKFS} failed on {device} ({status}): {stderr}")]
    Mkfs {
        device: PathBuf,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("cannot read random bytes for a pool label")]
    Random(#[source] std::io::Error),
    #[error("cannot create mount point {path}")]
    MountPoint {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot mount {device} on {path}")]
    Mount {
        device: PathBuf,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("{path} exists but is not a btrfs subvolume; move it away")]
    NotSubvolume { path: PathBuf },
    #[error("cannot clean {path}")]
    Clean {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Btrfs(#[from] BtrfsError),
}

/// A mounted pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// The label.
    pub name: String,
    pub kind: Kind,
    pub device: PathBuf,
    /// Mount point.
    pub path: PathBuf,
    /// The disk's size, bytes.
    pub size: u64,
}

impl Pool {
    pub fn vdisks(&self) -> PathBuf {
        self.path.join(names::VDISKS)
    }
}

/// A new label for a pool of `kind`.
pub fn new_label(kind: Kind) -> Result<String, PoolError> {
    let mut id = [0u8; 4];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut id))
        .map_err(PoolError::Random)?;
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{POOL_LABEL_PREFIX}{kind}-{hex}"))
}

/// Formats `device` as a single-device btrfs labelled `label`.
pub fn format(device: &Path, label: &str) -> Result<(), PoolError> {
    let out = Command::new(MKFS)
        .args(["-q", "-L", label, "-m", "single", "-d", "single"])
        .arg(device)
        .output()
        .map_err(|source| PoolError::MkfsSpawn {
            device: device.to_path_buf(),
            source,
        })?;
    if !out.status.success() {
        return Err(PoolError::Mkfs {
            device: device.to_path_buf(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Mounts the pool on `device` at `<mnt_root>/<label>` (unless something is mounted there),
/// enables quotas, makes sure the vdisks subvolume exists and removes interrupted creations.
pub fn open(
    device: &Path,
    label: &str,
    kind: Kind,
    size: u64,
    mnt_root: &Path,
) -> Result<Pool, PoolError> {
    let path = mnt_root.join(label);
    std::fs::create_dir_all(&path).map_err(|source| PoolError::MountPoint {
        path: path.clone(),
        source,
    })?;
    if is_mount_point(&path) {
        tracing::info!(pool = label, path = %path.display(), "pool already mounted");
    } else {
        mount(
            Some(device),
            &path,
            Some("btrfs"),
            MsFlags::MS_NOATIME,
            None::<&str>,
        )
        .map_err(|source| PoolError::Mount {
            device: device.to_path_buf(),
            path: path.clone(),
            source,
        })?;
        tracing::info!(pool = label, device = %device.display(), path = %path.display(), "pool mounted");
    }
    btrfs::enable_quota(&path)?;
    let pool = Pool {
        name: label.to_string(),
        kind,
        device: device.to_path_buf(),
        path,
        size,
    };
    let vdisks = pool.vdisks();
    if !vdisks.exists() {
        btrfs::create_subvolume(&vdisks)?;
    } else if !btrfs::is_subvolume(&vdisks) {
        return Err(PoolError::NotSubvolume { path: vdisks });
    }
    clean_partials(&pool)?;
    Ok(pool)
}

/// Removes `*.partial` volumes and virtual disks: creations that never completed.
pub fn clean_partials(pool: &Pool) -> Result<(), PoolError> {
    for (dir, subvolumes) in [(pool.path.clone(), true), (pool.vdisks(), false)] {
        let entries = std::fs::read_dir(&dir).map_err(|source| PoolError::Clean {
            path: dir.clone(),
            source,
        })?;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(PARTIAL_SUFFIX) {
                continue;
            }
            let path = entry.path();
            if subvolumes && btrfs::is_subvolume(&path) {
                btrfs::delete_subvolume(&path)?;
            } else if !subvolumes {
                std::fs::remove_file(&path).map_err(|source| PoolError::Clean {
                    path: path.clone(),
                    source,
                })?;
            } else {
                continue;
            }
            tracing::info!(pool = %pool.name, path = %path.display(), "removed an interrupted creation");
        }
    }
    Ok(())
}

/// Whether `path` is a mount point (listed in this process's mountinfo).
pub fn is_mount_point(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = path.to_string_lossy();
    text.lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .any(|mp| unescape(mp) == wanted)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_carry_the_kind() {
        let label = new_label(Kind::Hdd).unwrap();
        assert!(label.starts_with("zos-pool-hdd-"), "{label}");
        assert_eq!(label.len(), "zos-pool-hdd-".len() + 8);
        assert_eq!(Kind::of_label(&label), Some(Kind::Hdd));
        assert_eq!(Kind::of_label("zos-pool-ssd-00ff00ff"), Some(Kind::Ssd));
        assert_eq!(Kind::of_label("zos-pool-xyz-1"), None);
        assert_eq!(Kind::of_label("other"), None);
    }

    #[test]
    fn root_is_a_mount_point() {
        assert!(is_mount_point(Path::new("/")));
        assert!(!is_mount_point(Path::new("/definitely/not/mounted")));
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
