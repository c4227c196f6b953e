//! Startup replay and torn-tail recovery: index files are replayed in order into the key map
//! (user mode) or counted (sequential mode); the active index's tail is checked against the data
//! files and cut back to the last entry whose data is complete and matches; a torn data tail is
//! cut back to the last complete entry.

use super::*;

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
        if end > len || e.datalength as usize > format::MAX_PAYLOAD {
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

impl Namespace {
    /// Walks the entries of index file `id` (contents in `buf`), cuts an incomplete trailing
    /// entry and, for the active file, trailing entries whose data is missing or whose payload
    /// CRC does not match (written to the index but not to the data file before a crash).
    pub(super) fn recover_index_tail(
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

    pub(super) fn unflag_parent(&mut self, id: u32, buf: &mut [u8], item: &IndexItem, key: &[u8]) {
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
    pub(super) fn validate_against_data(
        &mut self,
        dataid: u32,
        item: &IndexItem,
        key: &[u8],
    ) -> bool {
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

    pub(super) fn replay(&mut self, id: u32, buf: &[u8]) -> Result<(), NsError> {
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
}
