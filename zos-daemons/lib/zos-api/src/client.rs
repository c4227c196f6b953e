//! The caller side: signs `{command, data}` envelopes with the caller twin's key and sends them to
//! a node over plain HTTP/1 (hyper-util's pooled client, no TLS).
//!
//! Owns request building, signing and reply decoding. It reads no key files (the [`Signer`] is
//! passed in) and retries nothing: a failed call is reported once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand_core::{OsRng, RngCore};
use serde::de::DeserializeOwned;
use serde::Serialize;
use zos_chain::Signer;

use crate::wire::{
    body_hash, signing_message, DataReply, Envelope, ErrorReply, API_METHOD, API_PATH,
    HEADER_NONCE, HEADER_SIGNATURE, HEADER_SIGNATURE_TYPE, HEADER_TIMESTAMP, HEADER_TWIN_ID,
};

/// How long a call may take, connect to last byte, unless changed with [`Client::with_timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest reply read (a deployment list can be large).
const MAX_REPLY: usize = 64 * 1024 * 1024;
/// Random bytes per nonce (32 hex digits).
const NONCE_BYTES: usize = 16;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid node API URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot encode the request data")]
    Encode(#[source] serde_json::Error),
    #[error("request to {endpoint} failed: {reason}")]
    Transport { endpoint: String, reason: String },
    #[error("no reply from {endpoint} within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    /// The node refused or failed the request: its HTTP status, `error.code` and `error.message`.
    #[error("node API error {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected reply from {endpoint} (HTTP {status}): {reason}")]
    Reply {
        endpoint: String,
        status: u16,
        reason: String,
    },
}

/// A node API client acting as one twin. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    endpoint: Uri,
    signer: Signer,
    twin_id: u32,
    timeout: Duration,
    http: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("signer", &self.signer)
            .field("twin_id", &self.twin_id)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    /// A client for the node at `base_url` (`http://HOST:PORT`, no path), signing as `twin_id`
    /// with `signer` (the twin's key on the chain).
    pub fn new(base_url: &str, signer: Signer, twin_id: u32) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::Url {
            url: base_url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = base_url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| bad(&zos_base::report(&e)))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("expected http://HOST:PORT"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if !matches!(uri.path_and_query().map(|p| p.as_str()), None | Some("/")) {
            return Err(bad("expected no path or query"));
        }
        let endpoint = format!("http://{authority}{API_PATH}")
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| bad(&zos_base::report(&e)))?;
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
        Ok(Client {
            endpoint,
            signer,
            twin_id,
            timeout: DEFAULT_TIMEOUT,
            http,
        })
    }

    /// The same client with another per-call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends `command` with `data` and decodes the reply's `data` as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        command: &str,
        data: impl Serialize,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_vec(&Envelope {
            command: command.to_string(),
            data,
        })
        .map_err(ClientError::Encode)?;
        let request = self.signed_request(body)?;
        let endpoint = self.endpoint.to_string();
        let (status, reply) = tokio::time::timeout(self.timeout, self.send(request))
            .await
            .map_err(|_| ClientError::Timeout {
                endpoint: endpoint.clone(),
                timeout: self.timeout,
            })??;
        if status == 200 {
            let reply: DataReply<T> =
                serde_json::from_slice(&reply).map_err(|e| ClientError::Reply {
                    endpoint,
                    status,
                    reason: format!("cannot decode the data: {e}", e = zos_base::Report(&e)),
                })?;
            return Ok(reply.data);
        }
        match serde_json::from_slice::<ErrorReply>(&reply) {
            Ok(ErrorReply { error }) => Err(ClientError::Api {
                status,
                code: error.code,
                message: error.message,
            }),
            Err(e) => Err(ClientError::Reply {
                endpoint,
                status,
                reason: format!("not an error reply: {e}", e = zos_base::Report(&e)),
            }),
        }
    }

    fn signed_request(&self, body: Vec<u8>) -> Result<Request<Full<Bytes>>, ClientError> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng.fill_bytes(&mut nonce);
        let nonce = hex::encode(nonce);
        let message = signing_message(
            API_METHOD,
            API_PATH,
            &body_hash(&body),
            timestamp,
            &nonce,
            self.twin_id,
        );
        let signature = hex::encode(self.signer.sign(&message));
        Request::post(self.endpoint.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(HEADER_TWIN_ID, self.twin_id)
            .header(HEADER_TIMESTAMP, timestamp)
            .header(HEADER_NONCE, nonce)
            .header(HEADER_SIGNATURE_TYPE, self.signer.scheme())
            .header(HEADER_SIGNATURE, signature)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Transport {
                endpoint: self.endpoint.to_string(),
                reason: format!("cannot build the request: {e}", e = zos_base::Report(&e)),
            })
    }

    /// Sends one request; returns the status and the whole reply body.
    async fn send(&self, request: Request<Full<Bytes>>) -> Result<(u16, Bytes), ClientError> {
        let transport = |reason: String| ClientError::Transport {
            endpoint: self.endpoint.to_string(),
            reason,
        };
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| transport(error_chain(&e)))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_REPLY)
            .collect()
            .await
            .map_err(|e| transport(format!("cannot read the reply: {e}")))?
            .to_bytes();
        Ok((status, body))
    }
}

/// An error with its sources ("client error (Connect): tcp connect error: Connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = zos_base::report(&error);
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&zos_base::report(&e));
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::ed25519_from_seed(&[1u8; 32])
    }

    #[test]
    fn base_urls_are_checked() {
        for good in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://node",
        ] {
            let client = Client::new(good, signer(), 1).expect(good);
            assert!(client.endpoint.to_string().ends_with(API_PATH), "{good}");
        }
        for bad in [
            "https://127.0.0.1:8080",
            "127.0.0.1:8080",
            "http://127.0.0.1:8080/api",
            "http://127.0.0.1:8080/?x=1",
            "not a url",
        ] {
            assert!(
                matches!(Client::new(bad, signer(), 1), Err(ClientError::Url { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn requests_carry_a_verifiable_signature() {
        let client = Client::new("http://127.0.0.1:1", signer(), 9).expect("client");
        let request = client.signed_request(b"{}".to_vec()).expect("request");
        let header = |name: &str| {
            request.headers()[name]
                .to_str()
                .expect("ascii header")
                .to_string()
        };
        assert_eq!(header(HEADER_TWIN_ID), "9");
        assert_eq!(header(HEADER_SIGNATURE_TYPE), "ed25519");
        assert!(crate::wire::valid_nonce(&header(HEADER_NONCE)));
        let timestamp: u64 = header(HEADER_TIMESTAMP).parse().expect("number");
        let message = signing_message(
            "POST",
            API_PATH,
            &body_hash(b"{}"),
            timestamp,
            &header(HEADER_NONCE),
            9,
        );
        let mut signature = [0u8; 64];
        hex::decode_to_slice(header(HEADER_SIGNATURE), &mut signature).expect("hex");
        assert!(crate::wire::Scheme::Ed25519.verify(&signer().public_key(), &message, &signature));
    }
}
