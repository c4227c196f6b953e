//! The registration record: the ids the chain gave this node, kept on the persistent cache next
//! to the identity seed (`registration.json`, written atomically, mode 0600).
//!
//! The chain is the truth; the record lets the bus answer with the last known ids while the chain
//! cannot be reached, and lets the log say when the chain forgot the node (a reset dev chain).
//! A record that cannot be read is logged and ignored: it is rebuilt on the next registration.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the record, in the identity's directory.
pub const RECORD_FILE: &str = "registration.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub version: u32,
    /// The chain these ids belong to.
    pub chain_url: String,
    pub farm_id: u32,
    pub twin_id: u32,
    pub node_id: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write the registration record {path}")]
pub struct RecordError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

/// Where the record of the identity at `seed_path` lives.
pub fn path_next_to(seed_path: &Path) -> PathBuf {
    seed_path.with_file_name(RECORD_FILE)
}

/// The stored record, `None` when there is none or it is unusable (logged).
pub fn load(path: &Path) -> Option<Record> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read the registration record");
            return None;
        }
    };
    match serde_json::from_slice::<Record>(&bytes) {
        Ok(r) if r.version == 1 => Some(r),
        Ok(r) => {
            tracing::warn!(path = %path.display(), version = r.version, "unknown registration record version, ignored");
            None
        }
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "damaged registration record, ignored");
            None
        }
    }
}

/// Writes the record atomically.
pub fn store(path: &Path, record: &Record) -> Result<(), RecordError> {
    let err = |source| RecordError {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = serde_json::to_vec(record).map_err(|e| err(io::Error::other(e)))?;
    bytes.push(b'\n');
    zos_base::write_atomic(path, &bytes, 0o600).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_loads_next_to_the_seed() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_next_to(&dir.path().join("seed"));
        assert_eq!(path, dir.path().join(RECORD_FILE));
        assert_eq!(load(&path), None);
        let record = Record {
            version: 1,
            chain_url: "ws://127.0.0.1:8040".into(),
            farm_id: 1,
            twin_id: 2,
            node_id: 3,
        };
        store(&path, &record).unwrap();
        assert_eq!(load(&path), Some(record));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(load(&path), None);
    }
}
