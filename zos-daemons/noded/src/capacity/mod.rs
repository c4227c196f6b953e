//! What the node has: capacity (CRU, MRU, SRU, HRU), DMI and network interfaces, read from
//! `/proc`, `/sys` and `/dev` (roots injectable so tests use fixture trees).
//!
//! Read-only: this module never writes to the files it reads, never partitions, formats or mounts
//! a disk (storaged owns disks) and never changes a link (networkd owns links).
//!
//! Rules:
//! - CRU: logical CPUs online (`/sys/devices/system/cpu/online`, else `processor` entries in
//!   `/proc/cpuinfo`).
//! - MRU: `MemTotal` of `/proc/meminfo`, in bytes.
//! - SRU / HRU: sizes of the eligible whole disks (see [`disks`]) with `queue/rotational` 0 / 1.

use std::io;
use std::path::{Path, PathBuf};

use zos_bus::{Capacity, Dmi};

pub mod boot;
pub mod cpu;
pub mod disks;
pub mod dmi;
pub mod interfaces;
pub mod memory;
pub mod platform;

/// Where the kernel's pseudo filesystems (and device nodes) are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    pub proc: PathBuf,
    pub sys: PathBuf,
    pub dev: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot understand {path}: {what}")]
    Parse { path: PathBuf, what: String },
    #[error("listing the host's addresses (getifaddrs) failed: {0}")]
    Addresses(#[source] nix::Error),
}

/// Everything measured once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardware {
    pub capacity: Capacity,
    pub disks: Vec<disks::Disk>,
    pub dmi: Dmi,
}

/// Measures capacity, the counted disks and DMI.
pub fn measure(roots: &Roots) -> Result<Hardware, CapacityError> {
    let cru = cpu::logical_cpus(roots)?;
    let mru = memory::mem_total_bytes(roots)?;
    let disks = disks::eligible_disks(roots)?;
    let (sru, hru) = disks::totals(&disks);
    Ok(Hardware {
        capacity: Capacity { cru, mru, sru, hru },
        disks,
        dmi: dmi::read_dmi(roots),
    })
}

fn read_string(path: &Path) -> Result<String, CapacityError> {
    std::fs::read_to_string(path).map_err(|source| CapacityError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_error(path: &Path, what: impl Into<String>) -> CapacityError {
    CapacityError::Parse {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    //! Builders for fake `/proc`, `/sys` and `/dev` trees shaped like the kernel's.

    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    use super::Roots;

    pub struct Tree {
        pub dir: tempfile::TempDir,
        pub roots: Roots,
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
            fs::write(dir.join("queue/rotational"), format!("{rotational}\n")).unwrap();
            fs::write(dir.join("dev"), format!("{devnum}\n")).unwrap();
            self.links(name, &rel, devnum);
        }

        /// Partition `part` (number `n`) of disk `disk` created with [`Tree::disk`].
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
}
