//! Block stores, as rfs names them by URL: `dir://PATH` (files `PATH/<hex[0..2]>/<hex>`),
//! `zdb://[user[:password]@]host[:port]/[namespace]` (0-db over RESP, port 9900 by default) and
//! `http(s)://base` (read only: `GET base/<hex[0..2]>/<hex>`, then `base/<hex>`). A [`Router`]
//! sends each block to the stores whose route holds the first byte of its id, as rfs's.
//!
//! A [`StoreUrl`] never shows its password: not in `Display`, `Debug` or errors.

mod dir;
mod http;
mod zdb;

use std::fmt;

use crate::block::{self, Block, HASH_LEN};
use crate::meta::Route;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("store {url}")]
    Io {
        url: StoreUrl,
        source: std::io::Error,
    },
    #[error("store {url}: {reason}")]
    Protocol { url: StoreUrl, reason: String },
    #[error("store {url} is read-only")]
    ReadOnly { url: StoreUrl },
    #[error("no route for block {id}: no store holds ids starting with {first:02x}")]
    NotRoutable { id: String, first: u8 },
    #[error("block {id} could not be read: {reasons}")]
    Unavailable { id: String, reasons: String },
}

/// A store's URL; its password (if any) is kept but never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl {
    raw: String,
    scheme: Scheme,
    /// The byte range of the password in `raw`.
    password: Option<(usize, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Dir,
    Zdb,
    Http,
    Https,
}

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        let bad = |reason: &str, shown: String| StoreError::BadUrl {
            url: shown,
            reason: reason.to_string(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("no scheme (dir://, zdb://, http://, https://)", url.into()))?;
        let scheme = match scheme {
            "dir" => Scheme::Dir,
            "zdb" => Scheme::Zdb,
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(bad("unknown scheme", format!("{scheme}://..."))),
        };
        let start = scheme_len(scheme) + 3;
        let authority_len = rest.find('/').unwrap_or(rest.len());
        let password = match rest[..authority_len].rfind('@') {
            Some(at) if scheme != Scheme::Dir => rest[..at]
                .find(':')
                .map(|colon| (start + colon + 1, start + at)),
            _ => None,
        };
        let parsed = StoreUrl {
            raw: url.to_string(),
            scheme,
            password,
        };
        if url.chars().any(|c| c.is_control() || c == ' ') {
            return Err(bad(
                "it contains spaces or control characters",
                parsed.to_string(),
            ));
        }
        if scheme == Scheme::Dir && rest.is_empty() {
            return Err(bad("no directory", parsed.to_string()));
        }
        if scheme != Scheme::Dir && parsed.host().is_empty() {
            return Err(bad("no host", parsed.to_string()));
        }
        Ok(parsed)
    }

    /// The URL without its password (what a `.fl` route keeps, as rfs strips it by default).
    pub fn without_password(&self) -> String {
        let start = scheme_len(self.scheme) + 3;
        match self.password {
            // No user either: no `@`.
            Some((a, b)) if a - 1 == start => {
                format!("{}{}", &self.raw[..start], &self.raw[b + 1..])
            }
            Some((a, b)) => format!("{}{}", &self.raw[..a - 1], &self.raw[b..]),
            None => self.raw.clone(),
        }
    }

    /// The URL with its password, for a route that must keep it.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    fn password(&self) -> Option<&str> {
        self.password.map(|(a, b)| &self.raw[a..b])
    }

    /// What follows `scheme://`.
    fn rest(&self) -> &str {
        &self.raw[scheme_len(self.scheme) + 3..]
    }

    /// `user[:password]` of the authority, if any.
    fn user(&self) -> Option<&str> {
        let authority = self.authority_with_user();
        let (user, _) = authority.rsplit_once('@')?;
        Some(user.split(':').next().unwrap_or(user))
    }

    fn authority_with_user(&self) -> &str {
        let rest = self.rest();
        &rest[..rest.find('/').unwrap_or(rest.len())]
    }

    /// `host[:port]` (for dir://, nothing).
    fn host_port(&self) -> &str {
        let authority = self.authority_with_user();
        authority.rsplit_once('@').map_or(authority, |(_, h)| h)
    }

    fn host(&self) -> String {
        split_host_port(self.host_port()).0
    }

    /// The path after the authority, with its leading `/` ("" when none).
    fn path(&self) -> &str {
        let rest = self.rest();
        &rest[rest.find('/').unwrap_or(rest.len())..]
    }
}

