//! Which block devices the node has and what is on them. Read-only: nothing here writes to a
//! device, formats or mounts it.
//!
//! Devices, their attributes and the rules that leave a device out come from `zos_disks`
//! (shared with noded): devices are the whole disks of `<sys>/class/block` (no virtual devices,
//! no partitions) or, for tests and operators, an explicit list (see [`Discovery::devices`]).
//! This module decides what each disk is to storaged:
//! - [`DiskState::Ignored`]: removable, attached over USB, the boot medium, size 0, or cannot be
//!   examined;
//! - [`DiskState::Pool`]: a btrfs whose label starts with [`POOL_LABEL_PREFIX`] (ours);
//! - [`DiskState::InUse`]: the kernel refuses an exclusive open (mounted or held: the boot
//!   medium, anything the init mounted);
//! - [`DiskState::Empty`]: blank by `zos_disks::is_empty` (first and last MiB and the btrfs
//!   superblock area all zeros), so it may become a pool;
//! - [`DiskState::Foreign`]: anything else: data we did not write; reported, never touched.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use zos_disks::{
    boot_disks, btrfs_label, filesystem_in, is_empty, whole_disks, BlockDevice, DiskError, FsKind,
    Roots,
};

/// Label prefix of the pools storaged made.
pub const POOL_LABEL_PREFIX: &str = "zos-pool-";
/// Bytes read from the start of a disk to recognise and describe what it holds.
pub const PROBE_LEN: u64 = 1024 * 1024;

/// Where to look.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// Where sysfs is mounted.
    pub sys: PathBuf,
    /// Where device nodes are.
    pub dev: PathBuf,
    /// Only these device nodes (virtual ones included); their attributes are still read from
    /// `<sys>/class/block/<file name>`. `None`: every disk of `<sys>/class/block`.
    pub devices: Option<Vec<PathBuf>>,
    /// The node runs under a hypervisor (`zos_env::platform::virtualized`): disks are
    /// classified by what they state, not by measured speed (see [`crate::seek`]).
    pub virtualized: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskState {
    Empty,
    Pool { label: String },
    InUse,
    Foreign { what: String },
    Ignored { why: String },
}

/// A block device and what is on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskInfo {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub rotational: bool,
    pub removable: bool,
    pub model: String,
    pub serial: String,
    pub state: DiskState,
}

impl Discovery {
    /// Waits (at most `polls` times `interval`) until the list of whole disks and their sizes
    /// stays the same for one interval: drivers probe asynchronously at boot, and a pool must
    /// not be chosen while a disk is still appearing. Nothing to wait for with an explicit list.
    pub fn wait_settled(&self, interval: std::time::Duration, polls: usize) {
        if self.devices.is_some() {
            return;
        }
        let list = || -> Vec<(String, u64)> {
            whole_disks(&self.sys, &self.dev)
                .unwrap_or_default()
                .iter()
                .map(|d| (d.name().to_string(), d.size().unwrap_or(0)))
                .collect()
        };
        let mut seen = list();
        for _ in 0..polls {
            std::thread::sleep(interval);
            let now = list();
            if now == seen {
                return;
            }
            tracing::info!(disks = now.len(), "disks still appearing");
            seen = now;
        }
    }

    /// Every disk, sorted by name. A disk that cannot be examined (unreadable attributes or
    /// device) is [`DiskState::Ignored`] with the error as the reason; only a missing
    /// `<sys>/class/block` is an error.
    pub fn disks(&self) -> Result<Vec<DiskInfo>, DiskError> {
        let mut devices: Vec<BlockDevice> = match &self.devices {
            Some(list) => list
                .iter()
                .filter_map(|p| {
                    let name = p.file_name()?.to_string_lossy().into_owned();
                    Some(BlockDevice::new(&self.sys, &name, p.clone()))
                })
                .collect(),
            None => whole_disks(&self.sys, &self.dev)?,
        };
        devices.sort_by(|a, b| (a.name(), a.path()).cmp(&(b.name(), b.path())));
        let boot = boot_disks(&Roots {
            proc: PathBuf::from("/proc"),
            sys: self.sys.clone(),
            dev: self.dev.clone(),
        });
        Ok(devices
            .iter()
            .map(|device| {
                disk(device, &boot).unwrap_or_else(|error| {
                    // One unreadable device must not keep the others from being used.
                    tracing::warn!(disk = %device.name(), %error, "cannot examine disk: left alone");
                    DiskInfo {
                        name: device.name().to_string(),
                        path: device.path().to_path_buf(),
                        size: 0,
                        rotational: false,
                        removable: false,
                        model: String::new(),
                        serial: String::new(),
                        state: DiskState::Ignored {
                            why: zos_base::report(&error),
                        },
                    }
                })
            })
            .collect())
    }
}

