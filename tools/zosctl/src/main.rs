//! zosctl: the command line tool of farmers and users of a zos grid (twins, farms, nodes,
//! contracts, transfers on TFChain). It talks to the chain only through `zos-chain` and never
//! touches a node: everything it does is an extrinsic or a read on the chain it is pointed at.
//!
//! This file only parses flags, runs the command and turns the result into output and an exit code.

mod cli;
mod cmd;
mod error;
mod key;
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
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(out) => match output::print(&out, json) {
            Ok(()) => ExitCode::SUCCESS,
            // The reader went away (`zosctl ... | head`): nothing left to tell it.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write the output: {e}");
                ExitCode::FAILURE
            }
        },
        Err(err) => {
            output::print_error(&err, json);
            ExitCode::FAILURE
        }
    }
}
