//! zos-activation: the activation service for dev/test chains (see the library's docs).
//! Parses flags, builds the funder key and serves until SIGINT/SIGTERM.

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use zos_activation::Config;
use zos_chain::Signer;

/// Funds fresh node accounts on a dev/test TFChain (POST /activation/activate).
#[derive(Debug, Parser)]
#[command(name = "zos-activation", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8041")]
    listen: String,
    /// TFChain WebSocket URL.
    #[arg(long, env = "TFCHAIN_URL", default_value = "ws://127.0.0.1:8040")]
    chain: String,
    /// The funder's sr25519 secret URI: a dev URI (//Alice) or `<mnemonic>[//path]`.
    #[arg(long, env = "ZOS_ACTIVATION_FUNDER", default_value = "//Alice")]
    funder: String,
    /// Amount transferred to an account holding less than it (chain units).
    #[arg(long, default_value_t = 1_000_000_000_000)]
    amount: u128,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let funder = Signer::sr25519_from_uri(&args.funder).context("--funder")?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let config = Config {
        chain_url: args.chain,
        funder,
        amount: args.amount,
    };
    zos_activation::serve_with_shutdown(listener, config, shutdown()).await?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM (SIGINT only if the SIGTERM handler cannot be installed).
async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %zos_base::Report(&e), "cannot install the SIGTERM handler; stop with SIGINT");
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!(error = %zos_base::Report(&e), "cannot wait for SIGINT either; shutting down");
            }
        }
    }
}
