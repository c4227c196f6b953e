//! The test kit: what the node's integration tests, benchmarks and whole-node tests share, in
//! one crate, so no daemon depends on another for its tests.
//!
//! - [`chain`]: the real TFChain runtime on loopback ([`LocalChain`]);
//! - [`twins`]: //Alice, funded and fresh twins, a node's description, a registered node;
//! - [`logs`]: tracing into the test's output;
//! - [`deployments`]: deployments as a grid client builds, hashes, contracts and signs them;
//! - [`bus`]: a private busd broker;
//! - [`disks`]: loop disks with a fixture sysfs and an in-process storaged;
//! - [`node`]: a whole node in-process (chain, storaged, noded's service, our init for zdb) for
//!   provisiond's engine and API, or the provisiond binary.
//!
//! Test code: it panics with what is missing (root, `make deps`) rather than returning errors.
//! Only `[dev-dependencies]` (and the benchmarks' examples) use it; it never ships in the image.

pub mod bus;
pub mod chain;
pub mod deployments;
pub mod disks;
pub mod logs;
pub mod node;
pub mod twins;

pub use bus::PrivateBus;
pub use chain::{LocalChain, LocalChainError, SPEC_SHA256, STAKING_POOL_ACCOUNT};
pub use node::{free_port, workspace_binary, LocalNode, Provisiond};
pub use twins::{alice, fresh_ed25519, funded_twin, node_input, Twin, TFT};
