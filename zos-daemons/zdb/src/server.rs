//! The network side: TCP and unix-socket listeners, one task per connection, pipelined RESP
//! requests parsed in place from a per-connection buffer and answered from a per-connection
//! output buffer (both reused, so the hot path does not allocate per request). Commands run
//! against the shared `Engine` under one lock, first on the event loop with reads served from
//! the page cache only (`namespace::nowait`); a request that would wait for the disk, or that
//! creates or fsyncs files, runs inside `block_in_place`. The event loop never waits for the
//! lock: when a request running elsewhere holds it, the next one moves off the loop too.
//!
//! One connection policy ([`Limits`]), all here: TCP connections per peer (an IPv4 address or
//! an IPv6 /64) and in total; a deadline for a request to arrive whole and for its reply to be
//! taken; an idle timeout; a cap on a request before the session may write; one budget of
//! bytes for every buffer beyond a connection's small base, reserved before the buffer grows
//! (a connection waits for room up to its deadline); a pause after a wrong password and a
//! per-peer lockout after too many. Unix-socket clients (the node itself) are counted apart and
//! never locked out.
//! Owns the sockets; storage semantics belong to `commands`/`namespace`.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{broadcast, Semaphore};

use crate::commands::{self, Action, Req, Session, MAX_REPLY, SMALL_REPLY};
use crate::engine::{Engine, EngineError, Settings};
use crate::namespace::nowait;
use crate::resp::{self, RespError};

/// What every connection may buffer without reserving: its input buffer, and its output
/// buffer up to [`OUT_FLUSH`] plus one small reply.
const IN_BASE: usize = 64 * 1024;
/// A batch of pipelined replies is sent once it passes this.
const OUT_FLUSH: usize = 64 * 1024;
/// The largest request a session that may not write (nor is admin) may send: MGET of 1023
/// keys of 255 bytes fits; an 8 MiB SET it could not run anyway does not.
pub const PREAUTH_MAX_REQUEST: usize = 512 * 1024;
/// The smallest budget that can hold the largest request and the largest reply at once.
pub const MIN_BUFFER_BUDGET: usize = resp::MAX_REQUEST + MAX_REPLY;
/// After a wrong password the connection pauses this long before its next request.
const GUESS_PAUSE: Duration = Duration::from_millis(100);
/// Wrong passwords a peer may send in one window before none of its passwords is checked
/// until the window ends.
const GUESSES_PER_WINDOW: u32 = 10;
const GUESS_WINDOW: Duration = Duration::from_secs(60);

/// The connection policy. A zero means no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// TCP connections at once.
    pub max_clients: usize,
    /// TCP connections at once from one IPv4 address or IPv6 /64.
    pub max_clients_per_peer: usize,
    /// How long a request may take to arrive whole, and its reply to be taken.
    pub request_timeout: Duration,
    /// How long a connection may stay without a request.
    pub idle_timeout: Duration,
    /// Bytes of buffers beyond each connection's base, all connections together.
    pub max_buffer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_clients: 1024,
            max_clients_per_peer: 64,
            request_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(600),
            max_buffer_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Who a connection counts against: an IPv4 address, an IPv6 /64 (one site's addresses), or
/// the unix socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Peer {
    Ip(IpAddr),
    Local,
}

impl Peer {
    fn of(addr: SocketAddr) -> Peer {
        match addr.ip() {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Peer::Ip(IpAddr::V4(v4)),
                None => Peer::Ip(IpAddr::V6(Ipv6Addr::from(
                    u128::from(v6) & !((1u128 << 64) - 1),
                ))),
            },
            ip => Peer::Ip(ip),
        }
    }
}

#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot listen on {what}")]
    Listen {
        what: String,
        source: std::io::Error,
    },
    #[error("nothing to listen on (no TCP address and no unix socket)")]
    NoListener,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub settings: Settings,
    pub tcp: Option<SocketAddr>,
    pub unix: Option<PathBuf>,
    pub limits: Limits,
}

