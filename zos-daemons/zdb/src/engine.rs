//! The set of namespaces behind one server: the index and data roots, loading every namespace
//! at boot, creating/deleting/reloading them, and server-wide settings and counters. Owns the
//! two root directories; clients and the wire protocol live in `commands`/`server`.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use nix::fcntl::{Flock, FlockArg};
use thiserror::Error;

use crate::format::Mode;
use crate::namespace::{Durability, IoStats, Namespace, NsError, StoreSettings};

pub const DEFAULT_NS: &str = "default";

/// Takes `<root>/.lockfile` (created if missing, mode 0664 as 0-db) exclusively, or fails
/// when another process holds it.
fn lock_root(root: &Path) -> Result<Flock<fs::File>, EngineError> {
    let path = root.join(".lockfile");
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o664)
        .open(&path)
        .map_err(|source| EngineError::Root {
            path: path.clone(),
            source,
        })?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == nix::errno::Errno::EWOULDBLOCK {
            EngineError::Locked { path: path.clone() }
        } else {
            EngineError::Root {
                path: path.clone(),
                source: errno.into(),
            }
        }
    })
}

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("cannot prepare {path}")]
    Root {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is a 0-db v1 index (zdb-index-00000), not supported")]
    LegacyV1 { path: PathBuf },
    #[error("another zdb is using {path} (it holds the lock on it)")]
    Locked { path: PathBuf },
    #[error("the index and the data cannot be the same directory ({path})")]
    SameRoot { path: PathBuf },
    #[error(transparent)]
    Namespace(#[from] NsError),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub index_root: PathBuf,
    pub data_root: PathBuf,
    pub datasize: u64,
    pub durability: Durability,
    /// None = mixed mode (per namespace).
    pub mode: Option<Mode>,
    pub admin: Option<Vec<u8>>,
    pub protect: bool,
    /// maxsize of the default namespace (`--maxsize`), 0 = unlimited.
    pub maxsize: u64,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub clients: u64,
    pub commands: u64,
    pub failed: u64,
    pub unauthorized: u64,
}

#[derive(Debug)]
pub struct Engine {
    pub settings: Settings,
    namespaces: HashMap<String, Namespace>,
    order: Vec<String>,
    next_gen: u64,
    pub boot_time: u64,
    pub boot: Instant,
    pub instance_id: u32,
    pub stats: Stats,
    /// Bytes received and sent on client connections (updated by the server without the lock).
    pub net_rx: Arc<AtomicU64>,
    pub net_tx: Arc<AtomicU64>,
    /// I/O counters of namespaces deleted since boot.
    retired: IoStats,
    /// Exclusive locks on both roots' `.lockfile` while the engine lives (as 0-db: two servers
    /// on one directory would interleave appends and corrupt it).
    _locks: Vec<Flock<fs::File>>,
}

impl Engine {
    pub fn store_settings(&self) -> StoreSettings {
        StoreSettings {
            datasize: self.settings.datasize,
            durability: self.settings.durability,
        }
    }

    /// Loads every namespace found under the index root; creates `default` if missing.
    pub fn open(settings: Settings) -> Result<Engine, EngineError> {
        for p in [&settings.index_root, &settings.data_root] {
            fs::create_dir_all(p).map_err(|source| EngineError::Root {
                path: p.clone(),
                source,
            })?;
        }
        let real = |p: &PathBuf| fs::canonicalize(p).ok();
        if real(&settings.index_root) == real(&settings.data_root) {
            return Err(EngineError::SameRoot {
                path: settings.index_root.clone(),
            });
        }
        let locks = vec![
            lock_root(&settings.index_root)?,
            lock_root(&settings.data_root)?,
        ];
        let legacy = settings.index_root.join("zdb-index-00000");
        if legacy.exists() {
            return Err(EngineError::LegacyV1 { path: legacy });
        }
        let mut e = Engine {
            settings,
            namespaces: HashMap::new(),
            order: Vec::new(),
            next_gen: 1,
            boot_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            boot: Instant::now(),
            instance_id: rand::random(),
            stats: Stats::default(),
            net_rx: Arc::new(AtomicU64::new(0)),
            net_tx: Arc::new(AtomicU64::new(0)),
            retired: IoStats::default(),
            _locks: locks,
        };
        let mut names = Vec::new();
        let root = e.settings.index_root.clone();
        let rd = fs::read_dir(&root).map_err(|source| EngineError::Root {
            path: root.clone(),
            source,
        })?;
        for ent in rd.flatten() {
            if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                if let Some(n) = ent.file_name().to_str() {
                    names.push(n.to_string());
                }
            }
        }
        names.sort();
        if let Some(i) = names.iter().position(|n| n == DEFAULT_NS) {
            names.remove(i);
        }
        names.insert(0, DEFAULT_NS.to_string());
        for n in names {
            let gen = e.gen();
            let mut ns = Namespace::open(
                &e.settings.index_root,
                &e.settings.data_root,
                &n,
                e.settings.mode,
                e.store_settings(),
                gen,
            )?;
            if n == DEFAULT_NS {
                e.apply_default_settings(&mut ns);
            }
            tracing::info!(namespace = %n, entries = ns.entries, mode = ns.mode().name(), "namespace loaded");
            e.order.push(n.clone());
            e.namespaces.insert(n, ns);
        }
        Ok(e)
    }

    fn apply_default_settings(&self, ns: &mut Namespace) {
        if self.settings.protect {
            if let Some(pw) = &self.settings.admin {
                ns.password = Some(pw.clone());
            }
        }
        if self.settings.maxsize > 0 {
            ns.maxsize = self.settings.maxsize;
        }
    }

    fn gen(&mut self) -> u64 {
        self.next_gen += 1;
        self.next_gen
    }

    pub fn get(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.get(name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Namespace> {
        self.namespaces.get_mut(name)
    }

    /// The namespace a session points to, if it still exists (same generation).
    pub fn session_ns(&mut self, name: &str, generation: u64) -> Option<&mut Namespace> {
        self.namespaces
            .get_mut(name)
            .filter(|n| n.generation == generation)
    }

    pub fn names(&self) -> &[String] {
        &self.order
    }

    pub fn create(&mut self, name: &str) -> Result<(), EngineError> {
        let gen = self.gen();
        let mode = self.settings.mode.unwrap_or(Mode::User);
        let ns = Namespace::create(
            &self.settings.index_root,
            &self.settings.data_root,
            name,
            mode,
            self.store_settings(),
            gen,
        )?;
        self.order.push(name.to_string());
        self.namespaces.insert(name.to_string(), ns);
        Ok(())
    }

    /// Removes a namespace and its files.
    pub fn delete(&mut self, name: &str) -> Result<(), EngineError> {
        if let Some(ns) = self.namespaces.remove(name) {
            self.order.retain(|n| n != name);
            add_io(&mut self.retired, &ns.io);
            let (i, d) = (ns.index_dir().to_path_buf(), ns.data_dir().to_path_buf());
            drop(ns);
            for p in [i, d] {
                fs::remove_dir_all(&p).map_err(|source| EngineError::Root { path: p, source })?;
            }
        }
        Ok(())
    }

    /// RELOAD: drop the in-memory state and replay the namespace from disk.
    pub fn reload(&mut self, name: &str) -> Result<(), EngineError> {
        let Some(old) = self.namespaces.get(name) else {
            return Ok(());
        };
        let (gen, lock) = (old.generation, old.lock);
        let mut ns = Namespace::open(
            &self.settings.index_root,
            &self.settings.data_root,
            name,
            self.settings.mode,
            self.store_settings(),
            gen,
        )?;
        ns.lock = lock;
        if name == DEFAULT_NS {
            self.apply_default_settings(&mut ns);
        }
        self.namespaces.insert(name.to_string(), ns);
        Ok(())
    }

    /// Disk I/O counters summed over every namespace since boot.
    pub fn io_totals(&self) -> IoStats {
        let mut t = self.retired;
        for ns in self.namespaces.values() {
            add_io(&mut t, &ns.io);
        }
        t
    }

    pub fn network(&self) -> (u64, u64) {
        (
            self.net_rx.load(Ordering::Relaxed),
            self.net_tx.load(Ordering::Relaxed),
        )
    }

    pub fn sync_all(&mut self) {
        for ns in self.namespaces.values_mut() {
            ns.sync_all();
        }
    }
}

fn add_io(t: &mut IoStats, s: &IoStats) {
    t.data_read += s.data_read;
    t.data_written += s.data_written;
    t.index_read += s.index_read;
    t.index_written += s.index_written;
    t.data_read_failed += s.data_read_failed;
    t.data_write_failed += s.data_write_failed;
    t.index_read_failed += s.index_read_failed;
    t.index_write_failed += s.index_write_failed;
}
