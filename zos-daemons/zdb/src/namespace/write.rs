//! Write path: SET/DEL appends (data first, then index), in-place flagging of superseded
//! entries, sequential-slot overwrites, rotation (NSJUMP), mode switch, FLUSH, and the fsync
//! policy of each durability mode.

// What is written to disk must never be cut short silently.
#![warn(clippy::cast_possible_truncation)]

use super::*;
use crate::format::fit;

impl Namespace {
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

    pub(super) fn append_data(
        &mut self,
        key: &[u8],
        value: &[u8],
        flags: u8,
        crc: u32,
        ts: u32,
    ) -> io::Result<u32> {
        let h = DataEntry {
            idlength: fit(key.len(), "key length")?,
            datalength: fit(value.len(), "data length")?,
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
        let off = fit(off, "data offset")?;
        self.data_previous = off;
        Ok(off)
    }

    pub(super) fn append_index(&mut self, item: &mut IndexItem, key: &[u8]) -> io::Result<u32> {
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
        let off = fit(off, "index offset")?;
        self.index_previous = off;
        self.next_entry += 1;
        self.next_id += 1;
        Ok(off)
    }

    pub(super) fn sync_after_write(&mut self, index_first_done: bool) -> io::Result<()> {
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

    pub(super) fn sync_data_before_index(&mut self) -> io::Result<()> {
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
        let _waiting = nowait::Waiting::begin();
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
                    idlength: fit(key.len(), "key length").map_err(WriteError::Index)?,
                    offset: off,
                    length: fit(value.len(), "data length").map_err(WriteError::Index)?,
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
                    idlength: fit(SEQ_KEY_LEN, "key length").map_err(WriteError::Index)?,
                    offset: off,
                    length: fit(value.len(), "data length").map_err(WriteError::Index)?,
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
        let _waiting = nowait::Waiting::begin();
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
}
