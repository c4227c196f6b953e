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

pub const DESCRIPTOR_FILE: &str = "zdb-namespace";

#[derive(Debug, Error)]
pub enum NsError {
    #[error("namespace {ns}: {what} {path}: {source}")]
    Io {
        ns: String,
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("namespace {ns}: {path}: {source}")]
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

    /// Walks the entries of index file `id` (contents in `buf`), cuts an incomplete trailing
    /// entry and, for the active file, trailing entries whose data is missing or whose payload
    /// CRC does not match (written to the index but not to the data file before a crash).
    fn recover_index_tail(
        &mut self,
        id: u32,
        buf: &mut Vec<u8>,
        active: bool,
    ) -> Result<(), NsError> {
        let mut offsets = Vec::new();
        let mut pos = INDEX_HEADER_LEN;
        while pos + INDEX_ITEM_LEN <= buf.len() {
            let idl = buf[pos] as usize;
            if pos + INDEX_ITEM_LEN + idl > buf.len() {
                break;
            }
            offsets.push(pos);
            pos += INDEX_ITEM_LEN + idl;
        }
        let mut cut_at = pos;
        if active {
            // Walk backwards while the entry does not validate against its data.
            while let Some(&off) = offsets.last() {
                let item = match IndexItem::decode(&buf[off..]) {
                    Ok(i) => i,
                    Err(_) => break,
                };
                let key = buf[off + INDEX_ITEM_LEN..off + INDEX_ITEM_LEN + item.idlength as usize]
                    .to_vec();
                let dataid = Entry::from_item(self.mode, &item, id, off as u32).dataid;
                if self.validate_against_data(dataid, &item, &key) {
                    break;
                }
                cut_at = off;
                offsets.pop();
                self.recovery.entries_cut += 1;
                // If the cut entry superseded a version (user mode), that version was flagged
                // deleted just before: un-flag it so the key keeps its previous value.
                if self.mode == Mode::User && (item.parentid != 0 || item.parentoff != 0) {
                    self.unflag_parent(id, buf, &item, &key);
                }
            }
        }
        if cut_at < buf.len() {
            if !active && self.mode == Mode::Seq {
                return Err(NsError::TornSeqIndex {
                    ns: self.name.clone(),
                    fileid: id,
                    offset: cut_at as u64,
                });
            }
            let p = index_path(&self.index_dir, id);
            let cut = (buf.len() - cut_at) as u64;
            let f = OpenOptions::new()
                .write(true)
                .open(&p)
                .map_err(|e| self.io("open", &p, e))?;
            f.set_len(cut_at as u64)
                .map_err(|e| self.io("truncate", &p, e))?;
            f.sync_all().map_err(|e| self.io("fsync", &p, e))?;
            buf.truncate(cut_at);
            self.recovery.index_bytes_cut += cut;
        }
        Ok(())
    }

    fn unflag_parent(&mut self, id: u32, buf: &mut [u8], item: &IndexItem, key: &[u8]) {
        let (pid, poff) = (item.parentid, item.parentoff as usize);
        if pid == id {
            if poff + INDEX_ITEM_LEN + key.len() <= buf.len()
                && buf[poff] as usize == key.len()
                && &buf[poff + INDEX_ITEM_LEN..poff + INDEX_ITEM_LEN + key.len()] == key
            {
                buf[poff + 13] &= !FLAG_DELETED;
                let _ = self.write_flag(pid, poff as u32, buf[poff + 13]);
            }
        } else if let Ok(Some((pitem, pkey))) = self.read_index_item(pid, poff as u32) {
            if pkey == key {
                let _ = self.write_flag(pid, poff as u32, pitem.flags & !FLAG_DELETED);
            }
        }
    }

    /// True when the data entry the index item points to is complete and matches.
    fn validate_against_data(&mut self, dataid: u32, item: &IndexItem, key: &[u8]) -> bool {
        let Ok(f) = self.reader(false, dataid) else {
            return false;
        };
        let Ok(len) = f.metadata().map(|m| m.len()) else {
            return false;
        };
        let end =
            item.offset as u64 + DATA_ENTRY_LEN as u64 + key.len() as u64 + item.length as u64;
        if (item.offset as usize) < DATA_HEADER_LEN || end > len {
            return false;
        }
        let mut hb = [0u8; DATA_ENTRY_LEN];
        if f.read_exact_at(&mut hb, item.offset as u64).is_err() {
            return false;
        }
        let Ok(h) = DataEntry::decode(&hb) else {
            return false;
        };
        if h.idlength as usize != key.len() || h.datalength != item.length {
            return false;
        }
        let mut kp = vec![0u8; key.len() + item.length as usize];
        if f.read_exact_at(&mut kp, item.offset as u64 + DATA_ENTRY_LEN as u64)
            .is_err()
        {
            return false;
        }
        &kp[..key.len()] == key && zdb_crc32(&kp[key.len()..]) == item.crc
    }

