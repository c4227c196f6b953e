//! The twins zosctl remembers, so that reads from a node need no chain: each time it looks up a
//! key's twin on a chain (or creates it), it notes the twin id by chain URL and account in
//! `zosctl/twins.json` of the user's config directory (`$XDG_CONFIG_HOME`, else `~/.config`).
//!
//! Owns that one file, replaced whole (`zos_base::write_atomic`) so a crash or a second zosctl
//! never leaves half of it. It is a cache: the chain stays the authority, a file that cannot be
//! read is left as it is (never written over), and callers treat every error here as a warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const FILE: &str = "twins.json";

/// Why the remembered twins cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KnownError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not zosctl's list of twins (delete it to start over)")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The file's content: chain URL → account (ss58) → twin id.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Twins {
    twins: BTreeMap<String, BTreeMap<String, u32>>,
}

/// The remembered twins of one user.
#[derive(Debug, Clone)]
pub struct KnownTwins {
    /// None when the environment names no config directory (no HOME): nothing is remembered.
    path: Option<PathBuf>,
}

impl KnownTwins {
    /// The file in the config directory the environment names.
    pub fn from_env() -> KnownTwins {
        let dir = config_dir(
            std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
            std::env::var_os("HOME").map(PathBuf::from),
        );
        KnownTwins {
            path: dir.map(|d| d.join("zosctl").join(FILE)),
        }
    }

    /// The file at `path` (tests).
    #[cfg(test)]
    fn at(path: PathBuf) -> KnownTwins {
        KnownTwins { path: Some(path) }
    }

    /// The twin remembered for `account` on the chain at `chain`.
    pub fn get(&self, chain: &str, account: &str) -> Result<Option<u32>, KnownError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        Ok(read(path)?
            .twins
            .get(chain_key(chain))
            .and_then(|accounts| accounts.get(account))
            .copied())
    }

    /// Remembers `twin` for `account` on `chain` (a no-op when it is already known).
    pub fn remember(&self, chain: &str, account: &str, twin: u32) -> Result<(), KnownError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut known = read(path)?;
        let accounts = known.twins.entry(chain_key(chain).to_string()).or_default();
        if accounts.insert(account.to_string(), twin) == Some(twin) {
            return Ok(());
        }
        let write_err = |source| KnownError::Write {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let mut text =
            serde_json::to_vec_pretty(&known).map_err(|e| write_err(std::io::Error::other(e)))?;
        text.push(b'\n');
        zos_base::write_atomic(path, &text, 0o600).map_err(write_err)
    }
}

/// `$XDG_CONFIG_HOME` when it is an absolute path (the XDG rule: a relative one is ignored),
/// else `$HOME/.config`.
fn config_dir(xdg: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    match xdg {
        Some(dir) if dir.is_absolute() => Some(dir),
        _ => home
            .filter(|h| !h.as_os_str().is_empty())
            .map(|h| h.join(".config")),
    }
}

/// One entry per chain, however its URL was typed: `ws://h:1/` and `ws://h:1` are one chain.
fn chain_key(url: &str) -> &str {
    url.trim().trim_end_matches('/')
}

fn read(path: &Path) -> Result<Twins, KnownError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Twins::default()),
        Err(source) => {
            return Err(KnownError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_str(&text).map_err(|source| KnownError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_are_remembered_per_chain_and_account() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cfg/zosctl/twins.json");
        let known = KnownTwins::at(path.clone());
        assert_eq!(known.get("ws://a:1", "5A").expect("no file yet"), None);
        known.remember("ws://a:1/", "5A", 3).expect("remember");
        known.remember("ws://b:1", "5A", 7).expect("remember");
        assert_eq!(known.get("ws://a:1", "5A").expect("read"), Some(3));
        assert_eq!(known.get("ws://b:1", "5A").expect("read"), Some(7));
        assert_eq!(known.get("ws://a:1", "5B").expect("read"), None);
        // A chain restarted at genesis may give the account another twin: the new one wins.
        known.remember("ws://a:1", "5A", 4).expect("remember");
        assert_eq!(known.get("ws://a:1", "5A").expect("read"), Some(4));
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, [FILE], "no temporary file left");
    }

    #[test]
    fn a_file_that_is_not_ours_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE);
        std::fs::write(&path, "not json").expect("write");
        let known = KnownTwins::at(path.clone());
        let err = known.get("ws://a:1", "5A").expect_err("garbage");
        assert!(matches!(err, KnownError::Parse { .. }), "{err}");
        assert!(err.to_string().contains("delete it to start over"), "{err}");
        known
            .remember("ws://a:1", "5A", 3)
            .expect_err("not written over");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "not json");
    }

    #[test]
    fn the_config_directory_follows_xdg() {
        let abs = PathBuf::from("/x/cfg");
        let home = PathBuf::from("/home/u");
        assert_eq!(config_dir(Some(abs.clone()), Some(home.clone())), Some(abs));
        assert_eq!(
            config_dir(Some("rel".into()), Some(home.clone())),
            Some(home.join(".config"))
        );
        assert_eq!(
            config_dir(None, Some(home.clone())),
            Some(home.join(".config"))
        );
        assert_eq!(config_dir(None, Some(PathBuf::new())), None);
        assert_eq!(config_dir(None, None), None);
    }
}
