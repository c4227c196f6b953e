//! Serves the control socket: parses one command line per connection, forwards it to the
//! supervisor and writes the JSON reply; `log` is answered from the log ring directly.
//!
//! It changes nothing itself: every state change goes through the supervisor.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast::error::RecvError;

use super::Response;
use crate::config::SignalName;
use crate::logs::Logs;
use crate::supervisor::{Action, Handle, Request};

const MAX_COMMAND: u64 = 4096;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("binding control socket {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A parsed command line.
#[derive(Debug)]
enum Command {
    Supervisor(Request),
    Log { follow: bool },
}

fn parse(line: &str) -> Result<Command, String> {
    let words = shlex::split(line.trim()).unwrap_or_default();
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let bad = || {
        format!(
            "unknown command '{}' or wrong arguments count",
            w.first().copied().unwrap_or("")
        )
    };
    let req = match w.as_slice() {
        ["list"] => Request::List,
        ["status", n] => Request::Status(n.to_string()),
        ["start", n] => Request::Start(n.to_string()),
        ["stop", n] => Request::Stop(n.to_string()),
        ["forget", n] => Request::Forget(n.to_string()),
        ["monitor", n] => Request::Monitor(n.to_string()),
        ["kill", n, sig] => Request::Kill(n.to_string(), SignalName::from_str(sig)?.0),
        ["shutdown"] => Request::Shutdown(Action::PowerOff),
        ["reboot"] => Request::Shutdown(Action::Reboot),
        ["log"] => return Ok(Command::Log { follow: true }),
        ["log", "snapshot"] => return Ok(Command::Log { follow: false }),
        _ => return Err(bad()),
    };
    Ok(Command::Supervisor(req))
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
                            tracing::debug!(error = %e, "control connection ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::error!(error = %e, "control socket accept failed");
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
    let reply = match parse(&line) {
        Ok(Command::Log { follow }) => return stream_log(&mut wr, &logs, follow).await,
        Ok(Command::Supervisor(Request::Shutdown(Action::PowerOff))) => {
            sup.request(Request::Shutdown(shutdown_action)).await
        }
        Ok(Command::Supervisor(req)) => sup.request(req).await,
        Err(e) => Err(e),
    };
    let response = match reply {
        Ok(body) => Response {
            state: "ok".into(),
            body,
        },
        Err(msg) => Response {
            state: "error".into(),
            body: msg.into(),
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_verbs_with_exact_arity() {
        assert!(matches!(
            parse("list\n"),
            Ok(Command::Supervisor(Request::List))
        ));
        assert!(matches!(
            parse("kill a SIGUSR1"),
            Ok(Command::Supervisor(Request::Kill(
                _,
                nix::sys::signal::Signal::SIGUSR1
            )))
        ));
        assert!(matches!(
            parse("log snapshot"),
            Ok(Command::Log { follow: false })
        ));
        assert_eq!(
            parse("status").unwrap_err(),
            "unknown command 'status' or wrong arguments count"
        );
        assert_eq!(
            parse("frob x").unwrap_err(),
            "unknown command 'frob' or wrong arguments count"
        );
        assert!(parse("kill a NOPE").unwrap_err().contains("NOPE"));
    }
}
