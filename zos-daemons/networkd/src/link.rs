//! Links, addresses and routes of the node's own network, over rtnetlink.
//!
//! Owns: bringing links up, the `zos` bridge (created once, MAC pinned to the uplink's so DHCP
//! leases survive reboots), enslaving the uplink, the bridge's IPv4 address and the default route.
//! Everything goes through netlink; no `ip` or other command is ever run. It must not touch links
//! it did not pick (other bridges, veths of workloads, tunnels).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage, CacheInfo};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::route::RouteProtocol;
use rtnetlink::{AddressMessageBuilder, Handle, LinkBridge, LinkUnspec, RouteMessageBuilder};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot open a netlink socket")]
    Connect(#[source] std::io::Error),
    #[error("netlink request '{what}' failed")]
    Netlink {
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("link {0} does not exist")]
    NoSuchLink(String),
    #[error("link {name} has no usable MAC address (got {len} bytes)")]
    NoMac { name: String, len: usize },
    #[error("cannot list network devices in {path}")]
    Sysfs {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn nl(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> LinkError {
    let what = what.into();
    move |source| LinkError::Netlink { what, source }
}

/// True when the netlink error carries errno `code` (netlink reports `-errno`).
fn is_errno(err: &rtnetlink::Error, code: i32) -> bool {
    matches!(err, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -code)
}

/// What the daemon needs to know about one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub mac: Vec<u8>,
    /// IFF_UP: administratively up.
    pub up: bool,
    /// IFF_LOWER_UP: the driver reports a carrier.
    pub carrier: bool,
    /// Index of the bridge (or other controller) this link is enslaved to.
    pub controller: Option<u32>,
}

impl LinkInfo {
    fn from_message(msg: &LinkMessage) -> Option<Self> {
        let mut name = None;
        let mut mac = Vec::new();
        let mut controller = None;
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => name = Some(n.clone()),
                LinkAttribute::Address(a) => mac = a.clone(),
                LinkAttribute::Controller(c) => controller = Some(*c),
                _ => {}
            }
        }
        Some(LinkInfo {
            index: msg.header.index,
            name: name?,
            mac,
            up: msg.header.flags.contains(LinkFlags::Up),
            carrier: msg.header.flags.contains(LinkFlags::LowerUp),
            controller,
        })
    }
}

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A netlink handle for the current network namespace.
#[derive(Debug, Clone)]
pub struct Links {
    handle: Handle,
}