    fn replay(&mut self, id: u32, buf: &[u8]) -> Result<(), NsError> {
        if self.mode == Mode::Seq {
            self.seqmap.push((self.next_entry, id));
        }
        let mut pos = INDEX_HEADER_LEN;
        let mut count = 0u64;
        while pos + INDEX_ITEM_LEN <= buf.len() {
            let item = IndexItem::decode(&buf[pos..]).map_err(|source| NsError::Format {
                ns: self.name.clone(),
                path: index_path(&self.index_dir, id),
                source,
            })?;
            let kend = pos + INDEX_ITEM_LEN + item.idlength as usize;
            if kend > buf.len() {
                break;
            }
            let key = &buf[pos + INDEX_ITEM_LEN..kend];
            match self.mode {
                Mode::User => {
                    if let Some(old) = self.keys.remove(key) {
                        self.entries = self.entries.saturating_sub(1);
                        self.datasize = self.datasize.saturating_sub(old.length as u64);
                        self.index_size = self.index_size.saturating_sub(mem_size(key.len()));
                        if !item.deleted() {
                            // Crash between appending the new version and flagging the old
                            // one: finish the flagging now.
                            if self
                                .write_flag(old.indexid, old.idxoffset, FLAG_DELETED)
                                .is_ok()
                            {
                                self.recovery.repaired_flags += 1;
                            }
                        }
                    }
                    if !item.deleted() {
                        self.keys.insert(
                            key.into(),
                            Entry::from_item(self.mode, &item, id, pos as u32),
                        );
                        self.entries += 1;
                        self.datasize += item.length as u64;
                        self.index_size += mem_size(key.len());
                    }
                }
                Mode::Seq => {
                    // A live slot holds its own id: anything else means ids have shifted
                    // (an older index file lost entries), and serving would return wrong data.
                    if !item.deleted() && key != self.next_entry.to_le_bytes() {
                        return Err(NsError::SeqIdMismatch {
                            ns: self.name.clone(),
                            fileid: id,
                            offset: pos as u64,
                            expected: self.next_entry,
                        });
                    }
                    if !item.deleted() {
                        self.entries += 1;
                        self.datasize += item.length as u64;
                        self.index_size += mem_size(key.len());
                    }
                }
            }
            self.index_previous = pos as u32;
            self.next_entry += 1;
            count += 1;
            pos = kend;
        }
        if id == self.index_id {
            self.index_end = pos as u64;
            self.next_id = count;
        }
        Ok(())
    }

    fn reader(&mut self, index: bool, id: u32) -> io::Result<&File> {
        if !self.readers.contains_key(&(index, id)) {
            if self.readers.len() > 64 {
                self.readers.clear();
            }
            let p = if index {
                index_path(&self.index_dir, id)
            } else {
                data_path(&self.data_dir, id)
            };
            let f = OpenOptions::new().read(true).write(index).open(p)?;
            self.readers.insert((index, id), f);
        }
        self.readers
            .get(&(index, id))
            .ok_or_else(|| io::Error::other("reader cache"))
    }

    fn write_flag(&mut self, fileid: u32, idxoffset: u32, flags: u8) -> io::Result<()> {
        let f = self.reader(true, fileid)?;
        if let Err(e) = f.write_all_at(&[flags], idxoffset as u64 + IndexItem::FLAGS_OFFSET) {
            self.io.index_error(true);
            return Err(e);
        }
        self.io.index_written += 1;
        self.dirty.insert(fileid);
        Ok(())
    }

