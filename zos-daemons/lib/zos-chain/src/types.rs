//! Typed views of TFChain storage items, call inputs and events.
//!
//! Decoding is by field NAME against the chain's own metadata (`scale_decode::DecodeAsType`), so
//! fields we do not need are skipped and nothing depends on pallet or type indices. Byte strings the
//! runtime stores as `BoundedVec<u8>` are turned into `String` (lossy UTF-8) for callers.

use scale_decode::DecodeAsType;
use subxt::utils::AccountId32;

/// Capacity in bytes (hru/sru/mru) and logical CPUs (cru), as the runtime stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, DecodeAsType)]
pub struct Resources {
    pub hru: u64,
    pub sru: u64,
    pub cru: u64,
    pub mru: u64,
}

/// A node's location. Latitude/longitude are strings on chain (zos writes Go's `fmt.Sprint(float)`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub city: String,
    pub country: String,
    pub latitude: String,
    pub longitude: String,
}

/// A network interface of a node as registered on chain (ips without prefix length).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interface {
    pub name: String,
    pub mac: String,
    pub ips: Vec<String>,
}

/// A twin: an account with an optional relay and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Twin {
    pub id: u32,
    pub account_id: AccountId32,
    pub relay: Option<String>,
    pub pk: Option<Vec<u8>>,
}

/// A public IPv4 of a farm; `contract_id` is 0 when the IP is free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicIp {
    pub ip: String,
    pub gateway: String,
    pub contract_id: u64,
}

/// A public IPv4 to add to a farm (`ip` with prefix length, e.g. `185.0.0.2/24`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicIpInput {
    pub ip: String,
    pub gw: String,
}

/// A farm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Farm {
    pub id: u32,
    pub name: String,
    pub twin_id: u32,
    pub pricing_policy_id: u32,
    pub public_ips: Vec<PublicIp>,
    pub dedicated_farm: bool,
}

/// What the runtime knows about a node's public config (set by the farmer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicConfig {
    pub ip4: (String, String),
    pub ip6: Option<(String, String)>,
    pub domain: Option<String>,
}

/// A registered node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: u32,
    pub farm_id: u32,
    pub twin_id: u32,
    pub resources: Resources,
    pub location: Location,
    pub public_config: Option<PublicConfig>,
    pub created: u64,
    pub farming_policy_id: u32,
    pub interfaces: Vec<Interface>,
    pub certified: bool,
    pub secure_boot: bool,
    pub virtualized: bool,
    pub serial_number: Option<String>,
}

/// Everything `create_node`/`update_node` take besides ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeInput {
    pub resources: Resources,
    pub location: Location,
    pub interfaces: Vec<Interface>,
    pub secure_boot: bool,
    pub virtualized: bool,
    pub serial_number: Option<String>,
}

/// Why a contract was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, DecodeAsType)]
pub enum Cause {
    CanceledByUser,
    OutOfFunds,
}

/// The state of a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, DecodeAsType)]
pub enum ContractState {
    Created,
    Deleted(Cause),
    /// In grace period since this block number.
    GracePeriod(u64),
}

/// What a contract is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractKind {
    Node {
        node_id: u32,
        /// The 32 bytes the user put on chain (zos: the md5 hex digest of the deployment).
        deployment_hash: [u8; 32],
        deployment_data: Vec<u8>,
        public_ips: u32,
        public_ips_list: Vec<PublicIp>,
    },
    Name {
        name: String,
    },
    Rent {
        node_id: u32,
    },
}

/// A contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    pub contract_id: u64,
    pub twin_id: u32,
    pub state: ContractState,
    pub kind: ContractKind,
    pub solution_provider_id: Option<u64>,
}

/// Resources used by a node contract (`report_contract_resources`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractResources {
    pub contract_id: u64,
    pub used: Resources,
}

/// Network usage of a contract over a window (`add_nru_reports`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NruConsumption {
    pub contract_id: u64,
    /// Unix seconds of the report.
    pub timestamp: u64,
    /// Seconds since the previous report.
    pub window: u64,
    /// Bytes.
    pub nru: u64,
}

/// A node's power target or state as set on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, DecodeAsType)]
pub enum Power {
    Up,
    Down,
}

// ---- raw decode shapes (field names as in the runtime) ----

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

#[derive(DecodeAsType)]
pub(crate) struct RawTwin {
    id: u32,
    account_id: AccountId32,
    relay: Option<Vec<u8>>,
    pk: Option<Vec<u8>>,
}

impl From<RawTwin> for Twin {
    fn from(raw: RawTwin) -> Self {
        Twin {
            id: raw.id,
            account_id: raw.account_id,
            relay: raw.relay.map(text),
            pk: raw.pk,
        }
    }
}

#[derive(DecodeAsType)]
pub(crate) struct RawPublicIp {
    ip: Vec<u8>,
    gateway: Vec<u8>,
    contract_id: u64,
}

impl From<RawPublicIp> for PublicIp {
    fn from(raw: RawPublicIp) -> Self {
        PublicIp {
            ip: text(raw.ip),
            gateway: text(raw.gateway),
            contract_id: raw.contract_id,
        }
    }
}

