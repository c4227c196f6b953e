//! A local grid for boot tests and benchmarks: the real TFChain runtime (zos-chain's `LocalChain`,
//! chopsticks on a free loopback port), the dev activation service (`zos_activation::serve`,
//! funder //Alice, on a free loopback port), a chain client, the QEMU forwards that make both
//! reachable from a guest, and the `zosctl` binary run as a farmer would.
//!
//! Owns the chopsticks process (killed by pid on drop, through `LocalChain`), the activation
//! service task and the tokio runtime they run on. Everything listens on 127.0.0.1 only; a guest
//! reaches the chain and the service only through QEMU `guestfwd` rules (user networking with
//! `restrict=on`), at [`GUEST_CHAIN`] and [`GUEST_ACTIVATION`]. It never talks to a public chain.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use zos_chain::{Chain, Node, Signer, SignerError};
use zos_testkit::{LocalChain, LocalChainError};

use crate::image::workspace_root;
use crate::vm::UserNet;

/// Where a guest finds the chain: `ws://10.0.2.100:9944`.
pub const GUEST_CHAIN: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 0, 2, 100), 9944);
/// Where a guest finds the activation service: `http://10.0.2.101:8041/activation/activate`.
pub const GUEST_ACTIVATION: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 0, 2, 101), 8041);
/// What the activation service gives a fresh node account (100 000 TFT: plenty for a test's fees).
pub const ACTIVATION_AMOUNT: u128 = 1_000_000_000_000;
/// The dev account that funds node accounts and owns the test farms.
pub const FUNDER: &str = "//Alice";
/// Overrides where the `zosctl` binary is (default `<workspace>/target/debug/zosctl`).
pub const ZOSCTL_ENV: &str = "ZOSCTL";

/// Errors setting up or using the local grid.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error("cannot start a tokio runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot start the local chain")]
    Chain(#[from] LocalChainError),
    #[error("chain call {what} failed")]
    Client {
        what: String,
        #[source]
        source: zos_chain::Error,
    },
    #[error("dev key {FUNDER}")]
    Signer(#[from] SignerError),
    #[error("cannot listen on 127.0.0.1 for the activation service")]
    Bind(#[source] std::io::Error),
    #[error(
        "zosctl not found at {0}: run `make test-boot` (or `cargo build -p zosctl`), or set {ZOSCTL_ENV}"
    )]
    ZosctlMissing(PathBuf),
    #[error("cannot run {bin}")]
    ZosctlSpawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error("`zosctl {args}` exited with {status}: {stderr}")]
    ZosctlFailed {
        args: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("`zosctl {args}` printed no usable JSON ({reason}): {stdout}")]
    ZosctlOutput {
        args: String,
        reason: String,
        stdout: String,
    },
    #[error("no NodeUptimeReported event for node {node_id} after block {after_block} within {timeout:?}")]
    NoUptimeReport {
        node_id: u32,
        after_block: u64,
        timeout: Duration,
    },
}

/// One `TfgridModule.NodeUptimeReported` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UptimeReport {
    pub block: u64,
    pub node_id: u32,
    /// The chain's time when the report was made, in seconds.
    pub timestamp: u64,
    /// The uptime the node reported, in seconds.
    pub uptime: u64,
}

/// A running local chain and activation service.
#[derive(Debug)]
pub struct LocalGrid {
    rt: tokio::runtime::Runtime,
    chain: Option<LocalChain>,
    activation: Option<tokio::task::JoinHandle<()>>,
    activation_port: u16,
    client: Chain,
}

