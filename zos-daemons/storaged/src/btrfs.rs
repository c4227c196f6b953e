//! The few btrfs operations storaged needs, as ioctls on open file descriptors.
//!
//! Why ioctls: there is no well-kept pure-Rust btrfs crate, `libbtrfsutil` is C (it would break
//! the static musl build), and running the `btrfs` tool per call costs a process start. The
//! structures below are copies of `linux/btrfs.h` and `linux/btrfs_tree.h` (stable kernel ABI);
//! every `unsafe` block is one ioctl call on a file descriptor we own, with a buffer of the size
//! the ioctl number encodes. Formatting a disk stays with `mkfs.btrfs` (see `pool`).
//!
//! This module only touches the paths it is given; it knows nothing about pools or names.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BtrfsError {
    #[error("cannot open {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{op} on {path} failed")]
    Ioctl {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("name {0:?} is too long for btrfs")]
    NameTooLong(String),
    #[error("{path} has no quota group (quotas not enabled on its filesystem?)")]
    NoQgroup { path: PathBuf },
}

const BTRFS_IOCTL_MAGIC: u8 = 0x94;
const BTRFS_PATH_NAME_MAX: usize = 4087;
const BTRFS_FIRST_FREE_OBJECTID: u64 = 256;
const BTRFS_QUOTA_TREE_OBJECTID: u64 = 8;
const BTRFS_QGROUP_INFO_KEY: u32 = 242;
const BTRFS_QGROUP_LIMIT_KEY: u32 = 244;
const BTRFS_QUOTA_CTL_ENABLE: u64 = 1;
const BTRFS_QGROUP_LIMIT_MAX_RFER: u64 = 1;
/// `FS_NOCOW_FL` of `linux/fs.h`.
const FS_NOCOW_FL: libc::c_int = 0x0080_0000;

/// `struct btrfs_ioctl_vol_args`.
#[repr(C)]
struct VolArgs {
    fd: i64,
    name: [u8; BTRFS_PATH_NAME_MAX + 1],
}

/// `struct btrfs_ioctl_ino_lookup_args`.
#[repr(C)]
struct InoLookupArgs {
    treeid: u64,
    objectid: u64,
    name: [u8; 4080],
}

/// `struct btrfs_ioctl_search_key`.
#[repr(C)]
#[derive(Default)]
struct SearchKey {
    tree_id: u64,
    min_objectid: u64,
    max_objectid: u64,
    min_offset: u64,
    max_offset: u64,
    min_transid: u64,
    max_transid: u64,
    min_type: u32,
    max_type: u32,
    nr_items: u32,
    unused: u32,
    unused1: u64,
    unused2: u64,
    unused3: u64,
    unused4: u64,
}

const SEARCH_BUF_SIZE: usize = 4096 - std::mem::size_of::<SearchKey>();
/// `struct btrfs_ioctl_search_header`: transid, objectid, offset (u64), type, len (u32).
const SEARCH_HEADER_LEN: usize = 32;

/// `struct btrfs_ioctl_search_args`.
#[repr(C)]
struct SearchArgs {
    key: SearchKey,
    buf: [u8; SEARCH_BUF_SIZE],
}

/// `struct btrfs_ioctl_quota_ctl_args`.
#[repr(C)]
struct QuotaCtlArgs {
    cmd: u64,
    status: u64,
}

/// `struct btrfs_qgroup_limit`.
#[repr(C)]
struct QgroupLimit {
    flags: u64,
    max_rfer: u64,
    max_excl: u64,
    rsv_rfer: u64,
    rsv_excl: u64,
}

/// `struct btrfs_ioctl_qgroup_limit_args`.
#[repr(C)]
struct QgroupLimitArgs {
    qgroupid: u64,
    lim: QgroupLimit,
}

