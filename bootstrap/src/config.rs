//! Service files: zinit-style YAML, one `NAME.yaml` per service in the config directory.
//!
//! This module parses and validates service files and nothing else: it never starts a process and
//! never writes a file. A broken file yields an error naming the file and, where the YAML parser
//! knows it, the line; the caller logs it and carries on with the other services.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use zos_init_control::SignalName;

/// Default seconds between the stop signal and SIGKILL (zinit's default).
const DEFAULT_SHUTDOWN_TIMEOUT: u64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: line {line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("service name {name:?} is not valid (letters, digits, '.', '_', '-', '@'; not starting with '.')")]
    BadName { name: String },
}

/// Where a service's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    /// Ring buffer and rotating file (default).
    Ring,
    /// Ring, file and the init's own stdout (the console on a node).
    Stdout,
    /// Discarded (`/dev/null`).
    None,
}

/// How the init decides a freshly spawned service is up (besides `test`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// Ready when a unix socket at this path accepts a connection.
    Socket(PathBuf),
    /// Ready when this well-known bus name has an owner.
    BusName(String),
}

/// A validated service definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    pub exec: Vec<String>,
    pub test: Option<Vec<String>>,
    pub oneshot: bool,
    pub after: Vec<String>,
    pub stop_signal: Signal,
    pub log: LogMode,
    pub env: BTreeMap<String, String>,
    pub dir: Option<PathBuf>,
    pub shutdown_timeout: Duration,
    pub ready: Option<Ready>,
}

#[derive(Deserialize)]
struct RawService {
    exec: Option<String>,
    #[serde(default)]
    test: Option<String>,
    #[serde(default)]
    oneshot: bool,
    #[serde(default)]
    after: Vec<String>,
    #[serde(default)]
    signal: RawSignals,
    #[serde(default = "default_log")]
    log: LogMode,
    #[serde(default, deserialize_with = "de_env")]
    env: BTreeMap<String, String>,
    #[serde(default)]
    dir: Option<PathBuf>,
    #[serde(default)]
    shutdown_timeout: Option<u64>,
    #[serde(default)]
    ready: Option<Ready>,
}

#[derive(Deserialize, Default)]
struct RawSignals {
    #[serde(default)]
    stop: Option<SignalName>,
}

// Validation happens inside the visitors so serde_yaml can attach the line of the bad value.
impl<'de> Deserialize<'de> for Ready {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ready;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping with `socket: /path` or `bus_name: NAME`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ready, A::Error> {
                let (mut socket, mut bus_name) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "socket" => socket = Some(map.next_value::<PathBuf>()?),
                        "bus_name" => bus_name = Some(map.next_value::<String>()?),
                        other => {
                            return Err(de::Error::custom(format!(
                                "ready: unknown key {other:?} (expected socket or bus_name)"
                            )))
                        }
                    }
                }
                match (socket, bus_name) {
                    (Some(p), None) if p.is_absolute() => Ok(Ready::Socket(p)),
                    (None, Some(n)) => match zbus::names::WellKnownName::try_from(n.as_str()) {
                        Ok(_) => Ok(Ready::BusName(n)),
                        Err(e) => Err(de::Error::custom(format!(
                            "ready: bus_name {n:?}: {e}",
                            e = zos_base::Report(&e)
                        ))),
                    },
                    _ => Err(de::Error::custom(
                        "ready: needs exactly one of `socket: /absolute/path` or `bus_name: NAME`",
                    )),
                }
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for LogMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LogMode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("ring, stdout or none")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LogMode, E> {
                match v {
                    "ring" => Ok(LogMode::Ring),
                    "stdout" => Ok(LogMode::Stdout),
                    "none" | "null" => Ok(LogMode::None),
                    other => Err(E::custom(format!(
                        "log: {other:?} is not one of ring, stdout, none"
                    ))),
                }
            }
            // An explicit YAML `null` means "no log" (zinit's documented spelling).
            fn visit_unit<E: de::Error>(self) -> Result<LogMode, E> {
                Ok(LogMode::None)
            }
        }
        d.deserialize_any(V)
    }
}

