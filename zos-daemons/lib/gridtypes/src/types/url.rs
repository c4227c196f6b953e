//! The parts of Go's `net/url.Parse` and `net.SplitHostPort` that zos's validation depends on
//! (scheme, host, port checks). Not a general URL parser; owns nothing else.

/// What zos reads from a parsed URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoUrl {
    /// Lowercased scheme, empty when there is none.
    pub scheme: String,
    /// `host[:port]` of the authority (userinfo removed), empty without `//`.
    pub host: String,
}

impl GoUrl {
    /// Go's `URL.Hostname()`: the host without port and brackets.
    pub fn hostname(&self) -> &str {
        let mut host = self.host.as_str();
        if let Some(i) = host.rfind(':') {
            if valid_optional_port(&host[i..]) {
                host = &host[..i];
            }
        }
        if host.starts_with('[') && host.ends_with(']') && host.len() >= 2 {
            host = &host[1..host.len() - 1];
        }
        host
    }
}

/// ":" or ":" followed by digits (or empty).
fn valid_optional_port(port: &str) -> bool {
    if port.is_empty() {
        return true;
    }
    match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

/// Go's `getScheme` then the authority checks of `url.Parse`.
pub(crate) fn parse_url(raw: &str) -> Result<GoUrl, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL".to_string());
    }
    let raw = raw.split('#').next().unwrap_or("");
    let mut scheme = String::new();
    let mut rest = raw;
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".to_string()),
            b':' => {
                scheme = raw[..i].to_ascii_lowercase();
                rest = &raw[i + 1..];
                break;
            }
            _ => break,
        }
    }
    let rest = rest.split('?').next().unwrap_or("");
    let Some(after) = rest.strip_prefix("//") else {
        if scheme.is_empty() {
            let first = rest.split('/').next().unwrap_or("");
            if first.contains(':') {
                return Err("first path segment in URL cannot contain colon".to_string());
            }
        }
        return Ok(GoUrl {
            scheme,
            host: String::new(),
        });
    };
    let authority = after.split('/').next().unwrap_or("");
    let host = match authority.rfind('@') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    if let Some(inner) = host.strip_prefix('[') {
        let Some(end) = inner.find(']') else {
            return Err("missing ']' in host".to_string());
        };
        if !valid_optional_port(&inner[end + 1..]) {
            return Err(format!("invalid port {:?} after host", &inner[end + 1..]));
        }
    } else if let Some(i) = host.rfind(':') {
        if !valid_optional_port(&host[i..]) {
            return Err(format!("invalid port {:?} after host", &host[i..]));
        }
    }
    Ok(GoUrl {
        scheme,
        host: host.to_string(),
    })
}

/// The lowercased scheme of a URL Go can parse.
pub(crate) fn url_scheme(raw: &str) -> Result<String, String> {
    parse_url(raw).map(|u| u.scheme)
}

/// Go's `net.SplitHostPort`.
pub(crate) fn split_host_port(hostport: &str) -> Result<(&str, &str), String> {
    let missing_port = || format!("address {hostport}: missing port in address");
    let too_many = || format!("address {hostport}: too many colons in address");
    let i = hostport.rfind(':').ok_or_else(missing_port)?;
    let (host, j, k);
    if hostport.starts_with('[') {
        let end = hostport
            .find(']')
            .ok_or_else(|| format!("address {hostport}: missing ']' in address"))?;
        if end + 1 == hostport.len() {
            return Err(missing_port());
        } else if end + 1 != i {
            if hostport.as_bytes()[end + 1] == b':' {
                return Err(too_many());
            }
            return Err(missing_port());
        }
        host = &hostport[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &hostport[..i];
        if host.contains(':') {
            return Err(too_many());
        }
        j = 0;
        k = 0;
    }
    if hostport[j..].contains('[') {
        return Err(format!("address {hostport}: unexpected '[' in address"));
    }
    if hostport[k..].contains(']') {
        return Err(format!("address {hostport}: unexpected ']' in address"));
    }
    Ok((host, &hostport[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(url_scheme("redis://1.2.3.4:6379").unwrap(), "redis");
        assert_eq!(url_scheme("WSS://logs.example.com/x").unwrap(), "wss");
        assert_eq!(url_scheme("no scheme").unwrap(), "");
        // no scheme, and a colon in the first path segment: Go refuses it
        assert!(url_scheme("1ws://x").is_err());
        assert_eq!(url_scheme("1ws/x").unwrap(), "");
        assert!(url_scheme("://x").is_err());
        assert!(url_scheme("ws://host:abc").is_err());
        assert!(url_scheme("ws://[::1").is_err());
        assert!(url_scheme("ws://a\nb").is_err());
    }

    #[test]
    fn hostnames() {
        let u = parse_url("http://10.0.0.1:8080/path").unwrap();
        assert_eq!((u.scheme.as_str(), u.hostname()), ("http", "10.0.0.1"));
        assert_eq!(
            parse_url("http://[fd00::1]:80").unwrap().hostname(),
            "fd00::1"
        );
        assert_eq!(
            parse_url("http://u:p@10.0.0.1").unwrap().hostname(),
            "10.0.0.1"
        );
        assert_eq!(parse_url("http:10.0.0.1").unwrap().hostname(), "");
    }

    #[test]
    fn host_port() {
        assert_eq!(split_host_port("1.2.3.4:80").unwrap(), ("1.2.3.4", "80"));
        assert_eq!(split_host_port("[::1]:443").unwrap(), ("::1", "443"));
        assert_eq!(split_host_port("1.2.3.4:").unwrap(), ("1.2.3.4", ""));
        assert!(split_host_port("1.2.3.4").is_err());
        assert!(split_host_port("::1:80").is_err());
        assert!(split_host_port("[::1]").is_err());
        assert!(split_host_port("[::1]x:80").is_err());
    }
}
