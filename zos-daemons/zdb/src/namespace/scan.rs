//! Walking the index files: SCAN forwards and RSCAN backwards with 0-db's 17-byte cursors,
//! HISTORY versions, and DATA RAW reads of a data file.

use super::*;

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

impl Namespace {
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

    pub(super) fn last_offset_in(&mut self, fileid: u32) -> io::Result<Option<u32>> {
        let Some(len) = self.index_len(fileid) else {
            return Ok(None);
        };
        let mut off = INDEX_HEADER_LEN as u64;
        let mut last = None;
        let f = self.reader(true, fileid)?;
        let mut hb = [0u8; INDEX_ITEM_LEN];
        while off + INDEX_ITEM_LEN as u64 <= len {
            nowait::read_exact_at(f, &mut hb, off)?;
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
                    nowait::read_exact_at(f, &mut hb, o)?;
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

    /// HISTORY: the payload of the version whose index item (read with `read_index_item`) is
    /// at `fileid`/`offset`, appended to `out`. The caller checks `item.length` first: a
    /// location given by a client may be anywhere, so the length is only a claim.
    pub fn version_payload(
        &mut self,
        fileid: u32,
        offset: u32,
        item: &IndexItem,
        key: &[u8],
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        let e = Entry::from_item(self.mode, item, fileid, offset);
        self.read_payload(&e, key, out)
    }

    /// DATA RAW: the data entry at `offset` in `d<fileid>`.
    pub fn data_raw(&mut self, fileid: u32, offset: u64) -> Result<RawData, RawError> {
        let f = self.reader(false, fileid).map_err(|_| RawError::Invalid)?;
        let len = f.metadata().map_err(|_| RawError::Invalid)?.len();
        if offset + DATA_ENTRY_LEN as u64 > len {
            return Err(RawError::Eof);
        }
        let mut hb = [0u8; DATA_ENTRY_LEN];
        nowait::read_exact_at(f, &mut hb, offset).map_err(|_| RawError::Eof)?;
        let header = DataEntry::decode(&hb).map_err(|_| RawError::Invalid)?;
        if offset + header.total_len() > len || header.datalength as usize > format::MAX_PAYLOAD {
            return Err(RawError::Invalid);
        }
        let mut key = vec![0u8; header.idlength as usize];
        nowait::read_exact_at(f, &mut key, offset + DATA_ENTRY_LEN as u64)
            .map_err(|_| RawError::Invalid)?;
        let mut payload = vec![0u8; header.datalength as usize];
        nowait::read_exact_at(
            f,
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
}
