//! The 0-db v2 on-disk structures, byte for byte: index file header (29 bytes, `IDX0` v4), index
//! entry (34 bytes + key), data file header (28 bytes, `DAT0` v3), data entry (18 bytes + key +
//! payload), namespace descriptor (15 bytes + name + password), and the SCAN/HISTORY cursors.
//! All integers little-endian, structures packed. Pure encoding: this module does no I/O.

// What is written to disk must never be cut short silently.
#![warn(clippy::cast_possible_truncation)]

use thiserror::Error;

/// `value` as the narrower on-disk field `field`, or an error: a value that does not fit is
/// never written cut short (the callers' limits keep every real value in range).
pub fn fit<T, U>(value: U, field: &'static str) -> std::io::Result<T>
where
    T: TryFrom<U>,
    U: Copy + std::fmt::Display,
{
    T::try_from(value).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{value} does not fit the on-disk field {field}"),
        )
    })
}

pub const INDEX_MAGIC: &[u8; 4] = b"IDX0";
pub const INDEX_VERSION: u32 = 4;
pub const INDEX_HEADER_LEN: usize = 29;
pub const INDEX_ITEM_LEN: usize = 34;
pub const DATA_MAGIC: &[u8; 4] = b"DAT0";
pub const DATA_VERSION: u32 = 3;
pub const DATA_HEADER_LEN: usize = 28;
pub const DATA_ENTRY_LEN: usize = 18;
pub const NS_HEADER_LEN: usize = 15;
pub const NS_VERSION: u32 = 1;
pub const CURSOR_LEN: usize = 17;
pub const EKEY_LEN: usize = 8;
pub const SEQ_KEY_LEN: usize = 8;
/// Size of one sequential-mode index slot (entry + 8-byte id).
pub const SEQ_SLOT_LEN: usize = INDEX_ITEM_LEN + SEQ_KEY_LEN;

pub const FLAG_DELETED: u8 = 1;
pub const DATA_FLAG_TRUNCATED: u8 = 2;

pub const NS_FLAG_PUBLIC: u8 = 1;
pub const NS_FLAG_WORM: u8 = 2;
pub const NS_FLAG_EXTENDED: u8 = 4;

/// Index/runtime mode, as stored in the index header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    User,
    Seq,
}

impl Mode {
    pub fn to_byte(self) -> u8 {
        match self {
            Mode::User => 0,
            Mode::Seq => 1,
        }
    }