impl LocalGrid {
    /// Starts chopsticks and the activation service (about 3 s) and connects a client.
    pub fn start() -> Result<LocalGrid, GridError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(GridError::Runtime)?;
        let chain = rt.block_on(LocalChain::start())?;
        let url = chain.url();
        let client = rt
            .block_on(Chain::connect(&url))
            .map_err(|source| GridError::Client {
                what: format!("connect {url}"),
                source,
            })?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .map_err(GridError::Bind)?;
        let activation_port = listener.local_addr().map_err(GridError::Bind)?.port();
        let config = zos_activation::Config {
            chain_url: url,
            funder: Signer::sr25519_from_uri(FUNDER)?,
            amount: ACTIVATION_AMOUNT,
        };
        let activation = rt.spawn(async move {
            if let Err(error) = zos_activation::serve(listener, config).await {
                eprintln!(
                    "qemu-test: the activation service stopped: {error}",
                    error = zos_base::Report(&error)
                );
            }
        });
        eprintln!(
            "qemu-test: local chain on {}, activation service on 127.0.0.1:{activation_port}",
            chain.url()
        );
        Ok(LocalGrid {
            rt,
            chain: Some(chain),
            activation: Some(activation),
            activation_port,
            client,
        })
    }

    /// `ws://127.0.0.1:PORT` (for the host).
    pub fn chain_url(&self) -> String {
        self.chain.as_ref().map(LocalChain::url).unwrap_or_default()
    }

    /// The host port of chopsticks.
    pub fn chain_port(&self) -> u16 {
        self.chain.as_ref().map(LocalChain::port).unwrap_or(0)
    }

    /// The host port of the activation service.
    pub fn activation_port(&self) -> u16 {
        self.activation_port
    }

    /// A chain client connected to the local chain.
    pub fn client(&self) -> &Chain {
        &self.client
    }

    /// Runs a future on the grid's runtime (chain reads from synchronous test code).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// User networking whose only ways out are the chain and the activation service.
    pub fn user_net(&self) -> UserNet {
        guest_forwards(UserNet::new(), self.chain_port(), self.activation_port)
    }

    /// The kernel command line words that put a node in farm `farm_id` on this grid.
    pub fn cmdline(&self, farm_id: u32) -> String {
        node_cmdline(farm_id)
    }

    /// A `zosctl` runner for this chain.
    pub fn zosctl(&self) -> Result<Zosctl, GridError> {
        Zosctl::locate(&self.chain_url())
    }

    /// The node with id `node_id`.
    pub fn node(&self, node_id: u32) -> Result<Option<Node>, GridError> {
        self.block_on(self.client.node(node_id))
            .map_err(|source| GridError::Client {
                what: format!("node({node_id})"),
                source,
            })
    }

    /// The nodes of farm `farm_id`.
    pub fn farm_nodes(&self, farm_id: u32) -> Result<Vec<Node>, GridError> {
        self.block_on(self.client.nodes(Some(farm_id)))
            .map_err(|source| GridError::Client {
                what: format!("nodes(farm {farm_id})"),
                source,
            })
    }

    /// The account id (hex public key) of twin `twin_id`.
    pub fn twin_account_hex(&self, twin_id: u32) -> Result<Option<String>, GridError> {
        let twin =
            self.block_on(self.client.twin(twin_id))
                .map_err(|source| GridError::Client {
                    what: format!("twin({twin_id})"),
                    source,
                })?;
        Ok(twin.map(|t| hex_encode(&t.account_id.0)))
    }

    /// The next `NodeUptimeReported` event of `node_id` in a block after `after_block` (0: any),
    /// waiting up to `timeout` for it.
    pub fn wait_uptime_report(
        &self,
        node_id: u32,
        after_block: u64,
        timeout: Duration,
    ) -> Result<UptimeReport, GridError> {
        let none = || GridError::NoUptimeReport {
            node_id,
            after_block,
            timeout,
        };
        self.block_on(async {
            let deadline = Instant::now() + timeout;
            let mut events = self
                .client
                .subscribe_events(Some(after_block + 1))
                .await
                .map_err(|source| GridError::Client {
                    what: "subscribe_events".into(),
                    source,
                })?;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let event = match tokio::time::timeout(left, events.next()).await {
                    Ok(Some(Ok(event))) => event,
                    // A block this client cannot decode: not ours to judge here, keep reading.
                    Ok(Some(Err(_))) => continue,
                    Ok(None) | Err(_) => return Err(none()),
                };
                if event.pallet != "TfgridModule" || event.variant != "NodeUptimeReported" {
                    continue;
                }
                let v: Vec<u128> = event.fields.values().filter_map(|v| v.as_u128()).collect();
                if let [node, timestamp, uptime] = v[..] {
                    if node == u128::from(node_id) {
                        return Ok(UptimeReport {
                            block: event.block_number,
                            node_id,
                            timestamp: u64::try_from(timestamp).unwrap_or(u64::MAX),
                            uptime: u64::try_from(uptime).unwrap_or(u64::MAX),
                        });
                    }
                }
            }
        })
    }
}

