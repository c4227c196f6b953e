//! The persistent cache disk, PID 1 only: mount the btrfs filesystem labelled `zos-cache` at
//! /var/cache, or format a completely empty disk as one, or fall back to a tmpfs.
//!
//! Safety rule: a disk holding any data (a partition table, a filesystem, any non-zero byte in the
//! areas checked) is NEVER formatted. Only whole disks are considered (no partitions, ram, loop or
//! zram devices, no read-only devices), and mkfs runs with fixed arguments.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{mount, MsFlags};

pub const MOUNT_POINT: &str = "/var/cache";
pub const LABEL: &str = "zos-cache";
const SUPERBLOCK: u64 = 65_536;
const MAGIC_OFFSET: usize = 0x40;
const MAGIC: &[u8; 8] = b"_BHRfS_M";
const LABEL_OFFSET: usize = 0x12b;
const LABEL_LEN: usize = 256;
/// Bytes at the start and at the end of a disk that must all be zero for it to count as empty.
const EMPTY_SPAN: u64 = 1 << 20;
/// Block devices that are never the cache: memory, loop, optical, floppy, network and stacked
/// (device-mapper, md) devices.
const SKIPPED: &[&str] = &["ram", "loop", "zram", "sr", "fd", "nbd", "dm-", "md"];
/// How long to wait for the list of disks to stop changing (drivers probe asynchronously).
const SETTLE_POLLS: usize = 10;
const SETTLE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);
/// The superblock area that must be zero as well (inside the first MiB on any disk large enough).
const SUPERBLOCK_SPAN: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("mkfs.btrfs on {path}: {reason}")]
    Mkfs { path: PathBuf, reason: String },
    #[error("mounting {path} on {MOUNT_POINT}: {source}")]
    Mount { path: PathBuf, source: nix::Error },
}

/// The label of the btrfs filesystem on `dev`, or `None` when there is no btrfs superblock.
pub fn btrfs_label(dev: &mut (impl Read + Seek)) -> std::io::Result<Option<String>> {
    let mut sb = vec![0u8; LABEL_OFFSET + LABEL_LEN];
    dev.seek(SeekFrom::Start(SUPERBLOCK))?;
    if read_full(dev, &mut sb)? < sb.len() || &sb[MAGIC_OFFSET..MAGIC_OFFSET + 8] != MAGIC {
        return Ok(None);
    }
    let label = &sb[LABEL_OFFSET..];
    let end = label.iter().position(|&b| b == 0).unwrap_or(label.len());
    Ok(Some(String::from_utf8_lossy(&label[..end]).into_owned()))
}

/// True if the first and last MiB and the 64 KiB superblock area of a `size`-byte device are zero.
pub fn is_empty(dev: &mut (impl Read + Seek), size: u64) -> std::io::Result<bool> {
    let spans = [
        (0, EMPTY_SPAN.min(size)),
        (
            SUPERBLOCK,
            SUPERBLOCK_SPAN.min(size.saturating_sub(SUPERBLOCK)),
        ),
        (size.saturating_sub(EMPTY_SPAN), EMPTY_SPAN.min(size)),
    ];
    let mut buf = vec![0u8; EMPTY_SPAN as usize];
    for (start, len) in spans {
        let chunk = &mut buf[..len as usize];
        dev.seek(SeekFrom::Start(start))?;
        let n = read_full(dev, chunk)?;
        if n < chunk.len() || chunk.iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A whole disk from /sys/class/block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub name: String,
    pub size: u64,
    pub read_only: bool,
}

/// Whole disks listed under `sys_block` (normally /sys/class/block).
pub fn whole_disks(sys_block: &Path) -> Vec<Disk> {
    let mut disks: Vec<Disk> = std::fs::read_dir(sys_block)
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            if SKIPPED.iter().any(|p| name.starts_with(p)) {
                return None;
            }
            let dir = e.path();
            if dir.join("partition").exists() {
                return None;
            }
            let read = |f: &str| {
                std::fs::read_to_string(dir.join(f))
                    .ok()
                    .map(|s| s.trim().to_string())
            };
            let sectors: u64 = read("size")?.parse().ok()?;
            let read_only = read("ro").as_deref() != Some("0");
            (sectors > 0).then(|| Disk {
                name,
                size: sectors * 512,
                read_only,
            })
        })
        .collect();
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    disks
}

/// The disk list once it has stayed the same for one poll interval (bounded), so a disk that is
/// still probing cannot make an empty disk look like the only choice.
fn settled_disks(sys_block: &Path) -> Vec<Disk> {
    let mut disks = whole_disks(sys_block);
    for _ in 0..SETTLE_POLLS {
        std::thread::sleep(SETTLE_INTERVAL);
        let now = whole_disks(sys_block);
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
    let disks = settled_disks(Path::new("/sys/class/block"));
    let dev_path = |d: &Disk| Path::new("/dev").join(&d.name);
    for d in &disks {
        let path = dev_path(d);
        let label = File::open(&path).and_then(|mut f| btrfs_label(&mut f));
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
        let empty = File::open(&path).and_then(|mut f| is_empty(&mut f, d.size));
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
    use std::io::{Cursor, Write};

    fn image(size: usize) -> Vec<u8> {
        vec![0u8; size]
    }

    fn with_btrfs(mut img: Vec<u8>, label: &[u8]) -> Vec<u8> {
        let sb = SUPERBLOCK as usize;
        img[sb + MAGIC_OFFSET..sb + MAGIC_OFFSET + 8].copy_from_slice(MAGIC);
        img[sb + LABEL_OFFSET..sb + LABEL_OFFSET + label.len()].copy_from_slice(label);
        img
    }

    #[test]
    fn label_detection() {
        let img = with_btrfs(image(4 << 20), b"zos-cache");
        assert_eq!(
            btrfs_label(&mut Cursor::new(img)).unwrap().as_deref(),
            Some("zos-cache")
        );
        assert_eq!(btrfs_label(&mut Cursor::new(image(4 << 20))).unwrap(), None);
        assert_eq!(btrfs_label(&mut Cursor::new(image(1000))).unwrap(), None);
        let other = with_btrfs(image(4 << 20), b"data");
        assert_eq!(
            btrfs_label(&mut Cursor::new(other)).unwrap().as_deref(),
            Some("data")
        );
    }

    #[test]
    fn emptiness_on_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        let size = 8u64 << 20;
        let f = File::create(&path).unwrap();
        f.set_len(size).unwrap();
        assert!(is_empty(&mut File::open(&path).unwrap(), size).unwrap());
        // An MBR signature, a byte in the superblock area, a byte at the very end: all "data".
        for offset in [510u64, SUPERBLOCK + 100, size - 1, 700_000] {
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.write_all(&[0x55]).unwrap();
            assert!(
                !is_empty(&mut File::open(&path).unwrap(), size).unwrap(),
                "offset {offset}"
            );
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.write_all(&[0]).unwrap();
        }
        assert!(is_empty(&mut File::open(&path).unwrap(), size).unwrap());
        // A disk smaller than it claims is not "empty".
        assert!(!is_empty(&mut File::open(&path).unwrap(), size * 2).unwrap());
        assert!(!is_empty(&mut Cursor::new(with_btrfs(image(4 << 20), b"")), 4 << 20).unwrap());
    }

    #[test]
    fn disk_listing() {
        let dir = tempfile::tempdir().unwrap();
        let mk = |name: &str, size: &str, ro: &str, part: bool| {
            let d = dir.path().join(name);
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
        assert_eq!(
            whole_disks(dir.path()),
            vec![
                Disk {
                    name: "sdb".into(),
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
    }
}
