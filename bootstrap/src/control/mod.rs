//! The control socket: zinit's legacy line protocol (one command per connection, one JSON reply,
//! `log` streams plain lines), served by [`server`] and spoken by [`client`].

pub mod client;
pub mod server;

/// Reply of every command but `log`: `{"state":"ok"|"error","body":...}`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Response {
    pub state: String,
    pub body: serde_json::Value,
}
