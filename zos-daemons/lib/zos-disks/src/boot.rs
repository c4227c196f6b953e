//! Which disks hold the boot medium, so the node neither counts nor uses them.
//!
//! A disk is the boot medium when either
//! - it backs one of the mounts `/`, `/boot`, `/boot/efi` or `/efi` (from
//!   `<proc>/self/mountinfo`; on a node booted from an initramfs `/` has no disk), or
//! - it or one of its partitions holds a filesystem labelled [`BOOT_LABEL`] (the label every
//!   image recipe gives the boot partition), read with [`crate::label::read_label`].
//!
//! Only a few KiB at the start of each device are read; nothing is mounted or written.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::block::is_virtual;
use crate::label::read_label;
use crate::Roots;

/// Filesystem label of the node's boot partition.
pub const BOOT_LABEL: &str = "ZOSBOOT";

/// Mount points whose backing disk is the boot medium.
pub const BOOT_MOUNTS: [&str; 4] = ["/", "/boot", "/boot/efi", "/efi"];

/// Names of the whole disks that hold the boot medium. Problems reading a device are logged and
/// that device is not considered a boot medium.
pub fn boot_disks(roots: &Roots) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mountinfo = roots.proc.join("self/mountinfo");
    match std::fs::read_to_string(&mountinfo) {
        Ok(text) => {
            for devnum in boot_mount_devnums(&text) {
                if let Some(disk) = disk_of(&roots.sys.join("dev/block").join(&devnum)) {
                    tracing::debug!(%disk, %devnum, "disk backs a boot mount");
                    found.insert(disk);
                }
            }
        }
        Err(error) => {
            tracing::warn!(path = %mountinfo.display(), %error, "cannot read mounts")
        }
    }
    let class = roots.sys.join("class/block");
    let Ok(entries) = std::fs::read_dir(&class) else {
        return found;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_virtual(&name) {
            continue;
        }
        let node = roots.dev.join(&name);
        match read_label(&node) {
            Ok(Some(label)) if label.eq_ignore_ascii_case(BOOT_LABEL) => {
                if let Some(disk) = disk_of(&entry.path()) {
                    tracing::debug!(%disk, device = %name, "boot label found");
                    found.insert(disk);
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(device = %node.display(), %error, "cannot read label")
            }
        }
    }
    found
}

/// `major:minor` of the mounts at [`BOOT_MOUNTS`] in a mountinfo text.
pub fn boot_mount_devnums(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (devnum, mount_point) = (fields.get(2)?, fields.get(4)?);
            BOOT_MOUNTS
                .contains(mount_point)
                .then(|| devnum.to_string())
        })
        .collect()
}

/// The whole disk a sysfs block entry (a symlink into `devices/.../block/<disk>[/<part>]`)
/// belongs to.
fn disk_of(entry: &Path) -> Option<String> {
    let target: PathBuf = std::fs::read_link(entry).ok()?;
    let name = target.file_name()?.to_string_lossy().into_owned();
    if entry.join("partition").exists() {
        Some(target.parent()?.file_name()?.to_string_lossy().into_owned())
    } else {
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ext4_with_label, fat32_with_label, Tree};

    const PCI: &str = "pci0000:00/0000:00:04.0/virtio2";

    #[test]
    fn mountinfo_boot_mounts() {
        let text = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 8:1 / /boot/efi rw - vfat /dev/sda1 rw
41 27 8:17 / /mnt/data rw - ext4 /dev/sdb1 rw
bad line
";
        assert_eq!(boot_mount_devnums(text), vec!["254:0", "8:1"]);
    }

    #[test]
    fn disk_backing_root_or_boot_mount() {
        let t = Tree::new();
        t.disk(PCI, "vda", "254:0", 1000, 1, 0);
        t.disk(
            "pci0000:00/0000:00:05.0/virtio3",
            "vdb",
            "254:16",
            1000,
            1,
            0,
        );
        t.disk(
            "pci0000:00/0000:00:06.0/virtio4",
            "vdc",
            "254:32",
            1000,
            1,
            0,
        );
        t.partition("pci0000:00/0000:00:06.0/virtio4", "vdc", "vdc1", "254:33");
        t.write(
            "proc/self/mountinfo",
            "27 1 254:0 / / rw - ext4 /dev/vda rw\n50 27 254:33 / /boot rw - vfat /dev/vdc1 rw\n",
        );
        let found: Vec<String> = boot_disks(&t.roots).into_iter().collect();
        assert_eq!(found, vec!["vda", "vdc"]);
    }

    #[test]
    fn disk_with_labelled_partition() {
        let t = Tree::new();
        t.disk(PCI, "vda", "254:0", 100_000, 1, 0);
        t.partition(PCI, "vda", "vda1", "254:1");
        t.partition(PCI, "vda", "vda2", "254:2");
        t.disk(
            "pci0000:00/0000:00:05.0/virtio3",
            "vdb",
            "254:16",
            1000,
            0,
            0,
        );
        t.partition("pci0000:00/0000:00:05.0/virtio3", "vdb", "vdb1", "254:17");
        t.dev_node("vda", &[0u8; 4096]);
        t.dev_node("vda1", &fat32_with_label("ZOSBOOT"));
        t.dev_node("vda2", &ext4_with_label("data"));
        t.dev_node("vdb1", &ext4_with_label("other"));
        // vdb has no device node here: unreadable devices are simply not the boot medium.
        let found: Vec<String> = boot_disks(&t.roots).into_iter().collect();
        assert_eq!(found, vec!["vda"]);
    }

    #[test]
    fn host_root_disk_is_found() {
        // On the test host `/` is on a real disk (when it is not, there is nothing to find).
        let roots = Roots::default();
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let found = boot_disks(&roots);
        for devnum in boot_mount_devnums(&mountinfo) {
            if let Some(disk) = disk_of(&roots.sys.join("dev/block").join(&devnum)) {
                assert!(found.contains(&disk), "{disk} backs a boot mount");
            }
        }
    }
}
