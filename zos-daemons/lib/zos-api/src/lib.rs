//! zos-api: the transport of the node API, our first one (the grid's relay, RMB, comes later).
//!
//! A caller twin POSTs a zos `{command, data}` envelope to `/api/v1`, signed with its chain key
//! (ed25519 or sr25519) over the method, path, body hash, a timestamp, a nonce and its twin id;
//! the node checks the signature against the twin's key, refuses stale timestamps and replayed
//! nonces, and hands the envelope to a [`Handler`]. The exact format is in the crate README and
//! in [`wire`].
//!
//! This crate owns the wire format, the HTTP server (hyper 1), the client and the replay guard.
//! It knows no command (the handler does), does not talk to the chain (keys come from a
//! [`KeyLookup`]; the client signs with a [`zos_chain::Signer`] it is given) and never logs bodies.

mod auth;
pub mod client;
mod error;
mod keys;
mod replay;
pub mod server;
pub mod wire;

pub use client::{Client, ClientError};
pub use error::ApiError;
pub use keys::{CachedKeys, KeyError, KeyLookup};
pub use server::{serve, Caller, Handler, ServerConfig};
