//! Fixtures for tests (feature `testing`): fake `/proc`, `/sys` and `/dev` trees shaped like
//! the kernel's, and the first bytes of filesystems with a given label.
//!
//! Test code: it panics when the temporary directory cannot be written.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::label::{BTRFS_LABEL_AT, BTRFS_MAGIC_AT, BTRFS_SUPER};
use crate::Roots;

/// Parents (below `<sys>/devices`) of fixture disks, as the kernel names them: a SATA disk,
/// an NVMe controller, a disk behind a USB controller, and virtual devices.
pub const PCI: &str = "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0";
pub const NVME: &str = "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0";
pub const USB: &str = "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0";
pub const VIRT: &str = "virtual";

/// A temporary directory holding `proc/`, `sys/` (with an empty `class/block`) and `dev/`.
#[derive(Debug)]
pub struct Tree {
    pub dir: tempfile::TempDir,
    pub roots: Roots,
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

impl Tree {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let roots = Roots {
            proc: dir.path().join("proc"),
            sys: dir.path().join("sys"),
            dev: dir.path().join("dev"),
        };
        for d in [&roots.proc, &roots.sys, &roots.dev] {
            fs::create_dir_all(d).unwrap();
        }
        fs::create_dir_all(roots.sys.join("class/block")).unwrap();
        fs::create_dir_all(roots.proc.join("self")).unwrap();
        fs::write(roots.proc.join("self/mountinfo"), "").unwrap();
        Tree { dir, roots }
    }

    /// Writes `content` at `rel` (below the tree), creating directories.
    pub fn write(&self, rel: &str, content: &str) {
        let path = self.dir.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    /// A whole disk at `devices/<parent>/block/<name>` with a class symlink and a
    /// `dev/block/<devnum>` symlink, as the kernel lays them out.
    pub fn disk(
        &self,
        parent: &str,
        name: &str,
        devnum: &str,
        sectors: u64,
        rotational: u8,
        removable: u8,
    ) {
        let rel = format!("devices/{parent}/block/{name}");
        let dir = self.roots.sys.join(&rel);
        fs::create_dir_all(dir.join("queue")).unwrap();
        fs::write(dir.join("size"), format!("{sectors}\n")).unwrap();
        fs::write(dir.join("removable"), format!("{removable}\n")).unwrap();
        fs::write(dir.join("ro"), "0\n").unwrap();
        fs::write(dir.join("queue/rotational"), format!("{rotational}\n")).unwrap();
        fs::write(dir.join("dev"), format!("{devnum}\n")).unwrap();
        self.links(name, &rel, devnum);
    }

    /// Partition `part` of disk `disk` created with [`Tree::disk`].
    pub fn partition(&self, parent: &str, disk: &str, part: &str, devnum: &str) {
        let rel = format!("devices/{parent}/block/{disk}/{part}");
        let dir = self.roots.sys.join(&rel);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("partition"), "1\n").unwrap();
        fs::write(dir.join("size"), "2048\n").unwrap();
        fs::write(dir.join("dev"), format!("{devnum}\n")).unwrap();
        self.links(part, &rel, devnum);
    }

    fn links(&self, name: &str, rel: &str, devnum: &str) {
        symlink(
            Path::new("../..").join(rel),
            self.roots.sys.join("class/block").join(name),
        )
        .unwrap();
        fs::create_dir_all(self.roots.sys.join("dev/block")).unwrap();
        symlink(
            Path::new("../..").join(rel),
            self.roots.sys.join("dev/block").join(devnum),
        )
        .unwrap();
    }

    /// A device node stand-in: a regular file with `content` at `dev/<name>`.
    pub fn dev_node(&self, name: &str, content: &[u8]) {
        fs::write(self.roots.dev.join(name), content).unwrap();
    }
}

/// `label` space-padded into `field`.
fn padded(field: &mut [u8], label: &str) {
    field.fill(b' ');
    field[..label.len()].copy_from_slice(label.as_bytes());
}

pub fn fat32_with_label(label: &str) -> Vec<u8> {
    let mut b = vec![0u8; 4096];
    b[0x52..0x5A].copy_from_slice(b"FAT32   ");
    padded(&mut b[0x47..0x52], label);
    b[510] = 0x55;
    b[511] = 0xAA;
    b
}

pub fn fat16_with_label(label: &str) -> Vec<u8> {
    let mut b = vec![0u8; 4096];
    b[0x36..0x3E].copy_from_slice(b"FAT16   ");
    padded(&mut b[0x2B..0x36], label);
    b
}

pub fn ext4_with_label(label: &str) -> Vec<u8> {
    let mut b = vec![0u8; 4096];
    b[1024 + 56] = 0x53;
    b[1024 + 57] = 0xEF;
    b[1024 + 120..1024 + 120 + label.len()].copy_from_slice(label.as_bytes());
    b
}

pub fn iso_with_label(label: &str) -> Vec<u8> {
    let mut b = vec![0u8; 0x8800];
    b[0x8000] = 1;
    b[0x8001..0x8006].copy_from_slice(b"CD001");
    padded(&mut b[0x8028..0x8048], label);
    b
}

pub fn btrfs_with_label(label: &str) -> Vec<u8> {
    let mut b = vec![0u8; BTRFS_SUPER + 4096];
    b[BTRFS_SUPER + BTRFS_MAGIC_AT..BTRFS_SUPER + BTRFS_MAGIC_AT + 8].copy_from_slice(b"_BHRfS_M");
    let at = BTRFS_SUPER + BTRFS_LABEL_AT;
    b[at..at + label.len()].copy_from_slice(label.as_bytes());
    b
}