fn scheme_len(scheme: Scheme) -> usize {
    match scheme {
        Scheme::Dir | Scheme::Zdb => 3,
        Scheme::Http => 4,
        Scheme::Https => 5,
    }
}

/// `host`, `[v6]`, `host:port`, `[v6]:port` → (host without brackets, port).
fn split_host_port(hp: &str) -> (String, Option<&str>) {
    if let Some(v6) = hp.strip_prefix('[') {
        let (host, after) = v6.split_once(']').unwrap_or((v6, ""));
        return (host.to_string(), after.strip_prefix(':'));
    }
    match hp.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), Some(port)),
        None => (hp.to_string(), None),
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.password {
            Some((a, b)) => write!(f, "{}***{}", &self.raw[..a], &self.raw[b..]),
            None => f.write_str(&self.raw),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

/// A place that keeps encrypted blocks by id.
#[async_trait::async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// The bytes stored under `id`; `None` when the store does not have them.
    async fn get(&self, id: &[u8; HASH_LEN]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `bytes` under `id`.
    async fn set(&self, id: &[u8; HASH_LEN], bytes: &[u8]) -> Result<(), StoreError>;
    fn url(&self) -> &StoreUrl;
}

/// Opens the store at `url`. Connections are made on first use.
pub fn open(url: &StoreUrl) -> Result<Box<dyn Store>, StoreError> {
    Ok(match url.scheme {
        Scheme::Dir => Box::new(dir::DirStore::new(url.clone())),
        Scheme::Zdb => Box::new(zdb::ZdbStore::new(url.clone())?),
        Scheme::Http | Scheme::Https => Box::new(http::HttpStore::new(url.clone())?),
    })
}

/// Stores by range of the first byte of block ids.
#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<(u8, u8, Box<dyn Store>)>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds `store` for ids starting with `start..=end`.
    pub fn add(&mut self, start: u8, end: u8, store: Box<dyn Store>) {
        self.routes.push((start, end, store));
    }

    /// A router over an flist's route table.
    pub fn from_routes(routes: &[Route]) -> Result<Router, StoreError> {
        let mut router = Router::new();
        for route in routes {
            router.add(route.start, route.end, open(&route.url)?);
        }
        Ok(router)
    }

    /// A router from command line specs: `URL` (all ids) or `xx-yy=URL` (hex first bytes).
    pub fn from_specs(specs: &[String]) -> Result<Router, StoreError> {
        let mut router = Router::new();
        for spec in specs {
            let (start, end, url) = parse_spec(spec)?;
            router.add(start, end, open(&url)?);
        }
        Ok(router)
    }

    /// Each route: its range and its store's URL.
    pub fn routes(&self) -> impl Iterator<Item = (u8, u8, &StoreUrl)> {
        self.routes
            .iter()
            .map(|(s, e, store)| (*s, *e, store.url()))
    }

    fn matching(&self, id: &[u8; HASH_LEN]) -> impl Iterator<Item = &dyn Store> {
        let first = id[0];
        self.routes
            .iter()
            .filter(move |(s, e, _)| (*s..=*e).contains(&first))
            .map(|(_, _, store)| store.as_ref())
    }

    /// Stores `bytes` under `id` in every store of its route.
    pub async fn set(&self, id: &[u8; HASH_LEN], bytes: &[u8]) -> Result<(), StoreError> {
        let mut any = false;
        for store in self.matching(id) {
            store.set(id, bytes).await?;
            any = true;
        }
        if !any {
            return Err(StoreError::NotRoutable {
                id: hex::encode(id),
                first: id[0],
            });
        }
        Ok(())
    }

    /// The plain bytes of `block`: from the first store of its route that has bytes which
    /// check out (see [`block::decode`]); bytes that do not are never returned.
    pub async fn get_block(&self, block: &Block) -> Result<Vec<u8>, StoreError> {
        let mut reasons = Vec::new();
        for store in self.matching(&block.id) {
            match store.get(&block.id).await {
                Ok(Some(bytes)) => match block::decode(block, &bytes) {
                    Ok(plain) => return Ok(plain),
                    Err(e) => {
                        tracing::warn!(store = %store.url(), error = %e, "bad block");
                        reasons.push(format!("{}: {e}", store.url()));
                    }
                },
                Ok(None) => reasons.push(format!("{}: not there", store.url())),
                Err(e) => reasons.push(zos_base::report(&e)),
            }
        }
        if reasons.is_empty() {
            return Err(StoreError::NotRoutable {
                id: hex::encode(block.id),
                first: block.id[0],
            });
        }
        Err(StoreError::Unavailable {
            id: hex::encode(block.id),
            reasons: reasons.join("; "),
        })
    }
}

