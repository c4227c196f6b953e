//! DHCPv4 on the `zos` bridge: get a lease, keep it, say when it changes or runs out.
//!
//! The protocol itself (DISCOVER → OFFER → REQUEST → ACK with xid checks, raw-socket broadcast
//! before the node has an address, renew at T1 by unicast, rebind at T2 by broadcast, back to
//! DISCOVER when the lease expires, RFC 2131 retransmission backoff) is done by the `mozim` crate,
//! the DHCP client library of the nispor/nmstate projects: it is async on tokio, maintained, and
//! tested by its authors against dnsmasq, so writing a second client here would only add risk.
//! mozim only speaks the protocol; this module decides what to do with leases, and the daemon
//! applies them (address, default route, resolv.conf). This module never touches links, routes
//! or files.
//!
//! What this module adds around mozim:
//! - a bound on acquiring (DISCOVER/REQUEST): mozim retries a REQUEST forever and ignores a NAK
//!   while selecting, so after `acquire_timeout` without a lease we drop the exchange and start
//!   again from DISCOVER, after a capped exponential pause;
//! - errors never end the loop: the client is reset and started again;
//! - lease events on a channel: [`Event::Bound`] on every ACK (first lease and each renewal),
//!   [`Event::Expired`] when a lease ran out without renewal.

use std::net::Ipv4Addr;
use std::time::Duration;

use mozim::{DhcpV4Client, DhcpV4Config, DhcpV4Lease, DhcpV4State};
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    #[error("interface {iface} has no usable MAC address")]
    Mac {
        iface: String,
        #[source]
        source: mozim::DhcpError,
    },
}

/// What a DHCP server gave us, reduced to what the node uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub server: Ipv4Addr,
    pub lease_secs: u32,
}

impl Lease {
    /// Reduces a mozim lease. The default gateway comes from the classless static routes
    /// (option 121) when the server sent them (RFC 3442 says the router option must then be
    /// ignored), else from the first router (option 3).
    pub fn from_dhcp(lease: &DhcpV4Lease) -> Self {
        let gateway = match &lease.classless_routes {
            Some(routes) => routes
                .iter()
                .find(|r| r.prefix_length == 0)
                .map(|r| r.router),
            None => lease.gateways.as_ref().and_then(|g| g.first().copied()),
        };
        Lease {
            address: lease.yiaddr,
            prefix: lease.prefix_length(),
            gateway,
            dns: lease.dns_srvs.clone().unwrap_or_default(),
            domain: lease.domain_name.clone(),
            server: lease.srv_id,
            lease_secs: lease.lease_time_sec,
        }
    }
}

/// A change the daemon has to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A lease was granted or renewed: (re)apply it.
    Bound(Lease),
    /// This lease ran out without renewal: stop using it.
    Expired(Lease),
}

/// Where and how to run the client.
#[derive(Debug, Clone)]
pub struct DhcpSettings {
    pub iface: String,
    pub index: u32,
    pub mac: Vec<u8>,
    /// Longest time for one DISCOVER..ACK exchange before starting over.
    pub acquire_timeout: Duration,
}

/// Pause before starting over after the `failures`-th failed exchange in a row: 1, 2, 4 .. 60 s.
fn retry_pause(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(6)).min(Duration::from_secs(60))
}

fn mozim_config(settings: &DhcpSettings) -> Result<DhcpV4Config, DhcpError> {
    let mut config = DhcpV4Config::new(&settings.iface);
    config.set_iface_index(settings.index);
    config
        .set_iface_mac_raw(&settings.mac)
        .map_err(|source| DhcpError::Mac {
            iface: settings.iface.clone(),
            source,
        })?;
    // Client id = MAC: the server keys the lease on the bridge's MAC, which is pinned to the
    // uplink's, so the node gets the same address after every reboot.
    config.use_mac_as_client_id();
    Ok(config)
}

