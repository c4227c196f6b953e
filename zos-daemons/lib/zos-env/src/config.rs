//! The node's boot configuration, read once from the kernel command line.
//!
//! This crate is the only place that parses `/proc/cmdline`. The init parses it at boot and
//! publishes the result as JSON in [`NODE_CONFIG_PATH`]; daemons read that file with
//! [`NodeConfig::load`] instead of parsing the command line again, so every process of the node
//! sees the same values. It owns no state of its own and never writes outside the path it is given.
//!
//! Recognised keys (zos spellings kept where zos has one):
//! `farmer_id=N`, `runmode=dev|test|qa|prod` (default `prod`), `zos-debug`,
//! `tfchain=URL` (alias `substrate=URL`), `activation=URL`. Unknown keys are kept in `extra` so a
//! daemon can read a flag this crate does not know yet.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where the init publishes the parsed configuration for the daemons.
pub const NODE_CONFIG_PATH: &str = "/run/zos/node.json";

/// Environment variable that points a process at another configuration file (tests, dev machines).
pub const NODE_CONFIG_ENV: &str = "ZOS_NODE_CONFIG";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kernel command line: {key}={value:?} is not valid: {reason}")]
    InvalidValue {
        key: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("reading node configuration {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("node configuration {path} is not valid JSON")]
    Decode {
        path: String,
        source: serde_json::Error,
    },
    #[error("writing node configuration {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding the node configuration")]
    Encode {
        #[source]
        source: serde_json::Error,
    },
}

/// Which grid the node belongs to; selects the default chain and activation service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    Dev,
    Test,
    Qa,
    #[default]
    Prod,
}

impl RunMode {
    /// The grid's public chain for this run mode (used when the command line names none).
    pub fn default_chain_url(self) -> &'static str {
        match self {
            RunMode::Dev => "wss://tfchain.dev.grid.tf/ws",
            RunMode::Test => "wss://tfchain.test.grid.tf/ws",
            RunMode::Qa => "wss://tfchain.qa.grid.tf/ws",
            RunMode::Prod => "wss://tfchain.grid.tf/ws",
        }
    }

    /// The grid's activation service for this run mode.
    pub fn default_activation_url(self) -> &'static str {
        match self {
            RunMode::Dev => "https://activation.dev.grid.tf/activation/activate",
            RunMode::Test => "https://activation.test.grid.tf/activation/activate",
            RunMode::Qa => "https://activation.qa.grid.tf/activation/activate",
            RunMode::Prod => "https://activation.grid.tf/activation/activate",
        }
    }
}

impl FromStr for RunMode {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dev" | "development" => Ok(RunMode::Dev),
            "test" | "testing" => Ok(RunMode::Test),
            "qa" => Ok(RunMode::Qa),
            "prod" | "production" => Ok(RunMode::Prod),
            _ => Err("expected dev, test, qa or prod"),
        }
    }
}

impl fmt::Display for RunMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunMode::Dev => "dev",
            RunMode::Test => "test",
            RunMode::Qa => "qa",
            RunMode::Prod => "prod",
        })
    }
}

/// Everything the node learns from its kernel command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodeConfig {
    /// The farm this node belongs to; `None` means an orphan node that registers nowhere.
    pub farmer_id: Option<u32>,
    pub runmode: RunMode,
    /// `zos-debug`: verbose logs, and the debug shell on the console in dev mode.
    pub debug: bool,
    /// TFChain websocket URL (explicit or the run mode's default).
    pub chain_url: String,
    /// Activation service URL (explicit or the run mode's default).
    pub activation_url: String,
    /// Every other `key[=value]` word of the command line, in order of appearance.
    pub extra: BTreeMap<String, String>,
}

impl NodeConfig {
    /// Parses a kernel command line. Invalid values of known keys are errors: a farmer who typed
    /// `farmer_id=abc` must be told, not silently registered as an orphan.
    pub fn from_cmdline(cmdline: &str) -> Result<Self, Error> {
        let mut farmer_id = None;
        let mut runmode = RunMode::default();
        let mut debug = false;
        let mut chain_url = None;
        let mut activation_url = None;
        let mut extra = BTreeMap::new();

        for word in split_words(cmdline) {
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (word.as_str(), None),
            };
            match (key, value) {
                ("farmer_id", Some(v)) => {
                    farmer_id = Some(v.parse().map_err(|_| Error::InvalidValue {
                        key: "farmer_id",
                        value: v.to_string(),
                        reason: "expected a farm id (a positive integer)",
                    })?)
                }
                ("runmode", Some(v)) => {
                    runmode = v.parse().map_err(|reason| Error::InvalidValue {
                        key: "runmode",
                        value: v.to_string(),
                        reason,
                    })?
                }
                ("zos-debug", None) => debug = true,
                ("tfchain" | "substrate", Some(v)) => {
                    chain_url = Some(check_url("tfchain", v, &["ws://", "wss://"])?)
                }
                ("activation", Some(v)) => {
                    activation_url = Some(check_url("activation", v, &["http://", "https://"])?)
                }
                (k, v) => {
                    extra.insert(k.to_string(), v.unwrap_or_default().to_string());
                }
            }
        }