#[derive(DecodeAsType)]
pub(crate) struct RawFarm {
    id: u32,
    name: Vec<u8>,
    twin_id: u32,
    pricing_policy_id: u32,
    public_ips: Vec<RawPublicIp>,
    dedicated_farm: bool,
}

impl From<RawFarm> for Farm {
    fn from(raw: RawFarm) -> Self {
        Farm {
            id: raw.id,
            name: text(raw.name),
            twin_id: raw.twin_id,
            pricing_policy_id: raw.pricing_policy_id,
            public_ips: raw.public_ips.into_iter().map(Into::into).collect(),
            dedicated_farm: raw.dedicated_farm,
        }
    }
}

#[derive(DecodeAsType)]
struct RawLocation {
    city: Vec<u8>,
    country: Vec<u8>,
    latitude: Vec<u8>,
    longitude: Vec<u8>,
}

#[derive(DecodeAsType)]
struct RawInterface {
    name: Vec<u8>,
    mac: Vec<u8>,
    ips: Vec<Vec<u8>>,
}

#[derive(DecodeAsType)]
struct RawIp {
    ip: Vec<u8>,
    gw: Vec<u8>,
}

#[derive(DecodeAsType)]
struct RawPublicConfig {
    ip4: RawIp,
    ip6: Option<RawIp>,
    domain: Option<Vec<u8>>,
}

#[derive(DecodeAsType)]
enum RawCertification {
    Diy,
    Certified,
}

#[derive(DecodeAsType)]
pub(crate) struct RawNode {
    id: u32,
    farm_id: u32,
    twin_id: u32,
    resources: Resources,
    location: RawLocation,
    public_config: Option<RawPublicConfig>,
    created: u64,
    farming_policy_id: u32,
    interfaces: Vec<RawInterface>,
    certification: RawCertification,
    secure_boot: bool,
    virtualized: bool,
    serial_number: Option<Vec<u8>>,
}

impl From<RawNode> for Node {
    fn from(raw: RawNode) -> Self {
        Node {
            id: raw.id,
            farm_id: raw.farm_id,
            twin_id: raw.twin_id,
            resources: raw.resources,
            location: Location {
                city: text(raw.location.city),
                country: text(raw.location.country),
                latitude: text(raw.location.latitude),
                longitude: text(raw.location.longitude),
            },
            public_config: raw.public_config.map(|pc| PublicConfig {
                ip4: (text(pc.ip4.ip), text(pc.ip4.gw)),
                ip6: pc.ip6.map(|ip| (text(ip.ip), text(ip.gw))),
                domain: pc.domain.map(text),
            }),
            created: raw.created,
            farming_policy_id: raw.farming_policy_id,
            interfaces: raw
                .interfaces
                .into_iter()
                .map(|i| Interface {
                    name: text(i.name),
                    mac: text(i.mac),
                    ips: i.ips.into_iter().map(text).collect(),
                })
                .collect(),
            certified: matches!(raw.certification, RawCertification::Certified),
            secure_boot: raw.secure_boot,
            virtualized: raw.virtualized,
            serial_number: raw.serial_number.map(text),
        }
    }
}

#[derive(DecodeAsType)]
struct RawNodeContract {
    node_id: u32,
    deployment_hash: [u8; 32],
    deployment_data: Vec<u8>,
    public_ips: u32,
    public_ips_list: Vec<RawPublicIp>,
}

#[derive(DecodeAsType)]
struct RawNameContract {
    name: Vec<u8>,
}

#[derive(DecodeAsType)]
struct RawRentContract {
    node_id: u32,
}

// Variant names must be the runtime's (decoding is by name).
#[allow(clippy::enum_variant_names)]
#[derive(DecodeAsType)]
enum RawContractData {
    NodeContract(RawNodeContract),
    NameContract(RawNameContract),
    RentContract(RawRentContract),
}

#[derive(DecodeAsType)]
pub(crate) struct RawContract {
    state: ContractState,
    contract_id: u64,
    twin_id: u32,
    contract_type: RawContractData,
    solution_provider_id: Option<u64>,
}

impl From<RawContract> for Contract {
    fn from(raw: RawContract) -> Self {
        let kind = match raw.contract_type {
            RawContractData::NodeContract(c) => ContractKind::Node {
                node_id: c.node_id,
                deployment_hash: c.deployment_hash,
                deployment_data: c.deployment_data,
                public_ips: c.public_ips,
                public_ips_list: c.public_ips_list.into_iter().map(Into::into).collect(),
            },
            RawContractData::NameContract(c) => ContractKind::Name { name: text(c.name) },
            RawContractData::RentContract(c) => ContractKind::Rent { node_id: c.node_id },
        };
        Contract {
            contract_id: raw.contract_id,
            twin_id: raw.twin_id,
            state: raw.state,
            kind,
            solution_provider_id: raw.solution_provider_id,
        }
    }
}

/// `System.Account` (only what we read).
#[derive(DecodeAsType)]
pub(crate) struct RawAccountInfo {
    pub(crate) data: RawAccountData,
}

#[derive(DecodeAsType)]
pub(crate) struct RawAccountData {
    pub(crate) free: u128,
    /// Locked by pallets (TFChain locks what it bills until it distributes it).
    pub(crate) frozen: u128,
}
