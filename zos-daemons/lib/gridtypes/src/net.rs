//! Go-compatible network values of the workload data: `net.IP`, `gridtypes.IPNet` and hex bytes.
//!
//! Owns how these values parse from JSON and how they print into a challenge, byte for byte like
//! Go's `net.IP.String()` / `net.IPNet.String()` (IPv4 dotted, IPv6 RFC 5952, IPv4-mapped IPv6
//! printed as IPv4, host bits of a CIDR kept, `<nil>` for an empty value). It must not validate
//! workload rules (that is `types`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that does not parse as an IP address or CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetParseError {
    #[error("invalid IP address '{0}'")]
    Ip(String),
    #[error("invalid CIDR address '{0}'")]
    Cidr(String),
}

/// Parses like Go's `net.ParseIP` (via `netip.ParseAddr`, no zones) into Go's 16-byte form.
/// Returns the 16 bytes and whether the text was a dotted IPv4 address.
fn parse_addr(text: &str) -> Option<(Ipv6Addr, bool)> {
    if text.contains('%') {
        return None;
    }
    match IpAddr::from_str(text).ok()? {
        IpAddr::V4(v4) => Some((v4.to_ipv6_mapped(), true)),
        IpAddr::V6(v6) => Some((v6, false)),
    }
}

/// Go's `net.IP.String()` of a 16-byte address.
fn go_ip_string(ip: &Ipv6Addr) -> String {
    match ip.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        // Rust prints IPv6 like Go's netip (RFC 5952: longest run of >= 2 zero groups, first on
        // a tie, lowercase); only the IPv4-mapped form differs and is handled above.
        None => ip.to_string(),
    }
}

/// Go's `net.IP` as zos decodes it: empty (nil) or an address kept in Go's 16-byte form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct GoIp(Option<Ipv6Addr>);

impl GoIp {
    /// The nil IP (prints `<nil>`, serializes as `""`).
    pub const NIL: GoIp = GoIp(None);

    pub fn is_nil(&self) -> bool {
        self.0.is_none()
    }

    /// The address, IPv4 if it is an IPv4(-mapped) address.
    pub fn addr(&self) -> Option<IpAddr> {
        self.0.map(|v6| match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        })
    }

    /// Go's `IsLoopback`: 127.0.0.0/8 (also IPv4-mapped) or `::1`.
    pub fn is_loopback(&self) -> bool {
        match self.addr() {
            Some(IpAddr::V4(v4)) => v4.is_loopback(),
            Some(IpAddr::V6(v6)) => v6.is_loopback(),
            None => false,
        }
    }
}

impl From<IpAddr> for GoIp {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => GoIp(Some(v4.to_ipv6_mapped())),
            IpAddr::V6(v6) => GoIp(Some(v6)),
        }
    }
}

impl From<Ipv4Addr> for GoIp {
    fn from(ip: Ipv4Addr) -> Self {
        GoIp(Some(ip.to_ipv6_mapped()))
    }
}

impl FromStr for GoIp {
    type Err = NetParseError;

    /// `net.IP.UnmarshalText`: empty text is the nil IP.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Ok(GoIp(None));
        }
        parse_addr(text)
            .map(|(ip, _)| GoIp(Some(ip)))
            .ok_or_else(|| NetParseError::Ip(text.to_string()))
    }
}

impl fmt::Display for GoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("<nil>"),
            Some(ip) => f.write_str(&go_ip_string(ip)),
        }
    }
}

impl Serialize for GoIp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            None => s.serialize_str(""),
            Some(ip) => s.serialize_str(&go_ip_string(ip)),
        }
    }
}

impl<'de> Deserialize<'de> for GoIp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        match text {
            None => Ok(GoIp(None)),
            Some(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// zos's `gridtypes.IPNet`: a CIDR whose address keeps its host bits, or empty.
///
/// Kept in Go's representation (16-byte address, 4- or 16-byte mask) so that `Display` is exactly
/// Go's `net.IPNet.String()`, which is what the challenge hashes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct IpNet {
    ip: Option<Ipv6Addr>,
    mask: Vec<u8>,
}

impl IpNet {
    /// The empty value (prints `<nil>`, serializes as `""`).
    pub fn empty() -> Self {
        IpNet::default()
    }

    pub fn is_empty(&self) -> bool {
        self.ip.is_none()
    }

    /// The address as written (host bits kept), IPv4 when it is one.
    pub fn addr(&self) -> Option<IpAddr> {
        GoIp(self.ip).addr()
    }

    /// The prefix length, if the mask is a prefix mask.
    pub fn prefix_len(&self) -> Option<u8> {
        simple_mask_len(&self.mask)
    }
}

/// Leading one bits of a contiguous mask, `None` if the mask is not contiguous.
fn simple_mask_len(mask: &[u8]) -> Option<u8> {
    let mut len: u32 = 0;
    let mut seen_zero = false;
    for &b in mask {
        if seen_zero {
            if b != 0 {
                return None;
            }
            continue;
        }
        if b == 0xff {
            len += 8;
            continue;
        }
        let ones = b.leading_ones();
        if b << ones != 0 {
            return None;
        }
        len += ones;
        seen_zero = true;
    }
    u8::try_from(len).ok()
}

impl FromStr for IpNet {
    type Err = NetParseError;