    /// Reads the index item (and key) at a location; None when beyond the file.
    pub fn read_index_item(
        &mut self,
        fileid: u32,
        offset: u32,
    ) -> io::Result<Option<(IndexItem, Vec<u8>)>> {
        let f = match self.reader(true, fileid) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if (offset as usize) < INDEX_HEADER_LEN {
            return Ok(None);
        }
        let mut hb = [0u8; INDEX_ITEM_LEN];
        match f.read_exact_at(&mut hb, offset as u64) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let item = IndexItem::decode(&hb).map_err(io::Error::other)?;
        let mut key = vec![0u8; item.idlength as usize];
        match f.read_exact_at(&mut key, offset as u64 + INDEX_ITEM_LEN as u64) {
            Ok(()) => {
                self.io.index_read += (INDEX_ITEM_LEN + key.len()) as u64;
                Ok(Some((item, key)))
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn index_len(&mut self, fileid: u32) -> Option<u64> {
        if fileid == self.index_id {
            return Some(self.index_end);
        }
        self.reader(true, fileid)
            .ok()?
            .metadata()
            .ok()
            .map(|m| m.len())
    }

    /// Looks a live key up: O(1) in memory for user mode, one positioned read in seq mode.
    pub fn lookup(&mut self, key: &[u8]) -> Option<Entry> {
        match self.mode {
            Mode::User => self.keys.get(key).copied(),
            Mode::Seq => {
                let (id, fileid, off) = self.seq_locate(key)?;
                let _ = id;
                let mut hb = [0u8; INDEX_ITEM_LEN];
                let f = self.reader(true, fileid).ok()?;
                f.read_exact_at(&mut hb, off).ok()?;
                let item = IndexItem::decode(&hb).ok()?;
                if item.deleted() || item.idlength as usize != SEQ_KEY_LEN {
                    return None;
                }
                Some(Entry::from_item(self.mode, &item, fileid, off as u32))
            }
        }
    }

    fn seq_locate(&self, key: &[u8]) -> Option<(u64, u32, u64)> {
        let b: [u8; 8] = key.try_into().ok()?;
        let id = u64::from_le_bytes(b);
        if id >= self.next_entry {
            return None;
        }
        let idx = match self.seqmap.binary_search_by(|(first, _)| first.cmp(&id)) {
            Ok(i) => {
                // Several files may start at the same id (empty files): take the last.
                let mut i = i;
                while i + 1 < self.seqmap.len() && self.seqmap[i + 1].0 == id {
                    i += 1;
                }
                i
            }
            Err(0) => return None,
            Err(i) => i - 1,
        };
        let (first, fileid) = self.seqmap[idx];
        Some((id, fileid, format::seq_slot_offset(id - first)))
    }

    /// Appends the payload of `entry` (stored under `key`) to `out`. The data entry header and
    /// key are checked first, so an index entry pointing at the wrong place (a damaged or
    /// truncated data file) gives an error, never someone else's bytes.
    pub fn read_payload(&mut self, entry: &Entry, key: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let at = entry.offset as u64 + DATA_ENTRY_LEN as u64 + entry.idlength as u64;
        let len = entry.length as usize;
        let f = self.reader(false, entry.dataid)?;
        let mut hk = [0u8; DATA_ENTRY_LEN + 255];
        let hk = &mut hk[..DATA_ENTRY_LEN + key.len()];
        let mismatch = match f.read_exact_at(hk, entry.offset as u64) {
            Ok(()) => {
                let h = DataEntry::decode(hk).map_err(io::Error::other)?;
                h.idlength as usize != key.len()
                    || h.datalength != entry.length
                    || &hk[DATA_ENTRY_LEN..] != key
            }
            Err(_) => true,
        };
        if mismatch {
            self.io.data_error(false);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "data entry does not match its index entry",
            ));
        }
        let f = self.reader(false, entry.dataid)?;
        let start = out.len();
        out.resize(start + len, 0);
        if let Err(e) = f.read_exact_at(&mut out[start..], at) {
            out.truncate(start);
            self.io.data_error(false);
            return Err(e);
        }
        self.io.data_read += (DATA_ENTRY_LEN + key.len() + len) as u64;
        Ok(())
    }

    /// CHECK: re-reads the data entry and compares its CRC.
    pub fn check(&mut self, entry: &Entry) -> io::Result<bool> {
        let mut hb = [0u8; DATA_ENTRY_LEN];
        let f = self.reader(false, entry.dataid)?;
        f.read_exact_at(&mut hb, entry.offset as u64)?;
        let h = DataEntry::decode(&hb).map_err(io::Error::other)?;
        let mut p = std::mem::take(&mut self.scratch);
        p.clear();
        p.resize(h.datalength as usize, 0);
        let f = self.reader(false, entry.dataid)?;
        let r = f.read_exact_at(
            &mut p,
            entry.offset as u64 + DATA_ENTRY_LEN as u64 + h.idlength as u64,
        );
        let ok = r.is_ok() && zdb_crc32(&p) == h.integrity;
        self.scratch = p;
        r.map(|_| ok)
    }

    fn payload_equals(&mut self, entry: &Entry, key: &[u8], value: &[u8]) -> bool {
        if entry.length as usize != value.len() {
            return false;
        }
        let mut p = std::mem::take(&mut self.scratch);
        p.clear();
        let same = self.read_payload(entry, key, &mut p).is_ok() && p == value;
        self.scratch = p;
        same
    }

    /// Rotation check done before a SET (0-db: data end + payload > datasize → jump).
    pub fn needs_jump(&self, payload: usize) -> bool {
        self.data_end + payload as u64 > self.settings.datasize
    }

    /// Closes the active files and starts `i<N+1>`/`d<N+1>` (NSJUMP and rotation).
    pub fn jump(&mut self) -> Result<(), NsError> {
        if self.settings.durability != Durability::None {
            let _ = self.data_file.sync_all();
            let _ = self.index_file.sync_all();
        }
        let next = self.index_id + 1;
        let ip = index_path(&self.index_dir, next);
        let dp = data_path(&self.data_dir, next);
        create_data_file(&dp, next).map_err(|e| self.io("create", &dp, e))?;
        create_index_file(&ip, next, self.mode).map_err(|e| self.io("create", &ip, e))?;
        self.index_file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&ip)
            .map_err(|e| self.io("open", &ip, e))?;
        self.data_file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&dp)
            .map_err(|e| self.io("open", &dp, e))?;
        if self.settings.durability == Durability::Sync {
            // the new files' directory entries must survive a power cut too
            for dir in [&self.index_dir, &self.data_dir] {
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
        }
        self.index_id = next;
        self.index_end = INDEX_HEADER_LEN as u64;
        self.data_end = DATA_HEADER_LEN as u64;
        self.next_id = 0;
        if self.mode == Mode::Seq {
            self.seqmap.push((self.next_entry, next));
        }
        Ok(())
    }

