//! A node on the real path, in-process: the real TFChain runtime ([`LocalChain`]), a node
//! registered on it in a farm of //Alice, and on a private busd: storaged with a pool on a loop
//! device and noded's bus service (registered, reporting consumption with the node's key), for
//! provisiond's engine and node API to run against.
//!
//! With HDDs ([`LocalNode::with_hdds`]) the node also runs our init (`zos-init init`, a plain
//! supervisor) that provisiond starts zdb processes under, listening on loopback; both binaries
//! come from the workspace's target directory (`cargo build -p zos-init -p zdb`, which
//! `cargo test --workspace` does).
//!
//! [`LocalNode::provisiond`] runs the real provisiond binary against the same node instead
//! (its own process, killed by pid), for tests that kill it.
//!
//! Needs root (loop devices), chopsticks and busd (`make deps`); panics with what is missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridtypes::GIB;
use provisiond::api::{Api, ChainKeys};
use provisiond::chain::ChainView;
use provisiond::engine::Engine;
use provisiond::events;
use provisiond::provision::zdb::ZdbSetup;
use provisiond::store::Store;
use tokio::sync::watch;
use zos_bus::node::registration;
use zos_bus::RegistrationStatus;
use zos_chain::Chain;

use crate::bus::PrivateBus;
use crate::chain::LocalChain;
use crate::disks::Env;
use crate::twins::{alice, funded_twin, register_node};

/// The node: chain, registration, bus, storaged and noded's service. Dropping it stops all.
#[derive(Debug)]
pub struct LocalNode {
    pub chain: Chain,
    pub node_id: u32,
    /// The farm the node is in.
    pub farm_id: u32,
    pub bus: PrivateBus,
    pub state: PathBuf,
    /// Where provisiond runs zdb processes (under [`LocalNode::init`] when there are HDDs).
    pub zdb: ZdbSetup,
    _services: Vec<zbus::Connection>,
    status: watch::Sender<RegistrationStatus>,
    /// Stopped before the disks go (fields drop in order).
    pub init: Option<Supervisor>,
    _env: Env,
    _dir: tempfile::TempDir,
    pub local: LocalChain,
}

impl LocalNode {
    /// Starts everything; storaged gets one SSD of `ssd_bytes` (sparse).
    pub async fn start(ssd_bytes: u64) -> LocalNode {
        Self::with_hdds(ssd_bytes, &[]).await
    }

    /// Starts everything; storaged gets one SSD of `ssd_bytes` and an HDD of each of
    /// `hdd_bytes` (sparse). With HDDs, the init runs too, for zdb.
    pub async fn with_hdds(ssd_bytes: u64, hdd_bytes: &[u64]) -> LocalNode {
        let local = LocalChain::start().await.expect("local chain (make deps)");
        let chain = Chain::connect(&local.url()).await.expect("connect");
        LocalChain::fund_billing_accounts(&chain)
            .await
            .expect("billing accounts");
        let alice = alice();
        chain.ensure_twin(&alice).await.expect("alice twin");
        let farm = chain
            .create_farm(&alice, "provision-farm", &[])
            .await
            .expect("farm");
        let node = funded_twin(&chain, 3).await;
        let node_id = register_node(&chain, &node, farm).await;

        let bus = PrivateBus::start().expect("private bus (make deps)");
        let mut env = Env::new();
        env.add_disk(ssd_bytes, false);
        for size in hdd_bytes {
            env.add_disk(*size, true);
        }
        let storaged = env.serve(bus.address()).await;
        let (status, status_rx) = watch::channel(RegistrationStatus {
            state: registration::REGISTERED.into(),
            node_id,
            ..Default::default()
        });
        let noded = zos_bus::connect_to(bus.address()).await.expect("bus");
        let reporter = noded::consumption::ContractReporter::new(local.url(), node.signer);
        noded::service::serve(
            &noded,
            noded::service::NodeService::new(
                String::new(),
                zos_bus::Capacity {
                    cru: 4,
                    mru: 8 * GIB,
                    sru: ssd_bytes,
                    hru: hdd_bytes.iter().sum(),
                },
                Default::default(),
                "/sys".into(),
                status_rx,
                Some(Arc::new(reporter)),
            ),
        )
        .await
        .expect("noded service");
        let dir = tempfile::tempdir().expect("temp dir");
        let zdb = ZdbSetup {
            binary: workspace_binary("zdb"),
            listen: std::net::IpAddr::from([127, 0, 0, 1]),
            first_port: free_port(),
            init_socket: dir.path().join("zinit.sock"),
            services: dir.path().join("zinit"),
            run_dir: dir.path().join("run"),
        };
        let init = (!hdd_bytes.is_empty()).then(|| Supervisor::start(&zdb, dir.path()));
        LocalNode {
            chain,
            node_id,
            farm_id: farm,
            state: dir.path().join("provisiond.sqlite"),
            bus,
            zdb,
            _services: vec![storaged, noded],
            status,
            init,
            _env: env,
            _dir: dir,
            local,
        }
    }

    /// The provisiond binary on this node's store, bus, chain and zdb setup, its node API on a
    /// loopback port; returns once it serves deployments (see [`Provisiond::wait_serving`]).
    /// Its log goes to `provisiond.log` beside the store.
    pub fn provisiond(&self) -> Provisiond {
        let mut process = self.provisiond_starting();
        process.wait_serving();
        process
    }

