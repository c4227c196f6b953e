//! Spawning service processes and reaping every child, including adopted orphans.
//!
//! There is exactly one place that calls `waitpid`: the reaper task started by [`Reaper::start`].
//! Processes are spawned with `std::process::Command` (never `tokio::process`, whose own reaping
//! would race with ours) while holding [`SPAWN_LOCK`], which the reaper also holds around each
//! `waitpid(-1)`: so a child cannot be reaped before its pid is registered, and std's own
//! `wait` on a failed `exec` cannot find its child already reaped. Exit statuses are routed to
//! whoever registered the pid; unregistered pids (orphans) are reaped and logged.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

/// Serialises fork/exec against `waitpid(-1)` (see the module documentation).
static SPAWN_LOCK: Mutex<()> = Mutex::new(());

fn spawn_lock() -> MutexGuard<'static, ()> {
    SPAWN_LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("spawning {program:?}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("installing the SIGCHLD handler: {0}")]
    Signal(std::io::Error),
}

type Waiters = Arc<Mutex<HashMap<i32, oneshot::Sender<WaitStatus>>>>;

/// Owner of all children's exit statuses.
#[derive(Clone)]
pub struct Reaper {
    waiters: Waiters,
}

/// What to run, with stdio already chosen by the caller.
pub struct Spec<'a> {
    pub argv: &'a [String],
    pub env: &'a std::collections::BTreeMap<String, String>,
    pub dir: Option<&'a std::path::Path>,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

impl Reaper {
    /// Starts the reaper task. Must run inside the tokio runtime; call once.
    pub fn start() -> Result<Reaper, ProcessError> {
        let mut sigchld = signal(SignalKind::child()).map_err(ProcessError::Signal)?;
        let reaper = Reaper {
            waiters: Arc::new(Mutex::new(HashMap::new())),
        };
        let waiters = reaper.waiters.clone();
        tokio::spawn(async move {
            loop {
                reap_all(&waiters);
                if sigchld.recv().await.is_none() {
                    break;
                }
            }
        });
        Ok(reaper)
    }

    /// Spawns a process in its own session and process group and registers it; the returned
    /// receiver yields its exit status.
    pub fn spawn(
        &self,
        spec: Spec<'_>,
    ) -> Result<(Child, oneshot::Receiver<WaitStatus>), ProcessError> {
        let program = spec.argv.first().cloned().unwrap_or_default();
        let mut cmd = Command::new(&program);
        cmd.args(&spec.argv[1..])
            .envs(spec.env)
            .stdin(Stdio::null())
            .stdout(spec.stdout)
            .stderr(spec.stderr);
        if let Some(dir) = spec.dir {
            cmd.current_dir(dir);
        }
        // SAFETY: setsid(2) is async-signal-safe and touches no memory of the parent; it gives the
        // child its own session and process group so signals can be sent to the whole group.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let _guard = spawn_lock();
        let child = cmd
            .spawn()
            .map_err(|source| ProcessError::Spawn { program, source })?;
        let (tx, rx) = oneshot::channel();
        self.lock_waiters().insert(child.id() as i32, tx);
        Ok((child, rx))
    }

    fn lock_waiters(&self) -> MutexGuard<'_, HashMap<i32, oneshot::Sender<WaitStatus>>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn reap_all(waiters: &Waiters) {
    loop {
        let status = {
            let _guard = spawn_lock();
            waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG))
        };
        match status {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
            Err(Errno::EINTR) => continue,
            Err(e) => {
                tracing::error!(error = %zos_base::Report(&e), "waitpid failed");
                return;
            }
            Ok(status) => {
                let Some(pid) = status.pid() else { continue };
                let waiter = waiters
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&pid.as_raw());
                match waiter {
                    Some(tx) => {
                        // The receiver may be gone (service forgotten); the status is then moot.
                        let _ = tx.send(status);
                    }
                    None => tracing::debug!(pid = pid.as_raw(), ?status, "reaped orphan"),
                }
            }
        }
    }
}
