//! `qsfs`: a quantum-safe filesystem mount backed by zdb namespaces (zos `zos/qsfs.go`).

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::InvalidData;
use crate::net::HexBytes;
use crate::{Capacity, GIB};

/// `qsfs` data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Qsfs {
    /// Local cache size in bytes.
    pub cache: u64,
    pub config: QsfsConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QsfsConfig {
    pub minimal_shards: u32,
    pub expected_shards: u32,
    pub redundant_groups: u32,
    pub redundant_nodes: u32,
    pub max_zdb_data_dir_size: u32,
    pub encryption: QsfsEncryption,
    pub meta: QsfsMeta,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub groups: Vec<QsfsGroup>,
    pub compression: QsfsCompression,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QsfsEncryption {
    #[serde(deserialize_with = "crate::json::null_default")]
    pub algorithm: String,
    /// Hex in JSON.
    pub key: HexBytes,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QsfsMeta {
    #[serde(rename = "type", deserialize_with = "crate::json::null_default")]
    pub meta_type: String,
    pub config: QsfsMetaConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QsfsMetaConfig {
    #[serde(deserialize_with = "crate::json::null_default")]
    pub prefix: String,
    pub encryption: QsfsEncryption,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub backends: Vec<ZdbBackend>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QsfsGroup {
    #[serde(deserialize_with = "crate::json::null_default")]
    pub backends: Vec<ZdbBackend>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ZdbBackend {
    #[serde(deserialize_with = "crate::json::null_default")]
    pub address: String,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub namespace: String,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QsfsCompression {
    #[serde(deserialize_with = "crate::json::null_default")]
    pub algorithm: String,
}

impl QsfsEncryption {
    fn challenge(&self, out: &mut String) {
        let _ = write!(out, "{}{}", self.algorithm, self.key);
    }
}

impl ZdbBackend {
    fn challenge(&self, out: &mut String) {
        let _ = write!(out, "{}{}{}", self.address, self.namespace, self.password);
    }
}

impl Qsfs {
    pub(crate) fn challenge(&self, out: &mut String) {
        let c = &self.config;
        let _ = write!(
            out,
            "{}{}{}{}{}{}",
            self.cache,
            c.minimal_shards,
            c.expected_shards,
            c.redundant_groups,
            c.redundant_nodes,
            c.max_zdb_data_dir_size
        );
        c.encryption.challenge(out);
        out.push_str(&c.meta.meta_type);
        out.push_str(&c.meta.config.prefix);
        c.meta.config.encryption.challenge(out);
        for be in &c.meta.config.backends {
            be.challenge(out);
        }
        for g in &c.groups {
            for be in &g.backends {
                be.challenge(out);
            }
        }
        out.push_str(&c.compression.algorithm);
    }

    pub(crate) fn validate(&self) -> Result<(), InvalidData> {
        if self.config.minimal_shards > self.config.expected_shards {
            return Err(InvalidData::QsfsShards);
        }
        Ok(())
    }

    /// CRU = 1, MRU = 1 GiB, SRU = cache.
    pub fn capacity(&self) -> Capacity {
        Capacity {
            cru: 1,
            mru: GIB,
            sru: self.cache,
            ..Default::default()
        }
    }
}

/// `qsfs` result data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QsfsResult {
    pub path: String,
    pub metrics_endpoint: String,
}
