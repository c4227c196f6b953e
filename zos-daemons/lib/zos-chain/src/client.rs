//! The connection to TFChain: connect/reconnect with capped exponential backoff, reads at the
//! latest finalized block, and signed submissions watched until finalized.
//!
//! Reconnect behaviour (what callers can rely on):
//! - `Chain::connect` validates the URL (a malformed one fails at once with `Error::InvalidUrl`),
//!   then tries to connect with capped exponential backoff until `ReconnectPolicy::give_up_after`.
//! - When a call fails and a liveness probe (`system_health`) also fails, the connection is dropped;
//!   the NEXT call reconnects (same backoff). Reads are retried once on a fresh connection, so a read
//!   issued after the chain came back succeeds. Submissions are NOT retried automatically (the
//!   caller cannot tell whether the first attempt reached the pool); they fail with `Error::Rpc`
//!   and the caller decides (noded retries its registration loop).
//! - Nonces: one local counter per signer account, seeded from `system_accountNextIndex` (which
//!   counts transactions already in the pool). Submissions of one chain handle are serialised up to
//!   pool acceptance, so several extrinsics from one signer can be in flight. The counter is
//!   dropped (re-synced on next use) after any submission error and on reconnect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use subxt::backend::LegacyBackend;
use subxt::config::DefaultExtrinsicParamsBuilder;
use subxt::dynamic::Value;
use subxt::ext::scale_value::Composite;
use subxt::rpcs::{rpc_params, RpcClient};
use subxt::tx::TransactionStatus;
use subxt::utils::{AccountId32, H256};
use subxt::{OnlineClient, OnlineClientAtBlock};
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use crate::error::{is_fee_message, Error};
use crate::signer::Signer;
use crate::TfConfig;

/// How long a submitted extrinsic may take to be finalized.
const FINALIZE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the liveness probe may take before the connection is considered lost.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Mortality of our extrinsics, in blocks.
const MORTALITY_BLOCKS: u64 = 64;

/// Backoff for (re)connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// First delay between attempts.
    pub initial_delay: Duration,
    /// The delay doubles up to this cap.
    pub max_delay: Duration,
    /// Stop trying after this long (`None`: try forever).
    pub give_up_after: Option<Duration>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            give_up_after: Some(Duration::from_secs(60)),
        }
    }
}

/// The result of a finalized, successful extrinsic.
#[derive(Debug, Clone)]
pub struct TxOutcome {
    /// Hash of the finalized block that includes the extrinsic.
    pub block_hash: H256,
    /// The extrinsic's events (pallet, variant, decoded fields).
    pub events: Vec<TxEvent>,
}

/// One event emitted by an extrinsic.
#[derive(Clone)]
pub struct TxEvent {
    pub pallet: String,
    pub variant: String,
    /// The event's fields, decoded against the metadata (named or unnamed).
    pub fields: Composite<()>,
    pub(crate) field_bytes: Vec<u8>,
    pub(crate) metadata: subxt::ArcMetadata,
}

impl std::fmt::Debug for TxEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The metadata and raw bytes are only for typed decoding; keep logs readable.
        f.debug_struct("TxEvent")
            .field("pallet", &self.pallet)
            .field("variant", &self.variant)
            .field("fields", &self.fields)
            .finish()
    }
}

impl TxEvent {
    /// Decodes the fields as a tuple/struct of typed values (e.g. `(RawTwin,)`).
    pub(crate) fn decode<E: scale_decode::DecodeAsFields>(&self) -> Result<E, Error> {
        let pallet = self
            .metadata
            .pallet_by_name(&self.pallet)
            .ok_or_else(|| Error::decode(format!("event {}", self.pallet), "pallet gone"))?;
        let variant = pallet
            .event_variants()
            .and_then(|variants| variants.iter().find(|v| v.name == self.variant))
            .ok_or_else(|| Error::decode(format!("event {}", self.variant), "variant gone"))?;
        let mut fields = variant
            .fields
            .iter()
            .map(|f| scale_decode::Field::new(f.ty.id, f.name.as_deref()));
        E::decode_as_fields(
            &mut &self.field_bytes[..],
            &mut fields,
            self.metadata.types(),
        )
        .map_err(|e| Error::decode(format!("event {}.{}", self.pallet, self.variant), e))
    }
}

#[derive(Clone)]
struct Conn {
    client: OnlineClient<TfConfig>,
    rpc: RpcClient,
    generation: u64,
}

struct Inner {
    url: String,
    policy: ReconnectPolicy,
    conn: Mutex<Option<Conn>>,
    generation: AtomicU64,
    /// Next nonce per account; the lock also serialises submissions up to pool acceptance.
    nonces: Mutex<HashMap<[u8; 32], u64>>,
}

