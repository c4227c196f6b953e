//! SRU / HRU: which block devices count, and as what.
//!
//! The block devices, their attributes and the rules that leave a device out (not a whole
//! disk, removable, USB, boot medium, size 0) are `zos_disks`'s, shared with storaged; this
//! module does the accounting on top: a counted disk is SSD (SRU) when `queue/rotational` is 0
//! and HDD (HRU) when it is 1, with its size in bytes. A sysfs problem is an error (capacity
//! must not be reported wrong).

use std::collections::BTreeSet;

use zos_disks::{whole_disks, BlockDevice};

pub use zos_disks::Skip;

use super::{CapacityError, Roots};

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Counted(Disk),
    Skipped(Skip),
}

/// Classifies block device `name` (an entry of `<sys>/class/block`).
pub fn classify(
    roots: &Roots,
    name: &str,
    boot_disks: &BTreeSet<String>,
) -> Result<Verdict, CapacityError> {
    verdict(
        &BlockDevice::new(&roots.sys, name, roots.dev.join(name)),
        boot_disks,
    )
}

fn verdict(device: &BlockDevice, boot_disks: &BTreeSet<String>) -> Result<Verdict, CapacityError> {
    if let Some(skip) = device.skip(boot_disks)? {
        return Ok(Verdict::Skipped(skip));
    }
    let size = device.size()?;
    let kind = if device.rotational()? {
        DiskKind::Hdd
    } else {
        DiskKind::Ssd
    };
    Ok(Verdict::Counted(Disk {
        name: device.name().to_string(),
        kind,
        size,
    }))
}

/// The disks that count into capacity, sorted by name. Skipped disks are logged.
pub fn eligible_disks(roots: &Roots) -> Result<Vec<Disk>, CapacityError> {
    let boot_disks = zos_disks::boot_disks(roots);
    let mut disks = Vec::new();
    for device in whole_disks(&roots.sys, &roots.dev)? {
        match verdict(&device, &boot_disks)? {
            Verdict::Counted(disk) => {
                tracing::info!(disk = %disk.name, kind = ?disk.kind, size = disk.size, "disk counted");
                disks.push(disk);
            }
            Verdict::Skipped(reason) => {
                tracing::info!(disk = %device.name(), ?reason, "disk not counted");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::fixture::Tree;
    use zos_disks::testing::{NVME, PCI, USB, VIRT};

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

    #[test]
    fn boot_medium_is_not_counted() {
        const VDA: &str = "pci0000:00/0000:00:04.0/virtio2";
        const VDB: &str = "pci0000:00/0000:00:05.0/virtio3";
        let t = Tree::new();
        t.disk(VDA, "vda", "254:0", 100_000, 1, 0);
        t.partition(VDA, "vda", "vda1", "254:1");
        t.disk(VDB, "vdb", "254:16", 1000, 0, 0);
        t.dev_node("vda1", &zos_disks::testing::fat32_with_label("ZOSBOOT"));
        let names: Vec<String> = eligible_disks(&t.roots)
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, vec!["vdb"]);
    }
}
