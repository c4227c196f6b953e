//! Gateway workloads: `gateway-name-proxy` (`{name}.{node domain}`) and `gateway-fqdn-proxy`
//! (a user's domain) (zos `zos/gw.go`, `gw_name.go`, `gw_fqdn.go`).
//!
//! Owns the data, challenge and the node-independent backend checks; checks that need the node
//! (its domain, its public IPs, name contracts) belong to the gateway manager.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::url::{parse_url, split_host_port};
use super::InvalidData;
use crate::net::GoIp;
use crate::Capacity;

/// Fields both gateway types share (Go embeds `GatewayBase`, so they sit at the top level).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayBase {
    /// Pass TLS through to the backend instead of terminating it.
    pub tls_passthrough: bool,
    /// `http://ip[:port]`, or `ip:port` with `tls_passthrough`.
    #[serde(deserialize_with = "crate::json::null_default")]
    pub backends: Vec<String>,
    /// Optional network (name of a `network` workload) the backends live in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// Go's `asIpPort`: `ip:port` with a port <= 65535.
fn as_ip_port(backend: &str) -> Result<(GoIp, u16), String> {
    let (host, port) = split_host_port(backend)?;
    let ip: GoIp = host
        .parse()
        .ok()
        .filter(|ip: &GoIp| !ip.is_nil())
        .ok_or_else(|| "invalid ip".to_string())?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port in backend: {port}"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port '{port}' must be <= 65535"))?;
    Ok((ip, port))
}

/// zos's `Backend.Valid(tls_passthrough)`.
pub fn validate_backend(backend: &str, tls_passthrough: bool) -> Result<(), String> {
    if tls_passthrough {
        as_ip_port(backend)
            .map(|_| ())
            .map_err(|e| format!("failed to parse backend {backend} with error: {e}"))
    } else {
        let u =
            parse_url(backend).map_err(|e| format!("failed to parse backend with error: {e}"))?;
        if u.scheme != "http" {
            return Err("scheme expected to be http".to_string());
        }
        let host = u.hostname();
        match host.parse::<GoIp>() {
            Ok(ip) if !ip.is_nil() && !ip.is_loopback() => Ok(()),
            _ => Err(format!("invalid ip address in backend: {host}")),
        }
    }
}

impl GatewayBase {
    fn challenge(&self, out: &mut String) {
        let _ = write!(out, "{}", self.tls_passthrough);
        for backend in &self.backends {
            out.push_str(backend);
        }
        if let Some(network) = &self.network {
            out.push_str(network);
        }
    }

    fn validate(&self) -> Result<(), InvalidData> {
        if self.backends.is_empty() {
            return Err(InvalidData::NoBackends);
        }
        for backend in &self.backends {
            validate_backend(backend, self.tls_passthrough).map_err(|reason| {
                InvalidData::InvalidBackend {
                    backend: backend.clone(),
                    reason,
                }
            })?;
        }
        Ok(())
    }
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// zos's `^([a-zA-Z0-9-_]+\.)+[a-zA-Z0-9-_]{2,}$`.
pub fn is_valid_fqdn(fqdn: &str) -> bool {
    let labels: Vec<&str> = fqdn.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| is_label(l))
        && labels.last().is_some_and(|l| l.len() >= 2)
}

/// `gateway-name-proxy` data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayNameProxy {
    #[serde(flatten)]
    pub base: GatewayBase,
    /// The name (a name contract of the twin); served as `{name}.{node domain}`.
    #[serde(deserialize_with = "crate::json::null_default")]
    pub name: String,
}

impl GatewayNameProxy {
    pub(crate) fn challenge(&self, out: &mut String) {
        out.push_str(&self.name);
        self.base.challenge(out);
    }

    pub(crate) fn validate(&self) -> Result<(), InvalidData> {
        if !is_label(&self.name) {
            return Err(InvalidData::InvalidGatewayName(self.name.clone()));
        }
        self.base.validate()
    }

    /// Nothing (traffic is billed as NU).
    pub fn capacity(&self) -> Capacity {
        Capacity::default()
    }
}

/// `gateway-name-proxy` result data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayProxyResult {
    pub fqdn: String,
}

/// `gateway-fqdn-proxy` data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayFqdnProxy {
    #[serde(flatten)]
    pub base: GatewayBase,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub fqdn: String,
}

impl GatewayFqdnProxy {
    pub(crate) fn challenge(&self, out: &mut String) {
        out.push_str(&self.fqdn);
        self.base.challenge(out);
    }

    pub(crate) fn validate(&self) -> Result<(), InvalidData> {
        if !is_valid_fqdn(&self.fqdn) {
            return Err(InvalidData::InvalidFqdn(self.fqdn.clone()));
        }
        self.base.validate()
    }

    /// Nothing (traffic is billed as NU).
    pub fn capacity(&self) -> Capacity {
        Capacity::default()
    }
}

/// `gateway-fqdn-proxy` result data: an empty object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GatewayFqdnResult {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_rule() {
        for ok in ["a.bc", "my-site.example.com", "x_y.a1"] {
            assert!(is_valid_fqdn(ok), "{ok}");
        }
        for bad in [
            "example", "a.b", ".ab", "a..bc", "a.bc.", "a b.cd", "ä.cd", "",
        ] {
            assert!(!is_valid_fqdn(bad), "{bad}");
        }
    }

    #[test]
    fn backends() {
        assert!(validate_backend("http://10.0.0.2:8080", false).is_ok());
        assert!(validate_backend("http://10.0.0.2", false).is_ok());
        assert!(validate_backend("http://[2a10::1]:80", false).is_ok());
        assert!(validate_backend("https://10.0.0.2", false).is_err());
        assert!(validate_backend("http://127.0.0.1", false).is_err());
        assert!(validate_backend("http://example.com", false).is_err());
        assert!(validate_backend("10.0.0.2:443", false).is_err());
        assert!(validate_backend("10.0.0.2:443", true).is_ok());
        assert!(validate_backend("[2a10::1]:443", true).is_ok());
        assert!(validate_backend("10.0.0.2:70000", true).is_err());
        assert!(validate_backend("10.0.0.2", true).is_err());
        assert!(validate_backend("host:443", true).is_err());
    }
}
