//! zos-activation: the grid's activation step for dev and test chains.
//!
//! A fresh node account holds no funds, so it cannot pay the fees of its first extrinsic. On the
//! real grid an activation service funds it; this crate is that service for local chains: the node
//! POSTs `{"substrateAccountID": "<ss58>"}` to `/activation/activate` and the service transfers a
//! fixed amount from a funder account (dev: //Alice) unless the account already holds at least
//! that amount.
//!
//! It owns one HTTP listener (hyper 1) and one chain handle (through `zos-chain`, the project's
//! one chain client). It never stores state on disk, never signs with anything but the funder it
//! was given, and never talks to anything but the chain URL of its configuration.
//!
//! Concurrent requests for the same account are serialised by a per-account lock, so an account is
//! funded at most once per "balance below amount" state.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tracing::{debug, info, warn, Instrument};
use zos_chain::{AccountId32, Chain, ReconnectPolicy, Signer};

/// The only path the service answers (what the grid's activation service serves).
pub const ACTIVATION_PATH: &str = "/activation/activate";
/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;
/// How long a client may take to send its headers or its body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait after a failed accept (e.g. out of file descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Reconnect policy for the chain: a request must not hang for a minute when the chain is down.
const CHAIN_POLICY: ReconnectPolicy = ReconnectPolicy {
    initial_delay: Duration::from_millis(200),
    max_delay: Duration::from_secs(1),
    give_up_after: Some(Duration::from_secs(5)),
};

/// What the service needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// TFChain WebSocket URL, e.g. `ws://127.0.0.1:8040`.
    pub chain_url: String,
    /// The account that pays (dev: //Alice, sr25519).
    pub funder: Signer,
    /// Amount transferred to an account holding less than it (also the threshold).
    pub amount: u128,
}

/// Errors that stop the service before it serves.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid chain URL {0:?}: expected ws://HOST:PORT or wss://HOST:PORT")]
    ChainUrl(String),
    #[error("the funding amount must be greater than 0")]
    ZeroAmount,
}

/// Why one request failed; each maps to an HTTP status.
#[derive(Debug, thiserror::Error)]
enum RequestError {
    #[error("not found: the activation service answers POST {ACTIVATION_PATH} only")]
    NotFound,
    #[error("method {0} not allowed: use POST {ACTIVATION_PATH}")]
    MethodNotAllowed(Method),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("chain call failed")]
    Chain(#[from] zos_chain::Error),
}

