//! The node side: an HTTP/1 listener (hyper) that authenticates each request and hands its
//! `{command, data}` envelope to a [`Handler`].
//!
//! Owns the listener, the connections, the checks of every request (target, method, headers, body
//! size, clock, key, signature, nonce, JSON) and the reply shapes. It does not know any command,
//! does not talk to the chain (keys come from a [`KeyLookup`]) and never logs a request body.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{debug, info, warn, Instrument};

use crate::auth::AuthHeaders;
use crate::error::ApiError;
use crate::keys::KeyLookup;
use crate::replay::{ReplayError, ReplayGuard};
use crate::wire::{
    body_hash, signing_message, DataReply, Envelope, ErrorBody, ErrorReply, API_METHOD, API_PATH,
};

/// How long to wait after a failed accept (e.g. out of file descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub twin_id: u32,
}

/// Runs the commands. Called only for authenticated, well-formed requests; an unknown command
/// should be answered with [`ApiError::unknown_command`]. It must not panic.
#[async_trait]
pub trait Handler: Send + Sync {
    async fn handle(&self, caller: Caller, command: &str, data: Value) -> Result<Value, ApiError>;
}

/// Limits of the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body, in bytes; larger ones get 413 and are not read further.
    pub max_body: usize,
    /// How far `X-Timestamp` may be from the node's clock, either way.
    pub max_clock_skew: Duration,
    /// How many (twin, nonce) pairs the replay guard holds; when full of unexpired ones, new
    /// requests get 503.
    pub replay_capacity: usize,
    /// How many of those one twin may hold; past that its requests get 429, so one busy twin
    /// cannot fill the guard for everyone.
    pub replay_capacity_per_twin: usize,
    /// How long a client may take to send its headers, and again its body.
    pub read_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body: 1024 * 1024,
            max_clock_skew: Duration::from_secs(60),
            replay_capacity: 100_000,
            replay_capacity_per_twin: 2_000,
            read_timeout: Duration::from_secs(10),
        }
    }
}

struct State {
    config: ServerConfig,
    keys: Arc<dyn KeyLookup>,
    handler: Arc<dyn Handler>,
    replay: ReplayGuard,
}

/// Serves the node API on `listener` until `shutdown` completes; connections in flight are
/// aborted then (and when the returned future is dropped).
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    keys: Arc<dyn KeyLookup>,
    handler: Arc<dyn Handler>,
    shutdown: impl Future<Output = ()>,
) {
    info!(listen = ?listener.local_addr().ok(), max_body = config.max_body, "node API ready");
    let state = Arc::new(State {
        replay: ReplayGuard::new(
            config.max_clock_skew,
            config.replay_capacity,
            config.replay_capacity_per_twin,
        ),
        config,
        keys,
        handler,
    });
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => {
                info!("node API shutting down");
                return;
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let state = state.clone();
                    connections.spawn(async move {
                        let read_timeout = state.config.read_timeout;
                        let service = service_fn(move |req| {
                            let state = state.clone();
                            async move { Ok::<_, Infallible>(respond(&state, req).await) }
                        });
                        let served = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(read_timeout)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                        if let Err(e) = served {
                            debug!(%peer, error = %zos_base::Report(&e), "connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    // Transient (EMFILE, ECONNABORTED, ...): keep serving.
                    warn!(error = %zos_base::Report(&e), "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
}

async fn respond(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let span = tracing::debug_span!(
        "api",
        twin = tracing::field::Empty,
        command = tracing::field::Empty
    );
    let result = process(state, req).instrument(span.clone()).await;
    let _enter = span.enter();
    match result {
        Ok(data) => {
            debug!("request answered");
            json(StatusCode::OK, &DataReply { data })
        }
        Err(e) => {
            if matches!(e, ApiError::Internal(_)) {
                warn!(code = e.code(), error = %zos_base::Report(&e), "request failed");
            } else {
                debug!(code = e.code(), error = %zos_base::Report(&e), "request refused");
            }
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reply = ErrorReply {
                error: ErrorBody {
                    code: e.code().to_string(),
                    message: e.message().to_string(),
                },
            };
            json(status, &reply)
        }
    }
}

/// Every check, in order: cheap ones first (no body is read for an unknown twin), the signature
/// before the nonce is remembered (so an unauthenticated request cannot burn a nonce), the JSON
/// last.
async fn process(state: &State, req: Request<Incoming>) -> Result<Value, ApiError> {
    let target = req.uri().path_and_query().map(|p| p.as_str());
    if target != Some(API_PATH) {
        return Err(ApiError::NotFound(format!(
            "the node API answers {API_METHOD} {API_PATH} only"
        )));
    }
    if req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed(format!(
            "{} is not allowed: use {API_METHOD} {API_PATH}",
            req.method()
        )));
    }
    let auth = AuthHeaders::parse(req.headers())?;
    let span = tracing::Span::current();
    span.record("twin", auth.twin_id);

    let max_body = state.config.max_body;
    if req.body().size_hint().lower() > max_body as u64 {
        return Err(too_large(max_body));
    }
    let now = unix_now();
    let skew = state.config.max_clock_skew.as_secs();
    if now.abs_diff(auth.timestamp) > skew {
        return Err(ApiError::Unauthorized(format!(
            "timestamp {} is more than {skew} s away from the node's clock ({now})",
            auth.timestamp
        )));
    }

    let key = state
        .keys
        .public_key(auth.twin_id)
        .await
        .map_err(|e| ApiError::Internal(zos_base::report(&e)))?
        .ok_or_else(|| ApiError::Unauthorized(format!("unknown twin {}", auth.twin_id)))?;
    let body = read_body(req.into_body(), max_body, state.config.read_timeout).await?;
    let message = signing_message(
        API_METHOD,
        API_PATH,
        &body_hash(&body),
        auth.timestamp,
        &auth.nonce,
        auth.twin_id,
    );
    if !auth.scheme.verify(&key, &message, &auth.signature) {
        return Err(ApiError::Unauthorized(format!(
            "bad {} signature for twin {}",
            auth.scheme.as_str(),
            auth.twin_id
        )));
    }
    state
        .replay
        .check(auth.twin_id, &auth.nonce, Instant::now())
        .map_err(|e| match e {
            ReplayError::Replayed => ApiError::Unauthorized(zos_base::report(&e)),
            ReplayError::TwinFull(_) => ApiError::TooManyRequests(zos_base::report(&e)),
            ReplayError::Full(_) => ApiError::Unavailable(zos_base::report(&e)),
        })?;

    let envelope: Envelope = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "expected JSON {{\"command\": \"...\", \"data\": ...}}: {e}",
            e = zos_base::Report(&e)
        ))
    })?;
    span.record("command", envelope.command.as_str());
    let caller = Caller {
        twin_id: auth.twin_id,
    };
    state
        .handler
        .handle(caller, &envelope.command, envelope.data)
        .await
}

/// Reads at most `max` bytes of body: a longer body is refused as soon as it passes the limit.
async fn read_body(body: Incoming, max: usize, timeout: Duration) -> Result<Bytes, ApiError> {
    let collected = tokio::time::timeout(timeout, Limited::new(body, max).collect())
        .await
        .map_err(|_| ApiError::BadRequest("timed out reading the request body".into()))?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(max)),
        Err(e) => Err(ApiError::BadRequest(format!("cannot read the body: {e}"))),
    }
}

fn too_large(max: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!("the body must be at most {max} bytes"))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    // Replies hold JSON values and strings only: serialising cannot fail. Stay valid JSON anyway.
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| {
        br#"{"error":{"code":"internal","message":"cannot encode the reply"}}"#.to_vec()
    });
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
