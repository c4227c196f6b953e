//! Clients of the control socket: [`Client`] blocks (the CLI, tests), [`AsyncClient`] runs on
//! tokio (daemons). Both send one [`Request`] per connection and turn the reply into the body or
//! a typed [`ControlError`].

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{ControlError, Request, Response, ServiceStatus, SignalName};

/// A reply is at most this long (a `list` of some thousand services); more is not the init.
const MAX_REPLY: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the init at {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to the init at {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the init sent an unreadable reply {text:?}")]
    Decode {
        text: String,
        #[source]
        source: serde_json::Error,
    },
    /// The init refused the command.
    #[error(transparent)]
    Refused(#[from] ControlError),
}

impl ClientError {
    /// The init's refusal, if that is what this is.
    pub fn refusal(&self) -> Option<&ControlError> {
        match self {
            ClientError::Refused(e) => Some(e),
            _ => None,
        }
    }
}

/// The body of an `ok` reply, or the init's refusal.
fn decode(text: String) -> Result<Value, ClientError> {
    let reply: Response = match serde_json::from_str(&text) {
        Ok(reply) => reply,
        Err(source) => return Err(ClientError::Decode { text, source }),
    };
    if reply.state == "ok" {
        return Ok(reply.body);
    }
    Err(ControlError::from_message(&match reply.body {
        Value::String(s) => s,
        other => other.to_string(),
    })
    .into())
}

fn status_of(body: Value) -> Result<ServiceStatus, ClientError> {
    serde_json::from_value(body.clone()).map_err(|source| ClientError::Decode {
        text: body.to_string(),
        source,
    })
}

fn list_of(body: Value) -> Result<BTreeMap<String, String>, ClientError> {
    serde_json::from_value(body.clone()).map_err(|source| ClientError::Decode {
        text: body.to_string(),
        source,
    })
}

/// The blocking client.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
        }
    }

    fn io(&self) -> impl Fn(std::io::Error) -> ClientError + '_ {
        move |source| ClientError::Io {
            path: self.socket.clone(),
            source,
        }
    }

    fn open(&self, request: &Request) -> Result<UnixStream, ClientError> {
        let mut stream =
            UnixStream::connect(&self.socket).map_err(|source| ClientError::Connect {
                path: self.socket.clone(),
                source,
            })?;
        stream
            .write_all(format!("{}\n", request.line()).as_bytes())
            .map_err(self.io())?;
        Ok(stream)
    }

    /// Sends `request` (anything but `log`) and returns the reply's body.
    pub fn call(&self, request: &Request) -> Result<Value, ClientError> {
        let stream = self.open(request)?;
        let mut text = String::new();
        stream
            .take(MAX_REPLY)
            .read_to_string(&mut text)
            .map_err(self.io())?;
        decode(text)
    }

    /// Every service and its state.
    pub fn list(&self) -> Result<BTreeMap<String, String>, ClientError> {
        list_of(self.call(&Request::List)?)
    }

    pub fn status(&self, name: &str) -> Result<ServiceStatus, ClientError> {
        status_of(self.call(&Request::Status(name.into()))?)
    }

    /// zinit's restart, which is the client's: stop, wait up to `timeout` for the process to be
    /// gone, SIGKILL it if it is not, start.
    pub fn restart(&self, name: &str, timeout: Duration) -> Result<(), ClientError> {
        self.call(&Request::Stop(name.into()))?;
        let deadline = Instant::now() + timeout;
        while self.status(name)?.is_running() {
            if Instant::now() >= deadline {
                let kill = SignalName(nix::sys::signal::Signal::SIGKILL);
                self.call(&Request::Kill(name.into(), kill))?;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.call(&Request::Start(name.into()))?;
        Ok(())
    }

    /// Copies the log to `out`: the ring, then (with `follow`) every new line. With `service`,
    /// only that service's lines (and its test's) are copied.
    pub fn log(
        &self,
        follow: bool,
        service: Option<&str>,
        out: &mut impl Write,
    ) -> Result<(), ClientError> {
        let stream = self.open(&Request::Log { follow })?;
        for line in BufReader::new(stream).lines() {
            let line = line.map_err(self.io())?;
            let wanted = service.is_none_or(|s| belongs_to(&line, s));
            // The reader going away (e.g. `| head`) is the end, not an error.
            if wanted && writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The tokio client.
#[derive(Debug, Clone)]
pub struct AsyncClient {
    socket: PathBuf,
}

impl AsyncClient {
    pub fn new(socket: impl Into<PathBuf>) -> AsyncClient {
        AsyncClient {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends `request` (anything but `log`) and returns the reply's body.
    pub async fn call(&self, request: &Request) -> Result<Value, ClientError> {
        let io = |source| ClientError::Io {
            path: self.socket.clone(),
            source,
        };
        let mut stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ClientError::Connect {
                path: self.socket.clone(),
                source,
            })?;
        stream
            .write_all(format!("{}\n", request.line()).as_bytes())
            .await
            .map_err(io)?;
        let mut text = String::new();
        stream
            .take(MAX_REPLY)
            .read_to_string(&mut text)
            .await
            .map_err(io)?;
        decode(text)
    }

    pub async fn status(&self, name: &str) -> Result<ServiceStatus, ClientError> {
        status_of(self.call(&Request::Status(name.into())).await?)
    }
}

/// True if a log line (`[+] name: text` / `[-] name/test: text`) comes from `service`.
fn belongs_to(line: &str, service: &str) -> bool {
    let Some(rest) = line.get(4..) else {
        return false;
    };
    rest.strip_prefix(service)
        .is_some_and(|r| r.starts_with(": ") || r.starts_with("/test: "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filter() {
        assert!(belongs_to("[+] redis: hello", "redis"));
        assert!(belongs_to("[-] redis/test: x", "redis"));
        assert!(!belongs_to("[+] redis2: hello", "redis"));
        assert!(!belongs_to("[+] re", "redis"));
    }

    #[test]
    fn replies_decode_to_bodies_and_refusals() {
        assert_eq!(
            decode(r#"{"state":"ok","body":null}"#.into()).unwrap(),
            Value::Null
        );
        let refused = decode(r#"{"state":"error","body":"service name \"x\" unknown"}"#.into());
        assert!(matches!(
            refused,
            Err(ClientError::Refused(ControlError::UnknownService(n))) if n == "x"
        ));
        assert!(matches!(
            decode("not json".into()),
            Err(ClientError::Decode { .. })
        ));
    }
}
