//! What every process of the node shares about its environment.
//!
//! - [`config`]: the node's boot configuration. This is the only place that parses the kernel
//!   command line; the init publishes the result and daemons read it back.
//! - [`daemon`]: the start-up every daemon does alike: logging to stdout (the init captures and
//!   rotates it) and waiting for the stop signal.
//! - [`platform`]: whether the node runs under a hypervisor.
//!
//! It owns no state and writes nothing but the configuration file it is asked to store.

pub mod config;
pub mod daemon;
pub mod platform;

pub use config::{Error, NodeConfig, RunMode, NODE_CONFIG_ENV, NODE_CONFIG_PATH};
