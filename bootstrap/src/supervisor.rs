//! The supervisor: one task that owns every service record and decides what runs.
//!
//! All changes go through messages to that task (control requests, exits from the reaper,
//! readiness results, timers), so there are no locks around service state. It starts services
//! whose dependencies are up, restarts crashed ones with capped exponential backoff, stops with
//! SIGKILL escalation, runs the ordered shutdown, and prints state changes and the READY marker
//! to the console. It never touches mounts or the machine's power state (see `shutdown`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use zos_init_control::{ControlError, ServiceStatus};

use crate::config::{self, LogMode, ServiceConfig};
use crate::logs::{capture, Logs, Stream};
use crate::process::{Reaper, Spec};
use crate::readiness::Checker;
use crate::service::backoff::Backoff;
use crate::service::state::{State, Target};

/// What happens once every service is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PowerOff,
    Reboot,
    /// Leave the supervisor (non-PID-1 mode).
    Exit,
}

/// A control request (the socket's verbs that the supervisor serves).
#[derive(Debug)]
pub enum Request {
    List,
    Status(String),
    Start(String),
    Stop(String),
    Kill(String, Signal),
    Forget(String),
    Monitor(String),
    Shutdown(Action),
}

/// `Ok(body)` or the refusal, as the socket sends them.
pub type Reply = Result<Value, ControlError>;

enum Msg {
    Request(Request, oneshot::Sender<Reply>),
    Exited {
        name: String,
        gen: u64,
        status: WaitStatus,
    },
    Ready {
        name: String,
        gen: u64,
    },
    TestUnrunnable {
        name: String,
        gen: u64,
        error: String,
    },
    StopTimeout {
        name: String,
        gen: u64,
    },
    Tick,
}

/// Cheap handle for sending requests to the supervisor task.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::UnboundedSender<Msg>,
}

impl Handle {
    pub async fn request(&self, req: Request) -> Reply {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Request(req, tx))
            .map_err(|_| ControlError::ShuttingDown)?;
        rx.await.map_err(|_| ControlError::ShuttingDown)?
    }
}

pub struct Options {
    pub config_dir: PathBuf,
    pub logs: Logs,
    pub reaper: Reaper,
    /// Environment every service starts with (the init's own plus `/etc/environment`).
    pub base_env: BTreeMap<String, String>,
}

struct Svc {
    cfg: ServiceConfig,
    state: State,
    target: Target,
    pid: Option<Pid>,
    /// The generation of its current process: unique in this supervisor's life, so a message
    /// about an earlier process (its exit, its stop timeout) never acts on a later one, even
    /// one of a service forgotten and monitored again under the same name.
    gen: u64,
    /// Not started automatically (finished oneshot, spawn failure) until `start`.
    hold: bool,
    restart_at: Option<Instant>,
    backoff: Backoff,
    spawned_at: Instant,
    stop_sent: bool,
    readiness: Option<AbortHandle>,
}

impl Svc {
    fn new(cfg: ServiceConfig) -> Svc {
        Svc {
            cfg,
            state: State::Unknown,
            target: Target::Up,
            pid: None,
            gen: 0,
            hold: false,
            restart_at: None,
            backoff: Backoff::default(),
            spawned_at: Instant::now(),
            stop_sent: false,
            readiness: None,
        }
    }
}

struct Supervisor {
    services: BTreeMap<String, Svc>,
    tx: mpsc::UnboundedSender<Msg>,
    opts: Options,
    shutting: Option<Action>,
    done: Option<oneshot::Sender<Action>>,
    ready_printed: bool,
    /// The last generation given to a process (see [`Svc::gen`]).
    generations: u64,
}

/// Starts the supervisor with `services`; the receiver fires once a shutdown has stopped
/// every service, carrying what to do next.
pub fn start(
    opts: Options,
    services: BTreeMap<String, ServiceConfig>,
) -> (Handle, oneshot::Receiver<Action>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = oneshot::channel();
    let mut sup = Supervisor {
        services: services
            .into_iter()
            .map(|(n, c)| (n, Svc::new(c)))
            .collect(),
        tx: tx.clone(),
        opts,
        shutting: None,
        done: Some(done_tx),
        ready_printed: false,
        generations: 0,
    };
    tokio::spawn(async move {
        sup.schedule();
        while let Some(msg) = rx.recv().await {
            sup.handle(msg);
            sup.schedule();
        }
    });
    (Handle { tx }, done_rx)
}

