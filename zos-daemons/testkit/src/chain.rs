//! `LocalChain`: the real TFChain runtime (pinned spec 144) under chopsticks on a free loopback
//! port, and what every test on it starts with: the dev accounts, funded twins, a farm, a node.
//!
//! It owns one chopsticks process: started on 127.0.0.1 only, killed by pid on `stop()` and on
//! Drop. Chopsticks keeps state in memory, so `restart()` comes back at genesis on the same port.

use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use zos_chain::{AccountId32, Chain, Error, Signer};

/// sha256 of `chain/tfchain-local-spec144.json`.
pub const SPEC_SHA256: &str = "4c284cdc03cd2b872fe9e5895271c5e8a69b2b1ef761241b220dce6a96be3489";
/// The staking pool account hard-coded in the TFChain runtime (receives a share of each bill).
pub const STAKING_POOL_ACCOUNT: &str = "5CNposRewardAccount11111111111111111111111111FSU";
const SPEC_FILE: &str = "tfchain-local-spec144.json";
const CHOPSTICKS: &str = "node_modules/@acala-network/chopsticks/chopsticks.cjs";
const START_TIMEOUT: Duration = Duration::from_secs(90);
const PORT_ATTEMPTS: u32 = 5;

/// Errors starting the local chain.
#[derive(Debug, thiserror::Error)]
pub enum LocalChainError {
    #[error("chopsticks not installed at {0}: run make deps (npm ci in chain/)")]
    NotInstalled(PathBuf),
    #[error("chain spec {path}: {reason}")]
    Spec { path: PathBuf, reason: String },
    #[error("cannot run node (Node.js, from make deps): {0}")]
    Spawn(std::io::Error),
    #[error("cannot pick a free loopback port: {0}")]
    Port(std::io::Error),
    #[error("log file {path}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("chopsticks did not answer on port {port} within {seconds} s; log tail:\n{log}")]
    NotReady {
        port: u16,
        seconds: u64,
        log: String,
    },
}

/// A running local TFChain.
#[derive(Debug)]
pub struct LocalChain {
    chain_dir: PathBuf,
    port: u16,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl LocalChain {
    /// The project's `chain/` directory (override with `ZOS_CHAIN_DIR`).
    pub fn chain_dir() -> PathBuf {
        match std::env::var_os("ZOS_CHAIN_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../chain"),
        }
    }

    /// Starts chopsticks on a free loopback port and waits until its RPC answers.
    pub async fn start() -> Result<LocalChain, LocalChainError> {
        Self::start_in(Self::chain_dir()).await
    }

    /// Starts chopsticks on a given loopback port (for tests that start a client before the
    /// chain) and waits until its RPC answers. Fails if the port is taken.
    pub async fn start_on(port: u16) -> Result<LocalChain, LocalChainError> {
        let mut chain = Self::prepare(Self::chain_dir())?;
        chain.port = port;
        chain.spawn_and_wait().await?;
        Ok(chain)
    }