    /// [`LocalNode::provisiond`] that returns as soon as its node API accepts connections,
    /// before it may serve deployments (an unregistered node answers its own questions only).
    pub fn provisiond_starting(&self) -> Provisiond {
        let binary = workspace_binary("provisiond");
        assert!(
            binary.exists(),
            "{} is missing: build it (cargo build -p provisiond)",
            binary.display()
        );
        let dir = self.state.parent().expect("state directory");
        let config = dir.join("node.json");
        zos_env::NodeConfig::from_cmdline(&format!("tfchain={}", self.local.url()))
            .expect("node configuration")
            .store(&config)
            .expect("writing the node configuration");
        let port = free_port();
        let log_path = dir.join("provisiond.log");
        let ready_before = ready_lines(&log_path);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("provisiond log");
        let child = Command::new(&binary)
            .env(zos_bus::BUS_ADDRESS_ENV, self.bus.address())
            .env("RUST_LOG", "provisiond=info")
            .arg("--state")
            .arg(&self.state)
            .arg("--node-config")
            .arg(&config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--zdb-binary")
            .arg(&self.zdb.binary)
            .arg("--zdb-listen")
            .arg(self.zdb.listen.to_string())
            .arg("--zdb-port")
            .arg(self.zdb.first_port.to_string())
            .arg("--init-socket")
            .arg(&self.zdb.init_socket)
            .arg("--init-services")
            .arg(&self.zdb.services)
            .arg("--zdb-run-dir")
            .arg(&self.zdb.run_dir)
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("spawn provisiond");
        let mut process = Provisiond {
            child,
            url: format!("http://127.0.0.1:{port}"),
            ready_before,
            log: log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("provisiond exited ({status}): {}", process.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "provisiond's API not up: {}",
                process.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        process
    }

    /// What noded's service says about the registration from now on (the node starts
    /// registered).
    pub fn set_registration(&self, status: RegistrationStatus) {
        self.status.send_replace(status);
    }

    /// A bus connection for a client.
    pub async fn connect(&self) -> zbus::Connection {
        zos_bus::connect_to(self.bus.address()).await.expect("bus")
    }

    /// The node API of `engine` on a loopback port (served until the runtime ends); its URL.
    pub async fn serve_api(&self, engine: Arc<Engine>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(zos_api::serve(
            listener,
            zos_api::ServerConfig::default(),
            Arc::new(ChainKeys::new(engine.chain().clone())),
            Arc::new(Api::with_engine(engine, self.connect().await)),
            std::future::pending(),
        ));
        url
    }

    /// provisiond's engine on this node's store, its job loop and event follower running (the
    /// tasks end when the returned handles are aborted).
    pub async fn engine(&self) -> (Arc<Engine>, Vec<tokio::task::JoinHandle<()>>) {
        let engine = Engine::new(
            Store::open(&self.state).expect("store"),
            ChainView::new(self.chain.clone()),
            self.connect().await,
            self.node_id,
            None,
            self.zdb.clone(),
        );
        let tasks = vec![
            tokio::spawn(engine.clone().run()),
            tokio::spawn(events::follow(engine.clone())),
        ];
        (engine, tasks)
    }
}

/// The provisiond binary (see [`LocalNode::provisiond`]); killed with SIGKILL when dropped.
#[derive(Debug)]
pub struct Provisiond {
    child: Child,
    /// Its node API.
    pub url: String,
    log: PathBuf,
    /// How many `provisiond ready` lines the log had before this run.
    ready_before: usize,
}

impl Provisiond {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, by pid (our own child), and waits for it to be gone.
    pub fn kill9(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.wait();
    }

    /// Returns once this run serves deployments (the node registered, the store opened, active
    /// deployments queued again: its log says `provisiond ready`).
    pub fn wait_serving(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while ready_lines(&self.log) == self.ready_before {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("provisiond exited ({status}): {}", self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "provisiond does not serve deployments: {}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last lines of its log (all runs on this node), for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 40)
    }
}

impl Drop for Provisiond {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Our init as a plain supervisor (`zos-init init`) over `zdb.services`, stopped (with its
/// services) when dropped.
#[derive(Debug)]
pub struct Supervisor {
    child: Child,
    dir: PathBuf,
}

impl Supervisor {
    fn start(zdb: &ZdbSetup, dir: &Path) -> Supervisor {
        for binary in [&workspace_binary("zos-init"), &zdb.binary] {
            assert!(
                binary.exists(),
                "{} is missing: build it (cargo build -p zos-init -p zdb)",
                binary.display()
            );
        }
        std::fs::create_dir_all(&zdb.services).expect("service directory");
        let console = std::fs::File::create(dir.join("init.log")).expect("init log");
        let child = Command::new(workspace_binary("zos-init"))
            .arg("init")
            .arg("--config")
            .arg(&zdb.services)
            .arg("--socket")
            .arg(&zdb.init_socket)
            .arg("--log-dir")
            .arg(dir.join("log"))
            .stdout(console.try_clone().expect("dup"))
            .stderr(console)
            .spawn()
            .expect("spawn zos-init");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !zdb.init_socket.exists() {
            assert!(
                Instant::now() < deadline,
                "zos-init did not open its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Supervisor {
            child,
            dir: dir.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the init's console and of each service's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut files = vec![self.dir.join("init.log")];
        if let Ok(entries) = std::fs::read_dir(self.dir.join("log")) {
            let mut logs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            logs.sort();
            files.extend(logs);
        }
        files
            .iter()
            .map(|f| format!("== {}\n{}", f.display(), tail(f, 30)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // Our own child, by pid: a graceful shutdown stops its services (zdb) too.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many times provisiond's log at `path` says it is ready (one per run).
fn ready_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .matches("provisiond ready")
        .count()
}

/// The last `n` lines of the text file `path` (empty if it cannot be read).
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A binary of the workspace, from the target directory this test or example runs from.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    dir.join(name)
}

/// A loopback port nobody listens on now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}
