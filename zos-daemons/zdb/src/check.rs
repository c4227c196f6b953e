//! Offline tools over a stopped server's directories (`zdb-check`): verify every index entry
//! against its data entry (and every data entry's CRC), and rebuild a namespace's index files
//! from its data files (the data files are the source of truth). Never run against a
//! directory a live server is using.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::crc::zdb_crc32;
use crate::format::{
    self, DataEntry, DataHeader, IndexHeader, IndexItem, Mode, NsDescriptor, DATA_ENTRY_LEN,
    DATA_HEADER_LEN, FLAG_DELETED, INDEX_HEADER_LEN, INDEX_ITEM_LEN, SEQ_KEY_LEN, SEQ_SLOT_LEN,
};
use crate::namespace::{data_path, index_path, DESCRIPTOR_FILE};

#[derive(Debug, Error)]
pub enum CheckError {
    #[error("{path}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}")]
    Format {
        path: PathBuf,
        source: format::FormatError,
    },
    #[error("namespace {0}: no data files")]
    NoData(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CheckError + '_ {
    move |source| CheckError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `verify` found in one namespace.
#[derive(Debug, Default, Clone)]
pub struct NsReport {
    pub name: String,
    pub index_files: u32,
    pub data_files: u32,
    pub index_entries: u64,
    pub live_entries: u64,
    pub data_entries: u64,
    pub problems: Vec<String>,
}

fn numbered_files(dir: &Path, prefix: &str) -> u32 {
    let mut n = 0;
    while dir.join(format!("{prefix}{n}")).exists() {
        n += 1;
    }
    n
}

/// Walks every data file: headers, entry framing, payload CRC of live entries.
fn verify_data(dir: &Path, r: &mut NsReport) -> Result<HashMap<u32, Vec<u8>>, CheckError> {
    let mut files = HashMap::new();
    for id in 0..r.data_files {
        let p = data_path(dir, id);
        let b = fs::read(&p).map_err(io_err(&p))?;
        match DataHeader::decode(&b) {
            Ok(h) if h.fileid == id => {}
            Ok(h) => r.problems.push(format!(
                "{}: header file id {} != {id}",
                p.display(),
                h.fileid
            )),
            Err(e) => {
                r.problems
                    .push(format!("{}: {e}", p.display(), e = zos_base::Report(&e)));
                files.insert(id, b);
                continue;
            }
        }
        let mut pos = DATA_HEADER_LEN;
        while pos < b.len() {
            let Ok(e) = DataEntry::decode(&b[pos..]) else {
                r.problems
                    .push(format!("{}: torn entry header at {pos}", p.display()));
                break;
            };
            let end = pos as u64 + e.total_len();
            if end > b.len() as u64 {
                r.problems
                    .push(format!("{}: torn entry at {pos}", p.display()));
                break;
            }
            let ps = pos + DATA_ENTRY_LEN + e.idlength as usize;
            if e.flags & FLAG_DELETED == 0 && zdb_crc32(&b[ps..end as usize]) != e.integrity {
                r.problems
                    .push(format!("{}: CRC mismatch at {pos}", p.display()));
            }
            r.data_entries += 1;
            pos = end as usize;
        }
        files.insert(id, b);
    }
    Ok(files)
}

/// Verifies one namespace directory pair.
pub fn verify_namespace(index_dir: &Path, data_dir: &Path) -> Result<NsReport, CheckError> {
    let mut r = NsReport {
        name: index_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        index_files: numbered_files(index_dir, "i"),
        data_files: numbered_files(data_dir, "d"),
        ..Default::default()
    };
    let dp = index_dir.join(DESCRIPTOR_FILE);
    match fs::read(&dp) {
        Ok(b) => {
            if let Err(e) = NsDescriptor::decode(&b) {
                r.problems
                    .push(format!("{}: {e}", dp.display(), e = zos_base::Report(&e)));
            }
        }
        Err(e) => r
            .problems
            .push(format!("{}: {e}", dp.display(), e = zos_base::Report(&e))),
    }
    let data = verify_data(data_dir, &mut r)?;
    let mode = fs::read(index_path(index_dir, 0))
        .ok()
        .and_then(|b| IndexHeader::decode(&b).ok())
        .and_then(|h| Mode::from_byte(h.mode).ok())
        .unwrap_or(Mode::User);
    for id in 0..r.index_files {
        let p = index_path(index_dir, id);
        let b = fs::read(&p).map_err(io_err(&p))?;
        if let Err(e) = IndexHeader::decode(&b) {
            r.problems
                .push(format!("{}: {e}", p.display(), e = zos_base::Report(&e)));
            continue;
        }
        let mut pos = INDEX_HEADER_LEN;
        while pos < b.len() {
            let Ok(item) = IndexItem::decode(&b[pos..]) else {
                r.problems
                    .push(format!("{}: torn entry at {pos}", p.display()));
                break;
            };
            let kend = pos + INDEX_ITEM_LEN + item.idlength as usize;
            if kend > b.len() {
                r.problems
                    .push(format!("{}: torn key at {pos}", p.display()));
                break;
            }
            let key = &b[pos + INDEX_ITEM_LEN..kend];
            r.index_entries += 1;
            if !item.deleted() {
                r.live_entries += 1;
                // User mode: the data file is the index file's twin (0-db stores 0 as dataid
                // for new keys and ignores the field on load).
                let dataid = if mode == Mode::User { id } else { item.dataid };
                match data.get(&dataid) {
                    None => r.problems.push(format!(
                        "{}@{pos}: data file d{dataid} missing",
                        p.display(),
                    )),
                    Some(d) => {
                        let o = item.offset as usize;
                        let ok = DataEntry::decode(d.get(o..).unwrap_or(&[]))
                            .ok()
                            .filter(|h| h.idlength as usize == key.len())
                            .filter(|h| h.datalength == item.length)
                            .and_then(|h| {
                                let ks = o + DATA_ENTRY_LEN;
                                let pe = ks + key.len() + h.datalength as usize;
                                d.get(ks..pe).map(|kp| (kp, h))
                            })
                            .map(|(kp, _)| {
                                &kp[..key.len()] == key && zdb_crc32(&kp[key.len()..]) == item.crc
                            })
                            .unwrap_or(false);
                        if !ok {
                            r.problems.push(format!(
                                "{}@{pos}: does not match d{dataid}@{}",
                                p.display(),
                                item.offset
                            ));
                        }
                    }
                }
            }
            pos = kend;
        }
    }
    Ok(r)
}

/// Verifies every namespace under the two roots.
pub fn verify(index_root: &Path, data_root: &Path) -> Result<Vec<NsReport>, CheckError> {
    let mut names: Vec<String> = fs::read_dir(index_root)
        .map_err(io_err(index_root))?
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| verify_namespace(&index_root.join(n), &data_root.join(n)))
        .collect()
}

/// Rebuilds the index files of one namespace from its data files. The old index files are
/// moved to `<index_dir>/rebuild-backup/`. `mode` is used when no readable `i0` tells it.
pub fn rebuild(index_dir: &Path, data_dir: &Path, mode: Mode) -> Result<u64, CheckError> {
    let i0 = index_path(index_dir, 0);
    let mode = fs::read(&i0)
        .ok()
        .and_then(|b| IndexHeader::decode(&b).ok())
        .and_then(|h| Mode::from_byte(h.mode).ok())
        .unwrap_or(mode);
    let ndata = numbered_files(data_dir, "d");
    if ndata == 0 {
        return Err(CheckError::NoData(index_dir.display().to_string()));
    }
    let mut out: Vec<Vec<u8>> = (0..ndata)
        .map(|id| {
            IndexHeader {
                fileid: id,
                mode: mode.to_byte(),
            }
            .encode()
            .to_vec()
        })
        .collect();
    // user mode: key -> (file, offset) of the live entry; seq: id -> (file, offset) of slot.
    let mut user: HashMap<Vec<u8>, (u32, usize)> = HashMap::new();
    let mut seq_slots: Vec<(u32, usize)> = Vec::new();
    let mut previous = 0u32;
    let mut written = 0u64;
    for id in 0..ndata {
        let p = data_path(data_dir, id);
        let b = fs::read(&p).map_err(io_err(&p))?;
        DataHeader::decode(&b).map_err(|source| CheckError::Format {
            path: p.clone(),
            source,
        })?;
        let mut pos = DATA_HEADER_LEN;
        while pos + DATA_ENTRY_LEN <= b.len() {
            let Ok(e) = DataEntry::decode(&b[pos..]) else {
                break;
            };
            let end = pos + e.total_len() as usize;
            if end > b.len() {
                break; // torn tail
            }
            let key = b[pos + DATA_ENTRY_LEN..pos + DATA_ENTRY_LEN + e.idlength as usize].to_vec();
            let payload = &b[pos + DATA_ENTRY_LEN + key.len()..end];
            let deleted = e.flags & FLAG_DELETED != 0;
            if !deleted && zdb_crc32(payload) != e.integrity {
                pos = end;
                continue; // corrupt payload: not indexed
            }
            let mut item = IndexItem {
                idlength: key.len() as u8,
                offset: pos as u32,
                length: e.datalength,
                previous,
                flags: 0,
                dataid: id,
                timestamp: e.timestamp,
                crc: e.integrity,
                parentid: 0,
                parentoff: 0,
            };
            let cur = id as usize;
            match mode {
                Mode::User => {
                    let old = user.get(&key).copied();
                    if let Some((of, oo)) = old {
                        out[of as usize][oo + 13] |= FLAG_DELETED;
                    }
                    if deleted {
                        user.remove(&key);
                    } else {
                        if let Some((of, oo)) = old {
                            item.parentid = of;
                            item.parentoff = oo as u32;
                        }
                        let at = out[cur].len();
                        out[cur].extend_from_slice(&item.encode());
                        out[cur].extend_from_slice(&key);
                        previous = at as u32;
                        user.insert(key, (id, at));
                        written += 1;
                    }
                }
                Mode::Seq => {
                    let Ok(kb) = <[u8; 8]>::try_from(key.as_slice()) else {
                        pos = end;
                        continue;
                    };
                    let sid = u64::from_le_bytes(kb) as usize;
                    if deleted {
                        if let Some(&(f, o)) = seq_slots.get(sid) {
                            out[f as usize][o + 13] |= FLAG_DELETED;
                        }
                    } else if sid == seq_slots.len() {
                        let at = out[cur].len();
                        out[cur].extend_from_slice(&item.encode());
                        out[cur].extend_from_slice(&key);
                        previous = at as u32;
                        seq_slots.push((id, at));
                        written += 1;
                    } else if let Some(&(f, o)) = seq_slots.get(sid) {
                        // Update: deleted copy of the old slot appended, slot overwritten.
                        let mut copy =
                            IndexItem::decode(&out[f as usize][o..]).map_err(|source| {
                                CheckError::Format {
                                    path: p.clone(),
                                    source,
                                }
                            })?;
                        let orig_prev = copy.previous;
                        copy.flags |= FLAG_DELETED;
                        copy.previous = previous;
                        let at = out[cur].len();
                        out[cur].extend_from_slice(&copy.encode());
                        out[cur].extend_from_slice(&key);
                        previous = at as u32;
                        seq_slots.push((id, at));
                        item.previous = orig_prev;
                        item.parentid = id;
                        item.parentoff = at as u32;
                        out[f as usize][o..o + INDEX_ITEM_LEN].copy_from_slice(&item.encode());
                        written += 1;
                    }
                    let _ = (SEQ_KEY_LEN, SEQ_SLOT_LEN);
                }
            }
            pos = end;
        }
    }
    let backup = index_dir.join("rebuild-backup");
    fs::create_dir_all(&backup).map_err(io_err(&backup))?;
    let mut n = 0;
    while index_path(index_dir, n).exists() {
        let from = index_path(index_dir, n);
        let to = backup.join(format!("i{n}"));
        fs::rename(&from, &to).map_err(io_err(&from))?;
        n += 1;
    }
    for (id, b) in out.iter().enumerate() {
        let p = index_path(index_dir, id as u32);
        fs::write(&p, b).map_err(io_err(&p))?;
    }
    Ok(written)
}
