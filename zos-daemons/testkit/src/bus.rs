//! A private bus broker for integration tests.
//!
//! [`PrivateBus::start`] runs the real broker (`busd`, installed by `make deps` into
//! `target/tools/bin/busd`) on a socket in a fresh temporary directory and waits until it accepts
//! connections. Dropping the guard kills exactly that broker (by its pid) and removes the
//! directory. Point a daemon at it with `ZOS_BUS_ADDRESS=<address()>`.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming another busd binary to use.
pub const BUSD_ENV: &str = "ZOS_BUSD";

/// How long [`PrivateBus::start`] waits for the broker's socket.
const START_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum TestingError {
    #[error("busd not found at {0}: run `make deps` (it installs busd into target/tools/bin)")]
    BusdMissing(PathBuf),
    #[error("cannot create a temporary directory for the broker")]
    TempDir(#[source] std::io::Error),
    #[error("cannot start {busd}")]
    Spawn {
        busd: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("busd exited before listening on {socket}: {status}")]
    Exited {
        socket: PathBuf,
        status: std::process::ExitStatus,
    },
    #[error("busd did not listen on {socket} within {START_TIMEOUT:?}")]
    Timeout { socket: PathBuf },
    #[error("cannot check on busd")]
    Wait(#[source] std::io::Error),
}

/// The busd binary tests use: `$ZOS_BUSD`, else the workspace's `target/tools/bin/busd`.
pub fn busd_path() -> PathBuf {
    match std::env::var_os(BUSD_ENV) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/bin/busd"),
    }
}

/// A running private broker; killed (by pid) and cleaned up on drop.
#[derive(Debug)]
pub struct PrivateBus {
    child: Child,
    address: String,
    socket: PathBuf,
    // Removed on drop, after the broker is gone.
    _dir: tempfile::TempDir,
}

impl PrivateBus {
    /// Starts busd on a socket in a new temporary directory and waits until it accepts
    /// connections.
    pub fn start() -> Result<Self, TestingError> {
        let busd = busd_path();
        if !busd.is_file() {
            return Err(TestingError::BusdMissing(busd));
        }
        let dir = tempfile::Builder::new()
            .prefix("zos-bus-test-")
            .tempdir()
            .map_err(TestingError::TempDir)?;
        let socket = dir.path().join("bus.sock");
        let address = format!("unix:path={}", socket.display());
        let child = Command::new(&busd)
            .arg("--address")
            .arg(&address)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|source| TestingError::Spawn {
                busd: busd.clone(),
                source,
            })?;
        let mut bus = PrivateBus {
            child,
            address,
            socket,
            _dir: dir,
        };
        bus.wait_listening()?;
        Ok(bus)
    }

    /// The broker's D-Bus address (`unix:path=...`), for `ZOS_BUS_ADDRESS` or `connect_to`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_listening(&mut self) -> Result<(), TestingError> {
        let start = Instant::now();
        loop {
            if UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().map_err(TestingError::Wait)? {
                return Err(TestingError::Exited {
                    socket: self.socket.clone(),
                    status,
                });
            }
            if start.elapsed() > START_TIMEOUT {
                return Err(TestingError::Timeout {
                    socket: self.socket.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        // Child::kill signals exactly this pid (SIGKILL); wait reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