mod sys {
    use super::*;
    nix::ioctl_write_ptr!(subvol_create, BTRFS_IOCTL_MAGIC, 14, VolArgs);
    nix::ioctl_write_ptr!(snap_destroy, BTRFS_IOCTL_MAGIC, 15, VolArgs);
    nix::ioctl_readwrite!(tree_search, BTRFS_IOCTL_MAGIC, 17, SearchArgs);
    nix::ioctl_readwrite!(ino_lookup, BTRFS_IOCTL_MAGIC, 18, InoLookupArgs);
    nix::ioctl_readwrite!(quota_ctl, BTRFS_IOCTL_MAGIC, 40, QuotaCtlArgs);
    // The kernel declares this one _IOR although it reads the argument.
    nix::ioctl_read!(qgroup_limit, BTRFS_IOCTL_MAGIC, 43, QgroupLimitArgs);
    nix::ioctl_none!(sync, BTRFS_IOCTL_MAGIC, 8);
    // FS_IOC_GETFLAGS / FS_IOC_SETFLAGS encode sizeof(long) but transfer an int.
    nix::ioctl_read_bad!(
        get_flags,
        nix::request_code_read!(b'f', 1, std::mem::size_of::<libc::c_long>()),
        libc::c_int
    );
    nix::ioctl_write_ptr_bad!(
        set_flags,
        nix::request_code_write!(b'f', 2, std::mem::size_of::<libc::c_long>()),
        libc::c_int
    );
}

/// Quota numbers of one subvolume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qgroup {
    /// Bytes referenced.
    pub referenced: u64,
    /// The referenced-bytes limit; `None` when unlimited.
    pub limit: Option<u64>,
}

fn open(path: &Path) -> Result<File, BtrfsError> {
    File::open(path).map_err(|source| BtrfsError::Open {
        path: path.to_path_buf(),
        source,
    })
}

fn vol_args(name: &OsStr) -> Result<Box<VolArgs>, BtrfsError> {
    let bytes = name.as_bytes();
    if bytes.len() > BTRFS_PATH_NAME_MAX {
        return Err(BtrfsError::NameTooLong(name.to_string_lossy().into_owned()));
    }
    let mut args = Box::new(VolArgs {
        fd: 0,
        name: [0; BTRFS_PATH_NAME_MAX + 1],
    });
    args.name[..bytes.len()].copy_from_slice(bytes);
    Ok(args)
}

