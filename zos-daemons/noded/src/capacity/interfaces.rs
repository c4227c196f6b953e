//! The node's network interfaces: name, MAC and addresses (CIDR form), read live.
//!
//! Names come from `<sys>/class/net` (every link, with or without addresses; `lo` left out), MACs
//! from `<sys>/class/net/<name>/address`, addresses from `getifaddrs(3)`.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::path::Path;

use zos_bus::Interface;

use super::CapacityError;

/// An address of an interface: (interface name, address, prefix length).
pub type HostAddress = (String, IpAddr, u8);

/// The interfaces of the host right now, sorted by name.
pub fn interfaces(sys_root: &Path) -> Result<Vec<Interface>, CapacityError> {
    assemble(sys_root, &host_addresses()?)
}

/// Every IPv4 / IPv6 address of every interface, from `getifaddrs(3)`.
pub fn host_addresses() -> Result<Vec<HostAddress>, CapacityError> {
    let list = nix::ifaddrs::getifaddrs().map_err(CapacityError::Addresses)?;
    let mut out = Vec::new();
    for entry in list {
        let (Some(addr), Some(mask)) = (entry.address, entry.netmask) else {
            continue;
        };
        if let (Some(a), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
            out.push((
                entry.interface_name,
                IpAddr::V4(a.ip()),
                m.ip().to_bits().count_ones() as u8,
            ));
        } else if let (Some(a), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
            out.push((
                entry.interface_name,
                IpAddr::V6(a.ip()),
                m.ip().to_bits().count_ones() as u8,
            ));
        }
    }
    Ok(out)
}

/// Joins the links of `<sys>/class/net` with `addresses`.
pub fn assemble(
    sys_root: &Path,
    addresses: &[HostAddress],
) -> Result<Vec<Interface>, CapacityError> {
    let class = sys_root.join("class/net");
    let entries = std::fs::read_dir(&class).map_err(|source| CapacityError::Read {
        path: class.clone(),
        source,
    })?;
    let mut by_name: BTreeMap<String, Interface> = BTreeMap::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "lo" {
            continue;
        }
        let mac_path = entry.path().join("address");
        let mac = match std::fs::read_to_string(&mac_path) {
            Ok(text) => text.trim().to_string(),
            // The link vanished between listing and reading: not an error, just gone.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(CapacityError::Read {
                    path: mac_path,
                    source,
                })
            }
        };
        by_name.insert(
            name.clone(),
            Interface {
                name,
                mac,
                addresses: Vec::new(),
            },
        );
    }
    for (name, ip, prefix) in addresses {
        if let Some(iface) = by_name.get_mut(name) {
            iface.addresses.push(format!("{ip}/{prefix}"));
        }
    }
    Ok(by_name.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::fixture::Tree;

    #[test]
    fn assembles_links_and_addresses() {
        let t = Tree::new();
        t.write("sys/class/net/lo/address", "00:00:00:00:00:00\n");
        t.write("sys/class/net/eth0/address", "52:54:00:12:34:56\n");
        t.write("sys/class/net/zos/address", "aa:bb:cc:dd:ee:ff\n");
        let addrs = vec![
            ("lo".to_string(), "127.0.0.1".parse().unwrap(), 8),
            ("zos".to_string(), "10.0.2.15".parse().unwrap(), 24),
            ("zos".to_string(), "fe80::1".parse().unwrap(), 64),
            ("gone".to_string(), "10.9.9.9".parse().unwrap(), 32),
        ];
        let got = assemble(&t.roots.sys, &addrs).unwrap();
        assert_eq!(
            got,
            vec![
                Interface {
                    name: "eth0".into(),
                    mac: "52:54:00:12:34:56".into(),
                    addresses: vec![],
                },
                Interface {
                    name: "zos".into(),
                    mac: "aa:bb:cc:dd:ee:ff".into(),
                    addresses: vec!["10.0.2.15/24".into(), "fe80::1/64".into()],
                },
            ]
        );
    }

    #[test]
    fn host_has_loopback_with_prefix() {
        let addrs = host_addresses().unwrap();
        assert!(
            addrs
                .iter()
                .any(|(n, ip, p)| n == "lo" && *ip == IpAddr::from([127, 0, 0, 1]) && *p == 8),
            "{addrs:?}"
        );
    }

    #[test]
    fn host_interfaces_match_sysfs() {
        let got = interfaces(Path::new("/sys")).unwrap();
        let mut expected: Vec<String> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "lo")
            .collect();
        expected.sort();
        let names: Vec<String> = got.iter().map(|i| i.name.clone()).collect();
        assert_eq!(names, expected);
        for iface in &got {
            let mac =
                std::fs::read_to_string(format!("/sys/class/net/{}/address", iface.name)).unwrap();
            assert_eq!(iface.mac, mac.trim());
        }
    }
}
