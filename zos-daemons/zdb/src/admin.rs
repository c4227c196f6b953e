//! The admin client of a zdb, for the node's own use (provisiond manages namespaces with it):
//! one kept connection over the unix socket, authenticated as admin, re-opened once when the
//! server went away (a restarted zdb), every call bounded in time. Replies are typed: NSINFO as
//! [`NamespaceInfo`] (parsed by the same module that renders it), NSLIST as names, refusals as
//! [`AdminError::Refused`] with zdb's own line.
//!
//! Written here rather than over a redis client crate: the server's RESP dialect is this
//! crate's, its admin commands and NSINFO text are too, and a kept async connection with a
//! bounded reply reader is a hundred lines. Never logs the password.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::Mutex;

use crate::format::Mode;
use crate::info::{InfoError, NamespaceInfo};

/// How long one call may take, connecting and authenticating included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest bulk reply read (NSINFO is about 1 KiB).
const MAX_BULK: usize = 1 << 20;
/// The most names NSLIST may return.
const MAX_ARRAY: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot reach zdb at {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to zdb at {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("zdb at {path} did not answer within {} s", CALL_TIMEOUT.as_secs())]
    Timeout { path: PathBuf },
    #[error("zdb sent something that is not a reply to {command}: {what}")]
    Protocol { command: String, what: String },
    /// zdb answered with an error line (`Access denied`, `Namespace not found`, ...).
    #[error("zdb refused {command}: {message}")]
    Refused { command: String, message: String },
    #[error("zdb's NSINFO")]
    Info(#[from] InfoError),
}

/// A namespace setting NSSET changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Property {
    /// Bytes; 0 is no limit.
    MaxSize(u64),
    Public(bool),
    /// `None` removes the password.
    Password(Option<String>),
    Mode(Mode),
    Worm(bool),
    Lock(bool),
    /// Read-only for everyone, admin included (a paused workload).
    Freeze(bool),
}

impl Property {
    fn args(&self) -> (&'static str, String) {
        let flag = |on: bool| if on { "1" } else { "0" }.to_string();
        match self {
            Property::MaxSize(n) => ("maxsize", n.to_string()),
            Property::Public(on) => ("public", flag(*on)),
            Property::Password(Some(p)) => ("password", p.clone()),
            Property::Password(None) => ("password", "*".into()),
            Property::Mode(Mode::User) => ("mode", "user".into()),
            Property::Mode(Mode::Seq) => ("mode", "seq".into()),
            Property::Worm(on) => ("worm", flag(*on)),
            Property::Lock(on) => ("lock", flag(*on)),
            Property::Freeze(on) => ("freeze", flag(*on)),
        }
    }
}

/// One RESP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

type Connection = BufReader<UnixStream>;

