//! zos-init: the node's PID 1 and service supervisor, and its command-line client.
//!
//! As PID 1 it runs early boot (mounts, console, hostname, node configuration), loads kernel
//! modules, then supervises the services of /etc/zinit until shutdown.
//! Anywhere else `zos-init init` is a plain supervisor (as zinit's `--container`), and every other
//! verb is a client of the control socket. Services are zinit-compatible; see README.md.

mod config;
mod control;
mod early_boot;
mod logs;
mod modules;
mod process;
mod readiness;
mod service;
mod shutdown;
mod supervisor;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::signal::unix::{signal, SignalKind};

use supervisor::{Action, Request};
use zos_init_control::{Client, ClientError, Request as Command};

const DEFAULT_CONFIG: &str = "/etc/zinit";
/// Services started only in `runmode=dev` (the debug shell): never on a farmer's production node.
const DEV_CONFIG: &str = "/etc/zinit/dev";
const DEFAULT_LOG_DIR: &str = "/var/log/zinit";
const ENVIRONMENT_FILE: &str = "/etc/environment";
/// PATH for PID 1 and its services when nobody set one (the kernel does not).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Parser)]
#[command(
    name = "zos-init",
    version,
    about = "The zos init and service supervisor (zinit-compatible)"
)]
struct Cli {
    /// Control socket.
    #[arg(short, long, global = true, default_value = zos_init_control::SOCKET)]
    socket: PathBuf,
    /// Debug logging (init only).
    #[arg(short, long, global = true)]
    debug: bool,
    /// `list` and `status` print the init's JSON reply (for scripts and tests).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the supervisor (what PID 1 does after early boot).
    Init {
        /// Directory of NAME.yaml service files.
        #[arg(short, long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Directory of the per-service log files.
        #[arg(long, default_value = DEFAULT_LOG_DIR)]
        log_dir: PathBuf,
        /// Lines kept in memory for `log`.
        #[arg(long, default_value_t = 2000)]
        buffer: usize,
        /// Size of one log file before it is rotated.
        #[arg(long, default_value_t = 1 << 20)]
        log_max_bytes: u64,
        /// Log files kept per service, the live one included.
        #[arg(long, default_value_t = 5)]
        log_keep: usize,
    },
    /// Every service and its state.
    List,
    Status {
        name: String,
    },
    Start {
        name: String,
    },
    /// Stop (stop signal, SIGKILL after the service's shutdown_timeout).
    Stop {
        name: String,
    },
    /// Stop, wait for the service to be down (SIGKILL after --timeout seconds), start.
    Restart {
        name: String,
        #[arg(long, default_value_t = 20)]
        timeout: u64,
    },
    /// Send a signal to the service's process group.
    Kill {
        name: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Drop a stopped service from the supervisor.
    Forget {
        name: String,
    },
    /// Load NAME.yaml from the config directory and start it.
    Monitor {
        name: String,
    },
    /// Print the log ring (`-f`: and follow), optionally of one service.
    Log {
        #[arg(short, long)]
        follow: bool,
        name: Option<String>,
    },
    /// Stop every service and power off (a plain supervisor exits).
    Shutdown,
    /// Stop every service and reboot (a plain supervisor exits).
    Reboot,
}

fn main() -> ExitCode {
    if nix::unistd::getpid().as_raw() == 1 {
        pid1();
    }
    let cli = Cli::parse();
    match cli.command {
        Cmd::Init {
            config,
            log_dir,
            buffer,
            log_max_bytes,
            log_keep,
        } => {
            init_tracing(cli.debug, false);
            let limits = logs::FileLimits {
                dir: log_dir,
                max_bytes: log_max_bytes,
                keep: log_keep,
            };
            match run_init(&[config], &cli.socket, buffer, limits, false) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("zos-init: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        other => match client(&cli.socket, other, cli.json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}", e = zos_base::Report(&e));
                ExitCode::FAILURE
            }
        },
    }
}