fn disk(device: &BlockDevice, boot: &BTreeSet<String>) -> Result<DiskInfo, DiskError> {
    let size = device.size()?;
    let rotational = device.rotational()?;
    let removable = device.removable()?;
    let state = match device.unusable(boot)? {
        Some(skip) => ignored(&skip.to_string()),
        // mkfs would fail on it; say why up front.
        None if device.read_only()? => ignored("read-only"),
        None => probe(device.path(), size)?,
    };
    Ok(DiskInfo {
        name: device.name().to_string(),
        path: device.path().to_path_buf(),
        size,
        rotational,
        removable,
        model: device.model(),
        serial: device.serial(),
        state,
    })
}

fn ignored(why: &str) -> DiskState {
    DiskState::Ignored { why: why.into() }
}

/// Reads the ends of the device and decides what it holds.
fn probe(node: &Path, size: u64) -> Result<DiskState, DiskError> {
    let read_error = |source| DiskError::Read {
        path: node.to_path_buf(),
        source,
    };
    let mut file = File::open(node).map_err(read_error)?;
    let mut head = Vec::with_capacity(PROBE_LEN.min(size) as usize);
    (&mut file)
        .take(PROBE_LEN.min(size))
        .read_to_end(&mut head)
        .map_err(read_error)?;
    let empty = is_empty(&mut file, size).map_err(read_error)?;
    drop(file);

    let btrfs = btrfs_label(&head);
    if let Some(label) = btrfs
        .as_deref()
        .filter(|l| l.starts_with(POOL_LABEL_PREFIX))
    {
        return Ok(DiskState::Pool {
            label: label.to_string(),
        });
    }
    if busy(node) {
        return Ok(DiskState::InUse);
    }
    if empty {
        return Ok(DiskState::Empty);
    }
    Ok(DiskState::Foreign {
        what: describe(&head, btrfs.as_deref()),
    })
}

/// Whether the kernel refuses an exclusive open (the device is mounted or held).
fn busy(node: &Path) -> bool {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL)
        .open(node)
    {
        Ok(_) => false,
        Err(e) => e.raw_os_error() == Some(libc::EBUSY),
    }
}