    fn append_data(
        &mut self,
        key: &[u8],
        value: &[u8],
        flags: u8,
        crc: u32,
        ts: u32,
    ) -> io::Result<u32> {
        let h = DataEntry {
            idlength: key.len() as u8,
            datalength: value.len() as u32,
            previous: self.data_previous,
            integrity: crc,
            flags,
            timestamp: ts,
        };
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.extend_from_slice(&h.encode());
        buf.extend_from_slice(key);
        buf.extend_from_slice(value);
        let off = self.data_end;
        let r = self.data_file.write_all_at(&buf, off);
        self.scratch = buf;
        if let Err(e) = r {
            let _ = self.data_file.set_len(off);
            self.io.data_error(true);
            return Err(e);
        }
        self.io.data_written += h.total_len();
        self.data_end += h.total_len();
        self.data_previous = off as u32;
        Ok(off as u32)
    }

    fn append_index(&mut self, item: &mut IndexItem, key: &[u8]) -> io::Result<u32> {
        item.previous = self.index_previous;
        let mut b = [0u8; INDEX_ITEM_LEN + 255];
        b[..INDEX_ITEM_LEN].copy_from_slice(&item.encode());
        b[INDEX_ITEM_LEN..INDEX_ITEM_LEN + key.len()].copy_from_slice(key);
        let off = self.index_end;
        if let Err(e) = self
            .index_file
            .write_all_at(&b[..INDEX_ITEM_LEN + key.len()], off)
        {
            let _ = self.index_file.set_len(off);
            self.io.index_error(true);
            return Err(e);
        }
        self.io.index_written += (INDEX_ITEM_LEN + key.len()) as u64;
        self.index_end += (INDEX_ITEM_LEN + key.len()) as u64;
        self.index_previous = off as u32;
        self.next_entry += 1;
        self.next_id += 1;
        Ok(off as u32)
    }

    fn sync_after_write(&mut self, index_first_done: bool) -> io::Result<()> {
        let _ = index_first_done;
        match self.settings.durability {
            Durability::None => Ok(()),
            Durability::Sync => {
                self.index_file.sync_data()?;
                for id in std::mem::take(&mut self.dirty) {
                    if id != self.index_id {
                        if let Ok(f) = self.reader(true, id) {
                            f.sync_data()?;
                        }
                    }
                }
                Ok(())
            }
            Durability::SyncTime(t) => {
                if self.last_sync.elapsed() >= t {
                    self.data_file.sync_data()?;
                    self.index_file.sync_data()?;
                    self.last_sync = Instant::now();
                }
                Ok(())
            }
        }
    }

    fn sync_data_before_index(&mut self) -> io::Result<()> {
        if self.settings.durability == Durability::Sync {
            self.data_file.sync_data()?;
        }
        Ok(())
    }