/// A zdb's admin session; clones share the connection.
#[derive(Clone)]
pub struct AdminClient {
    socket: PathBuf,
    password: String,
    connection: Arc<Mutex<Option<Connection>>>,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl AdminClient {
    /// A client of the zdb listening on `socket`, started with `--admin <password>`.
    pub fn new(socket: impl Into<PathBuf>, password: impl Into<String>) -> AdminClient {
        AdminClient {
            socket: socket.into(),
            password: password.into(),
            connection: Arc::new(Mutex::new(None)),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// True if this client talks to `socket` with `password` (so it can be kept).
    pub fn is_for(&self, socket: &Path, password: &str) -> bool {
        self.socket == socket && self.password == password
    }

    /// PING: the server answers (and the admin password is right).
    pub async fn ping(&self) -> Result<(), AdminError> {
        self.expect_ok(&["PING"]).await
    }

    /// NSNEW.
    pub async fn create(&self, namespace: &str) -> Result<(), AdminError> {
        self.expect_ok(&["NSNEW", namespace]).await
    }

    /// NSDEL.
    pub async fn delete(&self, namespace: &str) -> Result<(), AdminError> {
        self.expect_ok(&["NSDEL", namespace]).await
    }

    /// NSSET.
    pub async fn set(&self, namespace: &str, property: &Property) -> Result<(), AdminError> {
        let (key, value) = property.args();
        self.expect_ok(&["NSSET", namespace, key, &value]).await
    }

    /// NSINFO; `None` when there is no such namespace.
    pub async fn info(&self, namespace: &str) -> Result<Option<NamespaceInfo>, AdminError> {
        match self.call(&["NSINFO", namespace]).await? {
            Reply::Bulk(Some(text)) => {
                Ok(Some(NamespaceInfo::parse(&String::from_utf8_lossy(&text))?))
            }
            Reply::Error(m) if m == "Namespace not found" => Ok(None),
            other => Err(unexpected("NSINFO", other)),
        }
    }

    /// NSLIST: every namespace, `default` included.
    pub async fn list(&self) -> Result<Vec<String>, AdminError> {
        match self.call(&["NSLIST"]).await? {
            Reply::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Reply::Bulk(Some(name)) => Ok(String::from_utf8_lossy(&name).into_owned()),
                    other => Err(unexpected("NSLIST", other)),
                })
                .collect(),
            other => Err(unexpected("NSLIST", other)),
        }
    }

    async fn expect_ok(&self, args: &[&str]) -> Result<(), AdminError> {
        match self.call(args).await? {
            Reply::Simple(_) => Ok(()),
            other => Err(unexpected(args[0], other)),
        }
    }

    /// Sends one command on the kept connection (opening it if needed, once more if a kept one
    /// turns out dead) and returns the reply; an error line is [`AdminError::Refused`].
    async fn call(&self, args: &[&str]) -> Result<Reply, AdminError> {
        let command = args[0];
        let attempt = async {
            let mut kept = self.connection.lock().await;
            let reused = kept.is_some();
            let result = match kept.take() {
                Some(connection) => self.exchange(connection, args).await,
                None => self.exchange(self.open().await?, args).await,
            };
            let (reply, connection) = match result {
                Ok(done) => done,
                // A zdb restarted since the last call closed the kept connection.
                Err(AdminError::Io { .. }) if reused => {
                    self.exchange(self.open().await?, args).await?
                }
                Err(e) => return Err(e),
            };
            *kept = Some(connection);
            Ok(reply)
        };
        let reply = tokio::time::timeout(CALL_TIMEOUT, attempt)
            .await
            .map_err(|_| AdminError::Timeout {
                path: self.socket.clone(),
            })??;
        match reply {
            Reply::Error(message) if message != "Namespace not found" => Err(AdminError::Refused {
                command: command.to_string(),
                message,
            }),
            reply => Ok(reply),
        }
    }

    /// A new connection, authenticated.
    async fn open(&self) -> Result<Connection, AdminError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| AdminError::Connect {
                    path: self.socket.clone(),
                    source,
                })?;
        let connection = BufReader::new(stream);
        let (reply, connection) = self.exchange(connection, &["AUTH", &self.password]).await?;
        match reply {
            Reply::Simple(_) => Ok(connection),
            Reply::Error(message) => Err(AdminError::Refused {
                command: "AUTH".into(),
                message,
            }),
            other => Err(unexpected("AUTH", other)),
        }
    }

    async fn exchange(
        &self,
        mut connection: Connection,
        args: &[&str],
    ) -> Result<(Reply, Connection), AdminError> {
        let io = |source| AdminError::Io {
            path: self.socket.clone(),
            source,
        };
        connection
            .get_mut()
            .write_all(&encode(args))
            .await
            .map_err(io)?;
        let reply = read_reply(&mut connection, 0).await.map_err(|e| match e {
            ReadError::Io(source) => io(source),
            ReadError::Malformed(what) => AdminError::Protocol {
                command: args[0].to_string(),
                what,
            },
        })?;
        Ok((reply, connection))
    }
}

fn unexpected(command: &str, reply: Reply) -> AdminError {
    match reply {
        Reply::Error(message) => AdminError::Refused {
            command: command.to_string(),
            message,
        },
        other => AdminError::Protocol {
            command: command.to_string(),
            what: format!("{other:?}"),
        },
    }
}

/// A command as a RESP array of bulk strings.
fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

enum ReadError {
    Io(std::io::Error),
    Malformed(String),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Reads one reply; arrays nest at most one level (NSLIST), sizes are bounded.
async fn read_reply(connection: &mut Connection, depth: u8) -> Result<Reply, ReadError> {
    let mut line = Vec::new();
    let n = (&mut *connection)
        .take(MAX_BULK as u64)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Err(ReadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    let Some(body) = line.strip_suffix(b"\r\n") else {
        return Err(ReadError::Malformed("a line without CRLF".into()));
    };
    let (kind, rest) = body
        .split_first()
        .ok_or_else(|| ReadError::Malformed("an empty line".into()))?;
    let text = String::from_utf8_lossy(rest).into_owned();
    let number = || {
        text.parse::<i64>()
            .map_err(|_| ReadError::Malformed(format!("a bad length {text:?}")))
    };
    Ok(match kind {
        b'+' => Reply::Simple(text),
        b'-' => Reply::Error(text),
        b':' => Reply::Integer(number()?),
        b'$' => match number()? {
            -1 => Reply::Bulk(None),
            len if (0..=MAX_BULK as i64).contains(&len) => {
                let mut data = vec![0; len as usize + 2];
                connection.read_exact(&mut data).await?;
                if !data.ends_with(b"\r\n") {
                    return Err(ReadError::Malformed("a bulk without CRLF".into()));
                }
                data.truncate(len as usize);
                Reply::Bulk(Some(data))
            }
            len => return Err(ReadError::Malformed(format!("a bulk of {len} bytes"))),
        },
        b'*' if depth == 0 => match number()? {
            len if (0..=MAX_ARRAY as i64).contains(&len) => {
                let mut items = Vec::with_capacity((len as usize).min(1024));
                for _ in 0..len {
                    items.push(Box::pin(read_reply(connection, depth + 1)).await?);
                }
                Reply::Array(items)
            }
            len => return Err(ReadError::Malformed(format!("an array of {len} items"))),
        },
        other => {
            return Err(ReadError::Malformed(format!(
                "a reply of type {:?}",
                *other as char
            )))
        }
    })
}
