//! `zdb`: a 0-db compatible key-value server for the node (one per HDD in zos) and for anyone
//! else. It owns its index and data directories and nothing else: it speaks 0-db's RESP
//! dialect on TCP and/or a unix socket, keeps 0-db v2's files byte-compatible, and must never
//! serve a torn entry as data. It talks to no other daemon.
//!
//! Layout: `resp` (framing), `commands` (command set and sessions), `server` (sockets),
//! `engine` (all namespaces), `namespace` (one namespace's files and indexes), `format`
//! (on-disk structures), `crc` (0-db's CRC-32C), `check` (offline verify/rebuild), `config`;
//! `info` (NSINFO's text, typed) and `admin` (the async admin client the node uses).

pub mod admin;
pub mod check;
pub mod commands;
pub mod config;
pub mod crc;
pub mod engine;
pub mod format;
pub mod info;
pub mod namespace;
pub mod resp;
pub mod server;

pub use engine::{Engine, Settings};
pub use namespace::Durability;
pub use server::{Server, ServerConfig, ServerHandle};
