//! The grid's optional KYC gate (zos's `KycURL`): before a deployment is accepted, the configured
//! service is asked whether the twin is verified: `GET {url}/api/v1/status?twin_id=N` must
//! answer 200 with `{"result": {"status": "VERIFIED"}}`. Off unless a URL is configured (kernel
//! command line `kyc=URL`, or `--kyc-url`). Plain HTTP only for now (no TLS in the image yet).
//!
//! Owns only the question and its retries; the engine decides what a "no" means.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// Tries per question (as zos), and the pause between them.
pub const TRIES: u32 = 5;
pub const RETRY: Duration = Duration::from_millis(500);
/// How long one answer may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum KycError {
    #[error("the KYC URL {0:?} is not a valid http:// URL")]
    Url(String),
    #[error("the KYC service did not answer for twin {twin}: {reason}")]
    Unreachable { twin: u32, reason: String },
}

#[derive(Debug)]
pub struct Kyc {
    base: String,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Kyc {
    pub fn new(url: &str) -> Result<Kyc, KycError> {
        let base = url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") || base.parse::<hyper::Uri>().is_err() {
            return Err(KycError::Url(url.to_string()));
        }
        Ok(Kyc {
            base,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Whether `twin` is verified; an error only when the service never answered.
    pub async fn verified(&self, twin: u32) -> Result<bool, KycError> {
        let mut last = String::new();
        for attempt in 1..=TRIES {
            match tokio::time::timeout(TIMEOUT, self.ask(twin)).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(reason)) => last = reason,
                Err(_) => last = format!("no answer within {TIMEOUT:?}"),
            }
            if attempt < TRIES {
                tokio::time::sleep(RETRY).await;
            }
        }
        Err(KycError::Unreachable { twin, reason: last })
    }

    async fn ask(&self, twin: u32) -> Result<bool, String> {
        let uri: hyper::Uri = format!("{}/api/v1/status?twin_id={twin}", self.base)
            .parse()
            .map_err(|e| format!("{e}", e = zos_base::Report(&e)))?;
        let reply = self
            .client
            .get(uri)
            .await
            .map_err(|e| zos_base::report(&e))?;
        let status = reply.status();
        let body = reply
            .into_body()
            .collect()
            .await
            .map_err(|e| zos_base::report(&e))?
            .to_bytes();
        if status.is_server_error() {
            return Err(format!("status {status}"));
        }
        let verified = status == hyper::StatusCode::OK
            && serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.pointer("/result/status")
                        .and_then(|s| s.as_str())
                        .map(|s| s == "VERIFIED")
                })
                .unwrap_or(false);
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    /// A KYC service on 127.0.0.1 that verifies twin 7 only.
    async fn service() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                        let query = req.uri().query().unwrap_or_default().to_string();
                        let status = if query == "twin_id=7" {
                            "VERIFIED"
                        } else {
                            "UNVERIFIED"
                        };
                        let body = format!(r#"{{"result":{{"status":"{status}"}}}}"#);
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from(body),
                        )))
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn asks_the_service_about_the_twin() {
        let kyc = Kyc::new(&service().await).unwrap();
        assert!(kyc.verified(7).await.unwrap());
        assert!(!kyc.verified(8).await.unwrap());
    }

    #[tokio::test]
    async fn an_absent_service_is_an_error_not_a_no() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let kyc = Kyc::new(&format!("http://127.0.0.1:{port}")).unwrap();
        assert!(matches!(
            kyc.verified(7).await,
            Err(KycError::Unreachable { twin: 7, .. })
        ));
        assert!(Kyc::new("ftp://x").is_err());
    }
}
