//! noded's entry point: parse flags, load (or create) the identity, measure the hardware, serve
//! `tf.zos.Node1`, run until SIGTERM/SIGINT (then exit 0)
//! or until the bus connection closes (then exit 1, so the init restarts it).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use zos_env::daemon::{self, StopSignals};

use noded::capacity::{self, Roots};
use noded::identity::{self, DEFAULT_SEED_PATH};
use noded::service::{self, NodeService};

#[derive(Parser)]
#[command(
    version,
    about = "The node's identity and capacity, on the bus as tf.zos.Node1"
)]
struct Args {
    /// The identity seed file (on the persistent cache).
    #[arg(long, default_value = DEFAULT_SEED_PATH)]
    identity: PathBuf,
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
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("noded stops: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Handlers first, so a SIGTERM during start-up is a clean stop too.
    let mut stop = StopSignals::install().context("installing the stop signal handlers")?;

    let (identity, origin) = identity::load_or_create(&args.identity)?;
    tracing::info!(
        public_key = %identity.public_key_hex(),
        path = %args.identity.display(),
        ?origin,
        "identity ready"
    );

    let roots = Roots {
        proc: args.root_proc,
        sys: args.root_sys,
        dev: args.root_dev,
    };
    let hw = tokio::task::spawn_blocking({
        let roots = roots.clone();
        move || capacity::measure(&roots)
    })
    .await
    .context("measuring the hardware did not finish")?
    .context("measuring the hardware")?;
    tracing::info!(
        cru = hw.capacity.cru,
        mru = hw.capacity.mru,
        sru = hw.capacity.sru,
        hru = hw.capacity.hru,
        disks = hw.disks.len(),
        vendor = %hw.dmi.system.manufacturer,
        product = %hw.dmi.system.product,
        "capacity measured"
    );

    let address = zos_bus::bus_address();
    let conn = zos_bus::connect()
        .await
        .with_context(|| format!("connecting to the bus at {address}"))?;
    let svc = NodeService::new(identity.public_key_hex(), hw.capacity, hw.dmi, roots.sys);
    service::serve(&conn, svc).await?;
    tracing::info!(name = zos_bus::node::NAME, path = zos_bus::node::PATH, %address, "serving");

    tokio::select! {
        _ = stop.recv() => {}
        // Without the bus nobody can reach us: exit so the init restarts us onto the new broker.
        _ = conn.closed() => anyhow::bail!("the bus connection to {address} closed"),
    }
    Ok(())
}
