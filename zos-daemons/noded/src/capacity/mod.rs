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
//! - SRU / HRU: the sizes of the SSD / HDD pools, asked from storaged ([`storage`]), which owns
//!   the disks.

use std::io;
use std::path::{Path, PathBuf};

use zos_bus::storage::StorageCapacity;
use zos_bus::{Capacity, Dmi};
use zos_disks::DiskError;

pub use zos_disks::Roots;

pub mod cpu;
pub mod dmi;
pub mod interfaces;
pub mod memory;
pub mod platform;
pub mod storage;

#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot understand {path}: {what}")]
    Parse { path: PathBuf, what: String },
    #[error("listing the host's addresses (getifaddrs) failed")]
    Addresses(#[source] nix::Error),
    #[error("{0}")]
    Storage(String),
}

impl From<DiskError> for CapacityError {
    fn from(error: DiskError) -> Self {
        match error {
            DiskError::List { path, source } | DiskError::Read { path, source } => {
                CapacityError::Read { path, source }
            }
            DiskError::Parse { path, what } => CapacityError::Parse { path, what },
        }
    }
}

/// Everything measured once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardware {
    pub capacity: Capacity,
    pub dmi: Dmi,
}

/// Measures CRU, MRU and DMI; SRU and HRU are storaged's totals (see [`storage::capacity`]).
pub fn measure(roots: &Roots, storage: &StorageCapacity) -> Result<Hardware, CapacityError> {
    let cru = cpu::logical_cpus(roots)?;
    let mru = memory::mem_total_bytes(roots)?;
    Ok(Hardware {
        capacity: Capacity {
            cru,
            mru,
            sru: storage.sru_total,
            hru: storage.hru_total,
        },
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
    //! Fake `/proc`, `/sys` and `/dev` trees shaped like the kernel's (shared with zos-disks).

    pub use zos_disks::testing::Tree;
}
