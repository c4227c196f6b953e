//! Whole disks of `<sys>/class/block` and their attributes.
//!
//! Not a disk, by name or kind (never listed by [`whole_disks`]):
//! - virtual or not a disk by name: `loop*`, `ram*`, `zram*`, `sr*` (optical), `dm-*`, `md*`,
//!   `nbd*`, `fd*` ([`is_virtual`]);
//! - a partition (has a `partition` attribute).
//!
//! A whole disk the node must not use ([`BlockDevice::unusable`]), checked in this order:
//! - removable media (`removable` = 1: card readers, most USB sticks);
//! - attached over USB (its sysfs device path runs through a `usb` node), like zos does;
//! - the boot medium (found by [`crate::boot`]);
//! - empty (size 0, e.g. a card reader without a card).
//!
//! Sizes are `size` (always in 512-byte sectors) × 512; rotational is `queue/rotational`
//! (0 or 1); read-only is `ro` (0 or 1).

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::DiskError;

/// Name prefixes of block devices that are never disks.
pub const VIRTUAL_PREFIXES: [&str; 8] = ["loop", "ram", "zram", "sr", "dm-", "md", "nbd", "fd"];

/// Whether `name` is a virtual or non-disk device by its name alone.
pub fn is_virtual(name: &str) -> bool {
    VIRTUAL_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Why a block device is not a disk the node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Virtual,
    Partition,
    Removable,
    Usb,
    BootMedium,
    Empty,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skip::Virtual => "virtual device",
            Skip::Partition => "partition",
            Skip::Removable => "removable",
            Skip::Usb => "attached over USB",
            Skip::BootMedium => "boot medium",
            Skip::Empty => "size 0",
        })
    }
}

/// A block device: its name, its device node and its sysfs entry
/// (`<sys>/class/block/<name>`). Attributes are read when asked for, so a caller checks the
/// rules in its order and reads only what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDevice {
    name: String,
    path: PathBuf,
    entry: PathBuf,
}