/// A short description of foreign data, for the farmer.
fn describe(head: &[u8], btrfs: Option<&str>) -> String {
    if let Some(label) = btrfs {
        return format!("a btrfs filesystem labelled {label:?}");
    }
    if head.get(512..520) == Some(b"EFI PART") {
        return "a GPT partition table".into();
    }
    if filesystem_in(head).map(|f| f.kind) == Some(FsKind::Ext) {
        return "an ext2/3/4 filesystem".into();
    }
    if head.get(510..512) == Some(&[0x55, 0xAA]) {
        return "an MBR partition table or boot sector".into();
    }
    "data (non-zero bytes in its first or last MiB, or fewer bytes than its size)".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::{Seek, SeekFrom};
    use zos_disks::testing::btrfs_with_label;

    struct Tree {
        dir: tempfile::TempDir,
    }

    impl Tree {
        fn new() -> Tree {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir_all(dir.path().join("sys/class/block")).unwrap();
            fs::create_dir_all(dir.path().join("dev")).unwrap();
            Tree { dir }
        }
        fn disk(&self, name: &str, content: &[u8], size: u64, rotational: u8, removable: u8) {
            let e = self.dir.path().join("sys/class/block").join(name);
            fs::create_dir_all(e.join("queue")).unwrap();
            fs::create_dir_all(e.join("device")).unwrap();
            fs::write(e.join("size"), format!("{}\n", size / 512)).unwrap();
            fs::write(e.join("queue/rotational"), format!("{rotational}\n")).unwrap();
            fs::write(e.join("removable"), format!("{removable}\n")).unwrap();
            fs::write(e.join("ro"), "0\n").unwrap();
            fs::write(e.join("device/model"), "QEMU HARDDISK   \n").unwrap();
            fs::write(e.join("device/serial"), format!("SN-{name}\n")).unwrap();
            let node = self.dir.path().join("dev").join(name);
            let f = File::create(&node).unwrap();
            f.set_len(size).unwrap();
            fs::write(&node, content).unwrap();
            f.set_len(size).unwrap();
        }
        fn discovery(&self) -> Discovery {
            Discovery {
                sys: self.dir.path().join("sys"),
                dev: self.dir.path().join("dev"),
                devices: None,
                virtualized: false,
            }
        }
    }

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn states_from_content_and_attributes() {
        let t = Tree::new();
        t.disk("sda", &[], 8 * MIB, 0, 0);
        t.disk("sdb", &btrfs_with_label("zos-pool-hdd-1234"), 8 * MIB, 1, 0);
        t.disk("sdc", &btrfs_with_label("zos-cache"), 8 * MIB, 0, 0);
        t.disk("sdd", &btrfs_with_label("home"), 8 * MIB, 0, 0);
        t.disk("sde", &[], 8 * MIB, 0, 1);
        t.disk("sdf", &[], 0, 0, 0);
        t.disk("loop0", &[], 8 * MIB, 0, 0);
        let disks = t.discovery().disks().unwrap();
        let states: Vec<(&str, &DiskState)> =
            disks.iter().map(|d| (d.name.as_str(), &d.state)).collect();
        assert_eq!(
            states,
            vec![
                ("sda", &DiskState::Empty),
                (
                    "sdb",
                    &DiskState::Pool {
                        label: "zos-pool-hdd-1234".into()
                    }
                ),
                (
                    "sdc",
                    &DiskState::Foreign {
                        what: "a btrfs filesystem labelled \"zos-cache\"".into()
                    }
                ),
                (
                    "sdd",
                    &DiskState::Foreign {
                        what: "a btrfs filesystem labelled \"home\"".into()
                    }
                ),
                ("sde", &ignored("removable")),
                ("sdf", &ignored("size 0")),
            ]
        );
        assert_eq!(disks[0].model, "QEMU HARDDISK");
        assert_eq!(disks[0].serial, "SN-sda");
        assert!(disks[1].rotational);
        assert_eq!(disks[0].size, 8 * MIB);
    }

    #[test]
    fn a_single_byte_anywhere_at_the_ends_is_foreign() {
        let t = Tree::new();
        t.disk("sda", &[], 8 * MIB, 0, 0);
        let node = t.dir.path().join("dev/sda");
        let mut f = OpenOptions::new().write(true).open(&node).unwrap();
        f.seek(SeekFrom::Start(8 * MIB - 10)).unwrap();
        std::io::Write::write_all(&mut f, b"x").unwrap();
        t.disk("sdb", &[0, 0, 0, 1], 8 * MIB, 0, 0);
        let mut gpt = vec![0u8; 1024];
        gpt[512..520].copy_from_slice(b"EFI PART");
        t.disk("sdc", &gpt, 8 * MIB, 0, 0);
        // A device shorter than sysfs says cannot be shown to be blank.
        t.disk("sdd", &[], 8 * MIB, 0, 0);
        fs::write(
            t.dir.path().join("sys/class/block/sdd/size"),
            format!("{}\n", 16 * MIB / 512),
        )
        .unwrap();
        let disks = t.discovery().disks().unwrap();
        assert!(matches!(disks[0].state, DiskState::Foreign { .. }));
        assert!(matches!(disks[1].state, DiskState::Foreign { .. }));
        assert_eq!(
            disks[2].state,
            DiskState::Foreign {
                what: "a GPT partition table".into()
            }
        );
        assert_eq!(
            disks[3].state,
            DiskState::Foreign {
                what:
                    "data (non-zero bytes in its first or last MiB, or fewer bytes than its size)"
                        .into()
            }
        );
    }

    #[test]
    fn explicit_devices_include_virtual_ones() {
        let t = Tree::new();
        t.disk("loop7", &[], 4 * MIB, 1, 0);
        t.disk("sda", &[], 4 * MIB, 0, 0);
        let mut d = t.discovery();
        d.devices = Some(vec![t.dir.path().join("dev/loop7")]);
        let disks = d.disks().unwrap();
        assert_eq!(disks.len(), 1);
        assert_eq!(disks[0].name, "loop7");
        assert_eq!(disks[0].state, DiskState::Empty);
        assert!(disks[0].rotational);
    }

    #[test]
    fn unreadable_disks_are_left_alone() {
        let t = Tree::new();
        t.disk("sda", &[], 4 * MIB, 0, 0);
        t.disk("sdb", &[], 4 * MIB, 0, 0);
        t.disk("sdc", &[], 4 * MIB, 0, 0);
        fs::remove_file(t.dir.path().join("sys/class/block/sda/size")).unwrap();
        fs::remove_file(t.dir.path().join("dev/sdb")).unwrap();
        fs::write(
            t.dir.path().join("sys/class/block/sdc/queue/rotational"),
            "x",
        )
        .unwrap();
        let disks = t.discovery().disks().unwrap();
        for d in &disks {
            let DiskState::Ignored { why } = &d.state else {
                panic!("{d:?}");
            };
            assert!(why.contains(&d.name), "{why}");
        }
        fs::remove_dir_all(t.dir.path().join("sys/class/block")).unwrap();
        assert!(matches!(t.discovery().disks(), Err(DiskError::List { .. })));
    }
}
