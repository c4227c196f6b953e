//! `tf.zos.Node1`, served by noded: who the node is and what it has.

use serde::{Deserialize, Serialize};
use zbus::zvariant::Type;

pub const NAME: &str = "tf.zos.Node";
pub const PATH: &str = "/tf/zos/Node";
pub const INTERFACE: &str = "tf.zos.Node1";

/// Capacity as the grid counts it: CRU logical CPUs, MRU/SRU/HRU in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Capacity {
    pub cru: u64,
    pub mru: u64,
    pub sru: u64,
    pub hru: u64,
}

/// One DMI section (system or baseboard); empty strings where the firmware says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct DmiSection {
    pub manufacturer: String,
    pub product: String,
    pub version: String,
    pub serial: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Dmi {
    pub system: DmiSection,
    pub baseboard: DmiSection,
}

/// A network interface of the node: name, MAC and addresses in CIDR form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Interface {
    pub name: String,
    pub mac: String,
    pub addresses: Vec<String>,
}

/// Where the node stands on TFChain (`Registration()`).
///
/// `state` is one of the [`registration`] constants. `node_id`, `twin_id` and `farm_id` are the
/// last known ones (0 when never registered): they stay filled in while a later attempt fails.
/// `error` says why the last attempt failed and what to do; empty when it did not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct RegistrationStatus {
    pub state: String,
    pub node_id: u32,
    pub twin_id: u32,
    pub farm_id: u32,
    pub error: String,
}

/// What one node contract uses, for `ReportContractResources` (TFChain
/// `report_contract_resources`): CRU, and MRU/SRU/HRU in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ContractUsage {
    pub contract_id: u64,
    pub cru: u64,
    pub mru: u64,
    pub sru: u64,
    pub hru: u64,
}

/// The values of [`RegistrationStatus::state`].
pub mod registration {
    /// Registration has not started yet.
    pub const UNREGISTERED: &str = "unregistered";
    /// An attempt is under way.
    pub const REGISTERING: &str = "registering";
    /// The node is on the chain with `node_id` in `farm_id`.
    pub const REGISTERED: &str = "registered";
    /// The last attempt failed (`error` says why); noded retries with backoff.
    pub const FAILED: &str = "failed";
    /// No `farmer_id` on the kernel command line: the node registers nowhere.
    pub const ORPHAN: &str = "orphan";
}

#[zbus::proxy(
    interface = "tf.zos.Node1",
    default_service = "tf.zos.Node",
    default_path = "/tf/zos/Node"
)]
pub trait Node {
    /// The node's ed25519 public key, lowercase hex (64 characters).
    fn public_key(&self) -> zbus::Result<String>;
    /// Total capacity of the node.
    fn capacity(&self) -> zbus::Result<Capacity>;
    fn dmi(&self) -> zbus::Result<Dmi>;
    fn interfaces(&self) -> zbus::Result<Vec<Interface>>;
    /// Version of the node software (the noded crate version).
    fn version(&self) -> zbus::Result<String>;
    /// Where the node stands on TFChain.
    fn registration(&self) -> zbus::Result<RegistrationStatus>;
    /// Submits the contracts' used capacity to TFChain, signed with the node's key (which only
    /// noded holds). Fails while the node is not registered or the chain refuses.
    fn report_contract_resources(&self, reports: &[ContractUsage]) -> zbus::fdo::Result<()>;
}
