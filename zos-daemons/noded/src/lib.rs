//! noded: the node's first daemon. It owns the node's identity (the ed25519 seed on the
//! persistent cache) and measures what the node has (capacity, DMI, interfaces), serving both on
//! the bus as `tf.zos.Node1`.
//!
//! It reads `/proc`, `/sys` and device superblocks but never changes a disk or a link (storaged
//! and networkd own those); the only file it writes is its own seed file.

pub mod capacity;
pub mod identity;
pub mod service;