    async fn start_in(chain_dir: PathBuf) -> Result<LocalChain, LocalChainError> {
        let mut chain = Self::prepare(chain_dir)?;
        let mut last_err = None;
        for _ in 0..PORT_ATTEMPTS {
            chain.port = free_port()?;
            match chain.spawn_and_wait().await {
                Ok(()) => return Ok(chain),
                // Another process may have taken the port between our probe and chopsticks' bind.
                Err(e) => {
                    chain.kill();
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or(LocalChainError::NotReady {
            port: chain.port,
            seconds: 0,
            log: String::new(),
        }))
    }

    /// Checks the installation and the spec, and opens the log; nothing runs yet.
    fn prepare(chain_dir: PathBuf) -> Result<LocalChain, LocalChainError> {
        let script = chain_dir.join(CHOPSTICKS);
        if !script.is_file() {
            return Err(LocalChainError::NotInstalled(script));
        }
        verify_spec(&chain_dir.join(SPEC_FILE))?;
        let log = tempfile::Builder::new()
            .prefix("zos-local-chain-")
            .suffix(".log")
            .tempfile()
            .map_err(|source| LocalChainError::Log {
                path: std::env::temp_dir(),
                source,
            })?;
        Ok(LocalChain {
            chain_dir,
            port: 0,
            child: None,
            log,
        })
    }

    /// `ws://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The loopback port chopsticks listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills chopsticks (clients see the connection drop).
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Stops (if running) and starts chopsticks again on the same port. State starts again at
    /// genesis (chopsticks keeps it in memory).
    pub async fn restart(&mut self) -> Result<(), LocalChainError> {
        self.kill();
        self.spawn_and_wait().await
    }

    /// Funds the runtime's staking-pool account (`5CNposRewardAccount...`, empty in the genesis)
    /// from //Alice. Billing sends a share of every bill there; until it holds the existential
    /// deposit, billing a small amount (and so `cancel_contract`) fails with `Token.BelowMinimum`.
    pub async fn fund_billing_accounts(chain: &Chain) -> Result<(), Error> {
        let pool: AccountId32 = STAKING_POOL_ACCOUNT
            .parse()
            .map_err(|e| Error::InvalidArgument(format!("staking pool account: {e:?}")))?;
        let alice = Signer::sr25519_from_uri("//Alice")
            .map_err(|e| Error::InvalidArgument(zos_base::report(&e)))?;
        chain
            .transfer_keep_alive(&alice, &pool, 1_000_000_000)
            .await?;
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Killing our own child by its pid; reaping it so no zombie is left.
            if let Err(e) = child.kill() {
                tracing::warn!(pid = child.id(), error = %zos_base::Report(&e), "cannot kill chopsticks");
            }
            let _ = child.wait();
        }
    }

    async fn spawn_and_wait(&mut self) -> Result<(), LocalChainError> {
        let log_path = self.log.path().to_path_buf();
        let log_err = |source| LocalChainError::Log {
            path: log_path.clone(),
            source,
        };
        let out = self.log.reopen().map_err(log_err)?;
        let err = self.log.reopen().map_err(log_err)?;
        let start_offset = out.metadata().map(|m| m.len()).unwrap_or(0);
        let child = Command::new("node")
            .arg(self.chain_dir.join(CHOPSTICKS))
            .arg("--genesis")
            .arg(self.chain_dir.join(SPEC_FILE))
            .args(["--host", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .current_dir(&self.chain_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(LocalChainError::Spawn)?;
        tracing::info!(pid = child.id(), port = self.port, "started chopsticks");
        self.child = Some(child);

        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            let exited = match self.child.as_mut() {
                Some(child) => !matches!(child.try_wait(), Ok(None)),
                None => true,
            };
            if exited {
                break;
            }
            let port = self.port;
            if tokio::task::spawn_blocking(move || rpc_answers(port))
                .await
                .unwrap_or(false)
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(LocalChainError::NotReady {
            port: self.port,
            seconds: started.elapsed().as_secs(),
            log: self.log_tail(start_offset),
        })
    }

    fn log_tail(&self, from: u64) -> String {
        let mut text = String::new();
        if let Ok(mut file) = self.log.reopen() {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let start = from.max(len.saturating_sub(4000));
            if file.seek(SeekFrom::Start(start)).is_ok() {
                let _ = file.read_to_string(&mut text);
            }
        }
        text
    }
}

impl Drop for LocalChain {
    fn drop(&mut self) {
        self.kill();
    }
}

fn verify_spec(path: &Path) -> Result<(), LocalChainError> {
    let data = std::fs::read(path).map_err(|e| LocalChainError::Spec {
        path: path.to_path_buf(),
        reason: zos_base::report(&e),
    })?;
    let digest = hex::encode(Sha256::digest(&data));
    if digest != SPEC_SHA256 {
        return Err(LocalChainError::Spec {
            path: path.to_path_buf(),
            reason: format!("sha256 {digest}, expected {SPEC_SHA256}"),
        });
    }
    Ok(())
}

fn free_port() -> Result<u16, LocalChainError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(LocalChainError::Port)?;
    let port = listener.local_addr().map_err(LocalChainError::Port)?.port();
    Ok(port)
}

/// One JSON-RPC call over plain HTTP (chopsticks serves HTTP and WS on the same port).
fn rpc_answers(port: u16) -> bool {
    use std::io::Write;
    let Ok(mut stream) = TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let body = r#"{"id":1,"jsonrpc":"2.0","method":"chain_getFinalizedHead","params":[]}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.contains("\"result\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_chopsticks_says_run_make_deps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = match LocalChain::start_in(dir.path().to_path_buf()).await {
            Ok(_) => panic!("started without chopsticks"),
            Err(e) => e,
        };
        assert!(matches!(err, LocalChainError::NotInstalled(_)), "{err:?}");
        assert!(
            zos_base::report(&err).contains("run make deps (npm ci in chain/)"),
            "{err}"
        );
    }

    #[test]
    fn pinned_spec_matches_its_sha256() {
        verify_spec(&LocalChain::chain_dir().join(SPEC_FILE)).expect("pinned spec");
        let dir = tempfile::tempdir().expect("tempdir");
        let other = dir.path().join(SPEC_FILE);
        std::fs::write(&other, b"{}").expect("write");
        let err = verify_spec(&other).expect_err("wrong digest");
        assert!(
            zos_base::report(&err).contains("expected 4c284cdc"),
            "{err}"
        );
    }
}
