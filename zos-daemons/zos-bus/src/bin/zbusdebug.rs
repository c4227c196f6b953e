//! `zbusdebug`: the node's small `busctl`. Lists the bus's well-known names, prints the object
//! paths a service serves, or waits until a name has an owner (boot tests and init readiness use
//! this). Read-only: it never calls a service's own methods.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use zos_bus::inspect;

#[derive(Parser)]
#[command(version, about = "Inspect the node's bus")]
struct Args {
    /// D-Bus address of the broker (default: $ZOS_BUS_ADDRESS, else the node's system bus).
    #[arg(long, global = true)]
    address: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print every well-known name on the bus, one per line.
    List,
    /// Print the object paths NAME serves, one per line.
    Tree { name: String },
    /// Exit 0 as soon as NAME has an owner; exit 1 after the timeout.
    Wait {
        name: String,
        /// Seconds to wait.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let address = args.address.unwrap_or_else(zos_bus::bus_address);
    match run(&address, args.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zbusdebug: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(address: &str, command: Cmd) -> Result<(), inspect::InspectError> {
    match command {
        Cmd::List => {
            let conn = inspect::connect(address).await?;
            for name in inspect::well_known_names(&conn).await? {
                println!("{name}");
            }
        }
        Cmd::Tree { name } => {
            let conn = inspect::connect(address).await?;
            for path in inspect::object_paths(&conn, &name).await? {
                println!("{path}");
            }
        }
        Cmd::Wait { name, timeout } => {
            let timeout = Duration::try_from_secs_f64(timeout).unwrap_or(Duration::ZERO);
            inspect::wait_for_owner(address, &name, timeout).await?;
        }
    }
    Ok(())
}
