//! Serves the control socket (the protocol is `zos-init-control`'s): reads one command line per
//! connection, forwards it to the supervisor and writes the JSON reply; `log` is answered from
//! the log ring directly.
//!
//! It changes nothing itself: every state change goes through the supervisor.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast::error::RecvError;
use zos_init_control::{Request, Response};

use crate::logs::Logs;
use crate::supervisor::{self, Action, Handle};

const MAX_COMMAND: u64 = 4096;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("binding control socket {path}")]
    Bind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a request of the protocol is here: a question for the supervisor, or the log (which
/// the log ring answers).
enum Command {
    Supervisor(supervisor::Request),
    Log { follow: bool },
}

/// `shutdown` means `shutdown_action` here (power off on a node, exit elsewhere).
fn command(request: Request, shutdown_action: Action) -> Command {
    use supervisor::Request as S;
    Command::Supervisor(match request {
        Request::List => S::List,
        Request::Status(n) => S::Status(n),
        Request::Start(n) => S::Start(n),
        Request::Stop(n) => S::Stop(n),
        Request::Kill(n, sig) => S::Kill(n, sig.0),
        Request::Forget(n) => S::Forget(n),
        Request::Monitor(n) => S::Monitor(n),
        Request::Shutdown => S::Shutdown(shutdown_action),
        Request::Reboot => S::Shutdown(Action::Reboot),
        Request::Log { follow } => return Command::Log { follow },
    })
}

/// Binds `path` (replacing a stale socket file) and serves until the process ends.
/// `shutdown_action` is what `shutdown` means here (power off on a node, exit elsewhere).
pub fn serve(
    path: &Path,
    sup: Handle,
    logs: Logs,
    shutdown_action: Action,
) -> Result<(), ServerError> {
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|source| ServerError::Bind {
        path: path.to_path_buf(),
        source,
    })?;
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let (sup, logs) = (sup.clone(), logs.clone());
                    tokio::spawn(async move {
                        if let Err(e) = connection(stream, sup, logs, shutdown_action).await {
                            tracing::debug!(error = %zos_base::Report(&e), "control connection ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::error!(error = %zos_base::Report(&e), "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(())
}

async fn connection(
    stream: UnixStream,
    sup: Handle,
    logs: Logs,
    shutdown_action: Action,
) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(rd.take(MAX_COMMAND));
    match tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line)).await {
        Ok(r) => r?,
        Err(_) => return Ok(()),
    };
    let reply = match Request::parse(&line).map(|r| command(r, shutdown_action)) {
        Ok(Command::Log { follow }) => return stream_log(&mut wr, &logs, follow).await,
        Ok(Command::Supervisor(request)) => sup.request(request).await,
        Err(e) => Err(e),
    };
    let response = match reply {
        Ok(body) => Response::ok(body),
        Err(refusal) => Response::error(&refusal),
    };
    let bytes = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
    wr.write_all(&bytes).await?;
    wr.shutdown().await
}

async fn stream_log(
    wr: &mut tokio::net::unix::OwnedWriteHalf,
    logs: &Logs,
    follow: bool,
) -> std::io::Result<()> {
    let (snapshot, mut rx) = logs.snapshot_and_follow();
    for line in snapshot {
        wr.write_all(format!("{line}\n").as_bytes()).await?;
    }
    if !follow {
        return wr.shutdown().await;
    }
    loop {
        match rx.recv().await {
            Ok(line) => wr.write_all(format!("{line}\n").as_bytes()).await?,
            Err(RecvError::Lagged(n)) => {
                wr.write_all(format!("[-] zos-init: {n} log lines skipped\n").as_bytes())
                    .await?
            }
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}
