//! `tf.zos.Network1`, served by networkd: the node's own network (the `zos` bridge).

use serde::{Deserialize, Serialize};
use zbus::zvariant::Type;

pub const NAME: &str = "tf.zos.Network";
pub const PATH: &str = "/tf/zos/Network";
pub const INTERFACE: &str = "tf.zos.Network1";

/// State of the node's management network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct NetworkStatus {
    /// The bridge the node's own addresses live on (`zos`).
    pub bridge: String,
    /// The physical NIC enslaved to the bridge; empty while none has a carrier.
    pub uplink: String,
    /// Addresses of the bridge in CIDR form.
    pub addresses: Vec<String>,
    /// Default gateway, empty when none.
    pub gateway: String,
    pub dns: Vec<String>,
}

#[zbus::proxy(
    interface = "tf.zos.Network1",
    default_service = "tf.zos.Network",
    default_path = "/tf/zos/Network"
)]
pub trait Network {
    /// The node's addresses (on the `zos` bridge), CIDR form.
    fn addresses(&self) -> zbus::Result<Vec<String>>;
    fn status(&self) -> zbus::Result<NetworkStatus>;
}

/// networkd's status, or `None` when networkd is not on the bus or does not answer within
/// `timeout`. busd never answers a call to a name nobody owns, so the broker is asked first.
pub async fn status_if_up(
    conn: &zbus::Connection,
    timeout: std::time::Duration,
) -> Option<NetworkStatus> {
    if !matches!(crate::inspect::has_owner(conn, NAME).await, Ok(true)) {
        return None;
    }
    let status = async { NetworkProxy::new(conn).await?.status().await };
    match tokio::time::timeout(timeout, status).await {
        Ok(Ok(s)) => Some(s),
        _ => None,
    }
}

impl NetworkStatus {
    /// The addresses without their prefix lengths.
    pub fn ips(&self) -> Vec<String> {
        self.addresses
            .iter()
            .map(|a| a.split('/').next().unwrap_or(a).to_string())
            .collect()
    }
}
