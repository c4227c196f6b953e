//! zos-chain: the node's one TFChain client.
//!
//! Owns everything that talks to TFChain: the connection (reconnect with capped exponential
//! backoff), the signers (ed25519 for node twins, sr25519 for farmers/users), nonces, submission
//! of extrinsics watched until finalized, typed reads of twins/farms/nodes/contracts/balances, and
//! the stream of finalized-block events. Calls, storage and events are resolved BY NAME from the
//! chain's own metadata (subxt's dynamic API): no generated code, no pallet or call indices.
//!
//! It never reads key files or node state (callers pass keys in), never decides policy (retry
//! loops, what to register) and never talks to anything but the chain URL it was given.
//!
//! Tests run it against the real TFChain runtime: `zos-testkit`'s `LocalChain`.

mod client;
mod error;
mod events;
mod grid;
mod signer;
mod types;

pub use client::{Chain, ReconnectPolicy, TxEvent, TxOutcome};
pub use error::Error;
pub use events::{ChainEvent, EventStream, NodeEvent};
pub use grid::{TC_HASH, TC_LINK};
pub use signer::{Signer, SignerError};
pub use subxt::ext::scale_value::{Composite, Value};
pub use subxt::utils::{AccountId32, H256};
pub use types::{
    Cause, Contract, ContractKind, ContractResources, ContractState, Farm, Interface, Location,
    Node, NodeInput, NruConsumption, Power, PublicConfig, PublicIp, PublicIpInput, Resources, Twin,
};

/// The subxt configuration used for TFChain (standard Substrate types: AccountId32,
/// MultiAddress, MultiSignature, blake2 hashing, u32 block numbers).
pub type TfConfig = subxt::SubstrateConfig;