fn split(path: &Path) -> Result<(File, &OsStr), BtrfsError> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().ok_or_else(|| BtrfsError::Open {
        path: path.to_path_buf(),
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    Ok((open(parent)?, name))
}

fn ioctl_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> BtrfsError + 'a {
    move |source| BtrfsError::Ioctl {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates subvolume `path` (its parent must be on btrfs).
pub fn create_subvolume(path: &Path) -> Result<(), BtrfsError> {
    let (dir, name) = split(path)?;
    let args = vol_args(name)?;
    // SAFETY: `dir` is an open directory; `args` is a full `btrfs_ioctl_vol_args` the kernel
    // only reads, alive for the call.
    unsafe { sys::subvol_create(dir.as_raw_fd(), &*args) }
        .map_err(ioctl_error("BTRFS_IOC_SUBVOL_CREATE", path))?;
    Ok(())
}

/// Deletes subvolume `path` with everything in it.
pub fn delete_subvolume(path: &Path) -> Result<(), BtrfsError> {
    let (dir, name) = split(path)?;
    let args = vol_args(name)?;
    // SAFETY: as in `create_subvolume`; the kernel only reads `args`.
    unsafe { sys::snap_destroy(dir.as_raw_fd(), &*args) }
        .map_err(ioctl_error("BTRFS_IOC_SNAP_DESTROY", path))?;
    Ok(())
}

/// Whether `path` is the root of a subvolume (its inode number is 256).
pub fn is_subvolume(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .map(|m| m.is_dir() && m.ino() == BTRFS_FIRST_FREE_OBJECTID)
        .unwrap_or(false)
}

/// The id of the subvolume `path` is in.
pub fn subvolume_id(path: &Path) -> Result<u64, BtrfsError> {
    let file = open(path)?;
    let mut args = Box::new(InoLookupArgs {
        treeid: 0,
        objectid: BTRFS_FIRST_FREE_OBJECTID,
        name: [0; 4080],
    });
    // SAFETY: `file` is open; `args` is a full `btrfs_ioctl_ino_lookup_args` the kernel reads
    // and writes, alive for the call.
    unsafe { sys::ino_lookup(file.as_raw_fd(), &mut *args) }
        .map_err(ioctl_error("BTRFS_IOC_INO_LOOKUP", path))?;
    Ok(args.treeid)
}

/// Turns quotas on for the filesystem at `path` (a no-op when they are on).
pub fn enable_quota(path: &Path) -> Result<(), BtrfsError> {
    let file = open(path)?;
    let mut args = QuotaCtlArgs {
        cmd: BTRFS_QUOTA_CTL_ENABLE,
        status: 0,
    };
    // SAFETY: `file` is open; `args` is a `btrfs_ioctl_quota_ctl_args` alive for the call.
    unsafe { sys::quota_ctl(file.as_raw_fd(), &mut args) }
        .map_err(ioctl_error("BTRFS_IOC_QUOTA_CTL", path))?;
    Ok(())
}

/// Limits the bytes subvolume `path` may reference to `bytes`.
pub fn set_limit(path: &Path, bytes: u64) -> Result<(), BtrfsError> {
    let id = subvolume_id(path)?;
    let file = open(path)?;
    let mut args = QgroupLimitArgs {
        qgroupid: id,
        lim: QgroupLimit {
            flags: BTRFS_QGROUP_LIMIT_MAX_RFER,
            max_rfer: bytes,
            max_excl: 0,
            rsv_rfer: 0,
            rsv_excl: 0,
        },
    };
    // SAFETY: `file` is open; `args` is a `btrfs_ioctl_qgroup_limit_args` alive for the call.
    unsafe { sys::qgroup_limit(file.as_raw_fd(), &mut args) }
        .map_err(ioctl_error("BTRFS_IOC_QGROUP_LIMIT", path))?;
    Ok(())
}

/// Commits the current transaction of the filesystem at `path` (quota numbers are exact after).
pub fn sync(path: &Path) -> Result<(), BtrfsError> {
    let file = open(path)?;
    // SAFETY: `file` is open; the ioctl takes no argument.
    unsafe { sys::sync(file.as_raw_fd()) }.map_err(ioctl_error("BTRFS_IOC_SYNC", path))?;
    Ok(())
}

/// Usage and limit of subvolume `path`, read from the quota tree.
pub fn qgroup(path: &Path) -> Result<Qgroup, BtrfsError> {
    let id = subvolume_id(path)?;
    let file = open(path)?;
    let info = search_quota_item(&file, path, BTRFS_QGROUP_INFO_KEY, id)?.ok_or_else(|| {
        BtrfsError::NoQgroup {
            path: path.to_path_buf(),
        }
    })?;
    let limit = search_quota_item(&file, path, BTRFS_QGROUP_LIMIT_KEY, id)?;
    // btrfs_qgroup_info_item: generation, rfer, rfer_cmpr, excl, excl_cmpr (le64).
    let referenced = le64(&info, 1).unwrap_or(0);
    // btrfs_qgroup_limit_item: flags, max_rfer, max_excl, rsv_rfer, rsv_excl (le64).
    let limit = limit.and_then(|item| {
        let flags = le64(&item, 0)?;
        (flags & BTRFS_QGROUP_LIMIT_MAX_RFER != 0)
            .then(|| le64(&item, 1))
            .flatten()
    });
    Ok(Qgroup { referenced, limit })
}

fn le64(item: &[u8], index: usize) -> Option<u64> {
    let bytes = item.get(index * 8..index * 8 + 8)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// The item (objectid 0, `item_type`, offset `qgroupid`) of the quota tree, if present.
fn search_quota_item(
    file: &File,
    path: &Path,
    item_type: u32,
    qgroupid: u64,
) -> Result<Option<Vec<u8>>, BtrfsError> {
    let mut args = Box::new(SearchArgs {
        key: SearchKey {
            tree_id: BTRFS_QUOTA_TREE_OBJECTID,
            min_type: item_type,
            max_type: item_type,
            min_offset: qgroupid,
            max_offset: qgroupid,
            max_transid: u64::MAX,
            nr_items: 1,
            ..Default::default()
        },
        buf: [0; SEARCH_BUF_SIZE],
    });
    // SAFETY: `file` is open; `args` is a full `btrfs_ioctl_search_args` (4096 bytes) the kernel
    // reads and fills, alive for the call.
    unsafe { sys::tree_search(file.as_raw_fd(), &mut *args) }
        .map_err(ioctl_error("BTRFS_IOC_TREE_SEARCH", path))?;
    if args.key.nr_items == 0 {
        return Ok(None);
    }
    let header = &args.buf[..SEARCH_HEADER_LEN];
    let field = |at: usize| u64::from_ne_bytes(header[at..at + 8].try_into().unwrap_or([0; 8]));
    let kind = u32::from_ne_bytes(header[24..28].try_into().unwrap_or([0; 4]));
    let len = u32::from_ne_bytes(header[28..32].try_into().unwrap_or([0; 4])) as usize;
    if field(8) != 0 || kind != item_type || field(16) != qgroupid {
        return Ok(None);
    }
    let item = args
        .buf
        .get(SEARCH_HEADER_LEN..SEARCH_HEADER_LEN + len)
        .unwrap_or(&[]);
    Ok(Some(item.to_vec()))
}

/// Turns copy-on-write off for `file` (must be empty: btrfs ignores it once data exists).
pub fn set_nocow(file: &File, path: &Path) -> Result<(), BtrfsError> {
    let mut flags: libc::c_int = 0;
    // SAFETY: `file` is open; `flags` is an int the kernel writes.
    unsafe { sys::get_flags(file.as_raw_fd(), &mut flags) }
        .map_err(ioctl_error("FS_IOC_GETFLAGS", path))?;
    flags |= FS_NOCOW_FL;
    // SAFETY: `file` is open; `flags` is an int the kernel reads.
    unsafe { sys::set_flags(file.as_raw_fd(), &flags) }
        .map_err(ioctl_error("FS_IOC_SETFLAGS", path))?;
    Ok(())
}

/// Whether copy-on-write is off for `file`.
pub fn is_nocow(file: &File, path: &Path) -> Result<bool, BtrfsError> {
    let mut flags: libc::c_int = 0;
    // SAFETY: `file` is open; `flags` is an int the kernel writes.
    unsafe { sys::get_flags(file.as_raw_fd(), &mut flags) }
        .map_err(ioctl_error("FS_IOC_GETFLAGS", path))?;
    Ok(flags & FS_NOCOW_FL != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_sizes_match_the_kernel() {
        assert_eq!(std::mem::size_of::<VolArgs>(), 4096);
        assert_eq!(std::mem::size_of::<InoLookupArgs>(), 4096);
        assert_eq!(std::mem::size_of::<SearchKey>(), 104);
        assert_eq!(std::mem::size_of::<SearchArgs>(), 4096);
        assert_eq!(std::mem::size_of::<QgroupLimitArgs>(), 48);
        assert_eq!(std::mem::size_of::<QuotaCtlArgs>(), 16);
    }

    #[test]
    fn le64_reads_fields() {
        let mut item = vec![0u8; 16];
        item[8..16].copy_from_slice(&42u64.to_le_bytes());
        assert_eq!(le64(&item, 1), Some(42));
        assert_eq!(le64(&item, 2), None);
    }
}
