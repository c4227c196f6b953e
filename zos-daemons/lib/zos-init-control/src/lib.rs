//! The init's control protocol, as zinit speaks it on its unix socket, in one place: the
//! requests ([`Request`]), the reply on the wire ([`Response`]), the init's refusals as a typed
//! enum ([`ControlError`], with zinit's exact texts, which zos matches on), a service's status
//! ([`ServiceStatus`]), and two clients: [`Client`] (blocking, for the CLI and tests) and
//! [`AsyncClient`] (tokio, for daemons that run services under the init).
//!
//! The wire: one command line per connection, one JSON object back
//! (`{"state":"ok"|"error","body":...}`) and the connection closed; `log` streams plain lines.
//! The server side (PID 1's supervisor) lives in `bootstrap/`; this crate owns only the protocol
//! and never starts, stops or reads anything itself.

mod client;
mod error;
mod request;
mod status;

pub use client::{AsyncClient, Client, ClientError};
pub use error::ControlError;
pub use request::{Request, SignalName};
pub use status::{Response, ServiceStatus};

/// Where the init listens (zinit's path on zos is `/var/run/zinit.sock`; `/var/run` is `/run`).
pub const SOCKET: &str = "/run/zinit.sock";
