//! The network side: TCP and unix-socket listeners, one task per connection, pipelined RESP
//! requests parsed in place from a per-connection buffer and answered from a per-connection
//! output buffer (both reused, so the hot path does not allocate per request). Commands run
//! against the shared `Engine` under one lock, first on the event loop with reads served from
//! the page cache only (`namespace::nowait`); a request that would wait for the disk, or that
//! creates or fsyncs files, runs inside `block_in_place`, so a slow disk never stalls the
//! other connections.
//! Owns the sockets; storage semantics belong to `commands`/`namespace`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::broadcast;

use crate::commands::{self, Action, Req, Session};
use crate::engine::{Engine, EngineError, Settings};
use crate::namespace::nowait;
use crate::resp::{self, RespError};

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
}

/// (namespace generation, command name) of every executed command, for WAIT.
type Event = (u64, &'static str);

#[derive(Clone)]
struct Shared {
    engine: Arc<Mutex<Engine>>,
    events: broadcast::Sender<Event>,
    rx: Arc<AtomicU64>,
    tx: Arc<AtomicU64>,
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

/// Runs `f` where blocking is allowed: inside `block_in_place` on a multi-thread runtime.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
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
        Ok(Server {
            shared: Shared {
                engine: Arc::new(Mutex::new(engine)),
                events,
                rx,
                tx,
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
                    Ok((sock, peer)) => {
                        let _ = sock.set_nodelay(true);
                        let sh = s1.clone();
                        tokio::spawn(async move {
                            tracing::debug!(%peer, "client connected");
                            connection(sh, sock).await;
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %zos_base::Report(&e), "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
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
                        tokio::spawn(connection(sh, sock));
                    }
                    Err(e) => {
                        tracing::warn!(error = %zos_base::Report(&e), "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
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

enum Step {
    Continue,
    Close,
    Wait(&'static str, u64, std::time::Duration),
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
    /// must run where blocking is allowed (not executed, no reply written).
    fn run(&mut self, inline: bool) -> Option<Step> {
        let mut eng: Option<MutexGuard<'_, Engine>> = None;
        loop {
            let rest = &self.buf[*self.consumed..];
            match resp::parse(rest, self.ranges) {
                Ok(None) => return Some(Step::Continue),
                Ok(Some(n)) => {
                    let e = eng.get_or_insert_with(|| lock(self.engine));
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
                    *self.consumed += n;
                    if let Some(cmd) = o.executed {
                        self.fired.push((o.generation, cmd));
                    }
                    match o.action {
                        Action::Continue => {}
                        Action::Close => return Some(Step::Close),
                        Action::Wait {
                            command,
                            generation,
                            timeout,
                        } => return Some(Step::Wait(command, generation, timeout)),
                    }
                    if self.out.len() > 4 * 1024 * 1024 {
                        return Some(Step::Continue);
                    }
                }
                Err(err) => {
                    resp::error(self.out, err.message());
                    if let RespError::MissingArgs(n) = err {
                        *self.consumed += n;
                        continue;
                    }
                    return Some(if err.close() {
                        Step::Close
                    } else {
                        Step::Continue
                    });
                }
            }
        }
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(sh: Shared, mut sock: S) {
    let mut session = {
        let mut e = lock(&sh.engine);
        e.stats.clients += 1;
        Session::new(&e)
    };
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut ranges: Vec<(usize, usize)> = Vec::with_capacity(16);
    let mut fired: Vec<Event> = Vec::with_capacity(16);
    loop {
        // Execute every complete request already buffered (pipelining): on this thread while
        // the page cache has what they read, the rest where blocking is allowed.
        let mut consumed = 0usize;
        let mut step = Step::Continue;
        if !buf.is_empty() {
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
                None => blocking(|| batch.run(false)).unwrap_or(Step::Continue),
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
            if buf.is_empty() && buf.capacity() > 1024 * 1024 {
                // a large SET is done: do not keep megabytes per idle connection
                buf.shrink_to(64 * 1024);
            }
        }
        if !out.is_empty() {
            if sock.write_all(&out).await.is_err() {
                return;
            }
            sh.tx.fetch_add(out.len() as u64, Ordering::Relaxed);
            out.clear();
            if out.capacity() > 1024 * 1024 {
                out.shrink_to(64 * 1024);
            }
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
                if sock.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
                continue;
            }
            Step::Continue => {}
        }
        if buf.len() > resp::MAX_REQUEST + 64 {
            // parse() refuses requests this large; guard anyway.
            return;
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        match sock.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                sh.rx.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
}
