//! networkd binary: parse flags, set up logging, run the daemon until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use zos_env::daemon::{self, StopSignals};

/// The node's own network: zos bridge, DHCP, tf.zos.Network1 on the bus.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Name of the node's bridge.
    #[arg(long, default_value = "zos")]
    bridge: String,
    /// Resolver configuration written from the DHCP lease.
    #[arg(long, default_value = "/etc/resolv.conf")]
    resolv_conf: PathBuf,
    /// Seconds to wait at start for a NIC with carrier before serving without network.
    #[arg(long, default_value_t = 10)]
    nic_wait: u64,
    /// Use only this NIC (any link, including virtual ones) instead of every physical NIC.
    #[arg(long)]
    nic: Option<String>,
    /// Seconds one DHCP DISCOVER..ACK exchange may take before starting over.
    #[arg(long, default_value_t = 60)]
    dhcp_timeout: u64,
    /// Where network devices are listed.
    #[arg(long, default_value = "/sys/class/net")]
    sys_class_net: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    daemon::init_logging();
    let args = Args::parse();
    let config = networkd::daemon::Config {
        bridge: args.bridge,
        resolv_conf: args.resolv_conf,
        nic_wait: Duration::from_secs(args.nic_wait),
        nic: args.nic,
        sys_class_net: args.sys_class_net,
        dhcp_timeout: Duration::from_secs(args.dhcp_timeout),
    };
    let mut stop = StopSignals::install().context("installing the stop signal handlers")?;
    let shutdown = async move { stop.recv().await };
    networkd::daemon::run(config, shutdown)
        .await
        .context("networkd failed")
}