fn default_log() -> LogMode {
    LogMode::Ring
}

fn de_env<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = Option::<BTreeMap<String, serde_yaml::Value>>::deserialize(d)?.unwrap_or_default();
    raw.into_iter()
        .map(|(k, v)| {
            let s = match v {
                serde_yaml::Value::String(s) => s,
                serde_yaml::Value::Number(n) => n.to_string(),
                serde_yaml::Value::Bool(b) => b.to_string(),
                serde_yaml::Value::Null => String::new(),
                _ => {
                    return Err(de::Error::custom(format!(
                        "env: value of {k:?} must be a scalar"
                    )))
                }
            };
            Ok((k, s))
        })
        .collect()
}

/// True if `name` may name a service (and so a file in the config directory).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Parses one service file's text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<ServiceConfig, ConfigError> {
    let raw: RawService = serde_yaml::from_str(text).map_err(|e| match e.location() {
        Some(loc) => ConfigError::Syntax {
            path: path.to_path_buf(),
            line: loc.line(),
            message: zos_base::report(&e),
        },
        None => ConfigError::Invalid {
            path: path.to_path_buf(),
            message: zos_base::report(&e),
        },
    })?;
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let exec_text = raw.exec.unwrap_or_default();
    if exec_text.trim().is_empty() {
        return Err(invalid("missing exec directive".into()));
    }
    let exec = shlex::split(&exec_text)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            invalid(format!(
                "exec: cannot split {exec_text:?} (unbalanced quotes?)"
            ))
        })?;
    let test = match raw.test.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(
            shlex::split(t)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| invalid(format!("test: cannot split {t:?}")))?,
        ),
    };
    for dep in &raw.after {
        if !valid_name(dep) {
            return Err(invalid(format!(
                "after: {dep:?} is not a valid service name"
            )));
        }
    }
    Ok(ServiceConfig {
        exec,
        test,
        oneshot: raw.oneshot,
        after: raw.after,
        stop_signal: raw.signal.stop.map(|s| s.0).unwrap_or(Signal::SIGTERM),
        log: raw.log,
        env: raw.env,
        dir: raw.dir,
        shutdown_timeout: Duration::from_secs(
            raw.shutdown_timeout.unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT),
        ),
        ready: raw.ready,
    })
}

/// Loads `DIR/NAME.yaml`.
pub fn load_service(dir: &Path, name: &str) -> Result<ServiceConfig, ConfigError> {
    if !valid_name(name) {
        return Err(ConfigError::BadName { name: name.into() });
    }
    let path = dir.join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    parse(&path, &text)
}

