//! Deciding that a spawned service is up: its `test` command exits 0 and its `ready:` condition
//! (a unix socket accepting connections, or a bus name having an owner) holds.
//!
//! Checks only observe; they never signal or restart anything. The supervisor aborts the check
//! task when the service exits.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::config::Ready;
use crate::logs::{capture, Logs, Stream};
use crate::process::{Reaper, Spec};

/// A `test` command running longer than this counts as failed and is killed.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);
const BUS_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_INTERVAL: Duration = Duration::from_secs(2);

pub struct Checker {
    pub name: String,
    pub test: Option<Vec<String>>,
    pub ready: Option<Ready>,
    pub env: std::collections::BTreeMap<String, String>,
    pub dir: Option<PathBuf>,
    pub reaper: Reaper,
    pub logs: Logs,
    bus: Option<zbus::Connection>,
}

impl Checker {
    pub fn new(
        name: String,
        test: Option<Vec<String>>,
        ready: Option<Ready>,
        env: std::collections::BTreeMap<String, String>,
        dir: Option<PathBuf>,
        reaper: Reaper,
        logs: Logs,
    ) -> Checker {
        Checker {
            name,
            test,
            ready,
            env,
            dir,
            reaper,
            logs,
            bus: None,
        }
    }

    /// Checks until ready. `on_unrunnable` is told each time the test cannot even start
    /// (zinit's TestFailure); checking goes on.
    pub async fn run(mut self, mut on_unrunnable: impl FnMut(String)) {
        let mut interval = Duration::from_millis(50);
        loop {
            match self.check_once().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => on_unrunnable(e),
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(MAX_INTERVAL);
        }
    }

    /// One round of checks; `Err` means the test command could not be started.
    async fn check_once(&mut self) -> Result<bool, String> {
        if let Some(test) = self.test.clone() {
            if !self.run_test(&test).await? {
                return Ok(false);
            }
        }
        Ok(match self.ready.clone() {
            None => true,
            Some(Ready::Socket(path)) => tokio::net::UnixStream::connect(&path).await.is_ok(),
            Some(Ready::BusName(name)) => self.bus_name_owned(&name).await,
        })
    }

    async fn run_test(&self, argv: &[String]) -> Result<bool, String> {
        let spawned = self.reaper.spawn(Spec {
            argv,
            env: &self.env,
            dir: self.dir.as_deref(),
            stdout: Stdio::piped(),
            stderr: Stdio::piped(),
        });
        let (mut child, exit) = spawned.map_err(|e| zos_base::report(&e))?;
        let label = format!("{}/test", self.name);
        for (pipe, stream) in [
            (child.stdout.take().map(Into::into), Stream::Stdout),
            (child.stderr.take().map(Into::into), Stream::Stderr),
        ] {
            if let Some(fd) = pipe {
                tokio::spawn(capture(
                    self.logs.clone(),
                    self.name.clone(),
                    label.clone(),
                    fd,
                    stream,
                    false,
                ));
            }
        }
        let pid = Pid::from_raw(child.id() as i32);
        match tokio::time::timeout(TEST_TIMEOUT, exit).await {
            Ok(Ok(status)) => Ok(matches!(status, nix::sys::wait::WaitStatus::Exited(_, 0))),
            Ok(Err(_)) => Ok(false),
            Err(_) => {
                tracing::warn!(service = %self.name, "readiness test timed out; killing it");
                let _ = killpg(pid, Signal::SIGKILL);
                Ok(false)
            }
        }
    }

    async fn bus_name_owned(&mut self, name: &str) -> bool {
        let attempt = async {
            if self.bus.is_none() {
                self.bus = Some(zos_bus::connect().await?);
            }
            let conn = self.bus.as_ref().ok_or(zbus::Error::Unsupported)?;
            let proxy = zbus::fdo::DBusProxy::new(conn).await?;
            let bus_name = zbus::names::BusName::try_from(name).map_err(zbus::Error::from)?;
            Ok::<bool, zbus::Error>(proxy.name_has_owner(bus_name).await?)
        };
        match tokio::time::timeout(BUS_TIMEOUT, attempt).await {
            Ok(Ok(owned)) => owned,
            Ok(Err(e)) => {
                tracing::debug!(service = %self.name, error = %zos_base::Report(&e), "bus not answering yet");
                self.bus = None;
                false
            }
            Err(_) => {
                self.bus = None;
                false
            }
        }
    }
}
