//! Every workload type's data (zos `pkg/gridtypes/zos`): JSON shape, challenge, validation,
//! capacity and result data.
//!
//! Owns the per-type rules that need nothing but the deployment; checks that need the node or the
//! chain (free IPs, name contracts, node domain, rented node) belong to the managers.

mod gateway;
mod ip;
mod network;
mod qsfs;
mod storage;
mod url;
mod zlogs;
mod zmachine;

pub use gateway::{
    is_valid_fqdn, validate_backend, GatewayBase, GatewayFqdnProxy, GatewayFqdnResult,
    GatewayNameProxy, GatewayProxyResult,
};
pub use ip::{PublicIp, PublicIpResult, PublicIpv4};
pub use network::{Network, NetworkMycelium, Peer, MYCELIUM_KEY_LEN};
pub use qsfs::{
    Qsfs, QsfsCompression, QsfsConfig, QsfsEncryption, QsfsGroup, QsfsMeta, QsfsMetaConfig,
    QsfsResult, ZdbBackend,
};
pub use storage::{
    Volume, VolumeResult, ZMount, ZMountResult, Zdb, ZdbResult, ZDB_MODE_SEQ, ZDB_MODE_USER,
};
pub use zlogs::{ZLogs, LOG_SCHEMES};
pub use zmachine::{
    MachineCapacity, MachineInterface, MachineMount, MachineMycelium, MachineNetwork, ZMachine,
    ZMachineResult, MIN_MEMORY, MYCELIUM_SEED_LEN, RESERVED_NETWORKS,
};

use crate::{Capacity, DataError, Deployment, WorkloadType};

/// Why a workload's data is refused (zos's messages where it has one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidData {
    #[error("invalid size")]
    InvalidSize,
    #[error("size {0} is more than any node holds (at most {max} bytes)", max = crate::capacity::MAX_BYTES)]
    SizeTooLarge(u64),
    #[error("a private zdb namespace needs a password (without one, zdb lets everyone in)")]
    ZdbPrivateWithoutPassword,
    #[error("invalid zdb mode '{0}', expected 'user' or 'seq'")]
    InvalidZdbMode(String),
    #[error("public ip workload with no selections")]
    NoIpSelected,
    #[error("network IP range cannot be empty")]
    EmptyIpRange,
    #[error("network resource subnet cannot empty")]
    EmptySubnet,
    #[error("network resource wireguard private key cannot empty")]
    EmptyWireguardKey,
    #[error("peer wireguard subnet cannot empty")]
    PeerEmptySubnet,
    #[error("peer wireguard allowedIPs cannot empty")]
    PeerNoAllowedIps,
    #[error("peer wireguard public key cannot empty")]
    PeerEmptyPublicKey,
    #[error("invalid mycelium key length {0}, expected 32")]
    MyceliumKeyLength(usize),
    #[error("user defined peers list is not supported right now")]
    MyceliumPeers,
    #[error("only one network private network is supported at the moment (got {0})")]
    InterfaceCount(usize),
    #[error("invalid IP")]
    InvalidInterfaceIp,
    #[error("cpu capacity can't be 0")]
    NoCpu,
    #[error("mem capacity can't be less that 250M")]
    MemoryTooSmall,
    #[error("disk size can't be less that {0}. Set to 0 for minimum")]
    DiskTooSmall(u64),
    #[error("public ip is not found: no workload named '{0}'")]
    PublicIpNotFound(String),
    #[error("workload of name '{0}' is not a public ip")]
    NotPublicIp(String),
    #[error("public ip '{0}' is assigned to multiple vms")]
    PublicIpShared(String),
    #[error("'{0}' is reserved network name")]
    ReservedNetwork(String),
    #[error("invalid mycelium seed length {0}, expected 6 bytes")]
    MyceliumSeedLength(usize),
    #[error("zmachine '{name}' has invalid data: {reason}")]
    Sibling { name: String, reason: String },
    #[error("name {0} is invalid")]
    InvalidGatewayName(String),
    #[error("fqdn {0} is invalid")]
    InvalidFqdn(String),
    #[error("backends list can not be empty")]
    NoBackends,
    #[error("failed to validate backend '{backend}': {reason}")]
    InvalidBackend { backend: String, reason: String },
    #[error("minimal shards can't be greater than expected shards")]
    QsfsShards,
    #[error("no zmachine with name '{0}' found")]
    ZMachineNotFound(String),
    #[error("invalid url supplied in output: {0}")]
    InvalidOutputUrl(String),
    #[error("invalid output schema '{0}' not supported")]
    InvalidOutputScheme(String),
}

/// A workload's data decoded into its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadData {
    ZMount(ZMount),
    Volume(Volume),
    Network(Network),
    Zdb(Zdb),
    ZMachine(ZMachine),
    Ipv4(PublicIpv4),
    Ip(PublicIp),
    GatewayNameProxy(GatewayNameProxy),
    GatewayFqdnProxy(GatewayFqdnProxy),
    Qsfs(Qsfs),
    ZLogs(ZLogs),
}

fn decode<T: serde::de::DeserializeOwned>(
    ty: &WorkloadType,
    data: &serde_json::Value,
) -> Result<T, DataError> {
    T::deserialize(data).map_err(|e| DataError::Decode {
        workload_type: ty.to_string(),
        reason: zos_base::report(&e),
    })
}

