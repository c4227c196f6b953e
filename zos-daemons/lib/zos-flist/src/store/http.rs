//! `http(s)://host[:port][/base]`, read only (as rfs's): `GET base/<hex[0..2]>/<hex>`, on 404
//! `GET base/<hex>`; 404 again means missing. https trusts the Mozilla roots built in (the node
//! has no CA bundle). One connection per request; replies are read up to a block's size.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{split_host_port, Scheme, Store, StoreError, StoreUrl};
use crate::block::{HASH_LEN, MAX_CIPHER};

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(60);

pub struct HttpStore {
    url: StoreUrl,
    host: String,
    port: u16,
    /// The base path, without a trailing `/`.
    base: String,
    tls: Option<TlsConnector>,
}

impl std::fmt::Debug for HttpStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl HttpStore {
    pub fn new(url: StoreUrl) -> Result<HttpStore, StoreError> {
        let bad = |reason: String| StoreError::BadUrl {
            url: url.to_string(),
            reason,
        };
        if url.user().is_some() {
            return Err(bad("user names in http store URLs are not supported".into()));
        }
        let https = url.scheme == Scheme::Https;
        let (host, port) = split_host_port(url.host_port());
        let port = match port {
            None if https => 443,
            None => 80,
            Some(p) => p
                .parse()
                .map_err(|_| bad(format!("port {p:?} is not a number")))?,
        };
        if url.path().contains(['?', '#']) {
            return Err(bad("queries and fragments are not supported".into()));
        }
        let tls = if https {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Some(TlsConnector::from(Arc::new(config)))
        } else {
            None
        };
        Ok(HttpStore {
            base: url.path().trim_end_matches('/').to_string(),
            host,
            port,
            tls,
            url,
        })
    }

    fn protocol(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Protocol {
            url: self.url.clone(),
            reason: reason.into(),
        }
    }

    /// `GET path`: the body on 200, `None` on 404.
    async fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        tokio::time::timeout(TIMEOUT, self.fetch_now(path))
            .await
            .unwrap_or_else(|_| Err(self.protocol(format!("no answer within {TIMEOUT:?}"))))
    }

    async fn fetch_now(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| StoreError::Io {
                url: self.url.clone(),
                source,
            })?;
        match &self.tls {
            Some(tls) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|_| self.protocol("the host is not a valid TLS server name"))?;
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| self.protocol(format!("TLS: {e}")))?;
                self.request(TokioIo::new(stream), path).await
            }
            None => self.request(TokioIo::new(tcp), path).await,
        }
    }

    async fn request<T>(&self, io: T, path: &str) -> Result<Option<Vec<u8>>, StoreError>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| self.protocol(format!("HTTP: {e}")))?;
        let driver = tokio::spawn(conn);
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, self.url.host_port())
            .body(Empty::<Bytes>::new())
            .map_err(|e| self.protocol(format!("HTTP request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.protocol(format!("HTTP: {e}")))?;
        let status = response.status();
        let result = match status {
            StatusCode::OK => {
                let body = Limited::new(response.into_body(), MAX_CIPHER)
                    .collect()
                    .await
                    .map_err(|e| self.protocol(format!("reading the reply: {e}")))?;
                Ok(Some(body.to_bytes().to_vec()))
            }
            StatusCode::NOT_FOUND => Ok(None),
            other => Err(self.protocol(format!("GET {path}: {other}"))),
        };
        driver.abort();
        result
    }
}

#[async_trait::async_trait]
impl Store for HttpStore {
    async fn get(&self, id: &[u8; HASH_LEN]) -> Result<Option<Vec<u8>>, StoreError> {
        let name = hex::encode(id);
        let sharded = format!("{}/{}/{name}", self.base, &name[..2]);
        if let Some(bytes) = self.fetch(&sharded).await? {
            return Ok(Some(bytes));
        }
        self.fetch(&format!("{}/{name}", self.base)).await
    }

    async fn set(&self, _id: &[u8; HASH_LEN], _bytes: &[u8]) -> Result<(), StoreError> {
        Err(StoreError::ReadOnly {
            url: self.url.clone(),
        })
    }

    fn url(&self) -> &StoreUrl {
        &self.url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An HTTP server on 127.0.0.1 serving `files` (path → body), 404 for anything else.
    async fn serve(files: Vec<(String, Vec<u8>)>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split(' ').nth(1).unwrap_or("").to_string();
                let reply = match files.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) => {
                        let mut r =
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len())
                                .into_bytes();
                        r.extend_from_slice(body);
                        r
                    }
                    None => b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec(),
                };
                let _ = s.write_all(&reply).await;
            }
        });
        format!("http://{addr}/base")
    }

    #[tokio::test]
    async fn reads_both_layouts_and_is_read_only() {
        let a = hex::encode([0xab; 32]);
        let b = hex::encode([0xcd; 32]);
        let url = serve(vec![
            (format!("/base/ab/{a}"), b"sharded".to_vec()),
            (format!("/base/{b}"), b"flat".to_vec()),
        ])
        .await;
        let store = HttpStore::new(StoreUrl::parse(&url).unwrap()).unwrap();
        assert_eq!(store.get(&[0xab; 32]).await.unwrap().unwrap(), b"sharded");
        assert_eq!(store.get(&[0xcd; 32]).await.unwrap().unwrap(), b"flat");
        assert_eq!(store.get(&[0x01; 32]).await.unwrap(), None);
        assert!(matches!(
            store.set(&[0; 32], b"x").await,
            Err(StoreError::ReadOnly { .. })
        ));
    }

    #[test]
    fn refuses_user_names_without_showing_them() {
        let err = HttpStore::new(StoreUrl::parse("https://u:pw@h/x").unwrap()).unwrap_err();
        assert!(!err.to_string().contains("pw"));
    }
}