/// A handle on TFChain. Cheap to clone; clones share the connection and nonce counters.
#[derive(Clone)]
pub struct Chain {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("url", &self.inner.url)
            .finish()
    }
}

pub(crate) type AtBlock = OnlineClientAtBlock<TfConfig>;

impl Chain {
    /// Connects with the default reconnect policy.
    pub async fn connect(url: &str) -> Result<Chain, Error> {
        Self::connect_with(url, ReconnectPolicy::default()).await
    }

    /// Connects with an explicit reconnect policy.
    pub async fn connect_with(url: &str, policy: ReconnectPolicy) -> Result<Chain, Error> {
        validate_url(url)?;
        let chain = Chain {
            inner: Arc::new(Inner {
                url: url.to_string(),
                policy,
                conn: Mutex::new(None),
                generation: AtomicU64::new(0),
                nonces: Mutex::new(HashMap::new()),
            }),
        };
        chain.conn().await?;
        Ok(chain)
    }

    /// The URL this handle talks to.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The current connection, reconnecting (with backoff) if there is none.
    async fn conn(&self) -> Result<Conn, Error> {
        let mut guard = self.inner.conn.lock().await;
        if let Some(conn) = guard.as_ref() {
            return Ok(conn.clone());
        }
        let policy = self.inner.policy;
        let started = Instant::now();
        let mut delay = policy.initial_delay;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match open(&self.inner.url).await {
                Ok((client, rpc)) => {
                    let generation = self.inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
                    // A new connection may be a different chain instance: forget nonces.
                    self.inner.nonces.lock().await.clear();
                    info!(url = %self.inner.url, attempts, generation, "connected to chain");
                    let conn = Conn {
                        client,
                        rpc,
                        generation,
                    };
                    *guard = Some(conn.clone());
                    return Ok(conn);
                }
                Err(reason) => {
                    let out_of_time = policy
                        .give_up_after
                        .is_some_and(|limit| started.elapsed() + delay > limit);
                    if out_of_time {
                        return Err(Error::Connect {
                            url: self.inner.url.clone(),
                            attempts,
                            reason,
                        });
                    }
                    debug!(url = %self.inner.url, attempts, %reason, delay_ms = delay.as_millis() as u64, "chain not reachable, retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(policy.max_delay);
                }
            }
        }
    }

    /// After a failed call: if the chain does not answer a probe, drop the connection so the next
    /// call reconnects. Returns true when the connection was dropped.
    async fn check_connection(&self, conn: &Conn) -> bool {
        let probe = tokio::time::timeout(
            PROBE_TIMEOUT,
            conn.rpc
                .request::<serde_json::Value>("system_health", rpc_params![]),
        )
        .await;
        if matches!(probe, Ok(Ok(_))) {
            return false;
        }
        let mut guard = self.inner.conn.lock().await;
        if guard
            .as_ref()
            .is_some_and(|c| c.generation == conn.generation)
        {
            warn!(url = %self.inner.url, generation = conn.generation, "chain connection lost; will reconnect on next call");
            *guard = None;
        }
        true
    }

