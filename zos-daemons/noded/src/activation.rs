//! The client of the grid's activation service: one `POST <activation URL>` with
//! `{"substrateAccountID": "<ss58>"}` asking it to fund the node's fresh account so the account
//! can pay the fees of its first extrinsics.
//!
//! Plain `http://` only (hyper 1 over a tokio TCP stream): the local and dev activation services
//! are plain HTTP. `https://` URLs are refused with a clear error until TLS is added.
//! It sends nothing but the account's public address and never follows redirects.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Longest answer body kept (for the error message).
const MAX_REPLY: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error("activation URL {url:?} is not usable: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot reach the activation service at {url}")]
    Connect {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP exchange with the activation service at {url} failed")]
    Http {
        url: String,
        #[source]
        source: hyper::Error,
    },
    #[error("the activation service at {url} answered {status}: {body}")]
    Refused {
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("the activation service at {url} did not answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
}

/// Asks the service at `url` to fund `account` (ss58). Ok when it answers 2xx (funded now or
/// already funded). The whole exchange is bounded by `timeout`.
pub async fn request_funds(
    url: &str,
    account: &str,
    timeout: Duration,
) -> Result<(), ActivationError> {
    match tokio::time::timeout(timeout, exchange(url, account)).await {
        Ok(result) => result,
        Err(_) => Err(ActivationError::Timeout {
            url: url.to_string(),
            seconds: timeout.as_secs(),
        }),
    }
}

/// `(host, port, authority, path)` of a plain-HTTP URL.
fn parse_url(url: &str) -> Result<(String, u16, String, String), ActivationError> {
    let bad = |reason: &str| ActivationError::Url {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(bad("https is not supported yet; use an http:// URL")),
        _ => return Err(bad("expected http://HOST[:PORT]/PATH")),
    }
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    Ok((
        host.to_string(),
        authority.port_u16().unwrap_or(80),
        authority.as_str().to_string(),
        path,
    ))
}

async fn exchange(url: &str, account: &str) -> Result<(), ActivationError> {
    let (host, port, authority, path) = parse_url(url)?;
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|source| ActivationError::Connect {
            url: url.to_string(),
            source,
        })?;
    let http = |source| ActivationError::Http {
        url: url.to_string(),
        source,
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http)?;
    // The connection task ends when the exchange is done (or the future is dropped on timeout).
    let driver = tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "activation connection ended with an error");
        }
    });
    let body = serde_json::json!({ "substrateAccountID": account }).to_string();
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(HOST, authority)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| ActivationError::Url {
            url: url.to_string(),
            reason: zos_base::report(&e),
        })?;
    let result = async {
        let response = sender.send_request(request).await.map_err(http)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = match Limited::new(response.into_body(), MAX_REPLY)
            .collect()
            .await
        {
            Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
            Err(e) => format!("(unreadable body: {e})"),
        };
        Err(ActivationError::Refused {
            url: url.to_string(),
            status,
            body: body.trim().to_string(),
        })
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/activation/activate").unwrap(),
            (
                "127.0.0.1".to_string(),
                8080,
                "127.0.0.1:8080".to_string(),
                "/activation/activate".to_string()
            )
        );
        let (host, port, _, path) = parse_url("http://localhost").unwrap();
        assert_eq!((host.as_str(), port, path.as_str()), ("localhost", 80, "/"));
        let err = parse_url("https://example.invalid/a").unwrap_err();
        assert!(
            zos_base::report(&err).contains("https is not supported"),
            "{err}"
        );
        assert!(parse_url("ws://127.0.0.1/").is_err());
        assert!(parse_url("not a url").is_err());
    }

    #[tokio::test]
    async fn nothing_listening_is_a_connect_error() {
        // Bind then drop: a loopback port with nobody listening.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/activation/activate");
        let err = request_funds(&url, "5Abc", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, ActivationError::Connect { .. }), "{err}");
    }

    #[tokio::test]
    async fn posts_the_account_and_reports_refusals() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/activate", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let mut requests = Vec::new();
            for reply in [
                "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
                "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 10\r\n\r\nchain down",
            ] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                // Read until the JSON body's closing brace arrived.
                while !got.ends_with(b"}") {
                    let n = s.read(&mut buf).await.unwrap();
                    assert!(n > 0, "client closed early");
                    got.extend_from_slice(&buf[..n]);
                }
                s.write_all(reply.as_bytes()).await.unwrap();
                requests.push(String::from_utf8(got).unwrap());
            }
            requests
        });
        request_funds(&url, "5Node", Duration::from_secs(5))
            .await
            .expect("200 is success");
        let err = request_funds(&url, "5Node", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ActivationError::Refused { status, body, .. } if status.as_u16() == 502 && body == "chain down"),
            "{err}"
        );
        let requests = server.await.unwrap();
        assert!(
            requests[0].starts_with("POST /activate HTTP/1.1\r\n"),
            "{}",
            requests[0]
        );
        assert!(
            requests[0].ends_with(r#"{"substrateAccountID":"5Node"}"#),
            "{}",
            requests[0]
        );
    }
}
