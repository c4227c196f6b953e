//! `tf.zos.Storage1`, served by storaged: the node's disks, btrfs pools, volumes (subvolumes with
//! a quota) and virtual disks (sparse NOCOW files for VMs), and the SRU/HRU they add up to.
//!
//! Sizes are bytes. A pool's `kind` and a volume's `kind` are [`kind::SSD`] or [`kind::HDD`]
//! (SSD pools serve SRU, HDD pools serve HRU). Names of volumes and virtual disks are 1 to 128
//! characters of `[A-Za-z0-9_-]`, not starting with `-`.
//!
//! Failures are named D-Bus errors (`tf.zos.Storage1.Error.<Variant>`), so a caller matches on
//! [`StorageError`] rather than on message text.
//!
//! storaged also mounts the node's cache (see [`Cache`]) before it takes its name, so a daemon
//! ordered after storaged finds its state directory in place.

use serde::{Deserialize, Serialize};
use zbus::zvariant::Type;

pub const NAME: &str = "tf.zos.Storage";
pub const PATH: &str = "/tf/zos/Storage";
pub const INTERFACE: &str = "tf.zos.Storage1";

/// The values of `kind` fields.
pub mod kind {
    /// Solid state: serves SRU.
    pub const SSD: &str = "ssd";
    /// Spinning disk: serves HRU.
    pub const HDD: &str = "hdd";
}

/// The values of [`Disk::state`].
pub mod disk_state {
    /// Holds one of our pools (see [`super::Disk::pool`]).
    pub const POOL: &str = "pool";
    /// Holds data storaged did not write: reported, never touched (the farmer wipes it).
    pub const FOREIGN: &str = "foreign";
    /// In use by something else (the boot medium, a mounted filesystem): left alone.
    pub const IN_USE: &str = "in-use";
    /// Not a disk storaged uses (removable, USB, the boot medium, size 0).
    pub const IGNORED: &str = "ignored";
}

/// A block device storaged looked at, and what it decided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Disk {
    /// Kernel name (`sda`, `nvme0n1`, `loop3`).
    pub name: String,
    /// Device node.
    pub path: String,
    pub size: u64,
    pub rotational: bool,
    pub removable: bool,
    pub model: String,
    pub serial: String,
    /// One of [`disk_state`].
    pub state: String,
    /// The pool on this disk; empty unless `state` is [`disk_state::POOL`].
    pub pool: String,
    /// Why the disk has this state, for people.
    pub reason: String,
}

/// A btrfs pool: one whole disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Pool {
    /// Also the filesystem label (`zos-pool-<kind>-<id>`).
    pub name: String,
    /// [`kind::SSD`] or [`kind::HDD`].
    pub kind: String,
    pub device: String,
    /// Where it is mounted.
    pub path: String,
    /// The disk's size.
    pub size: u64,
    /// Allocated: the sum of its volume limits and virtual disk sizes.
    pub allocated: u64,
    /// Bytes actually referenced by its volumes and virtual disks.
    pub used: u64,
}

/// A volume: a btrfs subvolume whose qgroup limit is `size`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Volume {
    pub name: String,
    pub pool: String,
    /// The pool's kind.
    pub kind: String,
    /// Where it is (a directory to bind-mount).
    pub path: String,
    /// The limit.
    pub size: u64,
    /// Bytes referenced now (btrfs may account recent writes a little later).
    pub used: u64,
}

/// A virtual disk: a sparse raw file with copy-on-write off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Vdisk {
    pub name: String,
    pub pool: String,
    /// The file to give the hypervisor.
    pub path: String,
    pub size: u64,
}

/// SRU (SSD pools) and HRU (HDD pools) of the node: total and allocated, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct StorageCapacity {
    pub sru_total: u64,
    pub sru_used: u64,
    pub hru_total: u64,
    pub hru_used: u64,
}

/// The node's cache: the persistent directory daemons keep their state in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Cache {
    /// Where it is mounted (`/var/cache` on a node).
    pub mount_point: String,
    /// The pool holding it; empty when it is a tmpfs.
    pub pool: String,
    /// False when it is a tmpfs (no disk): nothing in it survives a reboot.
    pub persistent: bool,
    /// Its quota limit (0 for a tmpfs) and usage, bytes.
    pub size: u64,
    pub used: u64,
}

/// The errors `tf.zos.Storage1` answers with, by D-Bus error name
/// (`tf.zos.Storage1.Error.NoSpace`, ...). Each carries a message for people.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "tf.zos.Storage1.Error")]
pub enum StorageError {
    /// Transport or protocol failure (not an answer of storaged).
    #[zbus(error)]
    ZBus(zbus::Error),
    /// No pool of the requested kind has room; nothing was written.
    NoSpace(String),
    /// The name breaks the naming rules.
    InvalidName(String),
    /// A bad size or kind, or a shrink below what is used.
    InvalidArgument(String),
    /// No volume or virtual disk by that name.
    NotFound(String),
    /// It exists with another size.
    Exists(String),
    /// The operation failed on the node (a disk or filesystem error); see the message.
    Failed(String),
}

#[zbus::proxy(
    interface = "tf.zos.Storage1",
    default_service = "tf.zos.Storage",
    default_path = "/tf/zos/Storage"
)]
pub trait Storage {
    /// Every block device looked at, with its state (pools, foreign disks, ...).
    fn disks(&self) -> Result<Vec<Disk>, StorageError>;
    fn pools(&self) -> Result<Vec<Pool>, StorageError>;
    fn capacity(&self) -> Result<StorageCapacity, StorageError>;
    /// The node's cache (`NotFound` when storaged runs without one).
    fn cache(&self) -> Result<Cache, StorageError>;

    fn volumes(&self) -> Result<Vec<Volume>, StorageError>;
    /// Creates volume `name` of `size` bytes on the pool of `kind` ("ssd"|"hdd") with the most
    /// room. Creating an existing volume with the same size returns it.
    fn create_volume(&self, name: &str, size: u64, kind: &str) -> Result<Volume, StorageError>;
    /// Creates volume `name` of `size` bytes on the pool named `pool` (`NotFound` when there is
    /// no such pool, `NoSpace` when it has no room). Creating an existing volume of that size
    /// on that pool returns it.
    fn create_volume_on(&self, pool: &str, name: &str, size: u64) -> Result<Volume, StorageError>;
    /// Sets the limit to `size` (grow, or shrink not below what is used).
    fn resize_volume(&self, name: &str, size: u64) -> Result<Volume, StorageError>;
    /// Deletes the volume and its data; deleting a missing volume succeeds.
    fn delete_volume(&self, name: &str) -> Result<(), StorageError>;
    /// The volume with its current usage.
    fn volume_usage(&self, name: &str) -> Result<Volume, StorageError>;

    fn vdisks(&self) -> Result<Vec<Vdisk>, StorageError>;
    /// Creates virtual disk `name` of `size` bytes on the SSD pool with the most room.
    fn create_vdisk(&self, name: &str, size: u64) -> Result<Vdisk, StorageError>;
    /// Grows the virtual disk to `size` bytes.
    fn resize_vdisk(&self, name: &str, size: u64) -> Result<Vdisk, StorageError>;
    /// Deletes the virtual disk; deleting a missing one succeeds.
    fn delete_vdisk(&self, name: &str) -> Result<(), StorageError>;
}