    /// SET. `key` is the user key, or in seq mode empty (new id) / 8-byte id (update); the key
    /// reported to the client is written to `key_out`.
    pub fn set(
        &mut self,
        key: &[u8],
        value: &[u8],
        timestamp: Option<u32>,
        existing: Option<Entry>,
        key_out: &mut [u8; 8],
    ) -> Result<SetOutcome, WriteError> {
        let ts = timestamp.unwrap_or_else(now_ts);
        let crc = zdb_crc32(value);
        if self.mode == Mode::Seq && !key.is_empty() && existing.is_none() {
            return Ok(SetOutcome::SeqUnknownKey);
        }
        if let Some(e) = &existing {
            if e.crc == crc && self.payload_equals(e, key, value) {
                return Ok(SetOutcome::Unchanged);
            }
        }
        match self.mode {
            Mode::User => {
                let off = self
                    .append_data(key, value, 0, crc, ts)
                    .map_err(WriteError::Data)?;
                self.sync_data_before_index().map_err(WriteError::Data)?;
                let (pid, poff) = existing.map(|e| (e.indexid, e.idxoffset)).unwrap_or((0, 0));
                let mut item = IndexItem {
                    idlength: key.len() as u8,
                    offset: off,
                    length: value.len() as u32,
                    previous: 0,
                    flags: 0,
                    // Byte-compatible with 0-db: it stores 0 for a new key and the file id
                    // for an update; readers use the index file id in user mode anyway.
                    dataid: if existing.is_some() { self.index_id } else { 0 },
                    timestamp: ts,
                    crc,
                    parentid: pid,
                    parentoff: poff,
                };
                let idxoff = self
                    .append_index(&mut item, key)
                    .map_err(WriteError::Index)?;
                // Flag the superseded version only once the new one is on disk.
                if let Some(old) = existing {
                    self.write_flag(old.indexid, old.idxoffset, FLAG_DELETED)
                        .map_err(WriteError::Index)?;
                    self.datasize = self.datasize.saturating_sub(old.length as u64);
                    self.entries = self.entries.saturating_sub(1);
                    self.index_size = self.index_size.saturating_sub(mem_size(key.len()));
                }
                self.sync_after_write(true).map_err(WriteError::Index)?;
                let entry = Entry::from_item(self.mode, &item, self.index_id, idxoff);
                match self.keys.get_mut(key) {
                    Some(slot) => *slot = entry,
                    None => {
                        self.keys.insert(key.into(), entry);
                    }
                }
                self.entries += 1;
                self.datasize += value.len() as u64;
                self.index_size += mem_size(key.len());
                Ok(SetOutcome::Written)
            }
            Mode::Seq => {
                let id = match &existing {
                    Some(_) => {
                        let b: [u8; 8] = key.try_into().map_err(|_| {
                            WriteError::Index(io::Error::other("sequential key is not 8 bytes"))
                        })?;
                        u64::from_le_bytes(b)
                    }
                    None => self.next_entry,
                };
                let idb = id.to_le_bytes();
                key_out.copy_from_slice(&idb);
                let off = self
                    .append_data(&idb, value, 0, crc, ts)
                    .map_err(WriteError::Data)?;
                self.sync_data_before_index().map_err(WriteError::Data)?;
                let mut item = IndexItem {
                    idlength: SEQ_KEY_LEN as u8,
                    offset: off,
                    length: value.len() as u32,
                    previous: 0,
                    flags: 0,
                    dataid: self.index_id,
                    timestamp: ts,
                    crc,
                    parentid: 0,
                    parentoff: 0,
                };
                match existing {
                    None => {
                        self.append_index(&mut item, &idb)
                            .map_err(WriteError::Index)?;
                        self.entries += 1;
                        self.datasize += value.len() as u64;
                        self.index_size += mem_size(SEQ_KEY_LEN);
                    }
                    Some(old) => {
                        // Append a deleted copy of the old slot (history), then overwrite the
                        // slot in place with the new metadata, keeping its `previous`.
                        let (mut copy, _) = self
                            .read_index_item(old.indexid, old.idxoffset)
                            .map_err(WriteError::Index)?
                            .ok_or_else(|| WriteError::Index(io::Error::other("slot vanished")))?;
                        let orig_prev = copy.previous;
                        copy.flags |= FLAG_DELETED;
                        let copy_off = self
                            .append_index(&mut copy, &idb)
                            .map_err(WriteError::Index)?;
                        item.previous = orig_prev;
                        item.parentid = self.index_id;
                        item.parentoff = copy_off;
                        let mut b = [0u8; INDEX_ITEM_LEN + SEQ_KEY_LEN];
                        b[..INDEX_ITEM_LEN].copy_from_slice(&item.encode());
                        b[INDEX_ITEM_LEN..].copy_from_slice(&idb);
                        let f = self.reader(true, old.indexid).map_err(WriteError::Index)?;
                        f.write_all_at(&b, old.idxoffset as u64)
                            .map_err(WriteError::Index)?;
                        self.dirty.insert(old.indexid);
                        self.datasize = self.datasize.saturating_sub(old.length as u64);
                        self.datasize += value.len() as u64;
                    }
                }
                self.sync_after_write(true).map_err(WriteError::Index)?;
                Ok(SetOutcome::Written)
            }
        }
    }

