//! One namespace's storage: its `zdb-namespace` descriptor, its `i<N>` index files and `d<N>`
//! data files, the in-memory key map (user mode) or the id→file map (sequential mode), and the
//! write, read, scan, history and recovery paths over them. Owns exactly the two directories
//! `<index-root>/<name>` and `<data-root>/<name>`; knows nothing about clients or the protocol.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::crc::zdb_crc32;
use crate::format::{
    self, Cursor, DataEntry, DataHeader, IndexHeader, IndexItem, Mode, NsDescriptor,
    DATA_ENTRY_LEN, DATA_HEADER_LEN, FLAG_DELETED, INDEX_HEADER_LEN, INDEX_ITEM_LEN, SEQ_KEY_LEN,
};

mod files;
pub mod nowait;
mod read;
mod recovery;
mod scan;
mod write;

pub use files::{create_data_file, create_index_file, write_descriptor};
pub use recovery::walk_data_file;

pub const DESCRIPTOR_FILE: &str = "zdb-namespace";

#[derive(Debug, Error)]
pub enum NsError {
    #[error("namespace {ns}: {what} {path}")]
    Io {
        ns: String,
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("namespace {ns}: {path}")]
    Format {
        ns: String,
        path: PathBuf,
        source: format::FormatError,
    },
    #[error(
        "namespace {ns}: index was created in {found} mode but the server runs in {running} mode"
    )]
    ModeMismatch {
        ns: String,
        found: &'static str,
        running: &'static str,
    },
    #[error("namespace {ns}: {path} holds file id {found}, expected {expected}")]
    FileIdMismatch {
        ns: String,
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("namespace {ns}: index file i{fileid} is not the last one but ends with a torn entry at {offset}; sequential ids after it would shift, refusing to load (rebuild it with `zdb-check rebuild`)")]
    TornSeqIndex {
        ns: String,
        fileid: u32,
        offset: u64,
    },
    #[error("namespace {ns}: i{fileid} at {offset}: sequential slot does not hold id {expected}; the index is damaged, refusing to load (rebuild it with `zdb-check rebuild`)")]
    SeqIdMismatch {
        ns: String,
        fileid: u32,
        offset: u64,
        expected: u64,
    },
}

/// What an acknowledged write survives (see README "Durability").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// No explicit flush: survives a process crash (page cache), not a power cut.
    None,
    /// fsync data then index before every reply to a write.
    Sync,
    /// fsync on a write when the last fsync is older than this.
    SyncTime(Duration),
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub datasize: u64,
    pub durability: Durability,
}

/// 0-db's namespace lock states (RAM only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Unlocked,
    ReadOnly,
    Frozen,
}

/// Where a live key's latest version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub dataid: u32,
    pub offset: u32,
    pub length: u32,
    pub crc: u32,
    pub timestamp: u32,
    pub indexid: u32,
    pub idxoffset: u32,
    pub parentid: u32,
    pub parentoff: u32,
    pub idlength: u8,
}

impl Entry {
    /// In user mode the data file is the one with the index file's id: 0-db writes 0 as
    /// `dataid` for new keys and itself uses the index file id on load, so we do the same.
    fn from_item(mode: Mode, item: &IndexItem, indexid: u32, idxoffset: u32) -> Entry {
        Entry {
            dataid: match mode {
                Mode::User => indexid,
                Mode::Seq => item.dataid,
            },
            offset: item.offset,
            length: item.length,
            crc: item.crc,
            timestamp: item.timestamp,
            indexid,
            idxoffset,
            parentid: item.parentid,
            parentoff: item.parentoff,
            idlength: item.idlength,
        }
    }

    pub fn cursor(&self) -> Cursor {
        Cursor {
            idlength: self.idlength,
            fileid: self.indexid,
            length: self.length,
            idxoffset: self.idxoffset,
            crc: self.crc,
        }
    }
}

/// Outcome of a SET.
#[derive(Debug, PartialEq, Eq)]
pub enum SetOutcome {
    /// Same payload already stored: nothing written.
    Unchanged,
    /// Written; the key to report (the user key, or the 8-byte sequential id).
    Written,
    /// Sequential mode: the key given does not exist.
    SeqUnknownKey,
}