/// Runs the client until `events` is closed. Returns early only on a bad configuration.
pub async fn run(settings: DhcpSettings, events: mpsc::Sender<Event>) -> Result<(), DhcpError> {
    let config = mozim_config(&settings)?;
    let iface = settings.iface.as_str();
    let mut failures: u32 = 0;
    let mut current: Option<Lease> = None;
    'restart: loop {
        let mut client = match DhcpV4Client::init(config.clone(), None).await {
            Ok(c) => c,
            Err(e) => {
                failures += 1;
                tracing::warn!(iface, error = %zos_base::Report(&e), "cannot start DHCP client, retrying");
                tokio::time::sleep(retry_pause(failures)).await;
                continue;
            }
        };
        let mut bound = false;
        loop {
            let step = if bound {
                // Renewing/rebinding: mozim's own timers bound this by the lease time.
                Ok(client.run().await)
            } else {
                tokio::time::timeout(settings.acquire_timeout, client.run()).await
            };
            let failure = match step {
                Ok(Ok(DhcpV4State::Done(lease))) => {
                    failures = 0;
                    bound = true;
                    let lease = Lease::from_dhcp(&lease);
                    tracing::info!(
                        iface,
                        address = %lease.address,
                        prefix = lease.prefix,
                        gateway = ?lease.gateway,
                        server = %lease.server,
                        lease_secs = lease.lease_secs,
                        "DHCP lease bound"
                    );
                    current = Some(lease.clone());
                    if events.send(Event::Bound(lease)).await.is_err() {
                        return Ok(());
                    }
                    continue;
                }
                Ok(Ok(DhcpV4State::InitReboot)) => {
                    bound = false;
                    if let Some(lease) = current.take() {
                        tracing::warn!(iface, address = %lease.address, "DHCP lease expired");
                        if events.send(Event::Expired(lease)).await.is_err() {
                            return Ok(());
                        }
                    }
                    continue;
                }
                Ok(Ok(state)) => {
                    tracing::debug!(iface, %state, "DHCP state");
                    continue;
                }
                Ok(Err(e)) => zos_base::report(&e),
                Err(_) => format!("no lease within {} s", settings.acquire_timeout.as_secs()),
            };
            failures += 1;
            let pause = retry_pause(failures);
            tracing::warn!(
                iface,
                error = %failure,
                retry_in_secs = pause.as_secs(),
                "DHCP exchange failed, starting over"
            );
            client.clean_up();
            tokio::time::sleep(pause).await;
            continue 'restart;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mozim_lease() -> DhcpV4Lease {
        let mut l = DhcpV4Lease::default();
        l.yiaddr = Ipv4Addr::new(10, 1, 2, 50);
        l.subnet_mask = Ipv4Addr::new(255, 255, 255, 0);
        l.srv_id = Ipv4Addr::new(10, 1, 2, 1);
        l.lease_time_sec = 3600;
        l.gateways = Some(vec![Ipv4Addr::new(10, 1, 2, 1), Ipv4Addr::new(10, 1, 2, 2)]);
        l.dns_srvs = Some(vec![Ipv4Addr::new(10, 1, 2, 53)]);
        l.domain_name = Some("grid.test".into());
        l
    }

    #[test]
    fn lease_takes_address_prefix_first_router_and_dns() {
        let lease = Lease::from_dhcp(&mozim_lease());
        assert_eq!(
            lease,
            Lease {
                address: Ipv4Addr::new(10, 1, 2, 50),
                prefix: 24,
                gateway: Some(Ipv4Addr::new(10, 1, 2, 1)),
                dns: vec![Ipv4Addr::new(10, 1, 2, 53)],
                domain: Some("grid.test".into()),
                server: Ipv4Addr::new(10, 1, 2, 1),
                lease_secs: 3600,
            }
        );
    }

    #[test]
    fn classless_default_route_wins_over_router_option() {
        let mut l = mozim_lease();
        let mut net = mozim::DhcpV4ClasslessRoute {
            destination: Ipv4Addr::new(10, 9, 0, 0),
            prefix_length: 16,
            router: Ipv4Addr::new(10, 1, 2, 9),
        };
        let default = mozim::DhcpV4ClasslessRoute {
            destination: Ipv4Addr::UNSPECIFIED,
            prefix_length: 0,
            router: Ipv4Addr::new(10, 1, 2, 254),
        };
        l.classless_routes = Some(vec![net, default]);
        assert_eq!(
            Lease::from_dhcp(&l).gateway,
            Some(Ipv4Addr::new(10, 1, 2, 254))
        );
        // Classless routes without a default: no default gateway, routers are ignored.
        net.prefix_length = 8;
        l.classless_routes = Some(vec![net]);
        assert_eq!(Lease::from_dhcp(&l).gateway, None);
    }

    #[test]
    fn retry_pause_doubles_and_caps_at_a_minute() {
        let secs: Vec<u64> = [1, 2, 3, 6, 7, 100]
            .iter()
            .map(|f| retry_pause(*f).as_secs())
            .collect();
        assert_eq!(secs, vec![2, 4, 8, 60, 60, 60]);
    }

    #[test]
    fn config_rejects_a_mac_that_is_not_ethernet() {
        let settings = DhcpSettings {
            iface: "zos".into(),
            index: 3,
            mac: vec![1, 2, 3],
            acquire_timeout: Duration::from_secs(30),
        };
        let err = mozim_config(&settings).unwrap_err();
        assert!(zos_base::report(&err).contains("zos"), "{err}");
    }
}