/// Loads every `*.yaml` regular file of `dir`. Good services and the errors of bad files are
/// returned side by side so one broken file never stops the others.
pub fn load_dir(dir: &Path) -> (BTreeMap<String, ServiceConfig>, Vec<ConfigError>) {
    let mut services = BTreeMap::new();
    let mut errors = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(source) => {
            errors.push(ConfigError::Read {
                path: dir.to_path_buf(),
                source,
            });
            return (services, errors);
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        if !std::fs::metadata(&path)
            .map(|m| m.is_file())
            .unwrap_or(false)
        {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        match load_service(dir, name) {
            Ok(cfg) => {
                services.insert(name.to_string(), cfg);
            }
            Err(e) => errors.push(e),
        }
    }
    (services, errors)
}

/// Reads an `/etc/environment`-style file (`KEY=VALUE`, optional quotes, `#` comments).
/// A missing file is an empty environment.
pub fn read_environment(path: &Path) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<ServiceConfig, ConfigError> {
        parse(Path::new("/etc/zinit/x.yaml"), text)
    }

    #[test]
    fn full_file() {
        let c = p(r#"
exec: /bin/sh -c "echo 'hi there'"
test: test -e /run/x
after: [a, b]
signal:
  stop: sigint
log: stdout
env:
  A: "1"
  PORT: 8080
dir: /tmp
shutdown_timeout: 3
unknown_key: ignored
"#)
        .unwrap();
        assert_eq!(c.exec, vec!["/bin/sh", "-c", "echo 'hi there'"]);
        assert_eq!(c.test.unwrap(), vec!["test", "-e", "/run/x"]);
        assert_eq!(c.after, vec!["a", "b"]);
        assert_eq!(c.stop_signal, Signal::SIGINT);
        assert_eq!(c.log, LogMode::Stdout);
        assert_eq!(c.env["PORT"], "8080");
        assert_eq!(c.dir.unwrap(), PathBuf::from("/tmp"));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(3));
        assert!(!c.oneshot);
    }

    #[test]
    fn defaults() {
        let c = p("exec: sleep 1\noneshot: true\n").unwrap();
        assert!(c.oneshot);
        assert_eq!(c.stop_signal, Signal::SIGTERM);
        assert_eq!(c.log, LogMode::Ring);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(10));
        assert!(c.test.is_none() && c.ready.is_none());
        assert_eq!(
            p("exec: a\ntest: ''\nlog: null\n").unwrap().log,
            LogMode::None
        );
    }

    #[test]
    fn ready_forms() {
        let c = p("exec: a\nready:\n  socket: /run/a.sock\n").unwrap();
        assert_eq!(c.ready, Some(Ready::Socket("/run/a.sock".into())));
        let c = p("exec: a\nready:\n  bus_name: tf.zos.Node\n").unwrap();
        assert_eq!(c.ready, Some(Ready::BusName("tf.zos.Node".into())));
        let e = p("exec: a\nready:\n  socket: /x\n  bus_name: y\n").unwrap_err();
        assert!(zos_base::report(&e).contains("exactly one"), "{e}");
        assert!(matches!(e, ConfigError::Syntax { line: 3, .. }), "{e:?}");
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = p("exec: a\nafter: [b\noneshot: true\n").unwrap_err();
        let s = zos_base::report(&e);
        assert!(s.starts_with("/etc/zinit/x.yaml: line "), "{s}");
        let e = p("exec: a\nsignal:\n  stop: SIGNOPE\n").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { line: 3, .. }), "{e:?}");
        assert!(zos_base::report(&e).contains("SIGNOPE"));
        let e = p("exec: a\nlog: syslog\n").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "{e:?}");
        let e = p("oneshot: true\n").unwrap_err();
        assert!(
            zos_base::report(&e).contains("missing exec directive"),
            "{e}"
        );
        let e = p("exec: 'unbalanced\n").unwrap_err();
        assert!(zos_base::report(&e).contains("x.yaml"), "{e}");
    }

    #[test]
    fn names_and_signals() {
        assert!(valid_name("noded") && valid_name("a-b_c.d@1"));
        assert!(!valid_name("../etc") && !valid_name("") && !valid_name(".x"));
        assert_eq!("term".parse::<SignalName>().unwrap().0, Signal::SIGTERM);
        assert_eq!("SIGKILL".parse::<SignalName>().unwrap().0, Signal::SIGKILL);
        assert!("nope".parse::<SignalName>().is_err());
    }

    #[test]
    fn load_dir_skips_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.yaml"), "exec: true\n").unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "exec: true\nafter: [\n").unwrap();
        std::fs::write(dir.path().join("other.txt"), "not a service").unwrap();
        let (ok, errs) = load_dir(dir.path());
        assert_eq!(ok.keys().collect::<Vec<_>>(), vec!["good"]);
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].to_string().contains("bad.yaml: line"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn environment_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("environment");
        std::fs::write(&f, "# c\nPATH=\"/bin:/usr/bin\"\nexport A='x y'\nB=2\n").unwrap();
        let env = read_environment(&f);
        assert_eq!(env["PATH"], "/bin:/usr/bin");
        assert_eq!(env["A"], "x y");
        assert_eq!(env["B"], "2");
        assert!(read_environment(&dir.path().join("none")).is_empty());
    }
}
