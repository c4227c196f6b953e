//! The node's system bus: every interface, defined once.
//!
//! Daemons serve these interfaces and callers use the proxies generated here, so a daemon and its
//! callers can never disagree on a method name or a type. This crate holds definitions only: no
//! daemon logic, no I/O beyond opening a bus connection and taking a name ([`serve`]). A helper
//! sits beside the definitions:
//! [`inspect`] (read-only bus inspection, the library half of the `zbusdebug` tool). Tests run
//! a private broker from `zos-testkit`.
//!
//! Naming: each daemon owns the well-known name `tf.zos.<Daemon>` and serves its versioned
//! interface `tf.zos.<Daemon>1` at `/tf/zos/<Daemon>`.

pub mod inspect;
pub mod network;
pub mod node;
pub mod storage;

pub use network::{NetworkProxy, NetworkStatus};
pub use node::{Capacity, Dmi, DmiSection, Interface, NodeProxy, RegistrationStatus};
pub use storage::{StorageCapacity, StorageError, StorageProxy};

use std::time::Duration;

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

/// How long a call waits for its reply. busd never answers a call to a name nobody owns, and a
/// daemon killed mid-call never replies either: without a bound such a caller would wait forever.
pub const METHOD_TIMEOUT: Duration = Duration::from_secs(60);

/// Opens a connection to the broker at `address` (a D-Bus address such as `unix:path=/x`), with
/// [`METHOD_TIMEOUT`] on every call made through it.
pub async fn connect_to(address: &str) -> zbus::Result<zbus::Connection> {
    zbus::connection::Builder::address(address)?
        .method_timeout(METHOD_TIMEOUT)
        .build()
        .await
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot serve {path} on the bus")]
    Object {
        path: &'static str,
        #[source]
        source: zbus::Error,
    },
    #[error("cannot own bus name {name}")]
    Name {
        name: &'static str,
        #[source]
        source: zbus::Error,
    },
}

/// Serves `iface` at `path`, then takes the well-known `name` (in that order, so whoever sees the
/// name can call the object). Fails when another process owns the name: two copies of a daemon
/// must never both believe they serve it.
pub async fn serve<I: zbus::object_server::Interface>(
    conn: &zbus::Connection,
    path: &'static str,
    name: &'static str,
    iface: I,
) -> Result<(), ServeError> {
    conn.object_server()
        .at(path, iface)
        .await
        .map_err(|source| ServeError::Object { path, source })?;
    let flags = zbus::fdo::RequestNameFlags::DoNotQueue.into();
    match conn.request_name_with_flags(name, flags).await {
        Ok(
            zbus::fdo::RequestNameReply::PrimaryOwner | zbus::fdo::RequestNameReply::AlreadyOwner,
        ) => Ok(()),
        Ok(other) => Err(ServeError::Name {
            name,
            source: zbus::Error::Failure(format!("the broker answered {other:?}")),
        }),
        Err(source) => Err(ServeError::Name { name, source }),
    }
}
