//! Raw sparse disk files for VMs, and checking them from the host afterwards.
//!
//! Owns the files it creates (inside a VM's or test's temp dir); never touches block devices or
//! loop devices on the host: `btrfs check` reads the image file directly.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Errors creating or checking disk files.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("cannot create disk file {path} ({size} bytes)")]
    Create {
        path: PathBuf,
        size: u64,
        source: std::io::Error,
    },
    #[error("`{tool}` is not installed; `make deps` installs btrfs-progs")]
    ToolMissing {
        tool: &'static str,
        source: std::io::Error,
    },
    #[error("`btrfs check --readonly {path}` failed ({status}):\n{output}")]
    CheckFailed {
        path: PathBuf,
        status: std::process::ExitStatus,
        output: String,
    },
}

/// How a disk is attached to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskKind {
    /// virtio-blk-pci (`/dev/vdX` in the guest).
    Virtio,
    /// scsi-hd on a virtio-scsi controller (`/dev/sdX`); `rotation_rate` 1 reports an SSD, a
    /// larger value (e.g. 7200) an HDD, which is how the node tells SSD from HDD capacity.
    ScsiHd { rotation_rate: u16 },
}

/// A raw disk file.
#[derive(Debug, Clone)]
pub struct Disk {
    path: PathBuf,
}

impl Disk {
    /// Creates a sparse, all-zero raw file of `size` bytes (replacing any file at `path`). An
    /// all-zero disk is "empty" to the node's init, which formats it as the cache.
    pub fn create_sparse(path: &Path, size: u64) -> Result<Disk, DiskError> {
        let err = |source| DiskError::Create {
            path: path.to_path_buf(),
            size,
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(err)?;
        file.set_len(size).map_err(err)?;
        Ok(Disk {
            path: path.to_path_buf(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `btrfs check --readonly` on the file (the VM must be stopped) and returns its output.
    pub fn btrfs_check(&self) -> Result<String, DiskError> {
        let out = Command::new("btrfs")
            .arg("check")
            .arg("--readonly")
            .arg(&self.path)
            .output()
            .map_err(|source| DiskError::ToolMissing {
                tool: "btrfs",
                source,
            })?;
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(output)
        } else {
            Err(DiskError::CheckFailed {
                path: self.path.clone(),
                status: out.status,
                output,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn sparse_file_has_size_but_no_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let d = Disk::create_sparse(&dir.path().join("d.raw"), 1 << 30).unwrap();
        let m = std::fs::metadata(d.path()).unwrap();
        assert_eq!(m.len(), 1 << 30);
        assert!(m.blocks() < 64, "not sparse: {} blocks", m.blocks());
    }

    #[test]
    fn btrfs_check_rejects_an_unformatted_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = Disk::create_sparse(&dir.path().join("d.raw"), 16 << 20).unwrap();
        let err = d.btrfs_check().unwrap_err();
        assert!(matches!(err, DiskError::CheckFailed { .. }), "{err}");
    }
}