/// `URL` or `xx-yy=URL`.
pub fn parse_spec(spec: &str) -> Result<(u8, u8, StoreUrl), StoreError> {
    let range = spec
        .split_once('=')
        .filter(|(r, _)| r.len() == 5 && r.is_ascii() && r.as_bytes()[2] == b'-');
    match range {
        Some((range, url)) => {
            let byte = |s: &str| {
                u8::from_str_radix(s, 16).map_err(|_| StoreError::BadUrl {
                    url: spec.split_once('=').map_or("", |p| p.0).to_string(),
                    reason: "a range is xx-yy in hex, e.g. 00-7f".into(),
                })
            };
            let (start, end) = (byte(&range[..2])?, byte(&range[3..])?);
            if start > end {
                return Err(StoreError::BadUrl {
                    url: range.into(),
                    reason: "the range starts after its end".into(),
                });
            }
            Ok((start, end, StoreUrl::parse(url)?))
        }
        None => Ok((0, 255, StoreUrl::parse(spec)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_shown() {
        let url = StoreUrl::parse("zdb://user:s3cret@127.0.0.1:9900/ns").unwrap();
        assert_eq!(url.to_string(), "zdb://user:***@127.0.0.1:9900/ns");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.without_password(), "zdb://user@127.0.0.1:9900/ns");
        let anonymous = StoreUrl::parse("zdb://:pw@h:1/ns").unwrap();
        assert_eq!(anonymous.without_password(), "zdb://h:1/ns");
        assert_eq!(anonymous.to_string(), "zdb://:***@h:1/ns");
        assert_eq!(url.password(), Some("s3cret"));
        assert_eq!(url.user(), Some("user"));
        assert_eq!(url.host(), "127.0.0.1");
        assert_eq!(url.path(), "/ns");
        let err = StoreUrl::parse("zdb://u:s3cret@").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = StoreUrl::parse("zdb://u:s3cret@host/a b").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let router_err = Router::from_specs(&["zz-ff=zdb://u:s3cret@h".into()]).unwrap_err();
        assert!(!router_err.to_string().contains("s3cret"));
    }

    #[test]
    fn parses_urls_and_specs() {
        let plain = StoreUrl::parse("zdb://[::1]:9901").unwrap();
        assert_eq!(plain.host(), "::1");
        assert_eq!(plain.password(), None);
        assert_eq!(plain.without_password(), "zdb://[::1]:9901");
        let dir = StoreUrl::parse("dir:///var/store").unwrap();
        assert_eq!(dir.path(), "/var/store");
        for bad in ["/tmp/x", "ftp://h", "dir://", "http:///x", "zdb://"] {
            assert!(StoreUrl::parse(bad).is_err(), "{bad}");
        }
        let (s, e, url) = parse_spec("00-7f=dir:///a").unwrap();
        assert_eq!((s, e, url.expose()), (0, 0x7f, "dir:///a"));
        let (s, e, _) = parse_spec("http://h/x=y").unwrap();
        assert_eq!((s, e), (0, 255));
        assert!(parse_spec("80-10=dir:///a").is_err());
    }
}
