//! zos-disks: the node's block devices as sysfs describes them, for every daemon that looks at
//! disks (noded counts them as capacity, storaged decides what to do with them).
//!
//! It owns:
//! - enumerating the whole disks of `<sys>/class/block` ([`whole_disks`]) and the name and
//!   partition rules that say what is not a disk ([`is_virtual`], [`BlockDevice::is_partition`]);
//! - a device's attributes: name, device node, size in bytes, rotational, removable, attached
//!   over USB, model, serial ([`BlockDevice`]);
//! - the rules that make a whole disk unusable for the node: removable, USB, boot medium,
//!   size 0 ([`BlockDevice::unusable`], [`Skip`]);
//! - finding the boot medium ([`boot`]) and reading filesystem signatures and labels
//!   ([`label`]);
//! - the one emptiness check (first and last MiB and the btrfs superblock area all zero) that
//!   says a disk may be formatted ([`empty`]).
//!
//! The roots (`/proc`, `/sys`, `/dev`) are injectable ([`Roots`]) so tests use fixture trees
//! (see the `testing` feature).
//!
//! Read-only: this crate never writes to, partitions, formats, mounts or holds a disk; it only
//! reads sysfs attributes and the first and last bytes of device nodes. What to do with a disk is the
//! caller's decision (storaged owns disks).

use std::io;
use std::path::PathBuf;

pub mod block;
pub mod boot;
pub mod empty;
pub mod label;
#[cfg(feature = "testing")]
pub mod testing;

pub use block::{is_virtual, whole_disks, BlockDevice, Skip, VIRTUAL_PREFIXES};
pub use boot::{boot_disks, BOOT_LABEL};
pub use empty::is_empty;
pub use label::{btrfs_label, filesystem_in, label_in, read_label, Filesystem, FsKind};

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
pub enum DiskError {
    #[error("cannot list block devices in {path}")]
    List {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot understand {path}: {what}")]
    Parse { path: PathBuf, what: String },
}
