//! `zdb://[user[:password]@]host[:port]/[namespace]`: a 0-db over RESP (TCP, port 9900 by
//! default). On connecting, `SELECT namespace [password]` unless the namespace is absent or
//! `default` (as rfs); then `GET id` and `SET id bytes` with the binary block id as key. An
//! empty value counts as missing. One connection, made on first use and again after an error.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::{split_host_port, Store, StoreError, StoreUrl};
use crate::block::{HASH_LEN, MAX_CIPHER};

const DEFAULT_PORT: u16 = 9900;
/// How long one command may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The longest status or error line read.
const MAX_LINE: usize = 4096;

pub struct ZdbStore {
    url: StoreUrl,
    host: String,
    port: u16,
    namespace: Option<String>,
    conn: Mutex<Option<BufReader<TcpStream>>>,
}

impl std::fmt::Debug for ZdbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZdbStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// One reply.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
}

impl ZdbStore {
    pub fn new(url: StoreUrl) -> Result<ZdbStore, StoreError> {
        let (host, port) = split_host_port(url.host_port());
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p.parse().map_err(|_| StoreError::BadUrl {
                url: url.to_string(),
                reason: format!("port {p:?} is not a number"),
            })?,
        };
        let namespace = url
            .path()
            .trim_matches('/')
            .rsplit('/')
            .next()
            .filter(|ns| !ns.is_empty() && *ns != "default")
            .map(str::to_string);
        Ok(ZdbStore {
            host,
            port,
            namespace,
            url,
            conn: Mutex::new(None),
        })
    }

    fn protocol(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Protocol {
            url: self.url.clone(),
            reason: reason.into(),
        }
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            url: self.url.clone(),
            source,
        }
    }

    /// Runs one command, connecting first if needed; a failed connection is dropped.
    async fn call(&self, args: &[&[u8]]) -> Result<Reply, StoreError> {
        let mut guard = self.conn.lock().await;
        let result = tokio::time::timeout(TIMEOUT, async {
            if guard.is_none() {
                *guard = Some(self.connect().await?);
            }
            match guard.as_mut() {
                Some(conn) => self.exchange(conn, args).await,
                None => Err(self.protocol("not connected")),
            }
        })
        .await
        .unwrap_or_else(|_| Err(self.protocol(format!("no answer within {TIMEOUT:?}"))));
        if result.is_err() {
            *guard = None;
        }
        result
    }

    async fn connect(&self) -> Result<BufReader<TcpStream>, StoreError> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| self.io(e))?;
        let mut conn = BufReader::new(stream);
        if let Some(ns) = &self.namespace {
            let mut args: Vec<&[u8]> = vec![b"SELECT", ns.as_bytes()];
            if let Some(pw) = self.url.password() {
                args.push(pw.as_bytes());
            }
            match self.exchange(&mut conn, &args).await? {
                Reply::Error(e) => {
                    return Err(self.protocol(format!("cannot select namespace {ns:?}: {e}")))
                }
                _ => tracing::debug!(store = %self.url, namespace = %ns, "namespace selected"),
            }
        }
        Ok(conn)
    }

    async fn exchange(
        &self,
        conn: &mut BufReader<TcpStream>,
        args: &[&[u8]],
    ) -> Result<Reply, StoreError> {
        conn.get_mut()
            .write_all(&encode(args))
            .await
            .map_err(|e| self.io(e))?;
        self.read_reply(conn).await
    }

    async fn read_line(&self, conn: &mut BufReader<TcpStream>) -> Result<String, StoreError> {
        let mut line = Vec::new();
        let n = (&mut *conn)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| self.io(e))?;
        if n == 0 {
            return Err(self.protocol("the server closed the connection"));
        }
        if !line.ends_with(b"\r\n") {
            return Err(self.protocol("a reply line is too long or not ended by CRLF"));
        }
        line.truncate(line.len() - 2);
        String::from_utf8(line).map_err(|_| self.protocol("a reply line is not UTF-8"))
    }

    async fn read_reply(&self, conn: &mut BufReader<TcpStream>) -> Result<Reply, StoreError> {
        let line = self.read_line(conn).await?;
        let (kind, rest) = line.split_at(line.chars().next().map_or(0, char::len_utf8));
        match kind {
            "+" => Ok(Reply::Status(rest.to_string())),
            "-" => Ok(Reply::Error(rest.to_string())),
            ":" => rest
                .parse()
                .map(Reply::Int)
                .map_err(|_| self.protocol(format!("bad integer reply {rest:?}"))),
            "$" => {
                let len: i64 = rest
                    .parse()
                    .map_err(|_| self.protocol(format!("bad bulk length {rest:?}")))?;
                if len < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > MAX_CIPHER {
                    return Err(self.protocol(format!(
                        "a {len}-byte value is larger than any block ({MAX_CIPHER})"
                    )));
                }
                let mut value = vec![0; len + 2];
                conn.read_exact(&mut value).await.map_err(|e| self.io(e))?;
                if !value.ends_with(b"\r\n") {
                    return Err(self.protocol("a bulk value is not ended by CRLF"));
                }
                value.truncate(len);
                Ok(Reply::Bulk(Some(value)))
            }
            _ => Err(self.protocol(format!("unexpected reply {:?}", truncate(&line)))),
        }
    }
}

