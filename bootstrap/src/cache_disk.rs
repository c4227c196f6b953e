//! The persistent cache disk, PID 1 only: mount the btrfs filesystem labelled `zos-cache` at
//! /var/cache, or format a completely empty disk as one, or fall back to a tmpfs.
//!
//! Safety rule: a disk holding any data (a partition table, a filesystem, any non-zero byte in the
//! areas checked) is NEVER formatted. Only whole disks are considered (no partitions, ram, loop or
//! zram devices, no read-only devices), and mkfs runs with fixed arguments.
//!
//! The disk list, the btrfs label and the emptiness check (first and last MiB and the btrfs
//! superblock area all zero) come from `zos_disks`, shared with storaged; this module owns only
//! the choice of disk, mkfs and the mounts. It does not touch a disk holding anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{mount, MsFlags};
use zos_disks::{btrfs_label, is_empty_at, read_head, BlockDevice, DiskError};

pub const MOUNT_POINT: &str = "/var/cache";
pub const LABEL: &str = "zos-cache";
/// How long to wait for the list of disks to stop changing (drivers probe asynchronously).
const SETTLE_POLLS: usize = 10;
const SETTLE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("mkfs.btrfs on {path}: {reason}")]
    Mkfs { path: PathBuf, reason: String },
    #[error("mounting {path} on {MOUNT_POINT}: {source}")]
    Mount { path: PathBuf, source: nix::Error },
}

/// A whole disk that may hold the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub name: String,
    pub size: u64,
    pub read_only: bool,
}

/// The whole disks of `<sys>/class/block` as `zos_disks` lists them (no partitions, no ram,
/// loop, zram, sr, fd, nbd, dm or md devices), sorted by name, leaving out disks of size 0 or
/// of unreadable size. A disk whose `ro` cannot be read counts as read-only.
pub fn whole_disks(sys: &Path) -> Result<Vec<Disk>, DiskError> {
    Ok(zos_disks::whole_disks(sys, Path::new("/dev"))?
        .iter()
        .filter_map(|d: &BlockDevice| {
            let size = d.size().ok().filter(|&s| s > 0)?;
            Some(Disk {
                name: d.name().to_string(),
                size,
                read_only: d.read_only().unwrap_or(true),
            })
        })
        .collect())
}

/// The disk list once it has stayed the same for one poll interval (bounded), so a disk that is
/// still probing cannot make an empty disk look like the only choice.
fn settled_disks(sys: &Path) -> Vec<Disk> {
    let list = || {
        whole_disks(sys).unwrap_or_else(|e| {
            say(&format!("cache: {e}"));
            Vec::new()
        })
    };
    let mut disks = list();
    for _ in 0..SETTLE_POLLS {
        std::thread::sleep(SETTLE_INTERVAL);
        let now = list();
        if now == disks {
            break;
        }
        disks = now;
    }
    disks
}

fn say(text: &str) {
    println!("zos-init: {text}");
}

fn mount_btrfs(dev: &Path) -> Result<(), CacheError> {
    let _ = std::fs::create_dir_all(MOUNT_POINT);
    mount(
        Some(dev),
        MOUNT_POINT,
        Some("btrfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|source| CacheError::Mount {
        path: dev.into(),
        source,
    })
}

fn mkfs(dev: &Path) -> Result<(), CacheError> {
    let out = Command::new("mkfs.btrfs")
        .args(["-L", LABEL])
        .arg(dev)
        .output()
        .map_err(|e| CacheError::Mkfs {
            path: dev.into(),
            reason: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(CacheError::Mkfs {
            path: dev.into(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Finds, formats if needed, and mounts the cache. Never fails the boot.
pub fn run() {
    let disks = settled_disks(Path::new("/sys"));
    let dev_path = |d: &Disk| Path::new("/dev").join(&d.name);
    for d in &disks {
        let path = dev_path(d);
        let label = read_head(&path).map(|head| btrfs_label(&head));
        if let Ok(Some(l)) = label {
            if l == LABEL {
                match mount_btrfs(&path) {
                    Ok(()) => {
                        return say(&format!(
                            "cache: mounted {} on {MOUNT_POINT}",
                            path.display()
                        ))
                    }
                    Err(e) => say(&format!("cache: {e}")),
                }
            }
        }
    }
    for d in disks.iter().filter(|d| !d.read_only) {
        let path = dev_path(d);
        let empty = is_empty_at(&path, d.size);
        match empty {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                say(&format!("cache: cannot inspect {}: {e}", path.display()));
                continue;
            }
        }
        say(&format!(
            "cache: formatting empty disk {} ({} MiB) as btrfs {LABEL}",
            path.display(),
            d.size >> 20
        ));
        match mkfs(&path).and_then(|()| mount_btrfs(&path)) {
            Ok(()) => {
                return say(&format!(
                    "cache: mounted {} on {MOUNT_POINT}",
                    path.display()
                ))
            }
            Err(e) => say(&format!("cache: {e}")),
        }
    }
    say("!!! cache: NO PERSISTENT DISK; /var/cache is a tmpfs and node state will NOT survive a reboot");
    let _ = std::fs::create_dir_all(MOUNT_POINT);
    if let Err(e) = mount(
        Some("tmpfs"),
        MOUNT_POINT,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    ) {
        say(&format!("cache: cannot mount tmpfs on {MOUNT_POINT}: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_listing() {
        let dir = tempfile::tempdir().unwrap();
        let class = dir.path().join("class/block");
        let mk = |name: &str, size: &str, ro: &str, part: bool| {
            let d = class.join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("size"), size).unwrap();
            std::fs::write(d.join("ro"), ro).unwrap();
            if part {
                std::fs::write(d.join("partition"), "1").unwrap();
            }
        };
        mk("vda", "2048\n", "0\n", false);
        mk("vda1", "1024\n", "0\n", true);
        mk("loop0", "2048", "0", false);
        mk("ram0", "2048", "0", false);
        mk("sr0", "0", "1", false);
        mk("sdb", "4096", "1", false);
        mk("dm-0", "4096", "0", false);
        mk("md127", "4096", "0", false);
        // Size 0 (a card reader without a card), unreadable size, unreadable `ro`.
        mk("sdc", "0", "0", false);
        mk("sdd", "lots", "0", false);
        mk("sde", "4096", "?", false);
        assert_eq!(
            whole_disks(dir.path()).unwrap(),
            vec![
                Disk {
                    name: "sdb".into(),
                    size: 4096 * 512,
                    read_only: true
                },
                Disk {
                    name: "sde".into(),
                    size: 4096 * 512,
                    read_only: true
                },
                Disk {
                    name: "vda".into(),
                    size: 2048 * 512,
                    read_only: false
                },
            ]
        );
        assert!(matches!(
            whole_disks(&dir.path().join("missing")),
            Err(DiskError::List { .. })
        ));
    }
}
