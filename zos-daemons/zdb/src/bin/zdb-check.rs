//! `zdb-check`: verify a stopped zdb directory pair, or rebuild a namespace's index from its
//! data files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use zdb::check;
use zdb::format::Mode;

#[derive(Parser)]
#[command(
    version,
    about = "Verify zdb/0-db directories and rebuild indexes from data files"
)]
struct Args {
    #[arg(long, default_value = "./zdb-data")]
    data: PathBuf,
    #[arg(long, default_value = "./zdb-index")]
    index: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check every namespace: headers, entry framing, index ↔ data, payload CRCs.
    Verify,
    /// Rebuild one namespace's index files from its data files (old ones kept in
    /// `<index>/<ns>/rebuild-backup/`).
    Rebuild {
        namespace: String,
        /// Mode to use when i0 is unreadable.
        #[arg(long, default_value = "user")]
        mode: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.cmd {
        Cmd::Verify => match check::verify(&args.index, &args.data) {
            Ok(reports) => {
                let mut bad = false;
                for r in reports {
                    println!(
                        "{}: {} index files, {} data files, {} index entries ({} live), {} data entries, {} problems",
                        r.name,
                        r.index_files,
                        r.data_files,
                        r.index_entries,
                        r.live_entries,
                        r.data_entries,
                        r.problems.len()
                    );
                    for p in &r.problems {
                        println!("  {p}");
                    }
                    bad |= !r.problems.is_empty();
                }
                if bad {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => {
                eprintln!("zdb-check: {e}", e = zos_base::Report(&e));
                ExitCode::from(2)
            }
        },
        Cmd::Rebuild { namespace, mode } => {
            let mode = if mode == "seq" { Mode::Seq } else { Mode::User };
            match check::rebuild(
                &args.index.join(&namespace),
                &args.data.join(&namespace),
                mode,
            ) {
                Ok(n) => {
                    println!("{namespace}: {n} entries indexed");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("zdb-check: {e}", e = zos_base::Report(&e));
                    ExitCode::from(2)
                }
            }
        }
    }
}