impl Drop for LocalGrid {
    fn drop(&mut self) {
        if let Some(task) = self.activation.take() {
            task.abort();
        }
        // Kills chopsticks by pid (LocalChain's Drop).
        self.chain.take();
    }
}

/// `net` plus the forwards of [`GUEST_CHAIN`] → `127.0.0.1:chain_port` and
/// [`GUEST_ACTIVATION`] → `127.0.0.1:activation_port`.
pub fn guest_forwards(net: UserNet, chain_port: u16, activation_port: u16) -> UserNet {
    net.guestfwd_to(GUEST_CHAIN.0, GUEST_CHAIN.1, chain_port)
        .guestfwd_to(GUEST_ACTIVATION.0, GUEST_ACTIVATION.1, activation_port)
}

/// `farmer_id=<farm_id> tfchain=ws://10.0.2.100:9944 activation=http://10.0.2.101:8041/activation/activate`.
pub fn node_cmdline(farm_id: u32) -> String {
    format!(
        "farmer_id={farm_id} tfchain=ws://{}:{} activation=http://{}:{}/activation/activate",
        GUEST_CHAIN.0, GUEST_CHAIN.1, GUEST_ACTIVATION.0, GUEST_ACTIVATION.1
    )
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The real `zosctl` binary, run with `--chain <url> --json`.
#[derive(Debug, Clone)]
pub struct Zosctl {
    bin: PathBuf,
    chain_url: String,
}

impl Zosctl {
    /// `$ZOSCTL`, else `<workspace>/target/debug/zosctl` (built by `make test-boot`).
    pub fn locate(chain_url: &str) -> Result<Zosctl, GridError> {
        let bin = match std::env::var_os(ZOSCTL_ENV) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => workspace_root().join("target/debug/zosctl"),
        };
        if !bin.is_file() {
            return Err(GridError::ZosctlMissing(bin));
        }
        Ok(Zosctl {
            bin,
            chain_url: chain_url.to_string(),
        })
    }

    /// Runs `zosctl --chain URL --json ARGS...` and parses what it prints.
    pub fn run(&self, args: &[&str]) -> Result<serde_json::Value, GridError> {
        let shown = args.join(" ");
        let out = Command::new(&self.bin)
            .args(["--chain", &self.chain_url, "--json"])
            .args(args)
            // The twins zosctl remembers go under target/, not the user's ~/.config.
            .env(
                "XDG_CONFIG_HOME",
                workspace_root().join("target/tmp/zosctl-config"),
            )
            .output()
            .map_err(|source| GridError::ZosctlSpawn {
                bin: self.bin.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(GridError::ZosctlFailed {
                args: shown,
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        serde_json::from_str(&stdout).map_err(|e| GridError::ZosctlOutput {
            args: shown,
            reason: zos_base::report(&e),
            stdout,
        })
    }

    /// Runs `args` and reads the unsigned integer at `field` of the JSON it prints.
    pub fn run_id(&self, args: &[&str], field: &str) -> Result<u32, GridError> {
        let value = self.run(args)?;
        value
            .get(field)
            .and_then(serde_json::Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| GridError::ZosctlOutput {
                args: args.join(" "),
                reason: format!("no integer {field:?}"),
                stdout: value.to_string(),
            })
    }

    /// //Alice's twin (`twin create`) and a farm `name` (`farm create`); returns the farm id.
    pub fn farmer(&self, name: &str) -> Result<u32, GridError> {
        self.run_id(&["--key", FUNDER, "twin", "create"], "id")?;
        self.create_farm(name)
    }

    /// `farm create NAME` by //Alice (whose twin must exist); returns the farm id.
    pub fn create_farm(&self, name: &str) -> Result<u32, GridError> {
        self.run_id(&["--key", FUNDER, "farm", "create", name], "id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_cmdline_and_forwards_point_at_the_guest_addresses() {
        assert_eq!(
            node_cmdline(7),
            "farmer_id=7 tfchain=ws://10.0.2.100:9944 activation=http://10.0.2.101:8041/activation/activate"
        );
        let net = guest_forwards(UserNet::new(), 40001, 40002).netdev_arg();
        assert_eq!(
            net,
            "user,id=net0,restrict=on,guestfwd=tcp:10.0.2.100:9944-cmd:socat STDIO TCP:127.0.0.1:40001,guestfwd=tcp:10.0.2.101:8041-cmd:socat STDIO TCP:127.0.0.1:40002"
        );
    }
}
