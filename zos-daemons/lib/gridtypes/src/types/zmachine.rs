//! `zmachine`: a virtual machine or container (zos `zos/zmachine.go`, `zmachine_utils.go`).
//!
//! Owns its data, challenge (note: `corex` is not hashed), validation against the deployment
//! (public IP reference), the root size rule and capacity. How it is booted belongs to the VM
//! manager.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::{InvalidData, WorkloadData};
use crate::net::{GoIp, HexBytes};
use crate::{Capacity, Deployment, WorkloadType, GIB, MIB};

/// Length of a VM's mycelium IP seed.
pub const MYCELIUM_SEED_LEN: usize = 6;

/// Smallest memory a zmachine may have.
pub const MIN_MEMORY: u64 = 250 * MIB;

/// Interface network names zos reserves.
pub const RESERVED_NETWORKS: &[&str] = &["ygg", "pub", "mycelium"];

/// `zmachine` data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ZMachine {
    /// URL of the flist to boot.
    #[serde(deserialize_with = "crate::json::null_default")]
    pub flist: String,
    pub network: MachineNetwork,
    /// Root filesystem size in bytes (0: the minimum).
    pub size: u64,
    pub compute_capacity: MachineCapacity,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub mounts: Vec<MachineMount>,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub entrypoint: String,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub env: BTreeMap<String, String>,
    /// Run corex as init (container mode). Not part of the challenge.
    pub corex: bool,
    /// GPUs as `slot/vendor/device`.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::json::null_default"
    )]
    pub gpu: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineNetwork {
    /// Name of an `ip`/`ipv4` workload of the same deployment, or empty.
    #[serde(deserialize_with = "crate::json::null_default")]
    pub public_ip: String,
    /// Yggdrasil (or mycelium when `mycelium` is set).
    pub planetary: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mycelium: Option<MachineMycelium>,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub interfaces: Vec<MachineInterface>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineMycelium {
    /// zos's field has no JSON tag, so the key is `Network`.
    #[serde(
        rename = "Network",
        alias = "network",
        deserialize_with = "crate::json::null_default"
    )]
    pub network: String,
    /// 6 bytes, hex.
    pub hex_seed: HexBytes,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineInterface {
    /// Name of a `network` workload of the twin.
    #[serde(deserialize_with = "crate::json::null_default")]
    pub network: String,
    pub ip: GoIp,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineCapacity {
    pub cpu: u8,
    /// Bytes.
    pub memory: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineMount {
    /// Name of a `zmount`/`volume`/`qsfs` workload of the same deployment.
    #[serde(deserialize_with = "crate::json::null_default")]
    pub name: String,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub mountpoint: String,
}

impl ZMachine {
    /// zos's `MinRootSize`: 500 MiB when cpu*memory < 8 GiB, else 2 GiB.
    pub fn min_root_size(&self) -> u64 {
        // Go multiplies in uint64 and wraps; so do we.
        let cu = u64::from(self.compute_capacity.cpu).wrapping_mul(self.compute_capacity.memory)
            / (8 * GIB);
        if cu == 0 {
            500 * MIB
        } else {
            2 * GIB
        }
    }

    /// zos's `RootSize`: `max(size, min_root_size)`.
    pub fn root_size(&self) -> u64 {
        self.size.max(self.min_root_size())
    }

    pub(crate) fn challenge(&self, out: &mut String) {
        let n = &self.network;
        let _ = write!(out, "{}{}{}", self.flist, n.public_ip, n.planetary);
        for inf in &n.interfaces {
            let _ = write!(out, "{}{}", inf.network, inf.ip);
        }
        if let Some(m) = &n.mycelium {
            let _ = write!(out, "{}{}", m.network, m.hex_seed);
        }
        let _ = write!(
            out,
            "{}{}{}",
            self.size, self.compute_capacity.cpu, self.compute_capacity.memory
        );
        for m in &self.mounts {
            let _ = write!(out, "{}{}", m.name, m.mountpoint);
        }
        out.push_str(&self.entrypoint);
        for (k, v) in &self.env {
            let _ = write!(out, "{k}={v}");
        }
        for gpu in &self.gpu {
            out.push_str(gpu);
        }
    }

    pub(crate) fn validate(&self, dl: &Deployment) -> Result<(), InvalidData> {
        let n = &self.network;
        if n.interfaces.len() != 1 {
            return Err(InvalidData::InterfaceCount(n.interfaces.len()));
        }
        if n.interfaces.iter().any(|i| i.ip.is_nil()) {
            return Err(InvalidData::InvalidInterfaceIp);
        }
        if self.compute_capacity.cpu == 0 {
            return Err(InvalidData::NoCpu);
        }
        if self.compute_capacity.memory < MIN_MEMORY {
            return Err(InvalidData::MemoryTooSmall);
        }
        let min = self.min_root_size();
        if self.size != 0 && self.size < min {
            return Err(InvalidData::DiskTooSmall(min));
        }
        if !n.public_ip.is_empty() {
            let name = &n.public_ip;
            let ip = dl
                .get(name)
                .filter(|_| crate::validate_name(name).is_ok())
                .ok_or_else(|| InvalidData::PublicIpNotFound(name.clone()))?;
            // zos lets this case through by accident (it wraps a nil error); we refuse it.
            if !matches!(ip.workload_type, WorkloadType::Ipv4 | WorkloadType::Ip) {
                return Err(InvalidData::NotPublicIp(name.clone()));
            }
            let mut users = 0;
            for wl in dl.by_type(&WorkloadType::ZMachine) {
                let data = wl.data().map_err(|e| InvalidData::Sibling {
                    name: wl.name.clone(),
                    reason: zos_base::report(&e),
                })?;
                if let WorkloadData::ZMachine(vm) = data {
                    if vm.network.public_ip == *name {
                        users += 1;
                    }
                }
            }
            if users > 1 {
                return Err(InvalidData::PublicIpShared(name.clone()));
            }
        }
        for inf in &n.interfaces {
            if RESERVED_NETWORKS.contains(&inf.network.as_str()) {
                return Err(InvalidData::ReservedNetwork(inf.network.clone()));
            }
        }
        if let Some(m) = &n.mycelium {
            if m.hex_seed.len() != MYCELIUM_SEED_LEN {
                return Err(InvalidData::MyceliumSeedLength(m.hex_seed.len()));
            }
        }
        Ok(())
    }

    /// CRU = cpu, MRU = memory, SRU = root size.
    pub fn capacity(&self) -> Capacity {
        Capacity {
            cru: u64::from(self.compute_capacity.cpu),
            mru: self.compute_capacity.memory,
            sru: self.root_size(),
            ..Default::default()
        }
    }
}

/// `zmachine` result data. Decoding also takes the legacy `ygg_ip` as `planetary_ip`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ZMachineResult {
    pub id: String,
    pub ip: String,
    pub planetary_ip: String,
    pub mycelium_ip: String,
    pub console_url: String,
}

impl<'de> Deserialize<'de> for ZMachineResult {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Wire {
            #[serde(deserialize_with = "crate::json::null_default")]
            id: String,
            #[serde(deserialize_with = "crate::json::null_default")]
            ip: String,
            #[serde(deserialize_with = "crate::json::null_default")]
            ygg_ip: String,
            #[serde(deserialize_with = "crate::json::null_default")]
            planetary_ip: String,
            #[serde(deserialize_with = "crate::json::null_default")]
            mycelium_ip: String,
            #[serde(deserialize_with = "crate::json::null_default")]
            console_url: String,
        }
        let w = Wire::deserialize(d)?;
        Ok(ZMachineResult {
            id: w.id,
            ip: w.ip,
            planetary_ip: if w.ygg_ip.is_empty() {
                w.planetary_ip
            } else {
                w.ygg_ip
            },
            mycelium_ip: w.mycelium_ip,
            console_url: w.console_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_size_rule() {
        let mut vm = ZMachine {
            compute_capacity: MachineCapacity {
                cpu: 1,
                memory: 4 * GIB,
            },
            ..Default::default()
        };
        assert_eq!(vm.min_root_size(), 500 * MIB);
        vm.compute_capacity = MachineCapacity {
            cpu: 2,
            memory: 4 * GIB,
        };
        assert_eq!(vm.min_root_size(), 2 * GIB);
        vm.size = 10 * GIB;
        assert_eq!(vm.root_size(), 10 * GIB);
        vm.size = GIB;
        assert_eq!(vm.root_size(), 2 * GIB);
        assert_eq!(
            vm.capacity(),
            Capacity {
                cru: 2,
                mru: 4 * GIB,
                sru: 2 * GIB,
                ..Default::default()
            }
        );
    }

    #[test]
    fn result_legacy_ygg() {
        let r: ZMachineResult =
            serde_json::from_str(r#"{"id":"x","ip":"10.1.2.3","ygg_ip":"300::1"}"#).unwrap();
        assert_eq!(r.planetary_ip, "300::1");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id":"x","ip":"10.1.2.3","planetary_ip":"300::1","mycelium_ip":"","console_url":""})
        );
    }
}
