//! The CLI side of the control socket: sends one command, decodes the JSON reply, and
//! implements zinit's client-side `restart` (stop, wait for down, SIGKILL, start).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Response;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the init at {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("talking to the init at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the init sent an unreadable reply {text:?}: {source}")]
    Decode {
        text: String,
        source: serde_json::Error,
    },
    /// The init refused the command; the message is the init's own.
    #[error("{0}")]
    Refused(String),
}

pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: &Path) -> Client {
        Client {
            socket: socket.to_path_buf(),
        }
    }

    fn io(&self) -> impl Fn(std::io::Error) -> ClientError + '_ {
        move |source| ClientError::Io {
            path: self.socket.clone(),
            source,
        }
    }

    fn open(&self, line: &str) -> Result<UnixStream, ClientError> {
        let mut stream =
            UnixStream::connect(&self.socket).map_err(|source| ClientError::Connect {
                path: self.socket.clone(),
                source,
            })?;
        stream
            .write_all(format!("{line}\n").as_bytes())
            .map_err(self.io())?;
        Ok(stream)
    }

    /// Sends one command line and returns the reply body.
    pub fn command(&self, line: &str) -> Result<Value, ClientError> {
        let mut stream = self.open(line)?;
        let mut text = String::new();
        stream.read_to_string(&mut text).map_err(self.io())?;
        let resp: Response = serde_json::from_str(&text).map_err(|source| ClientError::Decode {
            text: text.clone(),
            source,
        })?;
        if resp.state == "ok" {
            Ok(resp.body)
        } else {
            Err(ClientError::Refused(match resp.body {
                Value::String(s) => s,
                other => other.to_string(),
            }))
        }
    }

    /// zinit's restart: stop, wait up to `timeout` for the service to be down, SIGKILL, start.
    pub fn restart(&self, name: &str, timeout: Duration) -> Result<(), ClientError> {
        let quoted = quote(name);
        self.command(&format!("stop {quoted}"))?;
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.command(&format!("status {quoted}"))?;
            if status["pid"].as_i64() == Some(0) {
                break;
            }
            if Instant::now() >= deadline {
                self.command(&format!("kill {quoted} SIGKILL"))?;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.command(&format!("start {quoted}"))?;
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
        let stream = self.open(if follow { "log" } else { "log snapshot" })?;
        let reader = BufReader::new(stream);
        for line in reader.lines() {
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

fn quote(word: &str) -> String {
    shlex::try_quote(word)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| word.to_string())
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
}
