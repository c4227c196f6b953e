//! networkd: the node's own network.
//!
//! Owns the loopback and physical NICs' link state, the `zos` bridge (uplink NIC enslaved, MAC
//! pinned to the NIC's), the bridge's DHCP lease (address, default route, `/etc/resolv.conf`)
//! and the bus interface `tf.zos.Network1`. Talks to the kernel over rtnetlink only (no `ip`,
//! no `dhclient`, no shell) and to other daemons over the bus only. It must never touch links
//! it did not pick, nor any other daemon's files.
//!
//! Modules: [`link`] (netlink), [`dhcp`] (lease life cycle), [`resolv`] (resolver file),
//! [`bus`] (the D-Bus object), [`daemon`] (how they are put together).

pub mod bus;
pub mod daemon;
pub mod dhcp;
pub mod link;
pub mod resolv;