    /// Runs a read at the latest finalized block; retried once on a fresh connection when the
    /// connection turned out to be lost.
    pub(crate) async fn read<R, F, Fut>(&self, f: F) -> Result<R, Error>
    where
        F: Fn(AtBlock) -> Fut,
        Fut: std::future::Future<Output = Result<R, Error>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let conn = self.conn().await?;
            let result = match conn.client.at_current_block().await {
                Ok(at) => f(at).await,
                Err(e) => Err(Error::rpc("getting the latest finalized block", e)),
            };
            match result {
                Err(e) if e.is_connection() && attempt < 2 => {
                    if !self.check_connection(&conn).await {
                        return Err(e);
                    }
                }
                Err(e) if e.is_connection() => {
                    self.check_connection(&conn).await;
                    return Err(e);
                }
                other => return other,
            }
        }
    }

    /// The number of the latest finalized block.
    pub async fn finalized_number(&self) -> Result<u64, Error> {
        self.read(|at| async move { Ok(at.block_number()) }).await
    }

    /// Runs a read at a given block number (for the event stream).
    pub(crate) async fn at_number(&self, number: u64) -> Result<AtBlock, Error> {
        let conn = self.conn().await?;
        match conn.client.at_block(number).await {
            Ok(at) => Ok(at),
            Err(e) => {
                self.check_connection(&conn).await;
                Err(Error::rpc("getting a block by number", e))
            }
        }
    }

    /// A stream of finalized block headers on the current connection.
    pub(crate) async fn finalized_blocks(&self) -> Result<subxt::client::Blocks<TfConfig>, Error> {
        let conn = self.conn().await?;
        match conn.client.stream_blocks().await {
            Ok(blocks) => Ok(blocks),
            Err(e) => {
                self.check_connection(&conn).await;
                Err(Error::rpc("subscribing to finalized blocks", e))
            }
        }
    }

    /// Reports that a stream on the current connection failed (drops it if the chain is gone).
    pub(crate) async fn stream_failed(&self) {
        if let Some(conn) = self.inner.conn.lock().await.clone() {
            self.check_connection(&conn).await;
        }
    }

    /// A raw JSON-RPC request (e.g. chopsticks' `dev_newBlock`).
    pub async fn rpc_request(
        &self,
        method: &str,
        params: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, Error> {
        let conn = self.conn().await?;
        let mut rpc_params = subxt::rpcs::client::RpcParams::new();
        for p in params {
            rpc_params
                .push(p)
                .map_err(|e| Error::InvalidArgument(zos_base::report(&e)))?;
        }
        match conn.rpc.request(method, rpc_params).await {
            Ok(v) => Ok(v),
            Err(e) => {
                self.check_connection(&conn).await;
                Err(Error::rpc("calling a raw RPC method", e))
            }
        }
    }

    /// Signs `pallet.call(args)` with `signer`, submits it and waits until it is in a finalized
    /// block. Returns the block hash and the extrinsic's events; a failed dispatch becomes
    /// `Error::Module`/`Error::Dispatch`/`Error::InsufficientFunds`.
    pub async fn submit(
        &self,
        signer: &Signer,
        pallet: &str,
        call: &str,
        args: Vec<(&str, Value)>,
    ) -> Result<TxOutcome, Error> {
        let account = signer.account_id();
        let account_text = account.to_string();
        let payload = subxt::dynamic::tx(
            pallet,
            call,
            Composite::named(args.into_iter().map(|(k, v)| (k.to_string(), v))),
        );
        let conn = self.conn().await?;
        let at = match conn.client.at_current_block().await {
            Ok(at) => at,
            Err(e) => {
                self.check_connection(&conn).await;
                return Err(Error::rpc("getting the latest finalized block", e));
            }
        };

        // Up to pool acceptance, under the nonce lock (keeps nonces of one account in order).
        let (progress, nonce) = {
            let mut nonces = self.inner.nonces.lock().await;
            let nonce = match nonces.get(&account.0) {
                Some(n) => *n,
                None => match self.next_index(&conn, &account).await {
                    Ok(n) => n,
                    Err(e) => {
                        drop(nonces);
                        self.check_connection(&conn).await;
                        return Err(e);
                    }
                },
            };
            let params = DefaultExtrinsicParamsBuilder::<TfConfig>::new()
                .nonce(nonce)
                .mortal_from_unchecked(MORTALITY_BLOCKS, at.block_number(), at.block_hash())
                .build();
            let signed = at
                .tx()
                .create_signable_offline(&payload, params)
                .and_then(|mut signable| signable.sign(signer))
                .map_err(|e| match e {
                    subxt::error::ExtrinsicError::EncodeError(_)
                    | subxt::error::ExtrinsicError::PalletNameNotFound(_)
                    | subxt::error::ExtrinsicError::CallNameNotFound { .. } => {
                        Error::InvalidArgument(format!("{pallet}.{call}: {}", error_text(&e)))
                    }
                    other => Error::decode(format!("{pallet}.{call}"), error_text(&other)),
                })?;
            match signed.submit_and_watch().await {
                Ok(progress) => {
                    nonces.insert(account.0, nonce + 1);
                    (progress, nonce)
                }
                Err(e) => {
                    nonces.remove(&account.0);
                    drop(nonces);
                    let message = error_text(&e);
                    let err = Error::from_submission(message, &account_text);
                    if err.is_connection() {
                        self.check_connection(&conn).await;
                    }
                    return Err(err);
                }
            }
        };
        let tx_hash = format!("{:?}", progress.extrinsic_hash());
        debug!(%pallet, %call, account = %account_text, nonce, %tx_hash, "extrinsic in pool");

        let finalized = tokio::time::timeout(FINALIZE_TIMEOUT, async {
            let mut progress = progress;
            loop {
                match progress.next().await {
                    Some(Ok(TransactionStatus::InFinalizedBlock(in_block))) => return Ok(in_block),
                    Some(Ok(
                        TransactionStatus::Invalid { message }
                        | TransactionStatus::Error { message },
                    )) => {
                        return Err(if is_fee_message(&message) {
                            Error::InsufficientFunds {
                                account: account_text.clone(),
                                message,
                            }
                        } else {
                            Error::Invalid(message)
                        })
                    }
                    Some(Ok(TransactionStatus::Dropped { message })) => {
                        return Err(Error::Dropped(message))
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        return Err(Error::rpc("watching an extrinsic", error_text(&e)))
                    }
                    None => {
                        return Err(Error::rpc(
                            "watching an extrinsic",
                            "status stream ended before finalization",
                        ))
                    }
                }
            }
        })
        .await;
        let in_block = match finalized {
            Ok(Ok(in_block)) => in_block,
            Ok(Err(e)) => {
                self.inner.nonces.lock().await.remove(&account.0);
                if e.is_connection() {
                    self.check_connection(&conn).await;
                }
                return Err(e);
            }
            Err(_) => {
                self.inner.nonces.lock().await.remove(&account.0);
                return Err(Error::Timeout {
                    tx_hash,
                    seconds: FINALIZE_TIMEOUT.as_secs(),
                });
            }
        };
        let block_hash = in_block.block_hash();
        let events = match in_block.wait_for_success().await {
            Ok(events) => events,
            Err(subxt::error::TransactionEventsError::ExtrinsicFailed(dispatch)) => {
                let err = Error::from_dispatch(dispatch, &account_text);
                info!(%pallet, %call, account = %account_text, error = %zos_base::Report(&err), "extrinsic failed");
                return Err(err);
            }
            Err(e) => {
                return Err(Error::rpc(
                    "fetching the extrinsic's events",
                    error_text(&e),
                ))
            }
        };
        let metadata = at.metadata();
        let mut out = Vec::new();
        for ev in events.iter() {
            let ev = ev.map_err(|e| Error::decode("an extrinsic event", e))?;
            let fields = ev
                .decode_fields_unchecked_as::<Composite<()>>()
                .map_err(|e| {
                    Error::decode(format!("event {}.{}", ev.pallet_name(), ev.event_name()), e)
                })?;
            out.push(TxEvent {
                pallet: ev.pallet_name().to_string(),
                variant: ev.event_name().to_string(),
                fields,
                field_bytes: ev.field_bytes().to_vec(),
                metadata: metadata.clone(),
            });
        }
        info!(%pallet, %call, account = %account_text, block = ?block_hash, "extrinsic finalized");
        Ok(TxOutcome {
            block_hash,
            events: out,
        })
    }

    async fn next_index(&self, conn: &Conn, account: &AccountId32) -> Result<u64, Error> {
        conn.rpc
            .request::<u64>("system_accountNextIndex", rpc_params![account.to_string()])
            .await
            .map_err(|e| Error::rpc("reading the account's next nonce", e))
    }
}

