//! The daemon's life: links up, wait for a NIC with carrier, bridge, DHCP, apply leases, serve
//! the bus, until told to stop.
//!
//! The bus object is exported first, so callers get answers (empty addresses) even when no NIC
//! ever gets a carrier. Stopping leaves the network as it is: the address stays valid until its
//! lifetime runs out, so a restarted networkd (or an upgrade) does not cut the node off.

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, RwLock};

use crate::bus::{NetworkService, SharedState, State};
use crate::dhcp::{self, DhcpSettings, Event, Lease};
use crate::link::{self, LinkError, LinkInfo, Links};
use crate::resolv;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Bus(#[from] crate::bus::ServeError),
    #[error(transparent)]
    Dhcp(#[from] dhcp::DhcpError),
}

/// How to run; `main` builds it from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// The node's bridge (`zos`).
    pub bridge: String,
    /// Where to write the DNS servers of the lease.
    pub resolv_conf: PathBuf,
    /// How long to wait at start for a NIC with carrier before serving without one.
    pub nic_wait: Duration,
    /// Use only this NIC (also allows a virtual device, e.g. a veth in tests).
    pub nic: Option<String>,
    /// Where physical NICs are listed (`/sys/class/net`).
    pub sys_class_net: PathBuf,
    /// Longest DISCOVER..ACK exchange before the DHCP client starts over.
    pub dhcp_timeout: Duration,
}

/// How often the carrier is checked while waiting for one.
const CARRIER_POLL: Duration = Duration::from_millis(200);
/// How often NICs are looked at again after the start-up wait found no carrier.
const CARRIER_WATCH: Duration = Duration::from_secs(2);

/// Runs the daemon until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let links = Links::connect()?;
    let state: SharedState = Arc::new(RwLock::new(State::default()));
    let _bus = crate::bus::serve(NetworkService::new(
        config.bridge.clone(),
        links.clone(),
        state.clone(),
    ))
    .await?;
    tracing::info!(
        name = zos_bus::network::NAME,
        path = zos_bus::network::PATH,
        "serving on the bus"
    );
    tokio::select! {
        r = manage(&config, &links, &state) => r,
        _ = shutdown => {
            tracing::info!("stopping; the network configuration stays as it is");
            Ok(())
        }
    }
}

/// Everything after the bus is up. Returns only on an error that a restart may fix.
async fn manage(config: &Config, links: &Links, state: &SharedState) -> Result<(), DaemonError> {
    links.set_up("lo").await?;
    let uplink = wait_for_uplink(config, links).await?;
    let bridge = links.ensure_bridge(&config.bridge, &uplink).await?;
    tracing::info!(
        bridge = %config.bridge,
        uplink = %uplink,
        mac = %link::format_mac(&bridge.mac),
        "bridge ready"
    );
    state.write().await.uplink = uplink;

    let (tx, mut rx) = mpsc::channel(4);
    let settings = DhcpSettings {
        iface: config.bridge.clone(),
        index: bridge.index,
        mac: bridge.mac.clone(),
        acquire_timeout: config.dhcp_timeout,
    };
    let client = dhcp::run(settings, tx);
    tokio::pin!(client);
    loop {
        tokio::select! {
            r = &mut client => return r.map_err(DaemonError::from),
            ev = rx.recv() => match ev {
                Some(ev) => apply(config, links, &bridge, state, ev).await,
                None => return Ok(()),
            },
        }
    }
}

/// Candidate NICs: the one named on the command line, else every physical NIC.
fn candidates(config: &Config) -> Result<Vec<String>, LinkError> {
    match &config.nic {
        Some(nic) => Ok(vec![nic.clone()]),
        None => link::physical_nics(&config.sys_class_net),
    }
}

/// Brings candidate NICs up and returns the first with a carrier. Waits `nic_wait` at first;
/// after that keeps looking (NICs may be plugged in or cabled later) with a slower poll.
async fn wait_for_uplink(config: &Config, links: &Links) -> Result<String, LinkError> {
    let deadline = tokio::time::Instant::now() + config.nic_wait;
    let mut warned = false;
    loop {
        let names = candidates(config)?;
        let all = links.list().await?;
        let nics: Vec<&LinkInfo> = all.iter().filter(|l| names.contains(&l.name)).collect();
        for nic in nics.iter().filter(|n| !n.up) {
            if let Err(e) = links.set_up(&nic.name).await {
                tracing::warn!(nic = %nic.name, error = %zos_base::Report(&e), "cannot bring NIC up");
            }
        }
        if let Some(nic) = nics.iter().find(|n| n.carrier) {
            return Ok(nic.name.clone());
        }
        let now = tokio::time::Instant::now();
        if now < deadline {
            tokio::time::sleep(CARRIER_POLL).await;
            continue;
        }
        if !warned {
            warned = true;
            tracing::warn!(
                candidates = ?names,
                waited_secs = config.nic_wait.as_secs(),
                "no NIC has a carrier; serving without network and still watching"
            );
        }
        tokio::time::sleep(CARRIER_WATCH).await;
    }
}

/// Applies one DHCP event. Failures are logged, not fatal: the next renewal applies again.
async fn apply(config: &Config, links: &Links, bridge: &LinkInfo, state: &SharedState, ev: Event) {
    let index = bridge.index;
    match ev {
        Event::Bound(lease) => {
            let previous = state.read().await.lease.clone();
            if let Some(old) = previous.as_ref().filter(|o| o.address != lease.address) {
                remove(links, index, old).await;
            }
            if let Err(e) = links
                .set_address(index, lease.address, lease.prefix, lease.lease_secs)
                .await
            {
                tracing::error!(address = %lease.address, error = %zos_base::Report(&e), "cannot set address");
            }
            if let Some(gw) = lease.gateway {
                if let Err(e) = links.set_default_route(index, gw).await {
                    tracing::error!(gateway = %gw, error = %zos_base::Report(&e), "cannot set default route");
                }
            }
            if !lease.dns.is_empty() {
                if let Err(e) =
                    resolv::write(&config.resolv_conf, &lease.dns, lease.domain.as_deref())
                {
                    tracing::error!(error = %zos_base::Report(&e), "cannot write resolver configuration");
                }
            }
            tracing::info!(address = %lease.address, prefix = lease.prefix, "lease applied");
            state.write().await.lease = Some(lease);
        }
        Event::Expired(lease) => {
            remove(links, index, &lease).await;
            state.write().await.lease = None;
        }
    }
}

async fn remove(links: &Links, index: u32, lease: &Lease) {
    if let Some(gw) = lease.gateway {
        if let Err(e) = links.del_default_route(index, gw).await {
            tracing::warn!(gateway = %gw, error = %zos_base::Report(&e), "cannot remove default route");
        }
    }
    let addr: Ipv4Addr = lease.address;
    if let Err(e) = links.del_address(index, addr, lease.prefix).await {
        tracing::warn!(address = %addr, error = %zos_base::Report(&e), "cannot remove address");
    }
}
