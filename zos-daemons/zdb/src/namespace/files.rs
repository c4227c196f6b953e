//! File plumbing of a namespace: creating index/data files and the descriptor, the cache of
//! open files used for positioned reads and in-place flag writes, reading one index entry.

// What is written to disk must never be cut short silently.
#![warn(clippy::cast_possible_truncation)]

use super::*;

/// Replaces the namespace's descriptor whole (or fails and leaves the old one), durably.
pub fn write_descriptor(index_dir: &Path, d: &NsDescriptor) -> io::Result<()> {
    fs::create_dir_all(index_dir)?;
    zos_base::write_atomic(&index_dir.join(DESCRIPTOR_FILE), &d.encode()?, 0o644)
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

impl Namespace {
    pub(super) fn reader(&mut self, index: bool, id: u32) -> io::Result<&File> {
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

    pub(super) fn write_flag(&mut self, fileid: u32, idxoffset: u32, flags: u8) -> io::Result<()> {
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
        match nowait::read_exact_at(f, &mut hb, offset as u64) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let item = IndexItem::decode(&hb).map_err(io::Error::other)?;
        let mut key = vec![0u8; item.idlength as usize];
        match nowait::read_exact_at(f, &mut key, offset as u64 + INDEX_ITEM_LEN as u64) {
            Ok(()) => {
                self.io.index_read += (INDEX_ITEM_LEN + key.len()) as u64;
                Ok(Some((item, key)))
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) fn index_len(&mut self, fileid: u32) -> Option<u64> {
        if fileid == self.index_id {
            return Some(self.index_end);
        }
        self.reader(true, fileid)
            .ok()?
            .metadata()
            .ok()
            .map(|m| m.len())
    }
}
