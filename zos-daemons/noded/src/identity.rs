//! The node's identity: one ed25519 key, generated once and kept on the persistent cache.
//!
//! The key is derived from a 32-byte seed drawn from the operating system's secure random source.
//! The seed file (default `/var/cache/modules/identityd/seed`, mode 0600) is JSON:
//!
//! ```json
//! {"version":1,"seed":"<64 lowercase hex>","public_key":"<64 lowercase hex>"}
//! ```
//!
//! `public_key` is the key derived from `seed`; on load it is derived again and compared, so the
//! file checks itself (a flipped bit in either field is caught). The file is written atomically
//! (temporary file, fsync, rename, fsync of the directory), so a crash leaves either no file or a
//! whole one.
//!
//! A damaged file is never replaced: a new key would be a new node on the grid. It is moved aside
//! to `<file>.damaged-<unix seconds>` and loading fails. While such a kept-aside file exists and
//! no seed file does, loading keeps failing; only an operator decides, either by repairing the
//! file and moving it back, or by deleting the kept-aside file to accept a new identity.
//!
//! This module never logs, prints or returns the seed.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

/// Where the seed lives on a node (the persistent cache).
pub const DEFAULT_SEED_PATH: &str = "/var/cache/modules/identityd/seed";

/// The only seed file version this code writes and reads.
pub const SEED_FILE_VERSION: u32 = 1;

/// Largest seed file accepted; a real one is about 170 bytes.
const MAX_SEED_FILE_LEN: u64 = 4096;

/// Marker in the name of a kept-aside damaged file: `<file>.damaged-<unix seconds>`.
const DAMAGED_MARKER: &str = ".damaged-";

/// Why a seed file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    #[error("unreadable")]
    Unreadable(#[source] io::Error),
    #[error("larger than {MAX_SEED_FILE_LEN} bytes ({0} bytes)")]
    TooLarge(u64),
    #[error("not a seed document")]
    NotSeedJson(#[source] serde_json::Error),
    #[error("version {found}, expected {SEED_FILE_VERSION}")]
    WrongVersion { found: u32 },
    #[error("{field} is not hex")]
    BadHex { field: &'static str },
    #[error("{field} has {len} bytes, expected 32")]
    BadLength { field: &'static str, len: usize },
    #[error("public_key does not match the key derived from seed (checksum failure)")]
    KeyMismatch,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "identity file {path} is damaged ({damage}); kept aside as {kept} and NOT replaced. \
         Repair it and move it back, or delete {kept} to let the node create a new identity \
         (a new node on the grid)"
    )]
    Damaged {
        path: PathBuf,
        damage: Damage,
        kept: PathBuf,
    },
    #[error(
        "identity file {path} is damaged ({damage}) and could not be moved aside: {source}; \
         refusing to start"
    )]
    DamagedNotMoved {
        path: PathBuf,
        damage: Damage,
        #[source]
        source: io::Error,
    },
    #[error(
        "no identity at {path}, but a damaged one is kept aside as {kept}; refusing to create a \
         new identity. Repair it and move it back to {path}, or delete {kept} to accept a new \
         identity (a new node on the grid)"
    )]
    KeptAside { path: PathBuf, kept: PathBuf },
    #[error("identity path {0} has no file name")]
    BadPath(PathBuf),
    #[error("cannot list {dir} for kept-aside identities")]
    ListDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot create directory {dir}")]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write identity file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The OS random source failed (its error type is not `std::error::Error` without rand_core's
    /// `std` feature, so it is kept as text).
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error("identity written to {path} does not read back ({damage})")]
    ReadBack { path: PathBuf, damage: Damage },
}

/// The node's key pair. `Debug` shows the public key only.
pub struct Identity {
    key: SigningKey,
}

/// Whether [`load_or_create`] found the identity or made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Loaded,
    Created,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    version: u32,
    seed: String,
    public_key: String,
}

impl Identity {
    /// The ed25519 public key, lowercase hex (64 characters).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// The signer of the node's twin on TFChain (the same ed25519 key).
    pub fn chain_signer(&self) -> zos_chain::Signer {
        zos_chain::Signer::ed25519_from_seed(&self.key.to_bytes())
    }

