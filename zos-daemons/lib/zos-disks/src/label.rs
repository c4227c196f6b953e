//! Filesystem signatures and labels in the first bytes of a device: the one label reader of
//! the node (noded looks for the boot label, storaged for its pool and cache labels and for
//! data it did not write).
//!
//! Recognised, in this order (the first signature found wins): btrfs, ext2/3/4, ISO 9660,
//! FAT32, FAT12/16.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Offset of the btrfs primary superblock, and of its fields.
pub(crate) const BTRFS_SUPER: usize = 0x10000;
pub(crate) const BTRFS_MAGIC_AT: usize = 0x40;
pub(crate) const BTRFS_LABEL_AT: usize = 0x12b;
const BTRFS_LABEL_LEN: usize = 256;

/// Bytes from the start of a device that hold every signature and label we know (the btrfs
/// label, at the end of the primary superblock's first 0x22b bytes, comes last).
pub const LABEL_PROBE_LEN: usize = BTRFS_SUPER + BTRFS_LABEL_AT + BTRFS_LABEL_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    Btrfs,
    /// ext2, ext3 or ext4.
    Ext,
    Iso9660,
    /// FAT12, FAT16 or FAT32.
    Fat,
}

/// A filesystem found at the start of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filesystem {
    pub kind: FsKind,
    /// `None` when unlabelled. btrfs labels are taken as written (up to the first NUL); the
    /// others without their NUL/space padding, and FAT's "NO NAME" is no label.
    pub label: Option<String>,
}

/// The filesystem whose first bytes are `buf`, if it is one we know.
pub fn filesystem_in(buf: &[u8]) -> Option<Filesystem> {
    let at = |start: usize, len: usize| buf.get(start..start + len);
    let found = |kind, label| Some(Filesystem { kind, label });
    // btrfs: superblock at 64 KiB, magic at +0x40, label (NUL-terminated) at +0x12b.
    if let Some(sb) = at(BTRFS_SUPER, BTRFS_LABEL_AT + BTRFS_LABEL_LEN) {
        if &sb[BTRFS_MAGIC_AT..BTRFS_MAGIC_AT + 8] == b"_BHRfS_M" {
            let raw = &sb[BTRFS_LABEL_AT..];
            let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
            let label = String::from_utf8_lossy(&raw[..end]).into_owned();
            return found(FsKind::Btrfs, (!label.is_empty()).then_some(label));
        }
    }
    // ext2/3/4: superblock at 1024, magic 0xEF53 at +56, volume name at +120 (16 bytes).
    if at(1024 + 56, 2) == Some(&[0x53, 0xEF]) {
        return found(FsKind::Ext, at(1024 + 120, 16).and_then(clean));
    }
    // ISO 9660: primary volume descriptor at 0x8000, "CD001" at +1, volume id at +40.
    if at(0x8001, 5) == Some(b"CD001") {
        return found(FsKind::Iso9660, at(0x8028, 32).and_then(clean));
    }
    // FAT32: "FAT32   " at 0x52, label at 0x47 (11 bytes).
    if at(0x52, 8) == Some(b"FAT32   ") {
        return found(FsKind::Fat, at(0x47, 11).and_then(clean));
    }
    // FAT12/16: "FAT1x   " at 0x36, label at 0x2B (11 bytes).
    if at(0x36, 4) == Some(b"FAT1") {
        return found(FsKind::Fat, at(0x2B, 11).and_then(clean));
    }
    None
}

/// The label of the filesystem whose first bytes are `buf`.
pub fn label_in(buf: &[u8]) -> Option<String> {
    filesystem_in(buf)?.label
}

/// The label of the btrfs whose first bytes are `head` (empty when unlabelled); `None` when it
/// is not btrfs.
pub fn btrfs_label(head: &[u8]) -> Option<String> {
    match filesystem_in(head)? {
        Filesystem {
            kind: FsKind::Btrfs,
            label,
        } => Some(label.unwrap_or_default()),
        _ => None,
    }
}