impl RequestError {
    fn status(&self) -> StatusCode {
        match self {
            RequestError::NotFound => StatusCode::NOT_FOUND,
            RequestError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            RequestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            RequestError::Chain(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

/// The request body. The grid's fields `kycSignature` and `data` (and any other) are ignored.
#[derive(Debug, Deserialize)]
struct ActivationRequest {
    #[serde(rename = "substrateAccountID")]
    substrate_account_id: String,
}

/// The reply of a successful activation.
#[derive(Debug, Serialize)]
struct ActivationReply {
    /// The account, as ss58.
    account: String,
    /// Whether this request transferred funds.
    funded: bool,
    /// The account's free balance after the request.
    balance: u128,
}

#[derive(Debug, Serialize)]
struct ErrorReply {
    error: String,
}

struct State {
    config: Config,
    /// Connected lazily, so the service starts (and answers 502) while the chain is down.
    chain: Mutex<Option<Chain>>,
    /// Per-account locks; an entry lives while a request for that account runs.
    locks: StdMutex<HashMap<[u8; 32], Arc<Mutex<()>>>>,
}

/// Serves activation requests on `listener` until the returned future is dropped.
///
/// Dropping the future also aborts connections in flight (they are owned by it).
pub async fn serve(listener: TcpListener, config: Config) -> Result<(), Error> {
    serve_with_shutdown(listener, config, std::future::pending()).await
}

/// Like [`serve`], and returns `Ok(())` once `shutdown` completes.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    validate(&config)?;
    let local = listener.local_addr().ok();
    info!(listen = ?local, chain = %config.chain_url, funder = %config.funder.account_id(), amount = config.amount, "activation service ready");
    let state = Arc::new(State {
        config,
        chain: Mutex::new(None),
        locks: StdMutex::new(HashMap::new()),
    });
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => {
                info!("activation service shutting down");
                return Ok(());
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let state = state.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |req| {
                            let state = state.clone();
                            async move { Ok::<_, Infallible>(handle(&state, req).await) }
                        });
                        let served = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(READ_TIMEOUT)
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

fn validate(config: &Config) -> Result<(), Error> {
    let url = config.chain_url.as_str();
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"));
    if rest.is_none_or(|host| host.is_empty() || host.starts_with('/')) {
        return Err(Error::ChainUrl(url.to_string()));
    }
    if config.amount == 0 {
        return Err(Error::ZeroAmount);
    }
    Ok(())
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("activation", %method, %path, account = tracing::field::Empty);
    let result = activate(state, req).instrument(span.clone()).await;
    let _enter = span.enter();
    match result {
        Ok(reply) => json(StatusCode::OK, &reply),
        Err(e) => {
            let status = e.status();
            if status.is_server_error() {
                warn!(status = status.as_u16(), error = %zos_base::Report(&e), "activation failed");
            } else {
                debug!(status = status.as_u16(), error = %zos_base::Report(&e), "request refused");
            }
            json(
                status,
                &ErrorReply {
                    error: zos_base::report(&e),
                },
            )
        }
    }
}

async fn activate(state: &State, req: Request<Incoming>) -> Result<ActivationReply, RequestError> {
    if req.uri().path() != ACTIVATION_PATH {
        return Err(RequestError::NotFound);
    }
    if req.method() != Method::POST {
        return Err(RequestError::MethodNotAllowed(req.method().clone()));
    }
    let body = tokio::time::timeout(
        READ_TIMEOUT,
        Limited::new(req.into_body(), MAX_BODY).collect(),
    )
    .await
    .map_err(|_| RequestError::BadRequest("timed out reading the request body".into()))?
    .map_err(|e| {
        RequestError::BadRequest(format!(
            "cannot read the body (at most {MAX_BODY} bytes): {e}"
        ))
    })?
    .to_bytes();
    let account = parse_request(&body)?;
    let ss58 = account.to_string();
    tracing::Span::current().record("account", ss58.as_str());

    let lock = account_lock(state, &account);
    let reply = {
        let _guard = lock.lock().await;
        fund(state, &account, &ss58).await
    };
    release_lock(state, &account, lock);
    reply
}

/// Parses `{"substrateAccountID": "<ss58>"}`.
fn parse_request(body: &[u8]) -> Result<AccountId32, RequestError> {
    let request: ActivationRequest = serde_json::from_slice(body).map_err(|e| {
        RequestError::BadRequest(format!(
            "expected JSON {{\"substrateAccountID\": \"<ss58 address>\"}}: {e}",
            e = zos_base::Report(&e)
        ))
    })?;
    let address = request.substrate_account_id.trim();
    address.parse::<AccountId32>().map_err(|e| {
        RequestError::BadRequest(format!(
            "substrateAccountID {address:?} is not an ss58 address: {e}",
            e = zos_base::Report(&e)
        ))
    })
}

async fn fund(
    state: &State,
    account: &AccountId32,
    ss58: &str,
) -> Result<ActivationReply, RequestError> {
    let chain = chain(state).await?;
    let amount = state.config.amount;
    let balance = chain.free_balance(account).await?;
    if balance >= amount {
        info!(account = %ss58, balance, "account already funded");
        return Ok(ActivationReply {
            account: ss58.to_string(),
            funded: false,
            balance,
        });
    }
    chain
        .transfer_keep_alive(&state.config.funder, account, amount)
        .await?;
    let balance = chain.free_balance(account).await?;
    info!(account = %ss58, amount, balance, "account funded");
    Ok(ActivationReply {
        account: ss58.to_string(),
        funded: true,
        balance,
    })
}

/// The chain handle, connecting on first use (and again after a failed first connect).
async fn chain(state: &State) -> Result<Chain, RequestError> {
    let mut slot = state.chain.lock().await;
    if let Some(chain) = slot.as_ref() {
        return Ok(chain.clone());
    }
    let chain = Chain::connect_with(&state.config.chain_url, CHAIN_POLICY).await?;
    *slot = Some(chain.clone());
    Ok(chain)
}

fn account_lock(state: &State, account: &AccountId32) -> Arc<Mutex<()>> {
    let mut locks = state
        .locks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    locks.entry(account.0).or_default().clone()
}

/// Drops the map's entry when no other request holds or waits for it.
fn release_lock(state: &State, account: &AccountId32, lock: Arc<Mutex<()>>) {
    let mut locks = state
        .locks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Two references: the map's and ours.
    if Arc::strong_count(&lock) == 2 {
        locks.remove(&account.0);
    }
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    // Serialising these plain structs cannot fail; fall back to an empty object regardless.
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, amount: u128) -> Config {
        Config {
            chain_url: url.into(),
            funder: Signer::sr25519_from_uri("//Alice").expect("dev key"),
            amount,
        }
    }

    #[test]
    fn grid_request_with_extra_fields_parses() {
        let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
        let body = format!(
            r#"{{"substrateAccountID": "{alice}", "kycSignature": "abc", "data": {{"name": "x"}}}}"#
        );
        let account = parse_request(body.as_bytes()).expect("parses");
        assert_eq!(account.to_string(), alice);
    }

    #[test]
    fn malformed_requests_are_bad_requests_with_a_reason() {
        for (body, needle) in [
            (&b"not json"[..], "expected JSON"),
            (br#"{"account": "x"}"#, "substrateAccountID"),
            (br#"{"substrateAccountID": "nope"}"#, "not an ss58 address"),
            (br#"{"substrateAccountID": 5}"#, "expected JSON"),
        ] {
            let err = parse_request(body).expect_err("must fail");
            assert_eq!(err.status(), StatusCode::BAD_REQUEST);
            assert!(zos_base::report(&err).contains(needle), "{err}");
        }
    }

    #[test]
    fn config_is_validated() {
        assert!(validate(&config("ws://127.0.0.1:8040", 1)).is_ok());
        assert!(validate(&config("wss://chain.example", 1)).is_ok());
        assert!(matches!(
            validate(&config("http://127.0.0.1:8040", 1)),
            Err(Error::ChainUrl(_))
        ));
        assert!(matches!(
            validate(&config("ws://", 1)),
            Err(Error::ChainUrl(_))
        ));
        assert!(matches!(
            validate(&config("ws://127.0.0.1:8040", 0)),
            Err(Error::ZeroAmount)
        ));
    }
}