/// (namespace generation, command name) of every executed command, for WAIT.
type Event = (u64, &'static str);

#[derive(Clone)]
struct Shared {
    engine: Arc<Mutex<Engine>>,
    events: broadcast::Sender<Event>,
    rx: Arc<AtomicU64>,
    tx: Arc<AtomicU64>,
    limits: Arc<Limits>,
    tcp_clients: Arc<AtomicUsize>,
    per_peer: Arc<Mutex<HashMap<Peer, usize>>>,
    /// Bytes of buffers beyond the connections' base (None: no budget).
    budget: Option<Arc<Semaphore>>,
    guesses: Arc<Mutex<Guesses>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("rx", &self.rx)
            .field("tx", &self.tx)
            .finish_non_exhaustive()
    }
}

fn lock(e: &Mutex<Engine>) -> MutexGuard<'_, Engine> {
    // A panic while holding the lock must not take the server down with it.
    e.lock().unwrap_or_else(|p| p.into_inner())
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` where blocking is allowed: inside `block_in_place` on a multi-thread runtime.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// `f` within `limit` (none when zero); None when it ran out.
async fn within<F: Future>(limit: Duration, f: F) -> Option<F::Output> {
    if limit.is_zero() {
        Some(f.await)
    } else {
        tokio::time::timeout(limit, f).await.ok()
    }
}

/// Wrong passwords per peer in the current window.
#[derive(Default)]
struct Guesses {
    peers: HashMap<Peer, (Instant, u32)>,
}

impl Guesses {
    fn locked(&self, peer: Peer) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|(start, n)| start.elapsed() < GUESS_WINDOW && *n >= GUESSES_PER_WINDOW)
    }

    fn record(&mut self, peer: Peer) {
        if self.peers.len() >= 65_536 {
            self.peers
                .retain(|_, (start, _)| start.elapsed() < GUESS_WINDOW);
        }
        let e = self.peers.entry(peer).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= GUESS_WINDOW {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
    }
}

/// Bytes one connection holds from the budget; given back on drop.
struct Held {
    budget: Option<Arc<Semaphore>>,
    bytes: usize,
}

impl Held {
    /// Holds `bytes` in all, waiting for room up to `limit`; false when there was none.
    async fn grow_to(&mut self, bytes: usize, limit: Duration) -> bool {
        let Some(budget) = &self.budget else {
            return true;
        };
        if bytes <= self.bytes {
            return true;
        }
        let Ok(more) = u32::try_from(bytes - self.bytes) else {
            return false;
        };
        match within(limit, budget.clone().acquire_many_owned(more)).await {
            Some(Ok(permit)) => {
                permit.forget();
                self.bytes = bytes;
                true
            }
            _ => false,
        }
    }

    fn release(&mut self) {
        if let Some(budget) = &self.budget {
            budget.add_permits(std::mem::take(&mut self.bytes));
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release();
    }
}

/// A TCP connection's place in the counts; given back on drop.
struct Slot {
    sh: Shared,
    peer: Peer,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.sh.tcp_clients.fetch_sub(1, Ordering::Relaxed);
        let mut peers = guard(&self.sh.per_peer);
        if let Some(n) = peers.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                peers.remove(&self.peer);
            }
        }
    }
}

impl Shared {
    /// A place for a new TCP connection from `peer`, if the limits leave one.
    fn admit(&self, peer: Peer) -> Option<Slot> {
        let l = &self.limits;
        let mut peers = guard(&self.per_peer);
        let of_peer = peers.get(&peer).copied().unwrap_or(0);
        if (l.max_clients_per_peer > 0 && of_peer >= l.max_clients_per_peer)
            || (l.max_clients > 0 && self.tcp_clients.load(Ordering::Relaxed) >= l.max_clients)
        {
            return None;
        }
        *peers.entry(peer).or_default() += 1;
        self.tcp_clients.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            sh: self.clone(),
            peer,
        })
    }
}

#[derive(Debug)]
pub struct Server {
    shared: Shared,
    tcp: Option<TcpListener>,
    unix: Option<(UnixListener, PathBuf)>,
}

impl Server {
    /// Loads the storage and binds the listeners.
    pub async fn bind(cfg: ServerConfig) -> Result<Server, ServerError> {
        let engine = blocking(|| Engine::open(cfg.settings.clone()))?;
        let tcp = match cfg.tcp {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .map_err(|source| ServerError::Listen {
                        what: a.to_string(),
                        source,
                    })?,
            ),
            None => None,
        };
        let unix = match &cfg.unix {
            Some(p) => {
                let _ = std::fs::remove_file(p);
                let l = UnixListener::bind(p).map_err(|source| ServerError::Listen {
                    what: p.display().to_string(),
                    source,
                })?;
                Some((l, p.clone()))
            }
            None => None,
        };
        if tcp.is_none() && unix.is_none() {
            return Err(ServerError::NoListener);
        }
        let (events, _) = broadcast::channel(1024);
        let (rx, tx) = (engine.net_rx.clone(), engine.net_tx.clone());
        let budget = (cfg.limits.max_buffer_bytes > 0).then(|| {
            Arc::new(Semaphore::new(
                cfg.limits.max_buffer_bytes.min(Semaphore::MAX_PERMITS),
            ))
        });
        Ok(Server {
            shared: Shared {
                engine: Arc::new(Mutex::new(engine)),
                events,
                rx,
                tx,
                limits: Arc::new(cfg.limits),
                tcp_clients: Arc::new(AtomicUsize::new(0)),
                per_peer: Arc::new(Mutex::new(HashMap::new())),
                budget,
                guesses: Arc::new(Mutex::new(Guesses::default())),
            },
            tcp,
            unix,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then fsyncs every namespace.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server { shared, tcp, unix } = self;
        let s1 = shared.clone();
        let tcp_loop = async move {
            let Some(l) = tcp else {
                return std::future::pending::<()>().await;
            };
            loop {
                match l.accept().await {
                    Ok((sock, addr)) => {
                        let peer = Peer::of(addr);
                        let Some(slot) = s1.admit(peer) else {
                            // Told why, without waiting for the peer to read it.
                            let _ = sock.try_write(b"-Too many connections\r\n");
                            tracing::debug!(%addr, "connection refused: limit reached");
                            continue;
                        };
                        let _ = sock.set_nodelay(true);
                        let sh = s1.clone();
                        tokio::spawn(async move {
                            tracing::debug!(%addr, "client connected");
                            connection(sh, sock, peer).await;
                            drop(slot);
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %zos_base::Report(&e), "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        };
        let s2 = shared.clone();
        let unix_path = unix.as_ref().map(|(_, p)| p.clone());
        let unix_loop = async move {
            let Some((l, _)) = unix else {
                return std::future::pending::<()>().await;
            };
            loop {
                match l.accept().await {
                    Ok((sock, _)) => {
                        let sh = s2.clone();
                        tokio::spawn(connection(sh, sock, Peer::Local));
                    }
                    Err(e) => {
                        tracing::warn!(error = %zos_base::Report(&e), "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        };
        tokio::select! {
            _ = tcp_loop => {}
            _ = unix_loop => {}
            _ = shutdown => {}
        }
        blocking(|| lock(&shared.engine).sync_all());
        if let Some(p) = unix_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A server on its own multi-thread runtime in a background thread (tests, embedding).
#[derive(Debug)]
pub struct ServerHandle {
    pub addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    pub fn start(cfg: ServerConfig) -> Result<ServerHandle, ServerError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(ServerError::Listen {
                        what: "runtime".into(),
                        source: e,
                    }));
                    return;
                }
            };
            rt.block_on(async move {
                match Server::bind(cfg).await {
                    Ok(s) => {
                        let _ = tx.send(Ok(s.local_addr()));
                        s.run(async {
                            let _ = stop_rx.await;
                        })
                        .await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        });
        let addr = rx.recv().map_err(|_| ServerError::NoListener)??;
        Ok(ServerHandle {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the connection does after running what was buffered.
enum Step {
    /// Everything complete ran: read more.
    Read,
    /// The replies passed [`OUT_FLUSH`]: send them, then run the rest before reading.
    More,
    Close,
    Wait(&'static str, u64, Duration),
    /// A wrong password: pause, count it for the peer, then go on.
    AuthFailed,
    /// The next request needs this much reply room first.
    NeedRoom(usize),
}

/// The buffered requests of one connection and where their replies go.
struct Batch<'a> {
    engine: &'a Mutex<Engine>,
    session: &'a mut Session,
    buf: &'a [u8],
    consumed: &'a mut usize,
    ranges: &'a mut Vec<(usize, usize)>,
    out: &'a mut Vec<u8>,
    fired: &'a mut Vec<Event>,
}

impl Batch<'_> {
    /// Executes complete requests from `consumed` on, under the engine lock. `inline`: on the
    /// event loop, with reads that do not wait; stops with `None` at the first request that
    /// must run where blocking is allowed (not executed, no reply written), or when another
    /// thread holds the lock (the event loop never waits for it).
    fn run(&mut self, inline: bool) -> Option<Step> {
        let mut eng: Option<MutexGuard<'_, Engine>> = None;
        loop {
            let rest = &self.buf[*self.consumed..];
            match resp::parse(rest, self.ranges) {
                Ok(None) => return Some(Step::Read),
                Ok(Some(n)) => {
                    if eng.is_none() {
                        eng = Some(if inline {
                            match self.engine.try_lock() {
                                Ok(g) => g,
                                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                                Err(TryLockError::WouldBlock) => return None,
                            }
                        } else {
                            lock(self.engine)
                        });
                    }
                    let e = eng.as_mut()?;
                    let req = Req {
                        buf: rest,
                        ranges: self.ranges,
                    };
                    let o = if inline {
                        if !commands::runs_inline(e, &req) {
                            return None;
                        }
                        let before = self.out.len();
                        let (o, blocked) =
                            nowait::attempt(|| commands::execute(e, self.session, &req, self.out));
                        if blocked {
                            self.out.truncate(before);
                            return None;
                        }
                        o
                    } else {
                        commands::execute(e, self.session, &req, self.out)
                    };
                    if let Action::NeedRoom(bytes) = o.action {
                        return Some(Step::NeedRoom(bytes));
                    }
                    *self.consumed += n;
                    if let Some(cmd) = o.executed {
                        self.fired.push((o.generation, cmd));
                    }
                    match o.action {
                        Action::Continue | Action::NeedRoom(_) => {}
                        Action::Close => return Some(Step::Close),
                        Action::Wait {
                            command,
                            generation,
                            timeout,
                        } => return Some(Step::Wait(command, generation, timeout)),
                        Action::AuthFailed => return Some(Step::AuthFailed),
                    }
                    if self.out.len() > OUT_FLUSH {
                        return Some(Step::More);
                    }
                }
                Err(err) => {
                    resp::error(self.out, err.message());
                    if let RespError::MissingArgs(n) = err {
                        *self.consumed += n;
                        continue;
                    }
                    return Some(if err.close() { Step::Close } else { Step::Read });
                }
            }
        }
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(sh: Shared, mut sock: S, peer: Peer) {
    let mut session = {
        let mut e = lock(&sh.engine);
        e.stats.clients += 1;
        Session::new(&e)
    };
    let limits = sh.limits.clone();
    let mut buf: Vec<u8> = Vec::with_capacity(IN_BASE);
    let mut out: Vec<u8> = Vec::with_capacity(OUT_FLUSH + SMALL_REPLY);
    let mut ranges: Vec<(usize, usize)> = Vec::with_capacity(16);
    let mut fired: Vec<Event> = Vec::with_capacity(16);
    let mut held_in = Held {
        budget: sh.budget.clone(),
        bytes: 0,
    };
    let mut held_out = Held {
        budget: sh.budget.clone(),
        bytes: 0,
    };
    // When the request now being received began to arrive.
    let mut started: Option<Instant> = None;
    loop {
        // Execute every complete request already buffered (pipelining): on this thread while
        // the page cache has what they read, the rest where blocking is allowed.
        let mut consumed = 0usize;
        let mut step = Step::Read;
        if !buf.is_empty() {
            session.auth_locked = peer != Peer::Local && guard(&sh.guesses).locked(peer);
            let mut batch = Batch {
                engine: &sh.engine,
                session: &mut session,
                buf: &buf,
                consumed: &mut consumed,
                ranges: &mut ranges,
                out: &mut out,
                fired: &mut fired,
            };
            step = match batch.run(true) {
                Some(step) => step,
                None => blocking(|| batch.run(false)).unwrap_or(Step::Read),
            };
        }
        if sh.events.receiver_count() > 0 {
            for ev in fired.drain(..) {
                let _ = sh.events.send(ev);
            }
        }
        fired.clear();
        if consumed > 0 {
            buf.drain(..consumed);
            started = (!buf.is_empty()).then(Instant::now);
            if buf.capacity() > IN_BASE && buf.len() <= IN_BASE / 2 {
                // a large request is done: back to the base, and the budget gets it back
                buf.shrink_to(IN_BASE);
                held_in.release();
            }
        }
        if !out.is_empty() {
            match within(limits.request_timeout, sock.write_all(&out)).await {
                Some(Ok(())) => {}
                // An error, or a client that does not take its replies in time.
                _ => return,
            }
            sh.tx.fetch_add(out.len() as u64, Ordering::Relaxed);
            out.clear();
            if out.capacity() > OUT_FLUSH + SMALL_REPLY {
                out.shrink_to(OUT_FLUSH + SMALL_REPLY);
            }
            held_out.release();
            session.reply_room = 0;
        }
        match step {
            Step::Close => {
                let _ = sock.flush().await;
                return;
            }
            Step::Wait(command, generation, timeout) => {
                let mut rx = sh.events.subscribe();
                let waited = tokio::time::timeout(timeout, async {
                    loop {
                        match rx.recv().await {
                            Ok((g, c)) if g == generation && (command == "*" || c == command) => {
                                return Some(c);
                            }
                            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(broadcast::error::RecvError::Closed) => return None,
                        }
                    }
                })
                .await;
                match waited {
                    Ok(Some(c)) => resp::simple(&mut out, c),
                    _ => resp::error(&mut out, "Timeout"),
                }
                if !matches!(
                    within(limits.request_timeout, sock.write_all(&out)).await,
                    Some(Ok(()))
                ) {
                    return;
                }
                out.clear();
                continue;
            }
            Step::More => continue,
            Step::AuthFailed => {
                if peer != Peer::Local {
                    guard(&sh.guesses).record(peer);
                    tokio::time::sleep(GUESS_PAUSE).await;
                }
                continue;
            }
            Step::NeedRoom(bytes) => {
                if held_out.grow_to(bytes, limits.request_timeout).await {
                    session.reply_room = bytes;
                    continue;
                }
                resp::error(&mut out, "Server busy, try again later");
                let _ = within(limits.request_timeout, sock.write_all(&out)).await;
                return;
            }
            Step::Read => {}
        }
        // Room for the rest of the request at the front, as far as its headers tell.
        let need = resp::pending(&buf);
        if !session.authenticated() && need > PREAUTH_MAX_REQUEST {
            resp::error(&mut out, "Request too large before authentication");
            let _ = within(limits.request_timeout, sock.write_all(&out)).await;
            return;
        }
        let want = need.max(buf.len() + 16 * 1024);
        if want > buf.capacity() {
            let left = match started {
                Some(t) if !limits.request_timeout.is_zero() => {
                    limits.request_timeout.saturating_sub(t.elapsed())
                }
                _ => limits.request_timeout,
            };
            if want > IN_BASE && !held_in.grow_to(want - IN_BASE, left).await {
                return;
            }
            buf.reserve_exact(want - buf.len());
        }
        let limit = match started {
            Some(t) => {
                if limits.request_timeout.is_zero() {
                    Duration::ZERO
                } else {
                    match limits.request_timeout.checked_sub(t.elapsed()) {
                        Some(left) if !left.is_zero() => left,
                        // the request is late: drop the client
                        _ => return,
                    }
                }
            }
            None => limits.idle_timeout,
        };
        match within(limit, sock.read_buf(&mut buf)).await {
            Some(Ok(n)) if n > 0 => {
                sh.rx.fetch_add(n as u64, Ordering::Relaxed);
                if started.is_none() {
                    started = Some(Instant::now());
                }
            }
            // EOF, an error, a request not in time, or idle for too long.
            _ => return,
        }
    }
}
