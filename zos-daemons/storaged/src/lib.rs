//! storaged: the only daemon that formats, mounts or allocates space on a disk.
//!
//! It discovers the node's block devices ([`discovery`]), makes one btrfs pool per empty disk and
//! mounts every pool ([`pool`]) of the kind the disk's measured seek time says ([`seek`]), and hands out volumes (subvolumes with a quota limit) and
//! virtual disks (sparse NOCOW files) with the allocation policy of [`store`]; all of it is
//! served on the bus as `tf.zos.Storage1` ([`service`]). It also mounts the node's cache, a
//! subvolume of one pool, where the other daemons keep their state ([`cache`]).
//!
//! It never writes to a disk holding data it did not create (a "foreign" disk), never touches
//! the boot medium, and keeps no state outside btrfs itself, so a
//! restart after a crash at any point sees exactly what is on disk.

pub mod btrfs;
pub mod cache;
pub mod discovery;
pub mod names;
pub mod pool;
pub mod seek;
pub mod service;
pub mod store;