impl Links {
    /// Opens a netlink connection; its driver task runs on the current tokio runtime.
    pub fn connect() -> Result<Self, LinkError> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(LinkError::Connect)?;
        tokio::spawn(connection);
        Ok(Links { handle })
    }

    /// Every link of the namespace.
    pub async fn list(&self) -> Result<Vec<LinkInfo>, LinkError> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(nl("list links"))?;
        Ok(msgs.iter().filter_map(LinkInfo::from_message).collect())
    }

    /// The link called `name`, if it exists.
    pub async fn find(&self, name: &str) -> Result<Option<LinkInfo>, LinkError> {
        Ok(self.list().await?.into_iter().find(|l| l.name == name))
    }

    async fn get(&self, name: &str) -> Result<LinkInfo, LinkError> {
        self.find(name)
            .await?
            .ok_or_else(|| LinkError::NoSuchLink(name.to_string()))
    }

    /// Sets `name` administratively up (no-op when it already is).
    pub async fn set_up(&self, name: &str) -> Result<(), LinkError> {
        let link = self.get(name).await?;
        if link.up {
            return Ok(());
        }
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(link.index).up().build())
            .execute()
            .await
            .map_err(nl(format!("set {name} up")))
    }

    /// Makes sure bridge `bridge` exists with `uplink` enslaved, the uplink's MAC, and is up.
    ///
    /// Idempotent: an existing bridge is kept as it is (addresses and routes stay), so a
    /// restart of networkd does not interrupt the node's connectivity.
    pub async fn ensure_bridge(&self, bridge: &str, uplink: &str) -> Result<LinkInfo, LinkError> {
        let nic = self.get(uplink).await?;
        if nic.mac.len() != 6 {
            return Err(LinkError::NoMac {
                name: uplink.to_string(),
                len: nic.mac.len(),
            });
        }
        let br = match self.find(bridge).await? {
            Some(br) => {
                tracing::info!(bridge, "bridge exists, keeping it");
                br
            }
            None => {
                tracing::info!(bridge, "creating bridge");
                self.handle
                    .link()
                    .add(LinkBridge::new(bridge).build())
                    .execute()
                    .await
                    .map_err(nl(format!("create bridge {bridge}")))?;
                self.get(bridge).await?
            }
        };
        if br.mac != nic.mac {
            tracing::info!(bridge, mac = %format_mac(&nic.mac), "pinning bridge MAC to the uplink's");
            self.handle
                .link()
                .set(
                    LinkUnspec::new_with_index(br.index)
                        .address(nic.mac.clone())
                        .build(),
                )
                .execute()
                .await
                .map_err(nl(format!("set MAC of {bridge}")))?;
        }
        if nic.controller != Some(br.index) {
            tracing::info!(bridge, uplink, "enslaving uplink");
            self.handle
                .link()
                .set(
                    LinkUnspec::new_with_index(nic.index)
                        .controller(br.index)
                        .build(),
                )
                .execute()
                .await
                .map_err(nl(format!("set master of {uplink} to {bridge}")))?;
        }
        self.set_up(uplink).await?;
        self.set_up(bridge).await?;
        self.get(bridge).await
    }

    /// Addresses (IPv4 and IPv6) of link `index` in CIDR form.
    pub async fn addresses(&self, index: u32) -> Result<Vec<String>, LinkError> {
        let msgs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(nl(format!("list addresses of link {index}")))?;
        let mut out = Vec::new();
        for msg in msgs.iter().filter(|m| m.header.index == index) {
            // IFA_LOCAL is the address itself on IPv4 (IFA_ADDRESS is the peer on p2p links).
            let local = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let addr = local.or_else(|| {
                msg.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
            if let Some(ip) = addr {
                out.push(format!("{ip}/{}", msg.header.prefix_len));
            }
        }
        Ok(out)
    }

    /// Addresses of the link called `name`; empty when the link does not exist.
    pub async fn addresses_of(&self, name: &str) -> Result<Vec<String>, LinkError> {
        match self.find(name).await? {
            Some(link) => self.addresses(link.index).await,
            None => Ok(Vec::new()),
        }
    }

    /// Sets (or refreshes) `addr/prefix` on link `index`, valid for `lifetime_secs` so the kernel
    /// drops it by itself if nobody renews the lease.
    pub async fn set_address(
        &self,
        index: u32,
        addr: Ipv4Addr,
        prefix: u8,
        lifetime_secs: u32,
    ) -> Result<(), LinkError> {
        let mut req = self
            .handle
            .address()
            .add(index, IpAddr::V4(addr), prefix)
            .replace();
        let mut info = CacheInfo::default();
        info.ifa_valid = lifetime_secs;
        info.ifa_preferred = lifetime_secs;
        req.message_mut()
            .attributes
            .push(AddressAttribute::CacheInfo(info));
        req.execute()
            .await
            .map_err(nl(format!("set address {addr}/{prefix} on link {index}")))
    }

    /// Removes `addr/prefix` from link `index`; an address already gone is not an error.
    pub async fn del_address(
        &self,
        index: u32,
        addr: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), LinkError> {
        let msg = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(addr, prefix)
            .build();
        match self.handle.address().del(msg).execute().await {
            Err(e) if is_errno(&e, EADDRNOTAVAIL) => Ok(()),
            r => r.map_err(nl(format!(
                "delete address {addr}/{prefix} from link {index}"
            ))),
        }
    }

    /// Sets the default route via `gateway` on link `index`, replacing any previous default.
    pub async fn set_default_route(&self, index: u32, gateway: Ipv4Addr) -> Result<(), LinkError> {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .output_interface(index)
            .gateway(gateway)
            .protocol(RouteProtocol::Dhcp)
            .build();
        self.handle
            .route()
            .add(route)
            .replace()
            .execute()
            .await
            .map_err(nl(format!("set default route via {gateway}")))
    }

    /// Removes the default route via `gateway` on link `index`; a missing route is not an error.
    pub async fn del_default_route(&self, index: u32, gateway: Ipv4Addr) -> Result<(), LinkError> {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .output_interface(index)
            .gateway(gateway)
            .protocol(RouteProtocol::Dhcp)
            .build();
        match self.handle.route().del(route).execute().await {
            Err(e) if is_errno(&e, ESRCH) => Ok(()),
            r => r.map_err(nl(format!("delete default route via {gateway}"))),
        }
    }
}

const ESRCH: i32 = 3;
const EADDRNOTAVAIL: i32 = 99;

/// Physical NICs under `sys_class_net` (normally `/sys/class/net`), sorted by name.
///
/// A physical NIC has a `device` link (it sits on a bus); loopback, bridges, veths, tun/tap,
/// bonds and other virtual devices have none. Bridges and tun devices are also skipped by their
/// `bridge` / `tun_flags` entries, for drivers that expose a parent device anyway.
pub fn physical_nics(sys_class_net: &Path) -> Result<Vec<String>, LinkError> {
    let sysfs = |source| LinkError::Sysfs {
        path: sys_class_net.display().to_string(),
        source,
    };
    let mut nics = Vec::new();
    for entry in std::fs::read_dir(sys_class_net).map_err(sysfs)? {
        let entry = entry.map_err(sysfs)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let dir = entry.path();
        if name == "lo"
            || !dir.join("device").exists()
            || dir.join("bridge").exists()
            || dir.join("tun_flags").exists()
        {
            continue;
        }
        nics.push(name);
    }
    nics.sort();
    Ok(nics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_dev(root: &Path, name: &str, entries: &[&str]) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for e in entries {
            std::fs::create_dir_all(dir.join(e)).unwrap();
        }
    }

    #[test]
    fn physical_nics_keeps_only_devices_with_a_parent() {
        let root = tempfile::tempdir().unwrap();
        fake_dev(root.path(), "lo", &[]);
        fake_dev(root.path(), "eth1", &["device"]);
        fake_dev(root.path(), "eth0", &["device"]);
        fake_dev(root.path(), "zos", &["bridge"]);
        fake_dev(root.path(), "veth0", &[]);
        fake_dev(root.path(), "tap0", &["device", "tun_flags"]);
        fake_dev(root.path(), "br1", &["device", "bridge"]);
        assert_eq!(physical_nics(root.path()).unwrap(), vec!["eth0", "eth1"]);
    }

    #[test]
    fn physical_nics_reports_the_missing_directory() {
        let err = physical_nics(Path::new("/nonexistent/sys/class/net")).unwrap_err();
        assert!(
            zos_base::report(&err).contains("/nonexistent/sys/class/net"),
            "{err}"
        );
    }

    #[test]
    fn mac_is_formatted_lowercase_with_colons() {
        assert_eq!(
            format_mac(&[0x52, 0x54, 0, 0x12, 0xab, 0xcd]),
            "52:54:00:12:ab:cd"
        );
    }
}