/// The whole disks of `<sys>/class/block` (no virtual devices, no partitions), sorted by name,
/// with their device nodes under `dev`.
pub fn whole_disks(sys: &Path, dev: &Path) -> Result<Vec<BlockDevice>, DiskError> {
    let class = sys.join("class/block");
    let entries = std::fs::read_dir(&class).map_err(|source| DiskError::List {
        path: class.clone(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !is_virtual(name))
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .map(|name| {
            let path = dev.join(&name);
            BlockDevice::new(sys, &name, path)
        })
        .filter(|d| !d.is_partition())
        .collect())
}

impl BlockDevice {
    /// Device `name` with device node `path`; attributes come from `<sys>/class/block/<name>`.
    pub fn new(sys: &Path, name: &str, path: PathBuf) -> BlockDevice {
        BlockDevice {
            name: name.to_string(),
            path,
            entry: sys.join("class/block").join(name),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device node.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_partition(&self) -> bool {
        self.entry.join("partition").exists()
    }

    /// Size in bytes.
    pub fn size(&self) -> Result<u64, DiskError> {
        let size_path = self.entry.join("size");
        let sectors = read_number(&size_path)?;
        sectors
            .checked_mul(512)
            .ok_or_else(|| parse_error(&size_path, "size overflows"))
    }

    /// `queue/rotational`: true for spinning disks (HDD), false for SSDs.
    pub fn rotational(&self) -> Result<bool, DiskError> {
        read_flag(&self.entry.join("queue/rotational"), "rotational")
    }

    /// `removable` is 1; a device without the attribute is not removable.
    pub fn removable(&self) -> Result<bool, DiskError> {
        let path = self.entry.join("removable");
        match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            _ => Ok(read_number(&path)? == 1),
        }
    }

    /// `ro` is 1: the kernel refuses writes (a write-protected card, a read-only LUN).
    pub fn read_only(&self) -> Result<bool, DiskError> {
        read_flag(&self.entry.join("ro"), "ro")
    }

    /// Whether the device hangs off a USB controller.
    pub fn usb(&self) -> bool {
        std::fs::read_link(&self.entry)
            .map(|target| {
                target
                    .components()
                    .any(|c| c.as_os_str().to_string_lossy().starts_with("usb"))
            })
            .unwrap_or(false)
    }

    /// `device/model`, trimmed; empty when the kernel does not say.
    pub fn model(&self) -> String {
        read_optional(&self.entry.join("device/model")).unwrap_or_default()
    }

    /// `device/serial` (SCSI/ATA) or `serial` (NVMe, virtio), trimmed; empty when unknown.
    pub fn serial(&self) -> String {
        read_optional(&self.entry.join("device/serial"))
            .or_else(|| read_optional(&self.entry.join("serial")))
            .unwrap_or_default()
    }

    /// Why this whole disk must not be used (removable, USB, one of `boot_disks`, size 0, in
    /// that order), `None` when it may. Only the attributes needed to decide are read.
    pub fn unusable(&self, boot_disks: &BTreeSet<String>) -> Result<Option<Skip>, DiskError> {
        if self.removable()? {
            return Ok(Some(Skip::Removable));
        }
        if self.usb() {
            return Ok(Some(Skip::Usb));
        }
        if boot_disks.contains(&self.name) {
            return Ok(Some(Skip::BootMedium));
        }
        if self.size()? == 0 {
            return Ok(Some(Skip::Empty));
        }
        Ok(None)
    }

    /// Every rule: not a disk by name ([`Skip::Virtual`]) or kind ([`Skip::Partition`]), then
    /// [`BlockDevice::unusable`].
    pub fn skip(&self, boot_disks: &BTreeSet<String>) -> Result<Option<Skip>, DiskError> {
        if is_virtual(&self.name) {
            return Ok(Some(Skip::Virtual));
        }
        if self.is_partition() {
            return Ok(Some(Skip::Partition));
        }
        self.unusable(boot_disks)
    }
}

fn parse_error(path: &Path, what: impl Into<String>) -> DiskError {
    DiskError::Parse {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

fn read_number(path: &Path) -> Result<u64, DiskError> {
    let text = std::fs::read_to_string(path).map_err(|source| DiskError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.trim()
        .parse()
        .map_err(|_| parse_error(path, format!("not a number: {:?}", text.trim())))
}

/// A 0/1 attribute named `what`.
fn read_flag(path: &Path, what: &str) -> Result<bool, DiskError> {
    match read_number(path)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(parse_error(path, format!("{what} is {other}"))),
    }
}

fn read_optional(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Tree;
    use crate::testing::{NVME, PCI, USB, VIRT};

    fn device(t: &Tree, name: &str) -> BlockDevice {
        BlockDevice::new(&t.roots.sys, name, t.roots.dev.join(name))
    }

    #[test]
    fn attributes() {
        let t = Tree::new();
        t.disk(NVME, "nvme0n1", "259:0", 1_000_000, 0, 0);
        t.disk(PCI, "sda", "8:0", 2_000_000, 1, 0);
        t.write(
            &format!("sys/devices/{NVME}/block/nvme0n1/serial"),
            "S4EW\n",
        );
        t.write(
            &format!("sys/devices/{PCI}/block/sda/device/model"),
            "QEMU HARDDISK   \n",
        );
        t.write(
            &format!("sys/devices/{PCI}/block/sda/device/serial"),
            "QM0001\n",
        );
        let nvme = device(&t, "nvme0n1");
        assert_eq!(nvme.name(), "nvme0n1");
        assert_eq!(nvme.path(), t.roots.dev.join("nvme0n1"));
        assert_eq!(nvme.size().unwrap(), 1_000_000 * 512);
        assert!(!nvme.rotational().unwrap());
        assert!(!nvme.removable().unwrap());
        assert!(!nvme.usb());
        assert!(!nvme.read_only().unwrap());
        assert_eq!(
            (nvme.model(), nvme.serial()),
            (String::new(), "S4EW".into())
        );
        let sda = device(&t, "sda");
        assert!(sda.rotational().unwrap());
        assert_eq!(
            (sda.model(), sda.serial()),
            ("QEMU HARDDISK".into(), "QM0001".into())
        );
        // No `removable` attribute: not removable.
        std::fs::remove_file(
            t.roots
                .sys
                .join(format!("devices/{PCI}/block/sda/removable")),
        )
        .unwrap();
        assert!(!sda.removable().unwrap());
    }

    #[test]
    fn whole_disks_leave_out_virtual_devices_and_partitions() {
        let t = Tree::new();
        t.disk(PCI, "sdb", "8:16", 1000, 1, 0);
        t.disk(PCI, "sda", "8:0", 1000, 1, 0);
        t.partition(PCI, "sda", "sda1", "8:1");
        for (name, devnum) in [("loop0", "7:0"), ("zram0", "252:0"), ("md0", "9:0")] {
            t.disk(VIRT, name, devnum, 1000, 0, 0);
        }
        let names: Vec<String> = whole_disks(&t.roots.sys, &t.roots.dev)
            .unwrap()
            .iter()
            .map(|d| d.name().to_string())
            .collect();
        assert_eq!(names, vec!["sda", "sdb"]);
        assert!(is_virtual("nbd3") && is_virtual("fd0") && is_virtual("sr1"));
        assert!(!is_virtual("vda") && !is_virtual("nvme0n1"));
    }

    #[test]
    fn skip_rules_in_order() {
        let t = Tree::new();
        // (parent, name, sectors, removable, skipped without / with the disk as boot medium)
        let cases = [
            (PCI, "sda", 2_000_000, 0, None, Some(Skip::BootMedium)),
            (
                VIRT,
                "dm-0",
                1000,
                0,
                Some(Skip::Virtual),
                Some(Skip::Virtual),
            ),
            (
                USB,
                "sdb",
                1000,
                1,
                Some(Skip::Removable),
                Some(Skip::Removable),
            ),
            (USB, "sdc", 1000, 0, Some(Skip::Usb), Some(Skip::Usb)),
            (PCI, "sdd", 0, 0, Some(Skip::Empty), Some(Skip::BootMedium)),
        ];
        for (i, (parent, name, sectors, removable, ..)) in cases.iter().enumerate() {
            t.disk(
                parent,
                name,
                &format!("8:{}", i * 16),
                *sectors,
                1,
                *removable,
            );
        }
        t.partition(PCI, "sda", "sda1", "8:1");
        let none = BTreeSet::new();
        for (_, name, _, _, plain, as_boot) in cases {
            let boot: BTreeSet<String> = [name.to_string()].into();
            assert_eq!(device(&t, name).skip(&none).unwrap(), plain, "{name}");
            assert_eq!(device(&t, name).skip(&boot).unwrap(), as_boot, "{name}");
        }
        assert_eq!(
            device(&t, "sda1").skip(&none).unwrap(),
            Some(Skip::Partition)
        );
        // `unusable` leaves the name rules to the caller (explicitly chosen loop devices).
        assert_eq!(device(&t, "dm-0").unusable(&none).unwrap(), None);
        assert_eq!(Skip::Usb.to_string(), "attached over USB");
        assert_eq!(Skip::Empty.to_string(), "size 0");
    }

    #[test]
    fn bad_attributes_are_errors() {
        let t = Tree::new();
        t.disk(PCI, "sda", "8:0", 2_000_000, 2, 0);
        let sda = device(&t, "sda");
        let err = sda.rotational().unwrap_err();
        assert!(zos_base::report(&err).contains("rotational is 2"), "{err}");
        t.write(&format!("sys/devices/{PCI}/block/sda/size"), "lots\n");
        let err = sda.size().unwrap_err();
        assert!(matches!(err, DiskError::Parse { .. }), "{err}");
        assert!(zos_base::report(&err).contains("not a number"), "{err}");
        t.write(
            &format!("sys/devices/{PCI}/block/sda/size"),
            "36028797018963968\n",
        );
        assert!(sda
            .size()
            .unwrap_err()
            .to_string()
            .contains("size overflows"));
        t.write(&format!("sys/devices/{PCI}/block/sda/removable"), "yes\n");
        assert!(matches!(sda.removable(), Err(DiskError::Parse { .. })));
        t.write(&format!("sys/devices/{PCI}/block/sda/ro"), "1\n");
        assert!(sda.read_only().unwrap());
        t.write(&format!("sys/devices/{PCI}/block/sda/ro"), "2\n");
        assert!(matches!(sda.read_only(), Err(DiskError::Parse { .. })));
        let missing = device(&t, "sdz");
        assert!(matches!(missing.size(), Err(DiskError::Read { .. })));
        assert!(matches!(missing.read_only(), Err(DiskError::Read { .. })));
    }

    #[test]
    fn missing_block_class_is_an_error() {
        let t = Tree::new();
        std::fs::remove_dir(t.roots.sys.join("class/block")).unwrap();
        assert!(matches!(
            whole_disks(&t.roots.sys, &t.roots.dev),
            Err(DiskError::List { .. })
        ));
    }
}
