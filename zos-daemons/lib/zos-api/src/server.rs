//! The node side: an HTTP/1 listener (hyper) that authenticates each request and hands its
//! `{command, data}` envelope to a [`Handler`].
//!
//! Owns the listener, the connections, the checks of every request (target, method, headers, body
//! size, clock, key, signature, nonce, JSON) and the reply shapes. It does not know any command,
//! does not talk to the chain (keys come from a [`KeyLookup`]) and never logs a request body.
//!
//! Against hostile callers: connections are capped in total and per peer (an IPv4 address or
//! an IPv6 /64); the bytes of bodies being read are capped for all requests together; keys are
//! cached (twins found and twins that do not exist) and lookups of twins not cached are
//! rate-limited; internal failures reach the caller as a generic message with a reference, the
//! details only in the log.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
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
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn, Instrument};

use crate::auth::AuthHeaders;
use crate::error::ApiError;
use crate::keys::{CachedKeys, KeyLookup, LookupError};
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
    /// TCP connections at once, and from one IPv4 address or IPv6 /64; past them a connection
    /// is closed at once.
    pub max_connections: usize,
    pub max_connections_per_peer: usize,
    /// Bytes of request bodies over 64 KiB being read at once (each counts its declared length,
    /// or `max_body` when chunked); past them such a request gets 503 before its body is read.
    pub max_body_bytes_in_flight: usize,
    /// How long a twin's key (or that it does not exist) is kept.
    pub key_ttl: Duration,
    /// Lookups of twins not kept, per second (a burst of ten times that), all callers together;
    /// past them a request gets 429.
    pub key_lookups_per_second: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body: 1024 * 1024,
            max_clock_skew: Duration::from_secs(60),
            replay_capacity: 100_000,
            replay_capacity_per_twin: 2_000,
            read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_peer: 64,
            max_body_bytes_in_flight: 64 * 1024 * 1024,
            key_ttl: Duration::from_secs(300),
            key_lookups_per_second: 10,
        }
    }
}

/// A body up to this size needs no room from `max_body_bytes_in_flight`.
const SMALL_BODY: u64 = 64 * 1024;
/// How many twins the key cache keeps (found, and apart those not found).
const KEY_CACHE: usize = 100_000;

struct State {
    config: ServerConfig,
    keys: CachedKeys<Arc<dyn KeyLookup>>,
    handler: Arc<dyn Handler>,
    replay: ReplayGuard,
    bodies: Arc<Semaphore>,
}

/// What connections count against: an IPv4 address, or an IPv6 /64 (one site).
fn peer_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) >> 64 << 64)),
        },
        v4 => v4,
    }
}

/// Open connections per peer; a connection's place is given back when its guard drops.
#[derive(Default)]
struct Connections {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

struct Place {
    connections: Arc<Mutex<Connections>>,
    peer: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut c = self
            .connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        c.total -= 1;
        if let Some(n) = c.per_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                c.per_peer.remove(&self.peer);
            }
        }
    }
}

/// A place for a connection from `peer`, if the caps leave one.
fn admit(
    connections: &Arc<Mutex<Connections>>,
    config: &ServerConfig,
    peer: IpAddr,
) -> Option<Place> {
    let mut c = connections
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let of_peer = c.per_peer.get(&peer).copied().unwrap_or(0);
    if c.total >= config.max_connections || of_peer >= config.max_connections_per_peer {
        return None;
    }
    c.total += 1;
    *c.per_peer.entry(peer).or_default() += 1;
    Some(Place {
        connections: connections.clone(),
        peer,
    })
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
        keys: CachedKeys::new(keys, config.key_ttl, KEY_CACHE)
            .with_rate(config.key_lookups_per_second),
        bodies: Arc::new(Semaphore::new(
            config.max_body_bytes_in_flight.min(Semaphore::MAX_PERMITS),
        )),
        config,
        handler,
    });
    let places = Arc::new(Mutex::new(Connections::default()));
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
                    let Some(place) = admit(&places, &state.config, peer_of(peer.ip())) else {
                        debug!(%peer, "connection refused: too many connections");
                        continue;
                    };
                    let state = state.clone();
                    connections.spawn(async move {
                        let _place = place;
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
            let message = match e {
                // What failed inside (a chain URL, a path, a bus error) is for the log only.
                ApiError::Internal(_) | ApiError::Unavailable(_) => {
                    let reference = format!(
                        "{:016x}",
                        rand_core::RngCore::next_u64(&mut rand_core::OsRng)
                    );
                    warn!(code = e.code(), reference, error = %zos_base::Report(&e), "request failed");
                    if matches!(e, ApiError::Internal(_)) {
                        format!("the node failed to answer; reference {reference} in its log")
                    } else {
                        format!("the node cannot answer now, try again later; reference {reference} in its log")
                    }
                }
                _ => {
                    debug!(code = e.code(), error = %zos_base::Report(&e), "request refused");
                    e.message().to_string()
                }
            };
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reply = ErrorReply {
                error: ErrorBody {
                    code: e.code().to_string(),
                    message,
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
        .lookup(auth.twin_id)
        .await
        .map_err(|e| match e {
            LookupError::Failed(e) => ApiError::Unavailable(zos_base::report(&e)),
            LookupError::Busy => ApiError::TooManyRequests(
                "too many requests naming twins the node does not know; try again later".into(),
            ),
        })?
        .ok_or_else(|| ApiError::Unauthorized(format!("unknown twin {}", auth.twin_id)))?;
    // A large body's room, for all requests together, before a byte of it is read (small ones
    // are bounded by the connection caps, so a flood of large ones cannot stop small calls).
    let room = req.body().size_hint().exact().unwrap_or(max_body as u64);
    let _room = if room > SMALL_BODY {
        Some(
            u32::try_from(room)
                .ok()
                .and_then(|n| state.bodies.clone().try_acquire_many_owned(n).ok())
                .ok_or_else(|| ApiError::Unavailable("too many request bodies in flight".into()))?,
        )
    } else {
        None
    };
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
        .check(
            auth.twin_id,
            &auth.nonce,
            auth.timestamp,
            Instant::now(),
            now,
        )
        .map_err(|e| match e {
            ReplayError::Replayed => ApiError::Unauthorized(zos_base::report(&e)),
            ReplayError::TwinFull(_) | ReplayError::Forgotten(_) => {
                ApiError::TooManyRequests(zos_base::report(&e))
            }
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