    fn generate() -> Result<Self, IdentityError> {
        let mut seed = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|e| IdentityError::Random(zos_base::report(&e)))?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(Identity { key })
    }

    fn to_file_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let doc = SeedFile {
            version: SEED_FILE_VERSION,
            seed: hex::encode(self.key.to_bytes()),
            public_key: self.public_key_hex(),
        };
        let mut bytes = serde_json::to_vec(&doc)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    fn from_file_bytes(bytes: &[u8]) -> Result<Self, Damage> {
        let doc: SeedFile = serde_json::from_slice(bytes).map_err(Damage::NotSeedJson)?;
        if doc.version != SEED_FILE_VERSION {
            return Err(Damage::WrongVersion { found: doc.version });
        }
        let seed = decode_32("seed", &doc.seed)?;
        let public = decode_32("public_key", &doc.public_key)?;
        let key = SigningKey::from_bytes(&seed);
        if key.verifying_key().as_bytes() != &public {
            return Err(Damage::KeyMismatch);
        }
        Ok(Identity { key })
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public_key", &self.public_key_hex())
            .finish_non_exhaustive()
    }
}

fn decode_32(field: &'static str, text: &str) -> Result<[u8; 32], Damage> {
    let bytes = hex::decode(text).map_err(|_| Damage::BadHex { field })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| Damage::BadLength {
        field,
        len: bytes.len(),
    })
}

/// Loads the identity at `path`, or creates it when there is none (and no damaged one is kept
/// aside). A damaged file is moved aside and reported, never replaced.
pub fn load_or_create(path: &Path) -> Result<(Identity, Origin), IdentityError> {
    match read_seed_file(path) {
        Ok(Some(bytes)) => match Identity::from_file_bytes(&bytes) {
            Ok(identity) => {
                tighten_mode(path);
                Ok((identity, Origin::Loaded))
            }
            Err(damage) => Err(keep_aside(path, damage)),
        },
        Ok(None) => {
            if let Some(kept) = kept_aside(path)? {
                return Err(IdentityError::KeptAside {
                    path: path.to_path_buf(),
                    kept,
                });
            }
            let identity = Identity::generate()?;
            let bytes = identity.to_file_bytes().map_err(|e| IdentityError::Write {
                path: path.to_path_buf(),
                source: io::Error::other(e),
            })?;
            write_atomically(path, &bytes)?;
            // Read back what the disk holds, so a write that went wrong is caught now.
            let back = read_seed_file(path)
                .and_then(|b| b.ok_or_else(|| Damage::Unreadable(io::ErrorKind::NotFound.into())))
                .and_then(|b| Identity::from_file_bytes(&b))
                .map_err(|damage| IdentityError::ReadBack {
                    path: path.to_path_buf(),
                    damage,
                })?;
            if back.public_key_hex() != identity.public_key_hex() {
                return Err(IdentityError::ReadBack {
                    path: path.to_path_buf(),
                    damage: Damage::KeyMismatch,
                });
            }
            Ok((identity, Origin::Created))
        }
        Err(damage) => Err(keep_aside(path, damage)),
    }
}

/// The seed file's bytes, `None` when there is no file.
fn read_seed_file(path: &Path) -> Result<Option<Vec<u8>>, Damage> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Damage::Unreadable(e)),
    };
    if meta.is_file() && meta.len() > MAX_SEED_FILE_LEN {
        return Err(Damage::TooLarge(meta.len()));
    }
    fs::read(path).map(Some).map_err(Damage::Unreadable)
}

/// Restores mode 0600 if someone loosened it (the file holds a secret).
fn tighten_mode(path: &Path) {
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode != 0o600 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "identity file mode is not 0600; fixing");
            if let Err(error) = fs::set_permissions(path, fs::Permissions::from_mode(0o600)) {
                tracing::warn!(path = %path.display(), %error, "cannot set identity file mode to 0600");
            }
        }
    }
}

fn keep_aside(path: &Path, damage: Damage) -> IdentityError {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let base = format!("{}{DAMAGED_MARKER}{now}", path.display());
    let mut kept = PathBuf::from(&base);
    let mut n = 1;
    while kept.exists() || kept.is_symlink() {
        kept = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    match fs::rename(path, &kept) {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                let _ = sync_dir(dir);
            }
            IdentityError::Damaged {
                path: path.to_path_buf(),
                damage,
                kept,
            }
        }
        Err(source) => IdentityError::DamagedNotMoved {
            path: path.to_path_buf(),
            damage,
            source,
        },
    }
}

