//! The lines the node prints on its serial console that the host waits for.
//!
//! Owns only the patterns and their parsing; the console decides where to search.

use std::time::Duration;

use crate::console::Found;

/// `ZOS READY boot_ms=<n>`: printed once by zos-init when every service is up.
pub const READY: &str = r"ZOS READY boot_ms=(?P<ms>\d+)";

/// `ZOS NODE key=<64 hex>`: printed by noded once it has its identity, before it takes its bus
/// name (so before READY is decided, though the init may copy it to the console just after).
pub const NODE_KEY: &str = r"ZOS NODE key=(?P<key>[0-9a-f]{64})";

/// `ZOS REGISTERED node_id=<n> twin_id=<t>`: printed by noded once the node is on TFChain (again
/// after every boot). zos-init may prefix it with the service name when it copies noded's output
/// to the console, so the pattern is not anchored.
pub const REGISTERED: &str = r"ZOS REGISTERED node_id=(?P<node>\d+) twin_id=(?P<twin>\d+)";

/// The kernel's last words; waiting for READY stops early on it.
pub const KERNEL_PANIC: &str = r"Kernel panic - not syncing: [^\n]*\n";

/// Pattern for `zos-init: <service> running pid=<n>`, printed when a service reaches Running.
pub fn service_running(service: &str) -> String {
    format!(
        r"zos-init: {} running pid=(?P<pid>\d+)",
        regex::escape(service)
    )
}

/// What the READY and NODE lines say, plus how long the host waited for READY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The node's public key (hex), stable across reboots while the cache disk persists.
    pub node_key: String,
    /// Milliseconds from kernel start to READY, as measured by the guest.
    pub guest_boot_ms: u64,
    /// Wall clock from QEMU spawn to the marker seen on the host.
    pub host_elapsed: Duration,
}

impl Ready {
    /// Builds a [`Ready`] from matches of [`READY`] and [`NODE_KEY`]; `None` if the groups are
    /// missing or malformed.
    pub fn from_found(ready: &Found, node: &Found, host_elapsed: Duration) -> Option<Ready> {
        Some(Ready {
            node_key: node.group("key")?.to_string(),
            guest_boot_ms: ready.group("ms")?.parse().ok()?,
            host_elapsed,
        })
    }
}

/// What the REGISTERED line says, plus how long the host waited for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub node_id: u32,
    pub twin_id: u32,
    /// Wall clock from QEMU spawn to the marker seen on the host.
    pub host_elapsed: Duration,
}

impl Registered {
    /// Builds a [`Registered`] from a match of [`REGISTERED`]; `None` if the ids do not parse.
    pub fn from_found(found: &Found, host_elapsed: Duration) -> Option<Registered> {
        Some(Registered {
            node_id: found.group("node")?.parse().ok()?,
            twin_id: found.group("twin")?.parse().ok()?,
            host_elapsed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn ready_and_node_patterns_parse_ms_and_key() {
        let ready = Regex::new(READY).unwrap();
        let c = ready
            .captures("[ 1.0] x\nZOS READY boot_ms=1234\n")
            .unwrap();
        assert_eq!(&c["ms"], "1234");
        let node = Regex::new(NODE_KEY).unwrap();
        let key = "ab".repeat(32);
        let line = format!("[+] noded: ZOS NODE key={key}\n");
        let c = node.captures(&line).unwrap();
        assert_eq!(&c["key"], key);
        assert!(!node.is_match("ZOS NODE key=abc"));
    }

    #[test]
    fn registered_pattern_parses_ids_with_a_prefix() {
        let re = Regex::new(REGISTERED).unwrap();
        let c = re
            .captures("+ noded: ZOS REGISTERED node_id=12 twin_id=3\n")
            .unwrap();
        assert_eq!((&c["node"], &c["twin"]), ("12", "3"));
        assert!(!re.is_match("ZOS REGISTERED node_id= twin_id=3"));
    }

    #[test]
    fn service_running_escapes_name() {
        let re = Regex::new(&service_running("noded")).unwrap();
        assert_eq!(
            &re.captures("zos-init: noded running pid=42").unwrap()["pid"],
            "42"
        );
        assert!(!re.is_match("zos-init: networkd running pid=42"));
    }
}