#[derive(Debug)]
pub enum WriteError {
    Data(io::Error),
    Index(io::Error),
}

/// One entry found by a scan: key, payload length, timestamp, and its cursor.
#[derive(Debug, Clone)]
pub struct ScanItem {
    pub key: Vec<u8>,
    pub length: u32,
    pub timestamp: u32,
    pub cursor: Cursor,
}

/// One stored version of a key: its index item, key and payload (HISTORY).
pub type Version = (IndexItem, Vec<u8>, Vec<u8>);

/// A raw data entry (DATA RAW).
#[derive(Debug)]
pub struct RawData {
    pub header: DataEntry,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
}

#[derive(Debug)]
pub enum RawError {
    Eof,
    Invalid,
}

/// What startup recovery did, for logs and zdb-check.
#[derive(Debug, Default, Clone)]
pub struct Recovery {
    pub index_bytes_cut: u64,
    pub data_bytes_cut: u64,
    pub entries_cut: u64,
    pub repaired_flags: u64,
}

#[derive(Debug)]
pub struct Namespace {
    pub name: String,
    pub generation: u64,
    pub password: Option<Vec<u8>>,
    pub public: bool,
    pub worm: bool,
    pub maxsize: u64,
    pub lock: Lock,
    mode: Mode,
    index_dir: PathBuf,
    data_dir: PathBuf,
    settings: StoreSettings,
    index_id: u32,
    index_file: File,
    index_end: u64,
    index_previous: u32,
    data_file: File,
    data_end: u64,
    data_previous: u32,
    next_entry: u64,
    next_id: u64,
    keys: HashMap<Box<[u8]>, Entry>,
    seqmap: Vec<(u64, u32)>,
    pub entries: u64,
    pub datasize: u64,
    pub index_size: u64,
    dirty: BTreeSet<u32>,
    last_sync: Instant,
    readers: HashMap<(bool, u32), File>,
    scratch: Vec<u8>,
    pub recovery: Recovery,
    pub io: IoStats,
}

/// Disk I/O counters of one namespace (NSINFO and INFO).
#[derive(Debug, Default, Clone, Copy)]
pub struct IoStats {
    pub data_read: u64,
    pub data_written: u64,
    pub index_read: u64,
    pub index_written: u64,
    pub data_read_failed: u64,
    pub data_write_failed: u64,
    pub index_read_failed: u64,
    pub index_write_failed: u64,
    pub data_errors: u64,
    pub data_last_error: u64,
    pub index_errors: u64,
    pub index_last_error: u64,
}

impl IoStats {
    fn data_error(&mut self, write: bool) {
        if write {
            self.data_write_failed += 1;
        } else {
            self.data_read_failed += 1;
        }
        self.data_errors += 1;
        self.data_last_error = now_ts() as u64;
    }

    fn index_error(&mut self, write: bool) {
        if write {
            self.index_write_failed += 1;
        } else {
            self.index_read_failed += 1;
        }
        self.index_errors += 1;
        self.index_last_error = now_ts() as u64;
    }
}

/// What NSINFO's `index_size_bytes` counts per live key: 0-db reports the size of its
/// in-memory entry (64 bytes on 64-bit builds) plus the key, and so do we.
fn mem_size(keylen: usize) -> u64 {
    64 + keylen as u64
}

fn now_ts() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

pub fn index_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("i{id}"))
}

pub fn data_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("d{id}"))
}

