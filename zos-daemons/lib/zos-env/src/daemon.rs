//! Start-up shared by every daemon: logging and the stop signal.

use std::io::IsTerminal;

use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

/// Logs to stdout, where the init captures each service's output into its rotating log files.
/// `RUST_LOG` selects the level (default `info`); colours only on a terminal.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(std::io::stdout().is_terminal())
        .try_init();
}

/// A daemon's exit: success, or the error logged (with its causes) and failure, so the init
/// restarts it.
pub fn exit_code(daemon: &str, outcome: anyhow::Result<()>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{daemon} stops: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The signals that stop a daemon: SIGTERM (the init's stop) and SIGINT (a developer's Ctrl-C).
#[derive(Debug)]
pub struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers. Do it first thing, so a stop during start-up is a clean stop too.
    pub fn install() -> std::io::Result<Self> {
        Ok(StopSignals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves when a stop signal arrives, and logs which one.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = self.int.recv() => tracing::info!("SIGINT: stopping"),
        }
    }
}
