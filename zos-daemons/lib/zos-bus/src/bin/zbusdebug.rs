//! `zbusdebug`: the node's small `busctl`. Lists the bus's well-known names, prints the object
//! paths a service serves, waits until a name has an owner (boot tests and init readiness use
//! this), and calls storaged through its typed proxy (`zbusdebug storage ...`, printing JSON) for
//! operators on the debug console and for the boot tests.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use zos_bus::inspect;
use zos_bus::storage::{self, StorageError, StorageProxy};

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
    /// Call storaged (tf.zos.Storage1); prints the answer as JSON.
    #[command(subcommand)]
    Storage(StorageCmd),
}

#[derive(Subcommand)]
enum StorageCmd {
    Disks,
    Pools,
    Capacity,
    Cache,
    Volumes,
    /// Create volume NAME of SIZE bytes on a KIND (ssd|hdd) pool.
    CreateVolume {
        name: String,
        size: u64,
        kind: String,
    },
    DeleteVolume {
        name: String,
    },
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Inspect(#[from] inspect::InspectError),
    #[error("storaged")]
    Storage(#[from] StorageError),
    #[error("cannot print the answer")]
    Json(#[from] serde_json::Error),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let address = args.address.unwrap_or_else(zos_bus::bus_address);
    match run(&address, args.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zbusdebug: {e}", e = zos_base::Report(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(address: &str, command: Cmd) -> Result<(), Error> {
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
        Cmd::Storage(call) => {
            let conn = inspect::connect(address).await?;
            // busd never answers calls to a name nobody owns: say so instead of hanging.
            if !inspect::has_owner(&conn, storage::NAME).await? {
                return Err(
                    StorageError::Failed(format!("{} is not on the bus", storage::NAME)).into(),
                );
            }
            let proxy = StorageProxy::new(&conn).await.map_err(StorageError::from)?;
            let answer = match call {
                StorageCmd::Disks => serde_json::to_string_pretty(&proxy.disks().await?)?,
                StorageCmd::Pools => serde_json::to_string_pretty(&proxy.pools().await?)?,
                StorageCmd::Capacity => serde_json::to_string_pretty(&proxy.capacity().await?)?,
                StorageCmd::Cache => serde_json::to_string_pretty(&proxy.cache().await?)?,
                StorageCmd::Volumes => serde_json::to_string_pretty(&proxy.volumes().await?)?,
                StorageCmd::CreateVolume { name, size, kind } => {
                    serde_json::to_string_pretty(&proxy.create_volume(&name, size, &kind).await?)?
                }
                StorageCmd::DeleteVolume { name } => {
                    proxy.delete_volume(&name).await?;
                    "null".to_string()
                }
            };
            println!("{answer}");
        }
    }
    Ok(())
}