impl Namespace {
    fn io(&self, what: &'static str, path: &Path, source: io::Error) -> NsError {
        NsError::Io {
            ns: self.name.clone(),
            what,
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn index_dir(&self) -> &Path {
        &self.index_dir
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn index_active(&self) -> PathBuf {
        index_path(&self.index_dir, self.index_id)
    }

    pub fn data_active(&self) -> PathBuf {
        data_path(&self.data_dir, self.index_id)
    }

    pub fn data_current_id(&self) -> u32 {
        self.index_id
    }

    pub fn data_current_offset(&self) -> u64 {
        self.data_end
    }

    pub fn next_entry(&self) -> u64 {
        self.next_entry
    }

    /// Never written to and still on file 0 (0-db's `namespace_is_fresh`).
    pub fn is_fresh(&self) -> bool {
        self.next_entry == 0 && self.next_id == 0 && self.index_id == 0
    }

    pub fn descriptor(&self) -> NsDescriptor {
        NsDescriptor {
            name: self.name.as_bytes().to_vec(),
            password: self.password.clone(),
            maxsize: self.maxsize,
            public: self.public,
            worm: self.worm,
        }
    }

    /// Rewrites and fsyncs `zdb-namespace` (on every NSSET, as 0-db does).
    pub fn commit_descriptor(&self) -> Result<(), NsError> {
        write_descriptor(&self.index_dir, &self.descriptor())
            .map_err(|e| self.io("write descriptor", &self.index_dir, e))
    }

    /// Creates the directories, descriptor, `i0` and `d0` of a new namespace.
    pub fn create(
        index_root: &Path,
        data_root: &Path,
        name: &str,
        mode: Mode,
        settings: StoreSettings,
        generation: u64,
    ) -> Result<Namespace, NsError> {
        let index_dir = index_root.join(name);
        let data_dir = data_root.join(name);
        let ioerr = |what, path: &Path, source| NsError::Io {
            ns: name.to_string(),
            what,
            path: path.to_path_buf(),
            source,
        };
        fs::create_dir_all(&index_dir).map_err(|e| ioerr("create", &index_dir, e))?;
        fs::create_dir_all(&data_dir).map_err(|e| ioerr("create", &data_dir, e))?;
        let desc = NsDescriptor {
            name: name.as_bytes().to_vec(),
            password: None,
            maxsize: 0,
            public: true,
            worm: false,
        };
        write_descriptor(&index_dir, &desc)
            .map_err(|e| ioerr("write descriptor", &index_dir, e))?;
        let ip = index_path(&index_dir, 0);
        if !ip.exists() {
            create_index_file(&ip, 0, mode).map_err(|e| ioerr("create", &ip, e))?;
        }
        Namespace::open(
            index_root,
            data_root,
            name,
            Some(mode),
            settings,
            generation,
        )
    }

    /// Loads a namespace from disk: descriptor, index replay, torn-tail recovery.
    /// `fixed_mode` is the server's `--mode` (None = mixed); a mismatch with the index header
    /// is refused. A namespace without any index file gets a fresh `i0` in `fixed_mode` or user.
    pub fn open(
        index_root: &Path,
        data_root: &Path,
        name: &str,
        fixed_mode: Option<Mode>,
        settings: StoreSettings,
        generation: u64,
    ) -> Result<Namespace, NsError> {
        let index_dir = index_root.join(name);
        let data_dir = data_root.join(name);
        let ioerr = |what, path: &Path, source| NsError::Io {
            ns: name.to_string(),
            what,
            path: path.to_path_buf(),
            source,
        };
        fs::create_dir_all(&data_dir).map_err(|e| ioerr("create", &data_dir, e))?;
        let dpath = index_dir.join(DESCRIPTOR_FILE);
        let desc = match fs::read(&dpath) {
            Ok(b) => NsDescriptor::decode(&b).map_err(|source| NsError::Format {
                ns: name.to_string(),
                path: dpath.clone(),
                source,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let d = NsDescriptor {
                    name: name.as_bytes().to_vec(),
                    password: None,
                    maxsize: 0,
                    public: true,
                    worm: false,
                };
                write_descriptor(&index_dir, &d).map_err(|e| ioerr("write", &dpath, e))?;
                d
            }
            Err(e) => return Err(ioerr("read", &dpath, e)),
        };

        let i0 = index_path(&index_dir, 0);
        if !i0.exists() {
            create_index_file(&i0, 0, fixed_mode.unwrap_or(Mode::User))
                .map_err(|e| ioerr("create", &i0, e))?;
        }
        let mut ids = Vec::new();
        while index_path(&index_dir, ids.len() as u32).exists() {
            ids.push(ids.len() as u32);
        }
        let last = *ids.last().unwrap_or(&0);

        let mut mode = Mode::User;
        let mut loaded: Vec<Vec<u8>> = Vec::with_capacity(ids.len());
        for &id in &ids {
            let p = index_path(&index_dir, id);
            let mut b = fs::read(&p).map_err(|e| ioerr("read", &p, e))?;
            if b.len() < INDEX_HEADER_LEN && id == last {
                // Torn header of a freshly rotated file: rewrite it.
                let m = if id == 0 {
                    fixed_mode.unwrap_or(Mode::User)
                } else {
                    mode
                };
                create_index_file(&p, id, m).map_err(|e| ioerr("rewrite header", &p, e))?;
                b = IndexHeader {
                    fileid: id,
                    mode: m.to_byte(),
                }
                .encode()
                .to_vec();
            }
            let h = IndexHeader::decode(&b).map_err(|source| NsError::Format {
                ns: name.to_string(),
                path: p.clone(),
                source,
            })?;
            if h.fileid != id {
                return Err(NsError::FileIdMismatch {
                    ns: name.to_string(),
                    path: p,
                    found: h.fileid,
                    expected: id,
                });
            }
            if id == 0 {
                mode = Mode::from_byte(h.mode).map_err(|source| NsError::Format {
                    ns: name.to_string(),
                    path: p.clone(),
                    source,
                })?;
                if let Some(fm) = fixed_mode {
                    if fm != mode {
                        return Err(NsError::ModeMismatch {
                            ns: name.to_string(),
                            found: mode.name(),
                            running: fm.name(),
                        });
                    }
                }
            }
            loaded.push(b);
        }

        // The active data file: torn tail cut back to the last complete entry.
        let mut recovery = Recovery::default();
        let dpath_active = data_path(&data_dir, last);
        if !dpath_active.exists() {
            create_data_file(&dpath_active, last).map_err(|e| ioerr("create", &dpath_active, e))?;
        }
        let (data_end, data_previous, cut) =
            walk_data_file(&dpath_active, last).map_err(|e| ioerr("walk", &dpath_active, e))?;
        recovery.data_bytes_cut += cut;

        let index_file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(index_path(&index_dir, last))
            .map_err(|e| ioerr("open", &index_path(&index_dir, last), e))?;
        let data_file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&dpath_active)
            .map_err(|e| ioerr("open", &dpath_active, e))?;

        let mut ns = Namespace {
            name: name.to_string(),
            generation,
            password: desc.password,
            public: desc.public,
            worm: desc.worm,
            maxsize: desc.maxsize,
            lock: Lock::Unlocked,
            mode,
            index_dir,
            data_dir,
            settings,
            index_id: last,
            index_file,
            index_end: INDEX_HEADER_LEN as u64,
            index_previous: 0,
            data_file,
            data_end,
            data_previous,
            next_entry: 0,
            next_id: 0,
            keys: HashMap::new(),
            seqmap: Vec::new(),
            entries: 0,
            datasize: 0,
            index_size: 0,
            dirty: BTreeSet::new(),
            last_sync: Instant::now(),
            readers: HashMap::new(),
            scratch: Vec::new(),
            recovery,
            io: IoStats::default(),
        };

        // Cut torn or dangling entries at the end of every index file (only the last one can
        // legitimately have them; older ones are repaired the same way rather than refused).
        for (i, buf) in loaded.iter_mut().enumerate() {
            let id = ids[i];
            ns.recover_index_tail(id, buf, id == last)?;
        }
        for (i, buf) in loaded.iter().enumerate() {
            ns.replay(ids[i], buf)?;
        }
        if ns.mode == Mode::Seq && ns.seqmap.is_empty() {
            ns.seqmap.push((0, 0));
        }
        if ns.recovery.index_bytes_cut > 0 || ns.recovery.data_bytes_cut > 0 {
            tracing::warn!(namespace = %ns.name, recovery = ?ns.recovery, "recovered torn tail");
        }
        Ok(ns)
    }

    pub fn dirty_list(&self) -> Vec<u32> {
        self.dirty.iter().copied().collect()
    }

    pub fn dirty_reset(&mut self) {
        self.dirty.clear();
    }

    /// fsync everything (graceful shutdown).
    pub fn sync_all(&mut self) {
        let _ = self.data_file.sync_all();
        let _ = self.index_file.sync_all();
    }
}
