//! zosctl: the command line tool of farmers and users of a zos grid (twins, farms, nodes,
//! contracts, transfers on TFChain; deployments on nodes). It talks to the chain only through
//! `zos-chain`, to a node only through its API (`zos-api`, signed as the key's twin), and reads
//! deployments with `gridtypes`.
//!
//! This file only parses flags, runs the command and turns the result into output and an exit code.

mod cli;
mod cmd;
mod description;
mod error;
mod figures;
mod key;
mod known;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // zos-chain logs at info; a CLI keeps stderr for errors unless RUST_LOG asks for more.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!(
                "error: cannot start the async runtime: {e}",
                e = zos_base::Report(&e)
            );
            return ExitCode::FAILURE;
        }
    };
    let out = match runtime.block_on(cmd::run(cli)) {
        Ok(out) => out,
        Err(err) => {
            output::print_error(&err, json);
            return ExitCode::FAILURE;
        }
    };
    match output::print(&out, json) {
        // The reader went away (`zosctl ... | head`): nothing left to tell it.
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!(
                "error: cannot write the output: {e}",
                e = zos_base::Report(&e)
            );
            return ExitCode::FAILURE;
        }
    }
    match out.failure() {
        Some(err) => {
            output::print_error(err, json);
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}