/// PID 1: boot the machine, supervise, and finally reboot or power off. Never returns.
fn pid1() -> ! {
    if std::env::var_os("PATH").is_none() {
        // Single-threaded here: no other thread reads the environment yet.
        std::env::set_var("PATH", DEFAULT_PATH);
    }
    let node = early_boot::run();
    init_tracing(node.debug, true);
    modules::run();
    let limits = logs::FileLimits {
        dir: DEFAULT_LOG_DIR.into(),
        max_bytes: 1 << 20,
        keep: 5,
    };
    let mut config_dirs = vec![PathBuf::from(DEFAULT_CONFIG)];
    if node.runmode == zos_env::RunMode::Dev {
        config_dirs.push(PathBuf::from(DEV_CONFIG));
    }
    match run_init(
        &config_dirs,
        Path::new(zos_init_control::SOCKET),
        2000,
        limits,
        true,
    ) {
        Ok(action) => shutdown::finish(action),
        Err(e) => {
            println!("zos-init: !!! the supervisor failed: {e:#}; the node is halted");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    }
}

/// Runs the supervisor over the services of `config_dirs` until a shutdown completes; returns what
/// should happen next. `monitor` loads new services from the first directory.
fn run_init(
    config_dirs: &[PathBuf],
    socket: &Path,
    buffer: usize,
    limits: logs::FileLimits,
    pid1: bool,
) -> anyhow::Result<Action> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        if !pid1 {
            // Adopt orphans of our services so they are reaped here, as PID 1 would.
            if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
                tracing::warn!(error = %zos_base::Report(&e), "cannot become a child subreaper");
            }
        }
        let reaper = process::Reaper::start()?;
        let logs = logs::Logs::new(buffer, limits);
        let mut base_env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        base_env.extend(config::read_environment(Path::new(ENVIRONMENT_FILE)));
        let mut services = std::collections::BTreeMap::new();
        for dir in config_dirs {
            let (found, errors) = config::load_dir(dir);
            for e in &errors {
                tracing::error!(error = %zos_base::Report(&e), "service file skipped");
                println!("zos-init: error: {e}", e = zos_base::Report(&e));
            }
            println!("zos-init: {} services from {}", found.len(), dir.display());
            services.extend(found);
        }
        let config_dir = config_dirs.first().context("no service directory given")?;
        let opts = supervisor::Options {
            config_dir: config_dir.clone(),
            logs: logs.clone(),
            reaper,
            base_env,
        };
        let (handle, done) = supervisor::start(opts, services);
        let shutdown_action = if pid1 { Action::PowerOff } else { Action::Exit };
        control::serve(socket, handle.clone(), logs, shutdown_action)?;
        let signals: Vec<(SignalKind, Action)> = if pid1 {
            vec![
                (SignalKind::interrupt(), Action::Reboot),
                (SignalKind::from_raw(libc::SIGPWR), Action::PowerOff),
            ]
        } else {
            vec![
                (SignalKind::terminate(), Action::Exit),
                (SignalKind::interrupt(), Action::Exit),
            ]
        };
        for (kind, action) in signals {
            let mut stream = signal(kind).context("installing signal handlers")?;
            let handle = handle.clone();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    let _ = handle.request(Request::Shutdown(action)).await;
                }
            });
        }
        let action = done.await.context("the supervisor stopped unexpectedly")?;
        if !pid1 {
            let _ = std::fs::remove_file(socket);
        }
        Ok(action)
    })
}

fn client(socket: &Path, cmd: Cmd, json: bool) -> Result<(), ClientError> {
    let c = Client::new(socket);
    match cmd {
        Cmd::List | Cmd::Status { .. } if json => {
            let request = match cmd {
                Cmd::Status { name } => Command::Status(name),
                _ => Command::List,
            };
            println!("{:#}", c.call(&request)?);
        }
        Cmd::List => {
            for (name, state) in c.list()? {
                println!("{name}: {state}");
            }
        }
        Cmd::Status { name } => {
            let s = c.status(&name)?;
            println!("name: {}", s.name);
            println!("pid: {}", s.pid);
            println!("state: {}", s.state);
            println!("target: {}", s.target);
            if !s.after.is_empty() {
                println!("after:");
                for (dep, state) in &s.after {
                    println!("  - {dep}: {state}");
                }
            }
        }
        Cmd::Start { name } => drop(c.call(&Command::Start(name))?),
        Cmd::Stop { name } => drop(c.call(&Command::Stop(name))?),
        Cmd::Forget { name } => drop(c.call(&Command::Forget(name))?),
        Cmd::Monitor { name } => drop(c.call(&Command::Monitor(name))?),
        Cmd::Kill { name, signal } => drop(c.call(&Command::Kill(name, signal.parse()?))?),
        Cmd::Restart { name, timeout } => c.restart(&name, Duration::from_secs(timeout))?,
        Cmd::Log { follow, name } => {
            c.log(follow, name.as_deref(), &mut std::io::stdout().lock())?
        }
        Cmd::Shutdown => drop(c.call(&Command::Shutdown)?),
        Cmd::Reboot => drop(c.call(&Command::Reboot)?),
        Cmd::Init { .. } => {}
    }
    Ok(())
}

static KMSG: OnceLock<std::fs::File> = OnceLock::new();

/// The init's own log: the console (stdout), and /dev/kmsg when PID 1.
struct ConsoleWriter;

impl Write for ConsoleWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(mut k) = KMSG.get() {
            // Debug priority: kept in the kernel log for dmesg, not printed a second time on the
            // console (which already gets the line from stdout).
            let mut record = b"<7>zos-init: ".to_vec();
            record.extend_from_slice(buf);
            let _ = k.write_all(&record);
        }
        std::io::stdout().lock().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().lock().flush()
    }
}

fn init_tracing(debug: bool, pid1: bool) {
    if pid1 {
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
            let _ = KMSG.set(f);
        }
    }
    let default = if debug { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false)
        .with_writer(|| ConsoleWriter)
        .try_init();
}
