//! noded: the node's first daemon. It owns the node's identity (the ed25519 seed on the
//! persistent cache), measures what the node has (capacity, DMI, interfaces), serves both on the
//! bus as `tf.zos.Node1`, and puts the node on TFChain: registration (account, twin, node) and
//! uptime reports, in the background after the bus is served. It also submits the contracts'
//! consumption reports provisiond asks for, since only it holds the node's key.
//!
//! It reads `/proc`, `/sys` and device superblocks but never changes a disk or a link (storaged
//! and networkd own those); the only files it writes are its seed file and the registration
//! record next to it. On the network it talks only to the configured chain and activation
//! service.

pub mod activation;
pub mod capacity;
pub mod consumption;
pub mod identity;
pub mod registrar;
pub mod service;
pub mod timing;
pub mod uptime;