fn split(path: &Path) -> Result<(&Path, String), IdentityError> {
    let name = path
        .file_name()
        .ok_or_else(|| IdentityError::BadPath(path.to_path_buf()))?
        .to_string_lossy()
        .into_owned();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Ok((dir, name))
}

/// The first kept-aside damaged identity next to `path`, if any.
fn kept_aside(path: &Path) -> Result<Option<PathBuf>, IdentityError> {
    let (dir, name) = split(path)?;
    let prefix = format!("{name}{DAMAGED_MARKER}");
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(IdentityError::ListDir {
                dir: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found.into_iter().next())
}

/// Writes `bytes` to `path` so that `path` holds either its old content or all of `bytes`, mode
/// 0600: temporary file, fsync, rename, fsync of the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    let (dir, _) = split(path)?;
    fs::create_dir_all(dir).map_err(|source| IdentityError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    zos_base::write_atomic(path, bytes, 0o600).map_err(|source| IdentityError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_path(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("modules/identityd/seed")
    }

    fn kept_files(path: &Path) -> Vec<PathBuf> {
        let (dir, name) = split(path).unwrap();
        let mut v: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{name}{DAMAGED_MARKER}"))
            })
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn creates_once_then_loads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = seed_path(&dir);
        let (first, origin) = load_or_create(&path).unwrap();
        assert_eq!(origin, Origin::Created);
        let pk = first.public_key_hex();
        assert_eq!(pk.len(), 64);
        assert!(pk
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));

        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);

        let (second, origin) = load_or_create(&path).unwrap();
        assert_eq!(origin, Origin::Loaded);
        assert_eq!(second.public_key_hex(), pk);

        // No temporary file is left behind.
        let names: Vec<String> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["seed".to_string()]);
    }

    #[test]
    fn file_format_is_versioned_json_with_matching_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = seed_path(&dir);
        let (id, _) = load_or_create(&path).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["seed"].as_str().unwrap().len(), 64);
        assert_eq!(doc["public_key"].as_str().unwrap(), id.public_key_hex());
        let seed = hex::decode(doc["seed"].as_str().unwrap()).unwrap();
        let key = SigningKey::from_bytes(&seed.try_into().unwrap());
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            id.public_key_hex()
        );
    }

    #[test]
    fn two_creations_give_different_keys() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let (ka, _) = load_or_create(&seed_path(&a)).unwrap();
        let (kb, _) = load_or_create(&seed_path(&b)).unwrap();
        assert_ne!(ka.public_key_hex(), kb.public_key_hex());
    }

    #[test]
    fn loosened_mode_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = seed_path(&dir);
        load_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        load_or_create(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    fn valid_doc(dir: &tempfile::TempDir) -> serde_json::Value {
        let path = seed_path(dir);
        load_or_create(&path).unwrap();
        let doc = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        fs::remove_file(&path).unwrap();
        doc
    }

    /// Writes `content` as the seed file, loads, and checks it was kept aside untouched.
    fn assert_damaged(content: &[u8], expect: fn(&Damage) -> bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = seed_path(&dir);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        let err = load_or_create(&path).unwrap_err();
        let IdentityError::Damaged { damage, kept, .. } = &err else {
            panic!("expected Damaged, got {err}", err = zos_base::Report(&err));
        };
        assert!(expect(damage), "unexpected damage {damage}");
        assert!(!path.exists(), "damaged file replaced by a new one");
        assert_eq!(&fs::read(kept).unwrap(), content);
        assert_eq!(kept_files(&path), vec![kept.clone()]);
        assert!(zos_base::report(&err).contains("delete"));

        // The next start refuses too, and still creates nothing.
        let err = load_or_create(&path).unwrap_err();
        assert!(matches!(err, IdentityError::KeptAside { .. }), "{err}");
        assert!(!path.exists());

        // The operator deletes the kept-aside file: a new identity is created.
        fs::remove_file(kept).unwrap();
        let (_, origin) = load_or_create(&path).unwrap();
        assert_eq!(origin, Origin::Created);
    }

    #[test]
    fn empty_file_is_damaged() {
        assert_damaged(b"", |d| matches!(d, Damage::NotSeedJson(_)));
    }

    #[test]
    fn garbage_is_damaged() {
        assert_damaged(b"\x00\x01garbage", |d| matches!(d, Damage::NotSeedJson(_)));
    }

    #[test]
    fn raw_32_byte_seed_is_damaged() {
        assert_damaged(&[7u8; 32], |d| matches!(d, Damage::NotSeedJson(_)));
    }

    #[test]
    fn too_large_file_is_damaged() {
        assert_damaged(&vec![b' '; 5000], |d| matches!(d, Damage::TooLarge(5000)));
    }

    #[test]
    fn wrong_version_is_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let mut doc = valid_doc(&dir);
        doc["version"] = 2.into();
        assert_damaged(&serde_json::to_vec(&doc).unwrap(), |d| {
            matches!(d, Damage::WrongVersion { found: 2 })
        });
    }

    #[test]
    fn bad_hex_is_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let mut doc = valid_doc(&dir);
        let mut seed = doc["seed"].as_str().unwrap().to_string();
        seed.replace_range(0..1, "z");
        doc["seed"] = seed.into();
        assert_damaged(&serde_json::to_vec(&doc).unwrap(), |d| {
            matches!(d, Damage::BadHex { field: "seed" })
        });
    }

    #[test]
    fn short_seed_is_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let mut doc = valid_doc(&dir);
        let seed = doc["seed"].as_str().unwrap()[..62].to_string();
        doc["seed"] = seed.into();
        assert_damaged(&serde_json::to_vec(&doc).unwrap(), |d| {
            matches!(
                d,
                Damage::BadLength {
                    field: "seed",
                    len: 31
                }
            )
        });
    }

    #[test]
    fn flipped_seed_bit_fails_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let mut doc = valid_doc(&dir);
        let mut seed = hex::decode(doc["seed"].as_str().unwrap()).unwrap();
        seed[5] ^= 0x10;
        doc["seed"] = hex::encode(seed).into();
        assert_damaged(&serde_json::to_vec(&doc).unwrap(), |d| {
            matches!(d, Damage::KeyMismatch)
        });
    }

    #[test]
    fn unknown_fields_are_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let mut doc = valid_doc(&dir);
        doc["mnemonic"] = "word word".into();
        assert_damaged(&serde_json::to_vec(&doc).unwrap(), |d| {
            matches!(d, Damage::NotSeedJson(_))
        });
    }

    #[test]
    fn unreadable_file_is_kept_aside() {
        // A directory where the seed file should be cannot be read as a file.
        let dir = tempfile::tempdir().unwrap();
        let path = seed_path(&dir);
        fs::create_dir_all(&path).unwrap();
        let err = load_or_create(&path).unwrap_err();
        let IdentityError::Damaged { damage, kept, .. } = &err else {
            panic!("expected Damaged, got {err}", err = zos_base::Report(&err));
        };
        assert!(matches!(damage, Damage::Unreadable(_)), "{damage}");
        assert!(kept.is_dir());
        assert!(!path.exists());
    }

    #[test]
    fn restored_file_is_used_despite_kept_aside_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = seed_path(&dir);
        let (id, _) = load_or_create(&path).unwrap();
        let good = fs::read(&path).unwrap();
        fs::write(&path, b"broken").unwrap();
        assert!(load_or_create(&path).is_err());
        // The operator puts a good copy back: the node is itself again.
        fs::write(&path, &good).unwrap();
        let (back, origin) = load_or_create(&path).unwrap();
        assert_eq!(origin, Origin::Loaded);
        assert_eq!(back.public_key_hex(), id.public_key_hex());
    }

    #[test]
    fn debug_does_not_show_the_seed() {
        let dir = tempfile::tempdir().unwrap();
        let path = seed_path(&dir);
        let (id, _) = load_or_create(&path).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        let shown = format!("{id:?}");
        assert!(shown.contains(&id.public_key_hex()));
        assert!(!shown.contains(doc["seed"].as_str().unwrap()));
    }

    #[test]
    fn two_damaged_files_in_the_same_second_both_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = seed_path(&dir);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"one").unwrap();
        assert!(load_or_create(&path).is_err());
        fs::write(&path, b"two").unwrap();
        assert!(load_or_create(&path).is_err());
        let kept = kept_files(&path);
        assert_eq!(kept.len(), 2);
        let mut contents: Vec<Vec<u8>> = kept.iter().map(|k| fs::read(k).unwrap()).collect();
        contents.sort();
        assert_eq!(contents, vec![b"one".to_vec(), b"two".to_vec()]);
    }
}
