//! The grid's optional KYC gate (zos's `KycURL`): before a deployment is accepted, the configured
//! service is asked whether the twin is verified: `GET {url}/api/v1/status?twin_id=N` must
//! answer 200 with `{"result": {"status": "VERIFIED"}}`. Off unless a URL is configured (kernel
//! command line `kyc=URL`, or `--kyc-url`).
//!
//! Over https only (rustls, the Mozilla roots built in: the image has no CA bundle); the reply
//! is read up to [`MAX_BODY`] bytes; verdicts are kept ([`VERIFIED_FOR`], [`UNVERIFIED_FOR`]),
//! so a busy twin or an attacker repeating one twin costs one question per period.
//!
//! Owns only the question, its retries and its cache; the engine decides what a "no" means.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

/// Tries per question (as zos), and the pause between them.
pub const TRIES: u32 = 5;
pub const RETRY: Duration = Duration::from_millis(500);
/// How long one answer may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest reply read (the verdict is a few dozen bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// How long a verdict is kept.
pub const VERIFIED_FOR: Duration = Duration::from_secs(3600);
pub const UNVERIFIED_FOR: Duration = Duration::from_secs(60);
/// The most verdicts kept (expired ones go first, then all).
const CACHE_CAPACITY: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum KycError {
    #[error("the KYC URL {0:?} is not a valid https:// URL")]
    Url(String),
    #[error("the KYC service did not answer for twin {twin}: {reason}")]
    Unreachable { twin: u32, reason: String },
}

pub struct Kyc {
    host: String,
    port: u16,
    /// The path before `/api/v1/status`, without a trailing slash.
    prefix: String,
    tls: TlsConnector,
    verdicts: Mutex<HashMap<u32, (Instant, bool)>>,
}