    /// DEL of a live entry: deleted marker appended to the data file, index entry flagged.
    pub fn delete(
        &mut self,
        key: &[u8],
        entry: Entry,
        timestamp: Option<u32>,
    ) -> Result<(), WriteError> {
        let ts = timestamp.unwrap_or_else(now_ts);
        self.append_data(key, &[], FLAG_DELETED, 0, ts)
            .map_err(WriteError::Data)?;
        self.sync_data_before_index().map_err(WriteError::Data)?;
        self.write_flag(entry.indexid, entry.idxoffset, FLAG_DELETED)
            .map_err(WriteError::Index)?;
        if self.settings.durability == Durability::Sync {
            let f = self
                .reader(true, entry.indexid)
                .map_err(WriteError::Index)?;
            f.sync_data().map_err(WriteError::Index)?;
        } else {
            self.sync_after_write(true).map_err(WriteError::Index)?;
        }
        if self.mode == Mode::User {
            self.keys.remove(key);
        }
        self.entries = self.entries.saturating_sub(1);
        self.datasize = self.datasize.saturating_sub(entry.length as u64);
        self.index_size = self.index_size.saturating_sub(mem_size(key.len()));
        Ok(())
    }

    /// Validates a SCAN cursor by re-reading its index entry (length + crc must match).
    pub fn cursor_location(&mut self, raw: &[u8]) -> Option<(u32, u32)> {
        let c = Cursor::decode(raw)?;
        let (item, _) = self.read_index_item(c.fileid, c.idxoffset).ok()??;
        if item.idlength != c.idlength || item.length != c.length || item.crc != c.crc {
            return None;
        }
        Some((c.fileid, c.idxoffset))
    }

    /// Next live entry strictly after (fileid, offset), or the first one when `from` is None.
    pub fn scan_next(&mut self, from: Option<(u32, u32)>) -> io::Result<Option<ScanItem>> {
        let (mut fileid, mut off) = match from {
            None => (0u32, INDEX_HEADER_LEN as u32),
            Some((f, o)) => match self.read_index_item(f, o)? {
                Some((item, _)) => (f, o + (INDEX_ITEM_LEN as u32) + item.idlength as u32),
                None => return Ok(None),
            },
        };
        loop {
            if fileid > self.index_id {
                return Ok(None);
            }
            let Some(len) = self.index_len(fileid) else {
                return Ok(None);
            };
            if off as u64 + INDEX_ITEM_LEN as u64 > len {
                fileid += 1;
                off = INDEX_HEADER_LEN as u32;
                continue;
            }
            let Some((item, key)) = self.read_index_item(fileid, off)? else {
                fileid += 1;
                off = INDEX_HEADER_LEN as u32;
                continue;
            };
            if !item.deleted() {
                return Ok(Some(scan_item(item, key, fileid, off)));
            }
            off += (INDEX_ITEM_LEN + item.idlength as usize) as u32;
        }
    }

    fn last_offset_in(&mut self, fileid: u32) -> io::Result<Option<u32>> {
        let Some(len) = self.index_len(fileid) else {
            return Ok(None);
        };
        let mut off = INDEX_HEADER_LEN as u64;
        let mut last = None;
        let f = self.reader(true, fileid)?;
        let mut hb = [0u8; INDEX_ITEM_LEN];
        while off + INDEX_ITEM_LEN as u64 <= len {
            f.read_exact_at(&mut hb, off)?;
            last = Some(off as u32);
            off += INDEX_ITEM_LEN as u64 + hb[0] as u64;
        }
        Ok(last)
    }

