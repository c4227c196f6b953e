//! noded's entry point: parse flags, wait for storaged (it mounts the cache the identity lives
//! in and reports SRU/HRU), load (or create) the identity, measure the hardware, serve
//! `tf.zos.Node1`, then register the node on TFChain and report uptime in the background. Runs
//! until SIGTERM/SIGINT (then exit 0) or until the bus connection closes (then exit 1, so the
//! init restarts it). Registration problems never stop it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::sync::{watch, Notify};
use zos_bus::node::registration;
use zos_bus::RegistrationStatus;
use zos_env::daemon::{self, StopSignals};
use zos_env::NodeConfig;

use noded::capacity::{self, Roots};
use noded::consumption::ContractReporter;
use noded::identity::{self, DEFAULT_SEED_PATH};
use noded::registrar::{self, record, Registrar};
use noded::service::{self, NodeService};
use noded::timing::parse_duration;
use noded::uptime;

/// How often to say that noded still waits for storaged.
const STORAGED_REPORT_EVERY: Duration = Duration::from_secs(10);

/// The grid's nodes report their uptime every 40 minutes.
const DEFAULT_UPTIME_INTERVAL: Duration = Duration::from_secs(40 * 60);

#[derive(Parser)]
#[command(
    version,
    about = "The node's identity and capacity, on the bus as tf.zos.Node1, and its registration on TFChain"
)]
struct Args {
    /// The identity seed file (on the persistent cache). The registration record is kept next to it.
    #[arg(long, default_value = DEFAULT_SEED_PATH)]
    identity: PathBuf,
    /// The node configuration (farmer_id, tfchain, activation) the init published; default:
    /// $ZOS_NODE_CONFIG, else /run/zos/node.json.
    #[arg(long)]
    node_config: Option<PathBuf>,
    /// How often to report uptime on the chain; default: the kernel command line's
    /// `uptime_interval=` (for test nodes), else 40m as the grid's nodes do.
    #[arg(long, value_parser = parse_duration)]
    uptime_interval: Option<Duration>,
    /// How often to re-check the registration (capacity, interfaces) once registered.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    recheck_interval: Duration,
    /// First delay after a failed registration attempt (doubles up to --retry-max).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    retry_initial: Duration,
    /// Longest delay between registration attempts.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    retry_max: Duration,
    /// How long to wait for the activation service's funds to arrive.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    funding_wait: Duration,
    /// Where procfs is mounted (tests).
    #[arg(long, default_value = "/proc", hide = true)]
    root_proc: PathBuf,
    /// Where sysfs is mounted (tests).
    #[arg(long, default_value = "/sys", hide = true)]
    root_sys: PathBuf,
    /// Where device nodes are (tests).
    #[arg(long, default_value = "/dev", hide = true)]
    root_dev: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    daemon::init_logging();
    daemon::exit_code("noded", run(Args::parse()).await)
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Handlers first, so a SIGTERM during start-up is a clean stop too.
    let mut stop = StopSignals::install().context("installing the stop signal handlers")?;

    // The identity lives in the cache storaged mounts: nothing is read or written before
    // storaged is up (the init orders it first; this wait covers running noded by hand).
    let address = zos_bus::bus_address();
    let conn = zos_bus::connect()
        .await
        .with_context(|| format!("connecting to the bus at {address}"))?;
    capacity::storage::wait_for_storaged(&conn, STORAGED_REPORT_EVERY)
        .await
        .with_context(|| format!("waiting for storaged: the bus connection to {address}"))?;
    let storage = capacity::storage::capacity(&conn)
        .await
        .context("asking storaged for SRU and HRU")?;
    let cache = capacity::storage::cache(&conn)
        .await
        .context("asking storaged for the node's cache")?;

    let (identity, origin) = identity::load_or_create(&args.identity)?;
    tracing::info!(
        public_key = %identity.public_key_hex(),
        path = %args.identity.display(),
        ?origin,
        "identity ready"
    );
    // The console line operators (and boot tests) read the node's key from; it comes before
    // noded takes its bus name, so before the init's `ZOS READY`.
    println!("ZOS NODE key={}", identity.public_key_hex());