    /// Modes 2 (direct key) and 3 (direct block) are sequential layouts in 0-db.
    pub fn from_byte(b: u8) -> Result<Mode, FormatError> {
        match b {
            0 => Ok(Mode::User),
            1..=3 => Ok(Mode::Seq),
            other => Err(FormatError::BadMode(other)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::User => "userkey",
            Mode::Seq => "sequential",
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("bad magic {found:?}, expected {expected:?}")]
    BadMagic { found: [u8; 4], expected: [u8; 4] },
    #[error("unsupported version {found}, expected {expected}")]
    BadVersion { found: u32, expected: u32 },
    #[error("unknown index mode {0}")]
    BadMode(u8),
    #[error("structure truncated: need {need} bytes, have {have}")]
    Short { need: usize, have: usize },
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn need(b: &[u8], n: usize) -> Result<(), FormatError> {
    if b.len() < n {
        return Err(FormatError::Short {
            need: n,
            have: b.len(),
        });
    }
    Ok(())
}

/// Index file header. `created`/`opened` are always written as 0 (as 0-db does, so replicas
/// compare byte-equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexHeader {
    pub fileid: u32,
    pub mode: u8,
}

impl IndexHeader {
    pub fn encode(&self) -> [u8; INDEX_HEADER_LEN] {
        let mut b = [0u8; INDEX_HEADER_LEN];
        b[0..4].copy_from_slice(INDEX_MAGIC);
        b[4..8].copy_from_slice(&INDEX_VERSION.to_le_bytes());
        b[24..28].copy_from_slice(&self.fileid.to_le_bytes());
        b[28] = self.mode;
        b
    }

    pub fn decode(b: &[u8]) -> Result<IndexHeader, FormatError> {
        need(b, INDEX_HEADER_LEN)?;
        let magic = [b[0], b[1], b[2], b[3]];
        if &magic != INDEX_MAGIC {
            return Err(FormatError::BadMagic {
                found: magic,
                expected: *INDEX_MAGIC,
            });
        }
        let version = u32_at(b, 4);
        if version != INDEX_VERSION {
            return Err(FormatError::BadVersion {
                found: version,
                expected: INDEX_VERSION,
            });
        }
        Ok(IndexHeader {
            fileid: u32_at(b, 24),
            mode: b[28],
        })
    }
}

/// One index entry without its key (the key follows on disk, `idlength` bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexItem {
    pub idlength: u8,
    /// Offset of the data entry header in data file `dataid`.
    pub offset: u32,
    /// Payload length.
    pub length: u32,
    /// Index offset of the previously appended entry (RSCAN chain).
    pub previous: u32,
    pub flags: u8,
    pub dataid: u32,
    pub timestamp: u32,
    pub crc: u32,
    pub parentid: u32,
    pub parentoff: u32,
}

impl IndexItem {
    pub fn encode(&self) -> [u8; INDEX_ITEM_LEN] {
        let mut b = [0u8; INDEX_ITEM_LEN];
        b[0] = self.idlength;
        b[1..5].copy_from_slice(&self.offset.to_le_bytes());
        b[5..9].copy_from_slice(&self.length.to_le_bytes());
        b[9..13].copy_from_slice(&self.previous.to_le_bytes());
        b[13] = self.flags;
        b[14..18].copy_from_slice(&self.dataid.to_le_bytes());
        b[18..22].copy_from_slice(&self.timestamp.to_le_bytes());
        b[22..26].copy_from_slice(&self.crc.to_le_bytes());
        b[26..30].copy_from_slice(&self.parentid.to_le_bytes());
        b[30..34].copy_from_slice(&self.parentoff.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<IndexItem, FormatError> {
        need(b, INDEX_ITEM_LEN)?;
        Ok(IndexItem {
            idlength: b[0],
            offset: u32_at(b, 1),
            length: u32_at(b, 5),
            previous: u32_at(b, 9),
            flags: b[13],
            dataid: u32_at(b, 14),
            timestamp: u32_at(b, 18),
            crc: u32_at(b, 22),
            parentid: u32_at(b, 26),
            parentoff: u32_at(b, 30),
        })
    }

    pub fn deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }

    /// Byte offset of the flags field inside an entry (for in-place delete flagging).
    pub const FLAGS_OFFSET: u64 = 13;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataHeader {
    pub fileid: u32,
}

impl DataHeader {
    pub fn encode(&self) -> [u8; DATA_HEADER_LEN] {
        let mut b = [0u8; DATA_HEADER_LEN];
        b[0..4].copy_from_slice(DATA_MAGIC);
        b[4..8].copy_from_slice(&DATA_VERSION.to_le_bytes());
        b[24..28].copy_from_slice(&self.fileid.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<DataHeader, FormatError> {
        need(b, DATA_HEADER_LEN)?;
        let magic = [b[0], b[1], b[2], b[3]];
        if &magic != DATA_MAGIC {
            return Err(FormatError::BadMagic {
                found: magic,
                expected: *DATA_MAGIC,
            });
        }
        let version = u32_at(b, 4);
        if version != DATA_VERSION {
            return Err(FormatError::BadVersion {
                found: version,
                expected: DATA_VERSION,
            });
        }
        Ok(DataHeader {
            fileid: u32_at(b, 24),
        })
    }
}

/// A data entry header; key then payload follow on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataEntry {
    pub idlength: u8,
    pub datalength: u32,
    pub previous: u32,
    pub integrity: u32,
    pub flags: u8,
    pub timestamp: u32,
}

impl DataEntry {
    pub fn encode(&self) -> [u8; DATA_ENTRY_LEN] {
        let mut b = [0u8; DATA_ENTRY_LEN];
        b[0] = self.idlength;
        b[1..5].copy_from_slice(&self.datalength.to_le_bytes());
        b[5..9].copy_from_slice(&self.previous.to_le_bytes());
        b[9..13].copy_from_slice(&self.integrity.to_le_bytes());
        b[13] = self.flags;
        b[14..18].copy_from_slice(&self.timestamp.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<DataEntry, FormatError> {
        need(b, DATA_ENTRY_LEN)?;
        Ok(DataEntry {
            idlength: b[0],
            datalength: u32_at(b, 1),
            previous: u32_at(b, 5),
            integrity: u32_at(b, 9),
            flags: b[13],
            timestamp: u32_at(b, 14),
        })
    }

    /// Total on-disk size of this entry (header + key + payload).
    pub fn total_len(&self) -> u64 {
        DATA_ENTRY_LEN as u64 + self.idlength as u64 + self.datalength as u64
    }
}

/// The `zdb-namespace` descriptor. The password is stored in plain text, as 0-db does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsDescriptor {
    pub name: Vec<u8>,
    pub password: Option<Vec<u8>>,
    pub maxsize: u64,
    pub public: bool,
    pub worm: bool,
}

impl NsDescriptor {
    pub fn encode(&self) -> std::io::Result<Vec<u8>> {
        let pass = self.password.as_deref().unwrap_or(&[]);
        let mut b = Vec::with_capacity(NS_HEADER_LEN + self.name.len() + pass.len());
        b.extend_from_slice(&NS_VERSION.to_le_bytes());
        b.push(fit(self.name.len(), "namespace name length")?);
        b.push(fit(pass.len(), "namespace password length")?);
        b.extend_from_slice(&self.maxsize.to_le_bytes());
        let mut flags = NS_FLAG_EXTENDED;
        if self.public {
            flags |= NS_FLAG_PUBLIC;
        }
        if self.worm {
            flags |= NS_FLAG_WORM;
        }
        b.push(flags);
        b.extend_from_slice(&self.name);
        b.extend_from_slice(pass);
        Ok(b)
    }

    pub fn decode(b: &[u8]) -> Result<NsDescriptor, FormatError> {
        need(b, NS_HEADER_LEN)?;
        let version = u32_at(b, 0);
        if version != NS_VERSION {
            return Err(FormatError::BadVersion {
                found: version,
                expected: NS_VERSION,
            });
        }
        let namelen = b[4] as usize;
        let passlen = b[5] as usize;
        let maxsize = u64_at(b, 6);
        let flags = b[14];
        need(b, NS_HEADER_LEN + namelen + passlen)?;
        let name = b[NS_HEADER_LEN..NS_HEADER_LEN + namelen].to_vec();
        let pw = &b[NS_HEADER_LEN + namelen..NS_HEADER_LEN + namelen + passlen];
        Ok(NsDescriptor {
            name,
            password: if passlen > 0 { Some(pw.to_vec()) } else { None },
            maxsize,
            public: flags & NS_FLAG_PUBLIC != 0,
            worm: flags & NS_FLAG_WORM != 0,
        })
    }
}

/// SCAN/KEYCUR cursor: {idlength u8, index fileid u32, length u32, index offset u32, crc u32}.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub idlength: u8,
    pub fileid: u32,
    pub length: u32,
    pub idxoffset: u32,
    pub crc: u32,
}

impl Cursor {
    pub fn encode(&self) -> [u8; CURSOR_LEN] {
        let mut b = [0u8; CURSOR_LEN];
        b[0] = self.idlength;
        b[1..5].copy_from_slice(&self.fileid.to_le_bytes());
        b[5..9].copy_from_slice(&self.length.to_le_bytes());
        b[9..13].copy_from_slice(&self.idxoffset.to_le_bytes());
        b[13..17].copy_from_slice(&self.crc.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<Cursor> {
        if b.len() != CURSOR_LEN {
            return None;
        }
        Some(Cursor {
            idlength: b[0],
            fileid: u32_at(b, 1),
            length: u32_at(b, 5),
            idxoffset: u32_at(b, 9),
            crc: u32_at(b, 13),
        })
    }
}

/// HISTORY key: {index fileid u32, index offset u32}.
pub fn encode_ekey(fileid: u32, offset: u32) -> [u8; EKEY_LEN] {
    let mut b = [0u8; EKEY_LEN];
    b[0..4].copy_from_slice(&fileid.to_le_bytes());
    b[4..8].copy_from_slice(&offset.to_le_bytes());
    b
}

pub fn decode_ekey(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() != EKEY_LEN {
        return None;
    }
    Some((u32_at(b, 0), u32_at(b, 4)))
}

/// Offset of sequential slot `relative` inside its index file.
pub fn seq_slot_offset(relative: u64) -> u64 {
    INDEX_HEADER_LEN as u64 + relative * SEQ_SLOT_LEN as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_item_roundtrip_and_layout() {
        let it = IndexItem {
            idlength: 3,
            offset: 0x0102_0304,
            length: 5,
            previous: 29,
            flags: 1,
            dataid: 7,
            timestamp: 1_700_000_000,
            crc: 0xdead_beef,
            parentid: 2,
            parentoff: 99,
        };
        let b = it.encode();
        assert_eq!(b[0], 3);
        assert_eq!(&b[1..5], &[4, 3, 2, 1]);
        assert_eq!(b[13], 1);
        assert_eq!(IndexItem::decode(&b).unwrap(), it);
    }

    #[test]
    fn headers_roundtrip() {
        let h = IndexHeader { fileid: 5, mode: 1 };
        let b = h.encode();
        assert_eq!(&b[0..4], b"IDX0");
        assert_eq!(IndexHeader::decode(&b).unwrap(), h);
        let d = DataHeader { fileid: 9 };
        assert_eq!(DataHeader::decode(&d.encode()).unwrap(), d);
        assert!(DataHeader::decode(&h.encode()[..28]).is_err());
    }

    #[test]
    fn descriptor_roundtrip() {
        let d = NsDescriptor {
            name: b"hello".to_vec(),
            password: Some(b"pw".to_vec()),
            maxsize: 1 << 33,
            public: false,
            worm: true,
        };
        let b = d.encode().unwrap();
        assert_eq!(b.len(), 15 + 5 + 2);
        assert_eq!(b[14], NS_FLAG_EXTENDED | NS_FLAG_WORM);
        assert_eq!(NsDescriptor::decode(&b).unwrap(), d);
    }

    #[test]
    fn cursor_roundtrip() {
        let c = Cursor {
            idlength: 4,
            fileid: 1,
            length: 10,
            idxoffset: 29,
            crc: 3,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode(&[0u8; 16]), None);
        assert_eq!(seq_slot_offset(2), 29 + 84);
    }
}
