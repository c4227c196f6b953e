//! storaged's entry point: parse flags, discover disks, create and mount pools, mount the node's
//! cache (with `--cache-mount`), serve `tf.zos.Storage1`. Runs until SIGTERM/SIGINT (exit 0) or until the bus connection closes
//! (exit 1, so the init restarts it).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use zos_env::daemon::{self, StopSignals};

use storaged::discovery::Discovery;
use storaged::service::{self, StorageService};
use storaged::store::Storage;

/// How long to wait for the disks to stop appearing at boot: polls of this interval, at most
/// this many.
const SETTLE_INTERVAL: Duration = Duration::from_millis(250);
const SETTLE_POLLS: usize = 20;

#[derive(Parser)]
#[command(
    version,
    about = "The node's disks, pools, volumes and virtual disks, on the bus as tf.zos.Storage1"
)]
struct Args {
    /// Where pools are mounted (`<mnt-root>/<pool>`).
    #[arg(long, default_value = "/mnt")]
    mnt_root: PathBuf,
    /// Use only these device nodes (comma-separated), including loop devices, instead of every
    /// disk in sysfs. For tests and for operators who want to restrict storaged.
    #[arg(long, value_delimiter = ',')]
    devices: Option<Vec<PathBuf>>,
    /// Where sysfs is mounted (tests).
    #[arg(long, default_value = "/sys")]
    sys_root: PathBuf,
    /// Where device nodes are (tests).
    #[arg(long, default_value = "/dev")]
    dev_root: PathBuf,
    /// Mount the node's cache here (the node uses /var/cache) before taking the bus name.
    /// Without it storaged mounts no cache.
    #[arg(long)]
    cache_mount: Option<PathBuf>,
    /// Seconds between two checks of whether the cache must grow.
    #[arg(long, default_value_t = 300)]
    cache_check_secs: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    daemon::init_logging();
    daemon::exit_code("storaged", run(Args::parse()).await)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut stop = StopSignals::install().context("installing the stop signal handlers")?;

    let virtualized = zos_env::platform::virtualized(&args.sys_root, std::path::Path::new("/proc"));
    let discovery = Discovery {
        virtualized,
        sys: args.sys_root,
        dev: args.dev_root,
        devices: args.devices,
    };
    let mnt_root = args.mnt_root;
    let cache_mount = args.cache_mount;
    let storage = tokio::task::spawn_blocking(move || {
        discovery.wait_settled(SETTLE_INTERVAL, SETTLE_POLLS);
        let mut storage = Storage::start(&discovery, &mnt_root).context("setting up the pools")?;
        if let Some(mount_point) = cache_mount {
            storage
                .mount_cache(&mount_point)
                .context("mounting the node's cache")?;
        }
        anyhow::Ok(storage)
    })
    .await
    .context("setting up the pools did not finish")??;
    let totals = storage.totals().context("reading pool usage")?;
    tracing::info!(
        pools = storage.pools().map(|p| p.len()).unwrap_or(0),
        sru = totals.sru_total,
        hru = totals.hru_total,
        "storage ready"
    );

    let address = zos_bus::bus_address();
    let conn = zos_bus::connect()
        .await
        .with_context(|| format!("connecting to the bus at {address}"))?;
    let service = StorageService::new(storage);
    let cache_growth =
        service.keep_cache_growing(Duration::from_secs(args.cache_check_secs.max(1)));
    service::serve(&conn, service).await?;
    tracing::info!(name = zos_bus::storage::NAME, path = zos_bus::storage::PATH, %address, "serving");

    tokio::select! {
        _ = cache_growth => Ok(()),
        _ = stop.recv() => Ok(()),
        _ = conn.closed() => anyhow::bail!("the bus connection to {address} closed"),
    }
}