    let roots = Roots {
        proc: args.root_proc.clone(),
        sys: args.root_sys.clone(),
        dev: args.root_dev.clone(),
    };
    let hw = tokio::task::spawn_blocking({
        let roots = roots.clone();
        move || capacity::measure(&roots, &storage)
    })
    .await
    .context("measuring the hardware did not finish")?
    .context("measuring the hardware")?;
    tracing::info!(
        cru = hw.capacity.cru,
        mru = hw.capacity.mru,
        sru = hw.capacity.sru,
        hru = hw.capacity.hru,
        cache_pool = %cache.pool,
        vendor = %hw.dmi.system.manufacturer,
        product = %hw.dmi.system.product,
        "capacity measured"
    );

    let (status_tx, status_rx) = watch::channel(RegistrationStatus {
        state: registration::UNREGISTERED.into(),
        ..Default::default()
    });

    let config = match &args.node_config {
        Some(path) => NodeConfig::load_from(path),
        None => NodeConfig::load(),
    }
    .map_err(|error| format!("cannot read the node configuration: {error}; restart noded once the init published it", error = zos_base::Report(&error)))
    .and_then(|config| {
        // As zos with a "limited cache": a node whose identity dies with the next reboot would
        // register as a new node every boot.
        if cache.persistent {
            Ok(config)
        } else {
            Err(format!(
                "no persistent cache: {} is a tmpfs (storaged found no disk with room), so the node's identity would not survive a reboot; give the node an empty disk",
                cache.mount_point
            ))
        }
    });
    let reporter = config.as_ref().ok().map(|c| {
        Arc::new(ContractReporter::new(
            c.chain_url.clone(),
            identity.chain_signer(),
        ))
    });
    let svc = NodeService::new(
        identity.public_key_hex(),
        hw.capacity,
        hw.dmi,
        roots.sys.clone(),
        status_rx,
        reporter,
    );
    service::serve(&conn, svc).await?;
    tracing::info!(name = zos_bus::node::NAME, path = zos_bus::node::PATH, %address, "serving");

    // Registration and uptime run behind the bus: they never delay READY.

    let mut background = tokio::task::JoinSet::new();
    match config {
        Ok(config) => {
            let signer = identity.chain_signer();
            let recheck = Arc::new(Notify::new());
            let (registered_tx, registered_rx) = watch::channel(None);
            let registrar = Registrar {
                settings: registrar::Settings {
                    farmer_id: config.farmer_id,
                    chain_url: config.chain_url,
                    activation_url: config.activation_url,
                    retry_initial: args.retry_initial,
                    retry_max: args.retry_max,
                    recheck_interval: args.recheck_interval,
                    funding_wait: args.funding_wait,
                    record_path: record::path_next_to(&args.identity),
                },
                signer: signer.clone(),
                roots: roots.clone(),
                bus: conn.clone(),
                status: status_tx,
                registered: registered_tx,
                recheck: recheck.clone(),
            };
            let interval = match (args.uptime_interval, config.extra.get("uptime_interval")) {
                (Some(flag), _) => flag,
                (None, Some(word)) => parse_duration(word).unwrap_or_else(|error| {
                    tracing::error!("kernel command line uptime_interval={word:?}: {error}; using {DEFAULT_UPTIME_INTERVAL:?}");
                    DEFAULT_UPTIME_INTERVAL
                }),
                (None, None) => DEFAULT_UPTIME_INTERVAL,
            };
            let uptime_settings = uptime::Settings {
                interval,
                retry_initial: args.retry_initial,
                retry_max: args.retry_max,
                proc_root: roots.proc.clone(),
            };
            background.spawn(registrar.run());
            background.spawn(uptime::run(uptime_settings, signer, registered_rx, recheck));
        }
        Err(error) => {
            tracing::error!("the node does not register: {error}");
            status_tx.send_replace(RegistrationStatus {
                state: registration::FAILED.into(),
                error,
                ..Default::default()
            });
            // The bus keeps answering with this last value after the sender is gone.
        }
    }

    tokio::select! {
        _ = stop.recv() => {}
        // Without the bus nobody can reach us: exit so the init restarts us onto the new broker.
        _ = conn.closed() => anyhow::bail!("the bus connection to {address} closed"),
    }
    background.abort_all();
    Ok(())
}
