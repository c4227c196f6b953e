//! Storage workloads: `zmount` (raw disk), `volume` (virtiofs share) and `zdb` (0-db namespace)
//! (zos `zos/zmount.go`, `volume.go`, `zdb.go`). Data, challenge, validation, capacity, results.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::InvalidData;
use crate::capacity::MAX_BYTES;
use crate::Capacity;

/// A size from a deployment: more than zero, at most what a node can hold.
fn check_size(size: u64) -> Result<(), InvalidData> {
    match size {
        0 => Err(InvalidData::InvalidSize),
        s if s > MAX_BYTES => Err(InvalidData::SizeTooLarge(s)),
        _ => Ok(()),
    }
}

/// `zmount` data: a raw disk of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ZMount {
    pub size: u64,
}

impl ZMount {
    pub(crate) fn challenge(&self, out: &mut String) {
        let _ = write!(out, "{}", self.size);
    }

    pub(crate) fn validate(&self) -> Result<(), InvalidData> {
        check_size(self.size)?;
        Ok(())
    }

    /// SRU = size.
    pub fn capacity(&self) -> Capacity {
        Capacity {
            sru: self.size,
            ..Default::default()
        }
    }
}

/// `zmount` result data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ZMountResult {
    #[serde(rename = "volume_id")]
    pub id: String,
}

/// `volume` data: a btrfs subvolume of `size` bytes shared into a VM.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Volume {
    pub size: u64,
}

impl Volume {
    pub(crate) fn challenge(&self, out: &mut String) {
        let _ = write!(out, "{}", self.size);
    }

    pub(crate) fn validate(&self) -> Result<(), InvalidData> {
        check_size(self.size)?;
        Ok(())
    }

    /// SRU = size.
    pub fn capacity(&self) -> Capacity {
        Capacity {
            sru: self.size,
            ..Default::default()
        }
    }
}

/// `volume` result data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeResult {
    pub id: String,
}

/// `zdb` data: a 0-db namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Zdb {
    pub size: u64,
    /// `user` or `seq`.
    #[serde(deserialize_with = "crate::json::null_default")]
    pub mode: String,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub password: String,
    pub public: bool,
}

/// The zdb modes.
pub const ZDB_MODE_USER: &str = "user";
pub const ZDB_MODE_SEQ: &str = "seq";

impl Zdb {
    pub(crate) fn challenge(&self, out: &mut String) {
        let _ = write!(
            out,
            "{}{}{}{}",
            self.size, self.mode, self.password, self.public
        );
    }

    pub(crate) fn validate(&self) -> Result<(), InvalidData> {
        check_size(self.size)?;
        if self.mode != ZDB_MODE_USER && self.mode != ZDB_MODE_SEQ {
            return Err(InvalidData::InvalidZdbMode(self.mode.clone()));
        }
        if !self.public && self.password.is_empty() {
            return Err(InvalidData::ZdbPrivateWithoutPassword);
        }
        Ok(())
    }

    /// HRU = size.
    pub fn capacity(&self) -> Capacity {
        Capacity {
            hru: self.size,
            ..Default::default()
        }
    }
}

/// `zdb` result data. zos's struct has no JSON tags, so the keys are capitalised.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ZdbResult {
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "IPs", deserialize_with = "crate::json::null_default")]
    pub ips: Vec<String>,
    #[serde(rename = "Port")]
    pub port: u64,
}
