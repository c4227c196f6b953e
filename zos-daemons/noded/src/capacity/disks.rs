//! SRU / HRU: which block devices count, and as what.
//!
//! Every entry of `<sys>/class/block` is classified; a device counts when it is a whole disk
//! that is not:
//! - virtual or not a disk by name: `loop*`, `ram*`, `zram*`, `sr*` (optical), `dm-*`, `md*`,
//!   `nbd*`, `fd*`;
//! - a partition (has a `partition` attribute);
//! - removable media (`removable` = 1: card readers, most USB sticks);
//! - attached over USB (its sysfs device path runs through a `usb` node), like zos does;
//! - the boot medium (see [`super::boot`]);
//! - empty (size 0, e.g. a card reader without a card).
//!
//! A counted disk is SSD (SRU) when `queue/rotational` is 0 and HDD (HRU) when it is 1; its size
//! is `size` (always in 512-byte sectors) × 512.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use super::{boot, parse_error, read_string, CapacityError, Roots};

/// Name prefixes of block devices that are never capacity.
pub const VIRTUAL_PREFIXES: [&str; 8] = ["loop", "ram", "zram", "sr", "dm-", "md", "nbd", "fd"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskKind {
    Ssd,
    Hdd,
}

/// A disk counted into capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub name: String,
    pub kind: DiskKind,
    /// Bytes.
    pub size: u64,
}

/// Why a block device does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Virtual,
    Partition,
    Removable,
    Usb,
    BootMedium,
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Counted(Disk),
    Skipped(Skip),
}

