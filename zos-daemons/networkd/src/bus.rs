//! `tf.zos.Network1` at `/tf/zos/Network`, under the name `tf.zos.Network`.
//!
//! Serves the contract defined in `zos_bus::network`. Addresses are read live from netlink on
//! every call (so they are true even while DHCP is still running or after a lease expired);
//! uplink, gateway and DNS come from the daemon's shared [`State`]. This module only answers
//! questions: it never changes links, addresses or routes.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::RwLock;
use zos_bus::NetworkStatus;

use crate::dhcp::Lease;
use crate::link::Links;

/// What the daemon has done so far, shared with the bus object.
#[derive(Debug, Default, Clone)]
pub struct State {
    /// The NIC enslaved to the bridge; empty while none had a carrier.
    pub uplink: String,
    /// The lease in use, if any.
    pub lease: Option<Lease>,
}

pub type SharedState = Arc<RwLock<State>>;

/// The bus object.
#[derive(Debug)]
pub struct NetworkService {
    bridge: String,
    links: Links,
    state: SharedState,
}

impl NetworkService {
    pub fn new(bridge: String, links: Links, state: SharedState) -> Self {
        NetworkService {
            bridge,
            links,
            state,
        }
    }

    async fn bridge_addresses(&self) -> zbus::fdo::Result<Vec<String>> {
        let all = self.links.addresses_of(&self.bridge).await.map_err(|e| {
            tracing::warn!(bridge = %self.bridge, error = %zos_base::Report(&e), "cannot read bridge addresses");
            zbus::fdo::Error::Failed(zos_base::report(&e))
        })?;
        Ok(all.into_iter().filter(|c| !is_link_local(c)).collect())
    }
}

/// IPv6 link-local (fe80::/10) and IPv4 link-local (169.254/16) addresses say nothing about
/// the node's reachability, so callers (registration on chain, the node API) never see them.
fn is_link_local(cidr: &str) -> bool {
    let ip = cidr.split('/').next().unwrap_or(cidr);
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_link_local(),
        Ok(IpAddr::V6(v6)) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        Err(_) => false,
    }
}

#[zbus::interface(name = "tf.zos.Network1")]
impl NetworkService {
    /// The node's addresses on the bridge, CIDR form.
    async fn addresses(&self) -> zbus::fdo::Result<Vec<String>> {
        self.bridge_addresses().await
    }

    /// Bridge, uplink, addresses, gateway and DNS servers.
    async fn status(&self) -> zbus::fdo::Result<NetworkStatus> {
        let addresses = self.bridge_addresses().await?;
        let state = self.state.read().await.clone();
        let (gateway, dns) = match &state.lease {
            Some(l) => (
                l.gateway.map(|g| g.to_string()).unwrap_or_default(),
                l.dns.iter().map(|d| d.to_string()).collect(),
            ),
            None => (String::new(), Vec::new()),
        };
        Ok(NetworkStatus {
            bridge: self.bridge.clone(),
            uplink: state.uplink,
            addresses,
            gateway,
            dns,
        })
    }
}

/// Connects to the bus (see `zos_bus::connect`), exports the object and takes the name.
pub async fn serve(service: NetworkService) -> Result<zbus::Connection, ServeError> {
    let conn = zos_bus::connect().await.map_err(ServeError::Connect)?;
    zos_bus::serve(
        &conn,
        zos_bus::network::PATH,
        zos_bus::network::NAME,
        service,
    )
    .await?;
    Ok(conn)
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot connect to the bus")]
    Connect(#[source] zbus::Error),
    #[error(transparent)]
    Serve(#[from] zos_bus::ServeError),
}

#[cfg(test)]
mod tests {
    use super::is_link_local;

    #[test]
    fn link_local_addresses_are_recognised() {
        assert!(is_link_local("fe80::1/64"));
        assert!(is_link_local("febf::1/64"));
        assert!(is_link_local("169.254.3.4/16"));
        assert!(!is_link_local("fec0::1/64"));
        assert!(!is_link_local("2001:db8::1/64"));
        assert!(!is_link_local("10.1.2.3/24"));
    }
}
