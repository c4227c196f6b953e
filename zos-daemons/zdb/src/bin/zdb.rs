//! `zdb` entry point: parse flags, load the namespaces, serve until SIGTERM/SIGINT, fsync.

use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

use zdb::config::Args;
use zdb::Server;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = if args.verbose { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let cfg = args.into_config().context("invalid flags")?;
    // One event-loop thread, as 0-db and redis: commands serialise on the engine lock anyway,
    // and more workers only add wake-ups between threads (measured with `make bench-zdb`). A
    // request that waits for the disk still moves off it (`block_in_place` hands the loop to a
    // new thread meanwhile).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async move {
        let server = Server::bind(cfg).await.context("cannot start")?;
        if let Some(a) = server.local_addr() {
            tracing::info!(addr = %a, "zdb listening");
        }
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        server
            .run(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            })
            .await;
        tracing::info!("zdb stopped");
        Ok(())
    })
}
