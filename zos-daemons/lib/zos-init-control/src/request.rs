//! The command lines of the protocol: parsed by the init, written by the clients, so both sides
//! agree on the verbs, their arity and the quoting of names.

use std::fmt;
use std::str::FromStr;

use nix::sys::signal::Signal;

use crate::ControlError;

/// A signal as operators write it (`SIGTERM`, `sigterm` or `TERM`), on the command line and in
/// service files (`signal: {stop: TERM}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct SignalName(pub Signal);

impl TryFrom<String> for SignalName {
    type Error = ControlError;
    fn try_from(s: String) -> Result<Self, ControlError> {
        s.parse()
    }
}

impl FromStr for SignalName {
    type Err = ControlError;
    fn from_str(s: &str) -> Result<Self, ControlError> {
        let upper = s.trim().to_ascii_uppercase();
        let full = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        Signal::from_str(&full)
            .map(SignalName)
            .map_err(|_| ControlError::BadCommand(format!("unknown signal {s:?}")))
    }
}

impl fmt::Display for SignalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// One command of the control socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    List,
    Status(String),
    Start(String),
    Stop(String),
    Kill(String, SignalName),
    Forget(String),
    /// Load `<name>.yaml` from the init's service directory and start it.
    Monitor(String),
    /// Power off (or, for an init that is not PID 1, exit).
    Shutdown,
    Reboot,
    /// The log ring, then (with `follow`) every new line.
    Log {
        follow: bool,
    },
}

impl Request {
    /// Parses one command line as zinit does: shell words, exact arity.
    pub fn parse(line: &str) -> Result<Request, ControlError> {
        let words = shlex::split(line.trim()).unwrap_or_default();
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let name = |n: &str| n.to_string();
        Ok(match w.as_slice() {
            ["list"] => Request::List,
            ["status", n] => Request::Status(name(n)),
            ["start", n] => Request::Start(name(n)),
            ["stop", n] => Request::Stop(name(n)),
            ["forget", n] => Request::Forget(name(n)),
            ["monitor", n] => Request::Monitor(name(n)),
            ["kill", n, sig] => Request::Kill(name(n), sig.parse()?),
            ["shutdown"] => Request::Shutdown,
            ["reboot"] => Request::Reboot,
            ["log"] => Request::Log { follow: true },
            ["log", "snapshot"] => Request::Log { follow: false },
            _ => {
                return Err(ControlError::BadCommand(format!(
                    "unknown command '{}' or wrong arguments count",
                    w.first().copied().unwrap_or("")
                )))
            }
        })
    }

    /// The command line that [`Request::parse`] reads back as `self` (no newline).
    pub fn line(&self) -> String {
        let q = |word: &str| {
            shlex::try_quote(word)
                .map(|q| q.into_owned())
                .unwrap_or_else(|_| word.to_string())
        };
        match self {
            Request::List => "list".into(),
            Request::Status(n) => format!("status {}", q(n)),
            Request::Start(n) => format!("start {}", q(n)),
            Request::Stop(n) => format!("stop {}", q(n)),
            Request::Forget(n) => format!("forget {}", q(n)),
            Request::Monitor(n) => format!("monitor {}", q(n)),
            Request::Kill(n, sig) => format!("kill {} {sig}", q(n)),
            Request::Shutdown => "shutdown".into(),
            Request::Reboot => "reboot".into(),
            Request::Log { follow: true } => "log".into(),
            Request::Log { follow: false } => "log snapshot".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_verbs_with_exact_arity() {
        assert_eq!(Request::parse("list\n"), Ok(Request::List));
        assert_eq!(
            Request::parse("kill a SIGUSR1"),
            Ok(Request::Kill("a".into(), SignalName(Signal::SIGUSR1)))
        );
        assert_eq!(
            Request::parse("kill a term"),
            Ok(Request::Kill("a".into(), SignalName(Signal::SIGTERM)))
        );
        assert_eq!(
            Request::parse("log snapshot"),
            Ok(Request::Log { follow: false })
        );
        assert_eq!(
            Request::parse("status").unwrap_err().to_string(),
            "unknown command 'status' or wrong arguments count"
        );
        assert_eq!(
            Request::parse("frob x").unwrap_err().to_string(),
            "unknown command 'frob' or wrong arguments count"
        );
        assert_eq!(
            Request::parse("kill a NOPE").unwrap_err().to_string(),
            r#"unknown signal "NOPE""#
        );
    }

    #[test]
    fn lines_read_back() {
        for req in [
            Request::List,
            Request::Status("zdb-pool 1".into()),
            Request::Monitor("it's".into()),
            Request::Kill("x".into(), SignalName(Signal::SIGKILL)),
            Request::Reboot,
            Request::Log { follow: true },
            Request::Log { follow: false },
        ] {
            assert_eq!(Request::parse(&req.line()), Ok(req));
        }
    }
}
