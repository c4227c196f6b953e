//! The node's system bus: every interface, defined once.
//!
//! Daemons serve these interfaces and callers use the proxies generated here, so a daemon and its
//! callers can never disagree on a method name or a type. This crate holds definitions only: no
//! daemon logic, no I/O beyond opening a bus connection. Two helpers sit beside the definitions:
//! [`inspect`] (read-only bus inspection, the library half of the `zbusdebug` tool) and, behind
//! the `testing` feature, `testing` (a private broker for integration tests).
//!
//! Naming: each daemon owns the well-known name `tf.zos.<Daemon>` and serves its versioned
//! interface `tf.zos.<Daemon>1` at `/tf/zos/<Daemon>`.

pub mod inspect;
pub mod network;
pub mod node;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;

pub use network::{NetworkProxy, NetworkStatus};
pub use node::{Capacity, Dmi, DmiSection, Interface, NodeProxy, RegistrationStatus};
pub use storage::{StorageCapacity, StorageError, StorageProxy};

/// The broker's socket on a running node (started by the init before any daemon).
pub const SYSTEM_BUS_ADDRESS: &str = "unix:path=/run/dbus/system_bus_socket";

/// Environment variable that points a process at another broker (tests run a private one).
pub const BUS_ADDRESS_ENV: &str = "ZOS_BUS_ADDRESS";

/// The broker address this process should use: `ZOS_BUS_ADDRESS` when set, else the node's bus.
pub fn bus_address() -> String {
    std::env::var(BUS_ADDRESS_ENV).unwrap_or_else(|_| SYSTEM_BUS_ADDRESS.to_string())
}

/// Opens a connection to the node's bus (see [`bus_address`]).
pub async fn connect() -> zbus::Result<zbus::Connection> {
    connect_to(&bus_address()).await
}

/// Opens a connection to the broker at `address` (a D-Bus address such as `unix:path=/x`).
pub async fn connect_to(address: &str) -> zbus::Result<zbus::Connection> {
    zbus::connection::Builder::address(address)?.build().await
}
