//! Read path: key lookup (hash map in user mode, one positioned slot read in sequential mode)
//! and payload reads that check the data entry header and key before returning bytes.

use super::*;

impl Namespace {
    /// Looks a live key up: O(1) in memory for user mode, one positioned read in seq mode.
    pub fn lookup(&mut self, key: &[u8]) -> Option<Entry> {
        match self.mode {
            Mode::User => self.keys.get(key).copied(),
            Mode::Seq => {
                let (id, fileid, off) = self.seq_locate(key)?;
                let _ = id;
                let mut hb = [0u8; INDEX_ITEM_LEN];
                let f = self.reader(true, fileid).ok()?;
                nowait::read_exact_at(f, &mut hb, off).ok()?;
                let item = IndexItem::decode(&hb).ok()?;
                if item.deleted() || item.idlength as usize != SEQ_KEY_LEN {
                    return None;
                }
                Some(Entry::from_item(self.mode, &item, fileid, off as u32))
            }
        }
    }

    pub(super) fn seq_locate(&self, key: &[u8]) -> Option<(u64, u32, u64)> {
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
    /// truncated data file) gives an error, never someone else's bytes. One read brings the
    /// header, key and payload (one system call per GET); the payload then moves into place.
    /// A length beyond [`format::MAX_PAYLOAD`] (a damaged index, or a HISTORY location inside
    /// an entry) is refused before anything is allocated.
    pub fn read_payload(&mut self, entry: &Entry, key: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let prefix = DATA_ENTRY_LEN + key.len();
        let len = entry.length as usize;
        if len > format::MAX_PAYLOAD {
            self.io.data_error(false);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("index entry claims a payload of {len} bytes"),
            ));
        }
        let f = self.reader(false, entry.dataid)?;
        let start = out.len();
        out.resize(start + prefix + len, 0);
        let read = nowait::read_exact_at(f, &mut out[start..], entry.offset as u64);
        let matches = |whole: &[u8]| {
            DataEntry::decode(&whole[..prefix]).is_ok_and(|h| {
                h.idlength as usize == key.len()
                    && h.datalength == entry.length
                    && &whole[DATA_ENTRY_LEN..prefix] == key
            })
        };
        match read {
            Ok(()) if matches(&out[start..]) => {
                out.copy_within(start + prefix.., start);
                out.truncate(start + len);
                self.io.data_read += (prefix + len) as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                out.truncate(start);
                Err(e)
            }
            _ => {
                out.truncate(start);
                self.io.data_error(false);
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "data entry does not match its index entry",
                ))
            }
        }
    }

    /// CHECK: re-reads the data entry and compares its CRC.
    pub fn check(&mut self, entry: &Entry) -> io::Result<bool> {
        let mut hb = [0u8; DATA_ENTRY_LEN];
        let f = self.reader(false, entry.dataid)?;
        nowait::read_exact_at(f, &mut hb, entry.offset as u64)?;
        let h = DataEntry::decode(&hb).map_err(io::Error::other)?;
        if h.datalength != entry.length || h.datalength as usize > format::MAX_PAYLOAD {
            return Ok(false);
        }
        let mut p = std::mem::take(&mut self.scratch);
        p.clear();
        p.resize(h.datalength as usize, 0);
        let f = self.reader(false, entry.dataid)?;
        let r = nowait::read_exact_at(
            f,
            &mut p,
            entry.offset as u64 + DATA_ENTRY_LEN as u64 + h.idlength as u64,
        );
        let ok = r.is_ok() && zdb_crc32(&p) == h.integrity;
        self.scratch = p;
        r.map(|_| ok)
    }

    pub(super) fn payload_equals(&mut self, entry: &Entry, key: &[u8], value: &[u8]) -> bool {
        if entry.length as usize != value.len() {
            return false;
        }
        let mut p = std::mem::take(&mut self.scratch);
        p.clear();
        let same = self.read_payload(entry, key, &mut p).is_ok() && p == value;
        self.scratch = p;
        same
    }
}