/// Opens one connection: websocket RPC client + subxt client on the legacy RPC backend.
async fn open(url: &str) -> Result<(OnlineClient<TfConfig>, RpcClient), String> {
    let rpc = RpcClient::from_insecure_url(url)
        .await
        .map_err(|e| error_text(&e))?;
    let backend = LegacyBackend::<TfConfig>::builder().build(rpc.clone());
    let client = OnlineClient::from_backend_with_config(TfConfig::new(), Arc::new(backend))
        .await
        .map_err(|e| error_text(&e))?;
    Ok((client, rpc))
}

/// Checks that `url` is a `ws://` or `wss://` URL with a host (and a valid port if given).
pub(crate) fn validate_url(url: &str) -> Result<(), Error> {
    let bad = |reason: &str| Error::InvalidUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or_else(|| bad("must start with ws:// or wss://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    if authority.contains(char::is_whitespace) {
        return Err(bad("whitespace in host"));
    }
    // A port, if any, is the part after the last ':' outside IPv6 brackets.
    let host_end = authority.rfind(']').map(|i| i + 1).unwrap_or(0);
    if let Some(colon) = authority[host_end..].rfind(':') {
        let port = &authority[host_end + colon + 1..];
        if port.parse::<u16>().is_err() {
            return Err(bad("port must be a number 0-65535"));
        }
        if colon == 0 && host_end == 0 {
            return Err(bad("no host"));
        }
    }
    Ok(())
}

/// An error and all its sources on one line (pool messages hide in the sources).
pub(crate) fn error_text(err: &dyn std::error::Error) -> String {
    let mut text = zos_base::report(&err);
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_validation() {
        assert!(validate_url("ws://127.0.0.1:8040").is_ok());
        assert!(validate_url("wss://tfchain.example/ws").is_ok());
        assert!(validate_url("ws://[::1]:9944").is_ok());
        for bad in [
            "127.0.0.1:8040",
            "http://127.0.0.1:8040",
            "ws://",
            "ws://:8040",
            "ws://host:notaport",
            "ws://host:70000",
            "ws://ho st",
        ] {
            let err = validate_url(bad).expect_err(bad);
            assert!(
                zos_base::report(&err).contains("invalid chain URL"),
                "{err}"
            );
        }
    }
}
