//! Public IP workloads: `ipv4` (legacy, no data) and `ip` (`v4`/`v6` flags)
//! (zos `zos/ipv4.go`). Data, challenge, validation, capacity, result.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::InvalidData;
use crate::net::{GoIp, IpNet};
use crate::Capacity;

/// `ipv4` data (deprecated type, kept for old deployments): empty object, hashes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PublicIpv4 {}

impl PublicIpv4 {
    /// IPV4U = 1.
    pub fn capacity(&self) -> Capacity {
        Capacity {
            ipv4u: 1,
            ..Default::default()
        }
    }
}

/// `ip` data: which public addresses a VM gets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicIp {
    /// One of the contract's reserved public IPv4 addresses.
    pub v4: bool,
    /// A SLAAC address in the node's public IPv6 prefix.
    pub v6: bool,
}

impl PublicIp {
    pub(crate) fn challenge(&self, out: &mut String) {
        let _ = write!(out, "{}{}", self.v4, self.v6);
    }

    pub(crate) fn validate(&self) -> Result<(), InvalidData> {
        if !self.v4 && !self.v6 {
            return Err(InvalidData::NoIpSelected);
        }
        Ok(())
    }

    /// IPV4U = 1 when v4 is set.
    pub fn capacity(&self) -> Capacity {
        Capacity {
            ipv4u: u64::from(self.v4),
            ..Default::default()
        }
    }
}

/// Result data of `ip` and `ipv4`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicIpResult {
    pub ip: IpNet,
    pub ip6: IpNet,
    pub gateway: GoIp,
}
