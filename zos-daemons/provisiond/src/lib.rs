//! provisiond: the deployment engine. It takes a deployment a twin sends, checks it (structure,
//! the twins' signatures against their keys on TFChain, the node contract on chain and its
//! hash), stores it, provisions each workload through the daemon that owns it ([`provision`]),
//! records every result, reports what each contract uses (through noded, which holds the node's
//! key), follows the chain's contract events (cancel, grace period) and provisions everything
//! again after a reboot. It serves the node API (zos's command names over `zos-api`'s signed
//! HTTP, [`api`]).
//!
//! State lives only in its SQLite store on the node's cache ([`store`]); it never touches a disk
//! or a link itself and never signs anything.

pub mod api;
pub mod capacity;
pub mod chain;
pub mod engine;
pub mod events;
pub mod kyc;
pub mod provision;
pub mod store;