    /// Previous live entry strictly before (fileid, offset), or the last one when None.
    pub fn scan_prev(&mut self, from: Option<(u32, u32)>) -> io::Result<Option<ScanItem>> {
        let mut pos: Option<(u32, u32)> = match from {
            None => {
                let mut f = self.index_id as i64;
                let mut found = None;
                while f >= 0 {
                    if let Some(o) = self.last_offset_in(f as u32)? {
                        found = Some((f as u32, o));
                        break;
                    }
                    f -= 1;
                }
                match found {
                    None => return Ok(None),
                    Some(p) => {
                        let Some((item, key)) = self.read_index_item(p.0, p.1)? else {
                            return Ok(None);
                        };
                        if !item.deleted() {
                            return Ok(Some(scan_item(item, key, p.0, p.1)));
                        }
                        Some(p)
                    }
                }
            }
            Some(p) => Some(p),
        };
        let mut guard = 0u64;
        while let Some((fileid, off)) = pos {
            guard += 1;
            if guard > 1 << 40 {
                return Ok(None);
            }
            let Some((item, _)) = self.read_index_item(fileid, off)? else {
                return Ok(None);
            };
            // The entry before this one: same file through `previous`, or the last entry of
            // an earlier file when this is the first entry of its file.
            let mut prev = None;
            if off as usize > INDEX_HEADER_LEN
                && (item.previous as usize) >= INDEX_HEADER_LEN
                && item.previous < off
            {
                prev = Some((fileid, item.previous));
            } else if off as usize > INDEX_HEADER_LEN {
                // Broken chain: walk the file.
                let f = self.reader(true, fileid)?;
                let mut o = INDEX_HEADER_LEN as u64;
                let mut hb = [0u8; INDEX_ITEM_LEN];
                let mut last = None;
                while o < off as u64 {
                    f.read_exact_at(&mut hb, o)?;
                    last = Some(o as u32);
                    o += INDEX_ITEM_LEN as u64 + hb[0] as u64;
                }
                prev = last.map(|l| (fileid, l));
            } else {
                let mut f = fileid as i64 - 1;
                while f >= 0 {
                    if let Some(o) = self.last_offset_in(f as u32)? {
                        prev = Some((f as u32, o));
                        break;
                    }
                    f -= 1;
                }
            }
            let Some((pf, po)) = prev else {
                return Ok(None);
            };
            let Some((pitem, pkey)) = self.read_index_item(pf, po)? else {
                return Ok(None);
            };
            if !pitem.deleted() {
                return Ok(Some(scan_item(pitem, pkey, pf, po)));
            }
            pos = Some((pf, po));
        }
        Ok(None)
    }

    /// HISTORY: the version stored at an index location, with its payload.
    pub fn history_at(&mut self, fileid: u32, offset: u32) -> io::Result<Option<Version>> {
        let Some((item, key)) = self.read_index_item(fileid, offset)? else {
            return Ok(None);
        };
        let e = Entry::from_item(self.mode, &item, fileid, offset);
        let mut payload = Vec::new();
        self.read_payload(&e, &key, &mut payload)?;
        Ok(Some((item, key, payload)))
    }

    /// DATA RAW: the data entry at `offset` in `d<fileid>`.
    pub fn data_raw(&mut self, fileid: u32, offset: u64) -> Result<RawData, RawError> {
        let f = self.reader(false, fileid).map_err(|_| RawError::Invalid)?;
        let len = f.metadata().map_err(|_| RawError::Invalid)?.len();
        if offset + DATA_ENTRY_LEN as u64 > len {
            return Err(RawError::Eof);
        }
        let mut hb = [0u8; DATA_ENTRY_LEN];
        f.read_exact_at(&mut hb, offset)
            .map_err(|_| RawError::Eof)?;
        let header = DataEntry::decode(&hb).map_err(|_| RawError::Invalid)?;
        if offset + header.total_len() > len {
            return Err(RawError::Invalid);
        }
        let mut key = vec![0u8; header.idlength as usize];
        f.read_exact_at(&mut key, offset + DATA_ENTRY_LEN as u64)
            .map_err(|_| RawError::Invalid)?;
        let mut payload = vec![0u8; header.datalength as usize];
        f.read_exact_at(
            &mut payload,
            offset + DATA_ENTRY_LEN as u64 + key.len() as u64,
        )
        .map_err(|_| RawError::Invalid)?;
        Ok(RawData {
            header,
            key,
            payload,
        })
    }

    pub fn dirty_list(&self) -> Vec<u32> {
        self.dirty.iter().copied().collect()
    }

    pub fn dirty_reset(&mut self) {
        self.dirty.clear();
    }

    /// NSSET mode on a fresh namespace: rewrite the mode byte of `i0`.
    pub fn switch_mode(&mut self, mode: Mode) -> Result<(), NsError> {
        let p = index_path(&self.index_dir, 0);
        self.index_file
            .write_all_at(&[mode.to_byte()], 28)
            .map_err(|e| self.io("write", &p, e))?;
        self.mode = mode;
        self.keys.clear();
        self.seqmap.clear();
        if mode == Mode::Seq {
            self.seqmap.push((0, 0));
        }
        Ok(())
    }