/// Whether `name` is a virtual or non-disk device by its name alone.
pub fn is_virtual(name: &str) -> bool {
    VIRTUAL_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Classifies block device `name` (an entry of `<sys>/class/block`).
pub fn classify(
    roots: &Roots,
    name: &str,
    boot_disks: &BTreeSet<String>,
) -> Result<Verdict, CapacityError> {
    if is_virtual(name) {
        return Ok(Verdict::Skipped(Skip::Virtual));
    }
    let entry = roots.sys.join("class/block").join(name);
    if entry.join("partition").exists() {
        return Ok(Verdict::Skipped(Skip::Partition));
    }
    if read_flag(&entry.join("removable"))? == Some(1) {
        return Ok(Verdict::Skipped(Skip::Removable));
    }
    if on_usb(&entry) {
        return Ok(Verdict::Skipped(Skip::Usb));
    }
    if boot_disks.contains(name) {
        return Ok(Verdict::Skipped(Skip::BootMedium));
    }
    let size_path = entry.join("size");
    let sectors = read_number(&size_path)?;
    if sectors == 0 {
        return Ok(Verdict::Skipped(Skip::Empty));
    }
    let size = sectors
        .checked_mul(512)
        .ok_or_else(|| parse_error(&size_path, "size overflows"))?;
    let rot_path = entry.join("queue/rotational");
    let kind = match read_number(&rot_path)? {
        0 => DiskKind::Ssd,
        1 => DiskKind::Hdd,
        other => return Err(parse_error(&rot_path, format!("rotational is {other}"))),
    };
    Ok(Verdict::Counted(Disk {
        name: name.to_string(),
        kind,
        size,
    }))
}

/// The disks that count into capacity, sorted by name. Skipped devices are logged.
pub fn eligible_disks(roots: &Roots) -> Result<Vec<Disk>, CapacityError> {
    let boot_disks = boot::boot_disks(roots);
    let class = roots.sys.join("class/block");
    let entries = std::fs::read_dir(&class).map_err(|source| CapacityError::Read {
        path: class.clone(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut disks = Vec::new();
    for name in names {
        match classify(roots, &name, &boot_disks)? {
            Verdict::Counted(disk) => {
                tracing::info!(disk = %disk.name, kind = ?disk.kind, size = disk.size, "disk counted");
                disks.push(disk);
            }
            Verdict::Skipped(Skip::Virtual | Skip::Partition) => {}
            Verdict::Skipped(reason) => {
                tracing::info!(disk = %name, ?reason, "disk not counted");
            }
        }
    }
    Ok(disks)
}

/// (SRU, HRU) in bytes.
pub fn totals(disks: &[Disk]) -> (u64, u64) {
    disks.iter().fold((0, 0), |(sru, hru), d| match d.kind {
        DiskKind::Ssd => (sru.saturating_add(d.size), hru),
        DiskKind::Hdd => (sru, hru.saturating_add(d.size)),
    })
}

fn on_usb(entry: &Path) -> bool {
    std::fs::read_link(entry)
        .map(|target| {
            target
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with("usb"))
        })
        .unwrap_or(false)
}

fn read_number(path: &Path) -> Result<u64, CapacityError> {
    let text = read_string(path)?;
    text.trim()
        .parse()
        .map_err(|_| parse_error(path, format!("not a number: {:?}", text.trim())))
}

/// A 0/1 attribute; `None` when the kernel does not provide it.
fn read_flag(path: &Path) -> Result<Option<u64>, CapacityError> {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        _ => read_number(path).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::fixture::Tree;

    const PCI: &str = "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0";
    const NVME: &str = "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0";
    const USB: &str = "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0";
    const VIRT: &str = "virtual";

    fn none() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn ssd_and_hdd_are_counted_with_bytes() {
        let t = Tree::new();
        t.disk(NVME, "nvme0n1", "259:0", 1_000_000, 0, 0);
        t.disk(PCI, "sda", "8:0", 2_000_000, 1, 0);
        assert_eq!(
            classify(&t.roots, "nvme0n1", &none()).unwrap(),
            Verdict::Counted(Disk {
                name: "nvme0n1".into(),
                kind: DiskKind::Ssd,
                size: 1_000_000 * 512
            })
        );
        let disks = eligible_disks(&t.roots).unwrap();
        assert_eq!(disks.len(), 2);
        assert_eq!(totals(&disks), (1_000_000 * 512, 2_000_000 * 512));
    }

    #[test]
    fn skips_what_is_not_capacity() {
        let t = Tree::new();
        t.disk(PCI, "sda", "8:0", 2_000_000, 1, 0);
        t.partition(PCI, "sda", "sda1", "8:1");
        t.disk(VIRT, "loop0", "7:0", 1000, 0, 0);
        t.disk(VIRT, "zram0", "252:0", 1000, 0, 0);
        t.disk(VIRT, "ram0", "1:0", 1000, 0, 0);
        t.disk(VIRT, "dm-0", "253:0", 1000, 0, 0);
        t.disk(PCI, "sr0", "11:0", 1000, 1, 1);
        t.disk(PCI, "sdb", "8:16", 1000, 1, 1);
        t.disk(USB, "sdc", "8:32", 1000, 1, 0);
        t.disk(PCI, "sdd", "8:48", 0, 1, 0);
        let roots = &t.roots;
        let v = |name| classify(roots, name, &none()).unwrap();
        assert_eq!(v("sda1"), Verdict::Skipped(Skip::Partition));
        for name in ["loop0", "zram0", "ram0", "dm-0", "sr0"] {
            assert_eq!(v(name), Verdict::Skipped(Skip::Virtual), "{name}");
        }
        assert_eq!(v("sdb"), Verdict::Skipped(Skip::Removable));
        assert_eq!(v("sdc"), Verdict::Skipped(Skip::Usb));
        assert_eq!(v("sdd"), Verdict::Skipped(Skip::Empty));
        let boot: BTreeSet<String> = ["sda".to_string()].into();
        assert_eq!(
            classify(roots, "sda", &boot).unwrap(),
            Verdict::Skipped(Skip::BootMedium)
        );
        let names: Vec<String> = eligible_disks(roots)
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, vec!["sda"]);
    }

    #[test]
    fn bad_attributes_are_errors() {
        let t = Tree::new();
        t.disk(PCI, "sda", "8:0", 2_000_000, 2, 0);
        let err = classify(&t.roots, "sda", &none()).unwrap_err();
        assert!(err.to_string().contains("rotational is 2"), "{err}");
        t.write(&format!("sys/devices/{PCI}/block/sda/size"), "lots\n");
        let err = classify(&t.roots, "sda", &none()).unwrap_err();
        assert!(err.to_string().contains("not a number"), "{err}");
    }

    #[test]
    fn missing_block_class_is_an_error() {
        let t = Tree::new();
        std::fs::remove_dir(t.roots.sys.join("class/block")).unwrap();
        assert!(matches!(
            eligible_disks(&t.roots),
            Err(CapacityError::Read { .. })
        ));
    }
}
