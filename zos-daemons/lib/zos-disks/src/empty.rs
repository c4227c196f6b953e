//! The one emptiness check of the node: is a whole disk blank, so that it may be formatted
//! (storaged's pools)? Read-only: it only reads the device.
//!
//! A disk is empty when its first MiB, its last MiB and the 64 KiB btrfs primary superblock
//! area are all zero bytes. Anything else (a partition table, a filesystem signature, any
//! stray byte in those areas) is data, and so is a device shorter than its size claims (a
//! short read): a disk that cannot be shown to be blank is never "empty".

use std::io::{self, Read, Seek, SeekFrom};

use crate::label::BTRFS_SUPER;

/// Bytes at the start and at the end of a disk that must all be zero.
pub const EMPTY_SPAN: u64 = 1 << 20;
/// The btrfs superblock area that must be zero as well (inside the first MiB on any disk large
/// enough, checked separately so a smaller device is judged by it too).
pub const SUPERBLOCK_SPAN: u64 = 64 * 1024;

/// True if the first and last MiB and the 64 KiB superblock area of the `size`-byte device
/// `dev` are all zero; false on a short read.
pub fn is_empty(dev: &mut (impl Read + Seek), size: u64) -> io::Result<bool> {
    let superblock = BTRFS_SUPER as u64;
    let spans = [
        (0, EMPTY_SPAN.min(size)),
        (
            superblock,
            SUPERBLOCK_SPAN.min(size.saturating_sub(superblock)),
        ),
        (size.saturating_sub(EMPTY_SPAN), EMPTY_SPAN.min(size)),
    ];
    let mut buf = vec![0u8; EMPTY_SPAN as usize];
    for (start, len) in spans {
        let chunk = &mut buf[..len as usize];
        dev.seek(SeekFrom::Start(start))?;
        let n = read_full(dev, chunk)?;
        if n < chunk.len() || chunk.iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::btrfs_with_label;
    use std::fs::File;
    use std::io::{Cursor, Write};

    #[test]
    fn emptiness_on_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        let size = 8u64 << 20;
        let f = File::create(&path).unwrap();
        f.set_len(size).unwrap();
        assert!(is_empty(&mut File::open(&path).unwrap(), size).unwrap());
        // An MBR signature, a byte in the superblock area, a byte at the very end: all "data".
        for offset in [510u64, BTRFS_SUPER as u64 + 100, size - 1, 700_000] {
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.write_all(&[0x55]).unwrap();
            assert!(
                !is_empty(&mut File::open(&path).unwrap(), size).unwrap(),
                "offset {offset}"
            );
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.write_all(&[0]).unwrap();
        }
        assert!(is_empty(&mut File::open(&path).unwrap(), size).unwrap());
        // A disk smaller than it claims is not "empty".
        assert!(!is_empty(&mut File::open(&path).unwrap(), size * 2).unwrap());
        let mut btrfs = btrfs_with_label("");
        btrfs.resize(4 << 20, 0);
        assert!(!is_empty(&mut Cursor::new(btrfs), 4 << 20).unwrap());
    }

    #[test]
    fn small_devices_are_judged_by_what_they_have() {
        // Smaller than the superblock offset: only the (overlapping) ends are read.
        assert!(is_empty(&mut Cursor::new(vec![0u8; 4096]), 4096).unwrap());
        assert!(!is_empty(&mut Cursor::new(vec![1u8; 4096]), 4096).unwrap());
        // A byte in the superblock area of a device smaller than two MiB.
        let mut img = vec![0u8; 1 << 20];
        img[BTRFS_SUPER + 10] = 1;
        assert!(!is_empty(&mut Cursor::new(img), 1 << 20).unwrap());
        assert!(is_empty(&mut Cursor::new(Vec::new()), 0).unwrap());
    }
}