    /// FLUSH: remove every index and data file and start again from `i0`/`d0`.
    pub fn flush(&mut self) -> Result<(), NsError> {
        self.readers.clear();
        for dir in [self.index_dir.clone(), self.data_dir.clone()] {
            let rd = fs::read_dir(&dir).map_err(|e| self.io("list", &dir, e))?;
            for ent in rd.flatten() {
                let n = ent.file_name();
                let n = n.to_string_lossy();
                let numbered = n.len() > 1
                    && (n.starts_with('i') || n.starts_with('d'))
                    && n[1..].bytes().all(|b| b.is_ascii_digit());
                if numbered {
                    let _ = fs::remove_file(ent.path());
                }
            }
        }
        let ip = index_path(&self.index_dir, 0);
        let dp = data_path(&self.data_dir, 0);
        create_index_file(&ip, 0, self.mode).map_err(|e| self.io("create", &ip, e))?;
        create_data_file(&dp, 0).map_err(|e| self.io("create", &dp, e))?;
        self.index_file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&ip)
            .map_err(|e| self.io("open", &ip, e))?;
        self.data_file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&dp)
            .map_err(|e| self.io("open", &dp, e))?;
        self.index_id = 0;
        self.index_end = INDEX_HEADER_LEN as u64;
        self.index_previous = 0;
        self.data_end = DATA_HEADER_LEN as u64;
        self.data_previous = 0;
        self.next_entry = 0;
        self.next_id = 0;
        self.keys.clear();
        self.seqmap.clear();
        if self.mode == Mode::Seq {
            self.seqmap.push((0, 0));
        }
        self.entries = 0;
        self.datasize = 0;
        self.index_size = 0;
        self.dirty.clear();
        Ok(())
    }

    /// fsync everything (graceful shutdown).
    pub fn sync_all(&mut self) {
        let _ = self.data_file.sync_all();
        let _ = self.index_file.sync_all();
    }
}

fn scan_item(item: IndexItem, key: Vec<u8>, fileid: u32, off: u32) -> ScanItem {
    ScanItem {
        cursor: Cursor {
            idlength: item.idlength,
            fileid,
            length: item.length,
            idxoffset: off,
            crc: item.crc,
        },
        key,
        length: item.length,
        timestamp: item.timestamp,
    }
}

pub fn write_descriptor(index_dir: &Path, d: &NsDescriptor) -> io::Result<()> {
    fs::create_dir_all(index_dir)?;
    let p = index_dir.join(DESCRIPTOR_FILE);
    let tmp = index_dir.join(".zdb-namespace.tmp");
    fs::write(&tmp, d.encode())?;
    File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, &p)?;
    if let Ok(dir) = File::open(index_dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

pub fn create_index_file(p: &Path, id: u32, mode: Mode) -> io::Result<()> {
    let f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(p)?;
    f.write_all_at(
        &IndexHeader {
            fileid: id,
            mode: mode.to_byte(),
        }
        .encode(),
        0,
    )?;
    f.sync_all()
}

pub fn create_data_file(p: &Path, id: u32) -> io::Result<()> {
    let f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(p)?;
    f.write_all_at(&DataHeader { fileid: id }.encode(), 0)?;
    f.sync_all()
}

/// Walks a data file's entries. Returns (end of the last complete entry, offset of the last
/// entry or 0, bytes cut). A torn trailing entry is cut off; a missing/short header is rewritten.
pub fn walk_data_file(p: &Path, id: u32) -> io::Result<(u64, u32, u64)> {
    let f = OpenOptions::new().read(true).write(true).open(p)?;
    let len = f.metadata()?.len();
    if len < DATA_HEADER_LEN as u64 {
        f.set_len(0)?;
        f.write_all_at(&DataHeader { fileid: id }.encode(), 0)?;
        f.sync_all()?;
        return Ok((DATA_HEADER_LEN as u64, 0, 0));
    }
    let mut hb = [0u8; DATA_HEADER_LEN];
    f.read_exact_at(&mut hb, 0)?;
    DataHeader::decode(&hb).map_err(io::Error::other)?;
    let mut r = BufReader::with_capacity(1 << 16, &f);
    r.seek(SeekFrom::Start(DATA_HEADER_LEN as u64))?;
    let mut pos = DATA_HEADER_LEN as u64;
    let mut last = 0u32;
    let mut eb = [0u8; DATA_ENTRY_LEN];
    loop {
        if pos + DATA_ENTRY_LEN as u64 > len {
            break;
        }
        r.read_exact(&mut eb)?;
        let e = DataEntry::decode(&eb).map_err(io::Error::other)?;
        let end = pos + e.total_len();
        if end > len || e.datalength as usize > crate::resp::MAX_BULK {
            break;
        }
        r.seek_relative(e.total_len() as i64 - DATA_ENTRY_LEN as i64)?;
        last = pos as u32;
        pos = end;
    }
    drop(r);
    let cut = len - pos;
    if cut > 0 {
        f.set_len(pos)?;
        f.sync_all()?;
    }
    Ok((pos, last, cut))
}
