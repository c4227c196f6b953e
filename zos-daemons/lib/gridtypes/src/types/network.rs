//! `network`: a user's private wireguard network, the node-local part of it
//! (zos `zos/network.go`). Data, challenge, validation. Sharable across a twin's deployments.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::InvalidData;
use crate::net::{HexBytes, IpNet};
use crate::Capacity;

/// Length of a network's mycelium key.
pub const MYCELIUM_KEY_LEN: usize = 32;

/// `network` data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Network {
    /// The whole network's range (an IPv4 /16 by convention).
    pub ip_range: IpNet,
    /// This node's subnet of the range.
    pub subnet: IpNet,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub wireguard_private_key: String,
    pub wireguard_listen_port: u16,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub peers: Vec<Peer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mycelium: Option<NetworkMycelium>,
}

/// Another wireguard peer of the network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Peer {
    pub subnet: IpNet,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub wireguard_public_key: String,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub allowed_ips: Vec<IpNet>,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub endpoint: String,
}

/// Optional mycelium setup of the network.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkMycelium {
    /// The node's mycelium key for this network (32 bytes, hex).
    pub hex_key: HexBytes,
    /// Extra peers (zos refuses a non-empty list for now).
    #[serde(deserialize_with = "crate::json::null_default")]
    pub peers: Vec<String>,
}

impl Network {
    pub(crate) fn challenge(&self, out: &mut String) {
        let _ = write!(
            out,
            "{}{}{}{}",
            self.ip_range, self.subnet, self.wireguard_private_key, self.wireguard_listen_port
        );
        for p in &self.peers {
            let _ = write!(out, "{}{}{}", p.wireguard_public_key, p.endpoint, p.subnet);
            for ip in &p.allowed_ips {
                let _ = write!(out, "{ip}");
            }
        }
        if let Some(m) = &self.mycelium {
            let _ = write!(out, "{}", m.hex_key);
            for peer in &m.peers {
                out.push_str(peer);
            }
        }
    }

    pub(crate) fn validate(&self) -> Result<(), InvalidData> {
        if self.ip_range.is_empty() {
            return Err(InvalidData::EmptyIpRange);
        }
        if self.subnet.is_empty() {
            return Err(InvalidData::EmptySubnet);
        }
        if self.wireguard_private_key.is_empty() {
            return Err(InvalidData::EmptyWireguardKey);
        }
        for p in &self.peers {
            if p.subnet.is_empty() {
                return Err(InvalidData::PeerEmptySubnet);
            }
            if p.allowed_ips.is_empty() {
                return Err(InvalidData::PeerNoAllowedIps);
            }
            if p.wireguard_public_key.is_empty() {
                return Err(InvalidData::PeerEmptyPublicKey);
            }
        }
        if let Some(m) = &self.mycelium {
            if m.hex_key.len() != MYCELIUM_KEY_LEN {
                return Err(InvalidData::MyceliumKeyLength(m.hex_key.len()));
            }
            if !m.peers.is_empty() {
                return Err(InvalidData::MyceliumPeers);
            }
        }
        Ok(())
    }

    /// Nothing.
    pub fn capacity(&self) -> Capacity {
        Capacity::default()
    }
}
