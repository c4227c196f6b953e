//! provisiond's entry point: serve the node API (its own questions at once: why the node is not
//! registered yet, for one), wait for the node to be registered (its node id names the
//! contracts it serves), open the store, provision again what was active, then run the job
//! loop, follow the chain's events and reconcile, and serve deployments, until SIGTERM/SIGINT
//! (exit 0) or until the bus connection closes (exit 1, so the init restarts it).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use zos_bus::node::registration;
use zos_bus::NodeProxy;
use zos_env::daemon::{self, StopSignals};
use zos_env::NodeConfig;

use provisiond::api::{Api, ChainKeys};
use provisiond::chain::ChainView;
use provisiond::engine::Engine;
use provisiond::events;
use provisiond::kyc::Kyc;
use provisiond::provision::zdb::ZdbSetup;
use provisiond::store::Store;

#[derive(Parser)]
#[command(
    version,
    about = "The deployment engine: deployments from contract to running workloads"
)]
struct Args {
    /// The state database (on the node's cache).
    #[arg(long, default_value = "/var/cache/modules/provisiond/state.sqlite")]
    state: PathBuf,
    /// The node configuration the init published; default: $ZOS_NODE_CONFIG, else
    /// /run/zos/node.json.
    #[arg(long)]
    node_config: Option<PathBuf>,
    /// The KYC service asked whether a twin is verified before its deployment is accepted;
    /// default: the kernel command line's `kyc=`, else none (no KYC gate).
    #[arg(long)]
    kyc_url: Option<String>,
    /// Where the node API listens.
    #[arg(long, default_value = "0.0.0.0:2021")]
    listen: std::net::SocketAddr,
    /// The zdb binary (default: the image's).
    #[arg(long)]
    zdb_binary: Option<PathBuf>,
    /// The address zdb processes listen on (default: every address).
    #[arg(long)]
    zdb_listen: Option<std::net::IpAddr>,
    /// The first zdb's port (default: zos's 9900).
    #[arg(long)]
    zdb_port: Option<u16>,
    /// The init's control socket zdb processes are monitored through (default: the node's).
    #[arg(long)]
    init_socket: Option<PathBuf>,
    /// The init's service directory (default: /etc/zinit).
    #[arg(long)]
    init_services: Option<PathBuf>,
    /// Where the zdb processes' unix sockets go (default: /run/zdb).
    #[arg(long)]
    zdb_run_dir: Option<PathBuf>,
}

impl Args {
    /// The node's zdb setup, with what the command line changes (tests run zdb on loopback
    /// under their own init).
    fn zdb(&self) -> ZdbSetup {
        let node = ZdbSetup::node();
        ZdbSetup {
            binary: self.zdb_binary.clone().unwrap_or(node.binary),
            listen: self.zdb_listen.unwrap_or(node.listen),
            first_port: self.zdb_port.unwrap_or(node.first_port),
            init_socket: self.init_socket.clone().unwrap_or(node.init_socket),
            services: self.init_services.clone().unwrap_or(node.services),
            run_dir: self.zdb_run_dir.clone().unwrap_or(node.run_dir),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    daemon::init_logging();
    daemon::exit_code("provisiond", run(Args::parse()).await)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut stop = StopSignals::install().context("installing the stop signal handlers")?;
    let config = match &args.node_config {
        Some(path) => NodeConfig::load_from(path),
        None => NodeConfig::load(),
    }
    .context("reading the node configuration")?;
    let address = zos_bus::bus_address();
    let conn = zos_bus::connect()
        .await
        .with_context(|| format!("connecting to the bus at {address}"))?;

    let chain = ChainView::new(
        zos_chain::Chain::connect(&config.chain_url)
            .await
            .with_context(|| format!("connecting to the chain at {}", config.chain_url))?,
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let api = Arc::new(Api::new(conn.clone()));
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(zos_api::serve(
        listener,
        zos_api::ServerConfig::default(),
        Arc::new(ChainKeys::new(chain.clone())),
        api.clone(),
        std::future::pending(),
    ));

    let node_id = tokio::select! {
        id = registered_node(&conn) => id?,
        _ = stop.recv() => return Ok(()),
    };
    let store = Store::open(&args.state)
        .with_context(|| format!("opening the state at {}", args.state.display()))?;
    let zdb = args.zdb();
    let kyc = args
        .kyc_url
        .or_else(|| config.extra.get("kyc").cloned())
        .map(|url| Kyc::new(&url))
        .transpose()?;
    if kyc.is_some() {
        tracing::info!("KYC gate on: deployments need a verified twin");
    }
    let engine = Engine::new(store, chain, conn.clone(), node_id, kyc, zdb);
    let again = engine.requeue_active().await?;
    tracing::info!(node_id, active = again, "provisiond ready");
    api.provision_with(engine.clone());
    tasks.spawn(engine.clone().run());
    tasks.spawn(events::follow(engine.clone()));
    tasks.spawn(events::keep_reconciling(engine.clone()));

    let outcome = tokio::select! {
        _ = stop.recv() => Ok(()),
        _ = conn.closed() => Err(anyhow::anyhow!("the bus connection to {address} closed")),
    };
    tasks.abort_all();
    outcome
}

/// The node id, once noded says the node is registered (polled).
async fn registered_node(conn: &zbus::Connection) -> anyhow::Result<u32> {
    let mut said = false;
    loop {
        // busd never answers calls to a name nobody owns: ask the broker first.
        let up = zos_bus::inspect::has_owner(conn, zos_bus::node::NAME)
            .await
            .context("asking the bus broker")?;
        let status = async { NodeProxy::new(conn).await?.registration().await };
        match if up {
            status.await
        } else {
            Err(zbus::Error::Failure("noded is not on the bus".into()))
        } {
            Ok(s) if s.state == registration::REGISTERED && s.node_id != 0 => return Ok(s.node_id),
            Ok(s) if !said => {
                tracing::info!(state = %s.state, "waiting for the node to be registered");
                said = true;
            }
            Err(error) if !said => {
                tracing::info!(%error, "waiting for noded");
                said = true;
            }
            _ => {}
        }
        if conn.is_closed() {
            anyhow::bail!("the bus connection closed while waiting for noded");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
