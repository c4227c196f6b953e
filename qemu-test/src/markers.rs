//! The lines the node prints on its serial console that the host waits for.
//!
//! Owns only the patterns and their parsing; the console decides where to search.

use std::time::Duration;

use crate::console::Found;

/// `ZOS READY node=<64 hex> boot_ms=<n>`: printed once by zos-init when every service is up.
pub const READY: &str = r"ZOS READY node=(?P<key>[0-9a-f]{64}) boot_ms=(?P<ms>\d+)";

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

/// What the READY line says, plus how long the host waited for it.
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
    /// Builds a [`Ready`] from a match of [`READY`]; `None` if the groups are missing or malformed.
    pub fn from_found(found: &Found, host_elapsed: Duration) -> Option<Ready> {
        Some(Ready {
            node_key: found.group("key")?.to_string(),
            guest_boot_ms: found.group("ms")?.parse().ok()?,
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
    fn ready_pattern_parses_key_and_ms() {
        let re = Regex::new(READY).unwrap();
        let key = "ab".repeat(32);
        let line = format!("[ 1.0] x\nZOS READY node={key} boot_ms=1234\n");
        let c = re.captures(&line).unwrap();
        assert_eq!(&c["key"], key);
        assert_eq!(&c["ms"], "1234");
        assert!(!re.is_match("ZOS READY node=abc boot_ms=1"));
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