        Ok(NodeConfig {
            farmer_id,
            runmode,
            debug,
            chain_url: chain_url.unwrap_or_else(|| runmode.default_chain_url().to_string()),
            activation_url: activation_url
                .unwrap_or_else(|| runmode.default_activation_url().to_string()),
            extra,
        })
    }

    /// Reads the configuration the init published (or the file named by `ZOS_NODE_CONFIG`).
    pub fn load() -> Result<Self, Error> {
        let path = std::env::var(NODE_CONFIG_ENV).unwrap_or_else(|_| NODE_CONFIG_PATH.into());
        Self::load_from(Path::new(&path))
    }

    pub fn load_from(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|source| Error::Decode {
            path: path.display().to_string(),
            source,
        })
    }

    /// Publishes the configuration atomically, so a daemon never reads a half-written file.
    pub fn store(&self, path: &Path) -> Result<(), Error> {
        let err = |source| Error::Write {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let json = serde_json::to_vec_pretty(self).map_err(|source| Error::Encode { source })?;
        zos_base::write_atomic(path, &json, 0o644).map_err(err)
    }
}

fn check_url(key: &'static str, value: &str, schemes: &[&str]) -> Result<String, Error> {
    let rest = schemes.iter().find_map(|s| value.strip_prefix(s));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(value.to_string()),
        _ => Err(Error::InvalidValue {
            key,
            value: value.to_string(),
            reason: if key == "tfchain" {
                "expected ws://HOST:PORT or wss://HOST/PATH"
            } else {
                "expected http://HOST:PORT/PATH or https://HOST/PATH"
            },
        }),
    }
}

/// Splits the command line on whitespace, keeping double-quoted values together as the kernel does
/// (`key="a b"` is one word `key=a b`).
fn split_words(cmdline: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in cmdline.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_known_key() {
        let cfg = NodeConfig::from_cmdline(
            "console=ttyS0 farmer_id=7 runmode=dev zos-debug tfchain=ws://10.0.2.100:9944 \
             activation=http://10.0.2.101:8080/activate quiet",
        )
        .unwrap();
        assert_eq!(cfg.farmer_id, Some(7));
        assert_eq!(cfg.runmode, RunMode::Dev);
        assert!(cfg.debug);
        assert_eq!(cfg.chain_url, "ws://10.0.2.100:9944");
        assert_eq!(cfg.activation_url, "http://10.0.2.101:8080/activate");
        assert_eq!(cfg.extra.get("console").map(String::as_str), Some("ttyS0"));
        assert_eq!(cfg.extra.get("quiet").map(String::as_str), Some(""));
    }

    #[test]
    fn defaults_follow_the_run_mode() {
        let cfg = NodeConfig::from_cmdline("runmode=test").unwrap();
        assert_eq!(cfg.farmer_id, None);
        assert!(!cfg.debug);
        assert_eq!(cfg.chain_url, RunMode::Test.default_chain_url());
        let prod = NodeConfig::from_cmdline("").unwrap();
        assert_eq!(prod.runmode, RunMode::Prod);
        assert_eq!(prod.chain_url, "wss://tfchain.grid.tf/ws");
    }

    #[test]
    fn substrate_is_an_alias_of_tfchain() {
        let cfg = NodeConfig::from_cmdline("substrate=wss://chain.example/ws").unwrap();
        assert_eq!(cfg.chain_url, "wss://chain.example/ws");
    }

    #[test]
    fn bad_values_name_the_key() {
        for (line, key) in [
            ("farmer_id=abc", "farmer_id"),
            ("farmer_id=-1", "farmer_id"),
            ("runmode=staging", "runmode"),
            ("tfchain=http://x", "tfchain"),
            ("tfchain=ws://", "tfchain"),
            ("activation=ftp://x", "activation"),
        ] {
            let err = NodeConfig::from_cmdline(line).unwrap_err().to_string();
            assert!(err.contains(key), "{line}: {err}");
        }
    }

    #[test]
    fn quoted_values_stay_together() {
        let cfg = NodeConfig::from_cmdline(r#"note="two words" farmer_id=1"#).unwrap();
        assert_eq!(cfg.extra["note"], "two words");
        assert_eq!(cfg.farmer_id, Some(1));
    }

    #[test]
    fn store_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/zos/node.json");
        let cfg = NodeConfig::from_cmdline("farmer_id=3 runmode=qa").unwrap();
        cfg.store(&path).unwrap();
        assert_eq!(NodeConfig::load_from(&path).unwrap(), cfg);
        assert!(!path.with_extension("tmp").exists());
    }

    #[test]
    fn load_names_the_file_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.json");
        std::fs::write(&path, b"{not json").unwrap();
        let err = NodeConfig::load_from(&path).unwrap_err().to_string();
        assert!(err.contains("node.json"), "{err}");
    }
}