impl WorkloadData {
    /// Decodes a workload's raw `data` as its `type` says (zos's `WorkloadData()`).
    pub fn decode(ty: &WorkloadType, data: &serde_json::Value) -> Result<Self, DataError> {
        if data.is_null() && !matches!(ty, WorkloadType::Other(_)) {
            return Err(DataError::Missing(ty.to_string()));
        }
        Ok(match ty {
            WorkloadType::ZMount => WorkloadData::ZMount(decode(ty, data)?),
            WorkloadType::Volume => WorkloadData::Volume(decode(ty, data)?),
            WorkloadType::Network => WorkloadData::Network(decode(ty, data)?),
            WorkloadType::Zdb => WorkloadData::Zdb(decode(ty, data)?),
            WorkloadType::ZMachine => WorkloadData::ZMachine(decode(ty, data)?),
            WorkloadType::Ipv4 => WorkloadData::Ipv4(decode(ty, data)?),
            WorkloadType::Ip => WorkloadData::Ip(decode(ty, data)?),
            WorkloadType::GatewayNameProxy => WorkloadData::GatewayNameProxy(decode(ty, data)?),
            WorkloadType::GatewayFqdnProxy => WorkloadData::GatewayFqdnProxy(decode(ty, data)?),
            WorkloadType::Qsfs => WorkloadData::Qsfs(decode(ty, data)?),
            WorkloadType::ZLogs => WorkloadData::ZLogs(decode(ty, data)?),
            WorkloadType::Other(name) => return Err(DataError::UnknownType(name.clone())),
        })
    }

    pub fn workload_type(&self) -> WorkloadType {
        match self {
            WorkloadData::ZMount(_) => WorkloadType::ZMount,
            WorkloadData::Volume(_) => WorkloadType::Volume,
            WorkloadData::Network(_) => WorkloadType::Network,
            WorkloadData::Zdb(_) => WorkloadType::Zdb,
            WorkloadData::ZMachine(_) => WorkloadType::ZMachine,
            WorkloadData::Ipv4(_) => WorkloadType::Ipv4,
            WorkloadData::Ip(_) => WorkloadType::Ip,
            WorkloadData::GatewayNameProxy(_) => WorkloadType::GatewayNameProxy,
            WorkloadData::GatewayFqdnProxy(_) => WorkloadType::GatewayFqdnProxy,
            WorkloadData::Qsfs(_) => WorkloadType::Qsfs,
            WorkloadData::ZLogs(_) => WorkloadType::ZLogs,
        }
    }

    /// The data as JSON (for building a workload).
    pub fn to_value(&self) -> serde_json::Value {
        let v = match self {
            WorkloadData::ZMount(d) => serde_json::to_value(d),
            WorkloadData::Volume(d) => serde_json::to_value(d),
            WorkloadData::Network(d) => serde_json::to_value(d),
            WorkloadData::Zdb(d) => serde_json::to_value(d),
            WorkloadData::ZMachine(d) => serde_json::to_value(d),
            WorkloadData::Ipv4(d) => serde_json::to_value(d),
            WorkloadData::Ip(d) => serde_json::to_value(d),
            WorkloadData::GatewayNameProxy(d) => serde_json::to_value(d),
            WorkloadData::GatewayFqdnProxy(d) => serde_json::to_value(d),
            WorkloadData::Qsfs(d) => serde_json::to_value(d),
            WorkloadData::ZLogs(d) => serde_json::to_value(d),
        };
        // Plain structs with string keys always serialize.
        v.unwrap_or(serde_json::Value::Null)
    }

    /// Appends the type-specific part of the challenge.
    pub fn challenge(&self, out: &mut String) {
        match self {
            WorkloadData::ZMount(d) => d.challenge(out),
            WorkloadData::Volume(d) => d.challenge(out),
            WorkloadData::Network(d) => d.challenge(out),
            WorkloadData::Zdb(d) => d.challenge(out),
            WorkloadData::ZMachine(d) => d.challenge(out),
            WorkloadData::Ipv4(_) => {}
            WorkloadData::Ip(d) => d.challenge(out),
            WorkloadData::GatewayNameProxy(d) => d.challenge(out),
            WorkloadData::GatewayFqdnProxy(d) => d.challenge(out),
            WorkloadData::Qsfs(d) => d.challenge(out),
            WorkloadData::ZLogs(d) => d.challenge(out),
        }
    }

    /// zos's type-specific `Valid(getter)`; `dl` is the deployment the workload is in.
    pub fn validate(&self, dl: &Deployment) -> Result<(), InvalidData> {
        match self {
            WorkloadData::ZMount(d) => d.validate(),
            WorkloadData::Volume(d) => d.validate(),
            WorkloadData::Network(d) => d.validate(),
            WorkloadData::Zdb(d) => d.validate(),
            WorkloadData::ZMachine(d) => d.validate(dl),
            WorkloadData::Ipv4(_) => Ok(()),
            WorkloadData::Ip(d) => d.validate(),
            WorkloadData::GatewayNameProxy(d) => d.validate(),
            WorkloadData::GatewayFqdnProxy(d) => d.validate(),
            WorkloadData::Qsfs(d) => d.validate(),
            WorkloadData::ZLogs(d) => d.validate(dl),
        }
    }

    /// The capacity the workload consumes (zos's `Capacity()`).
    pub fn capacity(&self) -> Capacity {
        match self {
            WorkloadData::ZMount(d) => d.capacity(),
            WorkloadData::Volume(d) => d.capacity(),
            WorkloadData::Network(d) => d.capacity(),
            WorkloadData::Zdb(d) => d.capacity(),
            WorkloadData::ZMachine(d) => d.capacity(),
            WorkloadData::Ipv4(d) => d.capacity(),
            WorkloadData::Ip(d) => d.capacity(),
            WorkloadData::GatewayNameProxy(d) => d.capacity(),
            WorkloadData::GatewayFqdnProxy(d) => d.capacity(),
            WorkloadData::Qsfs(d) => d.capacity(),
            WorkloadData::ZLogs(d) => d.capacity(),
        }
    }
}