impl std::fmt::Debug for Kyc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kyc")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Kyc {
    /// A gate asking the service at `url` (https), trusting the Mozilla roots.
    pub fn new(url: &str) -> Result<Kyc, KycError> {
        Kyc::with_roots(url, &[])
    }

    /// The same, trusting `extra` certificates too (a private CA, a test's).
    pub fn with_roots(url: &str, extra: &[CertificateDer<'static>]) -> Result<Kyc, KycError> {
        let bad = || KycError::Url(url.to_string());
        let uri: hyper::Uri = url.trim_end_matches('/').parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("https") || uri.query().is_some() {
            return Err(bad());
        }
        let host = uri.host().ok_or_else(bad)?.to_string();
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in extra {
            roots.add(cert.clone()).map_err(|_| bad())?;
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|_| bad())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Kyc {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: uri.port_u16().unwrap_or(443),
            prefix: uri.path().trim_end_matches('/').to_string(),
            tls: TlsConnector::from(Arc::new(config)),
            verdicts: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `twin` is verified; an error only when the service never answered.
    pub async fn verified(&self, twin: u32) -> Result<bool, KycError> {
        if let Some((at, verdict)) = self.verdicts.lock().await.get(&twin) {
            let keep = if *verdict {
                VERIFIED_FOR
            } else {
                UNVERIFIED_FOR
            };
            if at.elapsed() < keep {
                return Ok(*verdict);
            }
        }
        let mut last = String::new();
        for attempt in 1..=TRIES {
            match tokio::time::timeout(TIMEOUT, self.ask(twin)).await {
                Ok(Ok(verdict)) => {
                    self.remember(twin, verdict).await;
                    return Ok(verdict);
                }
                Ok(Err(reason)) => last = reason,
                Err(_) => last = format!("no answer within {TIMEOUT:?}"),
            }
            if attempt < TRIES {
                tokio::time::sleep(RETRY).await;
            }
        }
        Err(KycError::Unreachable { twin, reason: last })
    }

    async fn remember(&self, twin: u32, verdict: bool) {
        let mut verdicts = self.verdicts.lock().await;
        if verdicts.len() >= CACHE_CAPACITY {
            verdicts
                .retain(|_, (at, v)| at.elapsed() < if *v { VERIFIED_FOR } else { UNVERIFIED_FOR });
            if verdicts.len() >= CACHE_CAPACITY {
                verdicts.clear();
            }
        }
        verdicts.insert(twin, (Instant::now(), verdict));
    }

    /// One question on a new TLS connection (they are rare: verdicts are kept).
    async fn ask(&self, twin: u32) -> Result<bool, String> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| {
                format!(
                    "connecting to {}:{}: {}",
                    self.host,
                    self.port,
                    zos_base::Report(&e)
                )
            })?;
        let name = ServerName::try_from(self.host.clone()).map_err(|e| zos_base::report(&e))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {}: {}", self.host, zos_base::Report(&e)))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| zos_base::report(&e))?;
        let driver = tokio::spawn(connection);
        let request = hyper::Request::get(format!("{}/api/v1/status?twin_id={twin}", self.prefix))
            .header(hyper::header::HOST, self.host.as_str())
            .body(Empty::<Bytes>::new())
            .map_err(|e| zos_base::report(&e))?;
        let result = async {
            let reply = sender
                .send_request(request)
                .await
                .map_err(|e| zos_base::report(&e))?;
            let status = reply.status();
            let body = match Limited::new(reply.into_body(), MAX_BODY).collect().await {
                Ok(body) => body.to_bytes(),
                Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                    return Err(format!("a reply longer than {MAX_BODY} bytes"));
                }
                Err(e) => return Err(zos_base::report(&*e)),
            };
            if status.is_server_error() {
                return Err(format!("status {status}"));
            }
            Ok(status == hyper::StatusCode::OK
                && serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| {
                        v.pointer("/result/status")
                            .and_then(|s| s.as_str())
                            .map(|s| s == "VERIFIED")
                    })
                    .unwrap_or(false))
        }
        .await;
        driver.abort();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::PrivateKeyDer;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A self-signed certificate for 127.0.0.1 (Debian's openssl), and its key.
    fn certificate() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let ok = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args([
                "-subj",
                "/CN=kyc-test",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-addext", "extendedKeyUsage=serverAuth"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl (make deps)")
            .success();
        assert!(ok, "openssl req");
        (
            CertificateDer::from_pem_file(&cert).unwrap(),
            PrivateKeyDer::from_pem_file(&key).unwrap(),
        )
    }

    /// A KYC service over https on 127.0.0.1 that verifies twin 7 only, answers twin 9 with a
    /// 10 MB body, and counts the questions.
    async fn service() -> (String, CertificateDer<'static>, Arc<AtomicUsize>) {
        let (cert, key) = certificate();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, counter) = (acceptor.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        async move {
                            let query = req.uri().query().unwrap_or_default().to_string();
                            let body = match query.as_str() {
                                "twin_id=7" => r#"{"result":{"status":"VERIFIED"}}"#.to_string(),
                                "twin_id=9" => " ".repeat(10_000_000),
                                _ => r#"{"result":{"status":"UNVERIFIED"}}"#.to_string(),
                            };
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::from(body),
                            )))
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        (url, cert, asked)
    }

    #[tokio::test]
    async fn asks_the_service_over_https_and_keeps_the_verdict() {
        let (url, cert, asked) = service().await;
        let kyc = Kyc::with_roots(&url, &[cert]).unwrap();
        assert!(kyc.verified(7).await.unwrap());
        assert!(!kyc.verified(8).await.unwrap());
        for _ in 0..10 {
            assert!(kyc.verified(7).await.unwrap());
            assert!(!kyc.verified(8).await.unwrap());
        }
        assert_eq!(asked.load(Ordering::SeqCst), 2, "one question per twin");
    }

    #[tokio::test]
    async fn a_huge_reply_is_an_error_not_read_whole() {
        let (url, cert, _) = service().await;
        let kyc = Kyc::with_roots(&url, &[cert]).unwrap();
        let err = kyc.verified(9).await.expect_err("10 MB reply");
        assert!(err.to_string().contains("longer than"), "{err}");
    }

    #[tokio::test]
    async fn an_untrusted_certificate_or_plain_http_is_refused() {
        let (url, _, asked) = service().await;
        // The Mozilla roots only: the test's certificate is not trusted.
        let kyc = Kyc::new(&url).unwrap();
        assert!(matches!(
            kyc.verified(7).await,
            Err(KycError::Unreachable { twin: 7, .. })
        ));
        assert_eq!(asked.load(Ordering::SeqCst), 0);
        assert!(Kyc::new("http://127.0.0.1:1").is_err());
        assert!(Kyc::new("ftp://x").is_err());
    }

    #[tokio::test]
    async fn an_absent_service_is_an_error_not_a_no() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let kyc = Kyc::new(&format!("https://127.0.0.1:{port}")).unwrap();
        assert!(matches!(
            kyc.verified(7).await,
            Err(KycError::Unreachable { twin: 7, .. })
        ));
    }
}