/// The first [`LABEL_PROBE_LEN`] bytes (fewer when the device is shorter) of the device or
/// image at `path`: enough for [`filesystem_in`], [`label_in`] and [`btrfs_label`].
fn read_head(path: &Path) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(LABEL_PROBE_LEN);
    File::open(path)?
        .take(LABEL_PROBE_LEN as u64)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// The filesystem label of the device or image at `path`, if its filesystem is one we know.
/// Reads at most [`LABEL_PROBE_LEN`] bytes.
pub fn read_label(path: &Path) -> io::Result<Option<String>> {
    Ok(label_in(&read_head(path)?))
}

fn clean(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
    (!text.is_empty() && text != "NO NAME").then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        btrfs_with_label, ext4_with_label, fat16_with_label, fat32_with_label, iso_with_label,
    };

    #[test]
    fn labels_of_known_filesystems() {
        assert_eq!(
            label_in(&fat32_with_label("ZOSBOOT")).as_deref(),
            Some("ZOSBOOT")
        );
        assert_eq!(
            label_in(&fat16_with_label("ZOSBOOT")).as_deref(),
            Some("ZOSBOOT")
        );
        assert_eq!(
            label_in(&ext4_with_label("zosboot")).as_deref(),
            Some("zosboot")
        );
        assert_eq!(
            label_in(&iso_with_label("ZOSBOOT")).as_deref(),
            Some("ZOSBOOT")
        );
        assert_eq!(
            label_in(&btrfs_with_label("zos-pool-ssd-1a2b3c4d")).as_deref(),
            Some("zos-pool-ssd-1a2b3c4d")
        );
        assert_eq!(label_in(&fat32_with_label("NO NAME")), None);
        assert_eq!(label_in(&[0u8; 8192]), None);
        assert_eq!(label_in(&[]), None);
    }

    #[test]
    fn kinds_of_known_filesystems() {
        let kind = |buf: &[u8]| filesystem_in(buf).map(|f| f.kind);
        assert_eq!(kind(&btrfs_with_label("x")), Some(FsKind::Btrfs));
        assert_eq!(kind(&ext4_with_label("")), Some(FsKind::Ext));
        assert_eq!(kind(&iso_with_label("x")), Some(FsKind::Iso9660));
        assert_eq!(kind(&fat32_with_label("x")), Some(FsKind::Fat));
        assert_eq!(kind(&fat16_with_label("x")), Some(FsKind::Fat));
        // An unlabelled ext4 is still an ext4.
        assert_eq!(
            filesystem_in(&ext4_with_label("")),
            Some(Filesystem {
                kind: FsKind::Ext,
                label: None
            })
        );
    }

    #[test]
    fn btrfs_labels() {
        assert_eq!(
            btrfs_label(&btrfs_with_label("zos-cache")).as_deref(),
            Some("zos-cache")
        );
        // Unlabelled btrfs: an empty label, not "not btrfs".
        assert_eq!(btrfs_label(&btrfs_with_label("")).as_deref(), Some(""));
        assert_eq!(btrfs_label(&ext4_with_label("zos-cache")), None);
        assert_eq!(
            btrfs_label(&btrfs_with_label("data")).as_deref(),
            Some("data")
        );
        // Zeros, or too short to hold the superblock: not btrfs.
        assert_eq!(btrfs_label(&[0u8; 4 << 20]), None);
        assert_eq!(btrfs_label(&[0u8; 1000]), None);
        let short = btrfs_with_label("zos-cache");
        assert_eq!(btrfs_label(&short[..BTRFS_SUPER + 0x100]), None);
    }

    #[test]
    fn read_label_reads_far_enough_for_btrfs() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("img");
        let mut content = btrfs_with_label("zos-pool-hdd-00000001");
        content.resize(4 << 20, 0);
        std::fs::write(&image, &content).unwrap();
        assert_eq!(
            read_label(&image).unwrap().as_deref(),
            Some("zos-pool-hdd-00000001")
        );
        let head = read_head(&image).unwrap();
        assert_eq!(head.len(), LABEL_PROBE_LEN);
        assert_eq!(btrfs_label(&head).as_deref(), Some("zos-pool-hdd-00000001"));
        assert!(read_label(&dir.path().join("missing")).is_err());
        assert!(read_head(&dir.path().join("missing")).is_err());
    }
}