fn truncate(s: &str) -> &str {
    s.char_indices().nth(40).map_or(s, |(i, _)| &s[..i])
}

/// A command as a RESP array of bulk strings.
fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[async_trait::async_trait]
impl Store for ZdbStore {
    async fn get(&self, id: &[u8; HASH_LEN]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.call(&[b"GET", id]).await? {
            Reply::Bulk(Some(v)) if !v.is_empty() => Ok(Some(v)),
            Reply::Bulk(_) => Ok(None),
            Reply::Error(e) => Err(self.protocol(format!("GET: {e}"))),
            other => Err(self.protocol(format!("GET: unexpected reply {other:?}"))),
        }
    }

    async fn set(&self, id: &[u8; HASH_LEN], bytes: &[u8]) -> Result<(), StoreError> {
        // 0-db answers the key, or nil when the same value is there already.
        match self.call(&[b"SET", id, bytes]).await? {
            Reply::Bulk(_) | Reply::Status(_) => Ok(()),
            Reply::Error(e) => Err(self.protocol(format!("SET: {e}"))),
            other => Err(self.protocol(format!("SET: unexpected reply {other:?}"))),
        }
    }

    fn url(&self) -> &StoreUrl {
        &self.url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands() {
        assert_eq!(
            encode(&[b"GET", b"k\r\n"]),
            b"*2\r\n$3\r\nGET\r\n$3\r\nk\r\n\r\n"
        );
    }

    #[test]
    fn reads_url_parts() {
        let z = ZdbStore::new(StoreUrl::parse("zdb://u:pw@127.0.0.1/ns").unwrap()).unwrap();
        assert_eq!((z.host.as_str(), z.port), ("127.0.0.1", DEFAULT_PORT));
        assert_eq!(z.namespace.as_deref(), Some("ns"));
        assert!(!format!("{z:?}").contains("pw"));
        let z = ZdbStore::new(StoreUrl::parse("zdb://h:1234/default").unwrap()).unwrap();
        assert_eq!((z.port, z.namespace), (1234, None));
        assert!(ZdbStore::new(StoreUrl::parse("zdb://h:xx").unwrap()).is_err());
    }

    /// A server that answers anything with `reply`.
    async fn fake(reply: &'static [u8]) -> StoreUrl {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(reply).await;
            }
        });
        StoreUrl::parse(&format!("zdb://{addr}")).unwrap()
    }

    #[tokio::test]
    async fn refuses_bad_replies() {
        for reply in [
            &b"$99999999\r\n"[..],
            b"$3\r\nabcd\r\n",
            b"?what\r\n",
            b"-ERR no\r\n",
            b"",
            b"+OK",
        ] {
            let z = ZdbStore::new(fake(reply).await).unwrap();
            assert!(z.get(&[0; 32]).await.is_err(), "{reply:?}");
        }
        let z = ZdbStore::new(fake(b"$-1\r\n").await).unwrap();
        assert_eq!(z.get(&[0; 32]).await.unwrap(), None);
        let z = ZdbStore::new(fake(b"$0\r\n\r\n").await).unwrap();
        assert_eq!(z.get(&[0; 32]).await.unwrap(), None);
    }
}