    /// zos's `ParseIPNet`: empty text is the empty value, else Go's `net.ParseCIDR` keeping the
    /// address as written (not masked).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Ok(IpNet::empty());
        }
        let err = || NetParseError::Cidr(text.to_string());
        let (addr, bits) = text.split_once('/').ok_or_else(err)?;
        let (ip, is4) = parse_addr(addr).ok_or_else(err)?;
        let total: u32 = if is4 { 32 } else { 128 };
        if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let n: u32 = bits
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= total)
            .ok_or_else(err)?;
        let mut mask = vec![0u8; (total / 8) as usize];
        for (i, byte) in mask.iter_mut().enumerate() {
            let start = i as u32 * 8;
            *byte = if n >= start + 8 {
                0xff
            } else if n > start {
                0xffu8 << (8 - (n - start))
            } else {
                0
            };
        }
        Ok(IpNet { ip: Some(ip), mask })
    }
}

impl fmt::Display for IpNet {
    /// Go's `net.IPNet.String()` (`networkNumberAndMask` + `simpleMaskLength`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(ip) = self.ip else {
            return f.write_str("<nil>");
        };
        let v4 = ip.to_ipv4_mapped();
        let mut mask: &[u8] = &self.mask;
        match (mask.len(), v4.is_some()) {
            (4, false) => return f.write_str("<nil>"),
            (4, true) => {}
            (16, true) => mask = &mask[12..],
            (16, false) => {}
            _ => return f.write_str("<nil>"),
        }
        let addr = match v4 {
            Some(v4) => v4.to_string(),
            None => ip.to_string(),
        };
        match simple_mask_len(mask) {
            Some(len) => write!(f, "{addr}/{len}"),
            None => write!(f, "{addr}/{}", hex::encode(mask)),
        }
    }
}

impl Serialize for IpNet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_empty() {
            s.serialize_str("")
        } else {
            s.serialize_str(&self.to_string())
        }
    }
}

impl<'de> Deserialize<'de> for IpNet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        match text {
            None => Ok(IpNet::empty()),
            Some(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// zos's `Bytes` / `EncryptionKey`: bytes carried as a hex string in JSON, `%x` in challenges.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct HexBytes(pub Vec<u8>);

impl HexBytes {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for HexBytes {
    /// Go's `%x`: lowercase hex, nothing for empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        match text {
            None => Ok(HexBytes::default()),
            Some(t) => hex::decode(&t).map(HexBytes).map_err(|e| {
                serde::de::Error::custom(format!(
                    "invalid hex '{t}': {e}",
                    e = zos_base::Report(&e)
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> String {
        s.parse::<IpNet>().unwrap().to_string()
    }

    fn ip(s: &str) -> String {
        s.parse::<GoIp>().unwrap().to_string()
    }

    #[test]
    fn ipnet_prints_like_go() {
        assert_eq!(net("10.20.0.0/16"), "10.20.0.0/16");
        // host bits are kept
        assert_eq!(net("10.20.2.7/24"), "10.20.2.7/24");
        assert_eq!(net("2a02:1802:5e:0:0:0:0:1/64"), "2a02:1802:5e::1/64");
        assert_eq!(net("FD00:0:0:1:0:0:0:0/64"), "fd00:0:0:1::/64");
        assert_eq!(net("0.0.0.0/0"), "0.0.0.0/0");
        // IPv4-mapped IPv6 with a 128-bit mask: Go keeps the last 4 mask bytes
        assert_eq!(net("::ffff:10.0.0.1/120"), "10.0.0.1/24");
        assert_eq!(net("::ffff:10.0.0.1/24"), "10.0.0.1/0");
        assert_eq!(net("10.0.0.1/016"), "10.0.0.1/16");
        assert_eq!(IpNet::empty().to_string(), "<nil>");
        assert_eq!(net(""), "<nil>");
    }

    #[test]
    fn ipnet_rejects_what_go_rejects() {
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "fe80::1%eth0/64",
            "010.0.0.1/8",
            "::/129",
            "x/8",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ip_prints_like_go() {
        assert_eq!(ip("10.20.2.2"), "10.20.2.2");
        assert_eq!(ip("::ffff:10.20.2.2"), "10.20.2.2");
        assert_eq!(ip("::1.2.3.4"), "::102:304");
        assert_eq!(ip("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(ip("::"), "::");
        assert_eq!(ip(""), "<nil>");
        assert!("1.2.3".parse::<GoIp>().is_err());
        assert!("127.1.2.3".parse::<GoIp>().unwrap().is_loopback());
        assert!("::ffff:127.0.0.1".parse::<GoIp>().unwrap().is_loopback());
    }

    #[test]
    fn hex_bytes_json() {
        let b: HexBytes = serde_json::from_str("\"0A0b\"").unwrap();
        assert_eq!(b.to_string(), "0a0b");
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"0a0b\"");
        assert!(serde_json::from_str::<HexBytes>("\"0g\"").is_err());
        assert!(serde_json::from_str::<HexBytes>("12").is_err());
    }
}