fn say(text: &str) {
    println!("zos-init: {text}");
}

fn state_word(state: State) -> String {
    match state {
        State::Error(WaitStatus::Exited(_, code)) => format!("error (exit code {code})"),
        State::Error(WaitStatus::Signaled(_, sig, _)) => format!("error (killed by {sig})"),
        State::TestFailure => "test-failure".into(),
        other => other.to_string().to_lowercase(),
    }
}

fn unknown(name: &str) -> ControlError {
    ControlError::UnknownService(name.to_string())
}

impl Supervisor {
    fn set_state(&mut self, name: &str, state: State) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        if svc.state == state {
            return;
        }
        svc.state = state;
        let pid = svc.pid.map(|p| format!(" pid={p}")).unwrap_or_default();
        tracing::debug!(service = name, state = %state, "state changed");
        say(&format!("{name} {}{pid}", state_word(state)));
    }

    fn timer(&self, after: Duration, msg: Msg) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(msg);
        });
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Request(req, reply) => {
                let _ = reply.send(self.request(req));
            }
            Msg::Exited { name, gen, status } => self.exited(&name, gen, status),
            Msg::Ready { name, gen } => {
                if self
                    .services
                    .get(&name)
                    .is_some_and(|s| s.gen == gen && s.pid.is_some())
                {
                    self.set_state(&name, State::Running);
                }
            }
            Msg::TestUnrunnable { name, gen, error } => {
                if self
                    .services
                    .get(&name)
                    .is_some_and(|s| s.gen == gen && s.pid.is_some())
                {
                    tracing::warn!(service = %name, %error, "readiness test cannot run");
                    self.set_state(&name, State::TestFailure);
                }
            }
            Msg::StopTimeout { name, gen } => {
                let Some(svc) = self.services.get(&name) else {
                    return;
                };
                if let (true, Some(pid)) = (svc.gen == gen, svc.pid) {
                    say(&format!(
                        "{name} did not stop within {}s, sending SIGKILL",
                        svc.cfg.shutdown_timeout.as_secs()
                    ));
                    let _ = killpg(pid, Signal::SIGKILL);
                }
            }
            Msg::Tick => {}
        }
    }

    fn request(&mut self, req: Request) -> Reply {
        match req {
            Request::List => Ok(Value::Object(
                self.services
                    .iter()
                    .map(|(n, s)| (n.clone(), Value::String(s.state.to_string())))
                    .collect(),
            )),
            Request::Status(name) => {
                let svc = self.services.get(&name).ok_or_else(|| unknown(&name))?;
                let after = svc
                    .cfg
                    .after
                    .iter()
                    .map(|d| {
                        let st = self
                            .services
                            .get(d)
                            .map(|s| s.state)
                            .unwrap_or(State::Unknown);
                        (d.clone(), st.to_string())
                    })
                    .collect();
                let status = ServiceStatus {
                    name,
                    pid: svc.pid.map(|p| p.as_raw()).unwrap_or(0),
                    state: svc.state.to_string(),
                    target: svc.target.to_string(),
                    after,
                };
                serde_json::to_value(status).map_err(|e| ControlError::Failed(zos_base::report(&e)))
            }
            Request::Start(name) => {
                if self.shutting.is_some() {
                    return Err(ControlError::ShuttingDown);
                }
                let svc = self.services.get_mut(&name).ok_or_else(|| unknown(&name))?;
                svc.target = Target::Up;
                svc.hold = false;
                if svc.pid.is_none() {
                    svc.restart_at = None;
                }
                Ok(Value::Null)
            }
            Request::Stop(name) => {
                if !self.services.contains_key(&name) {
                    return Err(unknown(&name));
                }
                self.stop(&name);
                Ok(Value::Null)
            }
            Request::Kill(name, sig) => {
                let svc = self.services.get(&name).ok_or_else(|| unknown(&name))?;
                let pid = svc.pid.ok_or_else(|| ControlError::IsDown(name.clone()))?;
                killpg(pid, sig).map_err(|e| {
                    ControlError::Failed(format!(
                        "sending {sig} to service {name:?}: {e}",
                        e = zos_base::Report(&e)
                    ))
                })?;
                Ok(Value::Null)
            }
            Request::Forget(name) => {
                let svc = self.services.get(&name).ok_or_else(|| unknown(&name))?;
                if svc.target == Target::Up || svc.pid.is_some() {
                    return Err(ControlError::IsUp(name));
                }
                self.services.remove(&name);
                say(&format!("{name} forgotten"));
                Ok(Value::Null)
            }
            Request::Monitor(name) => {
                if self.services.contains_key(&name) {
                    return Err(ControlError::AlreadyMonitored(name));
                }
                if self.shutting.is_some() {
                    return Err(ControlError::ShuttingDown);
                }
                let cfg = config::load_service(&self.opts.config_dir, &name)
                    .map_err(|e| ControlError::Failed(zos_base::report(&e)))?;
                self.services.insert(name.clone(), Svc::new(cfg));
                say(&format!("{name} monitored"));
                Ok(Value::Null)
            }
            Request::Shutdown(action) => {
                if self.shutting.is_none() {
                    say(&format!("shutting down ({action:?})"));
                    self.shutting = Some(action);
                    for svc in self.services.values_mut() {
                        svc.target = Target::Down;
                        svc.restart_at = None;
                    }
                }
                Ok(Value::Null)
            }
        }
    }

    /// target=Down, stop signal to the process group, SIGKILL after the service's timeout.
    fn stop(&mut self, name: &str) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        svc.target = Target::Down;
        svc.restart_at = None;
        let Some(pid) = svc.pid else { return };
        svc.stop_sent = true;
        let (sig, timeout, gen) = (svc.cfg.stop_signal, svc.cfg.shutdown_timeout, svc.gen);
        tracing::info!(service = name, signal = %sig, "stopping");
        if let Err(e) = killpg(pid, sig) {
            tracing::warn!(service = name, error = %zos_base::Report(&e), "cannot signal process group");
        }
        self.timer(
            timeout,
            Msg::StopTimeout {
                name: name.into(),
                gen,
            },
        );
    }

    fn exited(&mut self, name: &str, gen: u64, status: WaitStatus) {
        let shutting = self.shutting.is_some();
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        if svc.gen != gen {
            return;
        }
        svc.pid = None;
        if let Some(task) = svc.readiness.take() {
            task.abort();
        }
        let state = match status {
            WaitStatus::Exited(_, 0) => State::Success,
            other => State::Error(other),
        };
        let mut delay = None;
        if svc.cfg.oneshot {
            svc.hold = true;
        } else if svc.target == Target::Up && !shutting {
            let d = svc.backoff.next_delay(svc.spawned_at.elapsed());
            svc.restart_at = Some(Instant::now() + d);
            delay = Some(d);
        }
        self.set_state(name, state);
        if let Some(d) = delay {
            say(&format!("{name} restarting in {}ms", d.as_millis()));
            self.timer(d, Msg::Tick);
        }
    }

    fn deps_ok(&self, cfg: &ServiceConfig) -> bool {
        cfg.after.iter().all(|d| {
            self.services
                .get(d)
                .is_some_and(|s| s.state.satisfies_dependents(s.cfg.oneshot))
        })
    }

    fn schedule(&mut self) {
        if self.shutting.is_some() {
            self.drive_shutdown();
            return;
        }
        let now = Instant::now();
        let names: Vec<String> = self.services.keys().cloned().collect();
        for name in names {
            let Some(svc) = self.services.get(&name) else {
                continue;
            };
            if svc.target != Target::Up || svc.pid.is_some() || svc.hold {
                continue;
            }
            if svc.restart_at.is_some_and(|at| at > now) {
                continue;
            }
            if !self.deps_ok(&svc.cfg) {
                self.set_state(&name, State::Blocked);
                continue;
            }
            self.spawn(&name);
        }
        self.check_ready_marker();
    }

    fn spawn(&mut self, name: &str) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        self.generations += 1;
        svc.gen = self.generations;
        svc.restart_at = None;
        svc.stop_sent = false;
        let cfg = svc.cfg.clone();
        let gen = svc.gen;
        let console = cfg.log == LogMode::Stdout;
        let piped = cfg.log != LogMode::None;
        let stdio = || if piped { Stdio::piped() } else { Stdio::null() };
        let mut env = self.opts.base_env.clone();
        env.extend(cfg.env.clone());
        if piped {
            self.opts.logs.start_marker(name, console);
        }
        let spawned = self.opts.reaper.spawn(Spec {
            argv: &cfg.exec,
            env: &env,
            dir: cfg.dir.as_deref(),
            stdout: stdio(),
            stderr: stdio(),
        });
        let (mut child, exit) = match spawned {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(service = name, error = %zos_base::Report(&e), "cannot spawn");
                say(&format!(
                    "{name} cannot be started: {e}",
                    e = zos_base::Report(&e)
                ));
                if let Some(svc) = self.services.get_mut(name) {
                    svc.hold = true;
                }
                self.set_state(name, State::Failure);
                return;
            }
        };
        let pid = Pid::from_raw(child.id() as i32);
        for (pipe, stream) in [
            (child.stdout.take().map(Into::into), Stream::Stdout),
            (child.stderr.take().map(Into::into), Stream::Stderr),
        ] {
            if let Some(fd) = pipe {
                let logs = self.opts.logs.clone();
                tokio::spawn(capture(logs, name.into(), name.into(), fd, stream, console));
            }
        }
        let tx = self.tx.clone();
        let owned = name.to_string();
        tokio::spawn(async move {
            if let Ok(status) = exit.await {
                let _ = tx.send(Msg::Exited {
                    name: owned,
                    gen,
                    status,
                });
            }
        });
        let checks = !cfg.oneshot && (cfg.test.is_some() || cfg.ready.is_some());
        let readiness = checks.then(|| {
            let checker = Checker::new(
                name.into(),
                cfg.test.clone(),
                cfg.ready.clone(),
                env,
                cfg.dir.clone(),
                self.opts.reaper.clone(),
                self.opts.logs.clone(),
            );
            let tx = self.tx.clone();
            let owned = name.to_string();
            tokio::spawn(async move {
                let tx2 = tx.clone();
                let n2 = owned.clone();
                checker
                    .run(move |error| {
                        let _ = tx2.send(Msg::TestUnrunnable {
                            name: n2.clone(),
                            gen,
                            error,
                        });
                    })
                    .await;
                let _ = tx.send(Msg::Ready { name: owned, gen });
            })
            .abort_handle()
        });
        if let Some(svc) = self.services.get_mut(name) {
            svc.pid = Some(pid);
            svc.spawned_at = Instant::now();
            svc.readiness = readiness;
        }
        self.set_state(name, State::Spawned);
        if !checks {
            self.set_state(name, State::Running);
        }
    }

    /// Stops services in reverse dependency order: a service is signalled only once every live
    /// service that lists it in `after` is down.
    fn drive_shutdown(&mut self) {
        let alive: Vec<String> = self
            .services
            .iter()
            .filter(|(_, s)| s.pid.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        if alive.is_empty() {
            if let (Some(done), Some(action)) = (self.done.take(), self.shutting) {
                say("all services stopped");
                let _ = done.send(action);
            }
            return;
        }
        let mut progressing = false;
        for name in &alive {
            let Some(svc) = self.services.get(name) else {
                continue;
            };
            if svc.stop_sent {
                progressing = true;
                continue;
            }
            let dependents_up = self
                .services
                .iter()
                .any(|(_, s)| s.pid.is_some() && s.cfg.after.iter().any(|d| d == name));
            if !dependents_up {
                self.stop(name);
                progressing = true;
            }
        }
        if !progressing {
            tracing::warn!("dependency cycle among running services; stopping all of them");
            for name in &alive {
                self.stop(name);
            }
        }
    }

    fn check_ready_marker(&mut self) {
        if self.ready_printed || self.shutting.is_some() {
            return;
        }
        let all_up = self
            .services
            .values()
            .filter(|s| s.target == Target::Up)
            .all(|s| s.state == State::Running || (s.cfg.oneshot && s.state == State::Success));
        if !all_up {
            return;
        }
        self.ready_printed = true;
        println!("ZOS READY boot_ms={}", boot_millis());
    }
}

/// Milliseconds since the kernel started (CLOCK_BOOTTIME).
fn boot_millis() -> u128 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|t| Duration::from(t).as_millis())
        .unwrap_or(0)
}
