//! Locating the built node image: `$ZOS_IMAGE_DIR` if set, else `<workspace>/out/image`.
//!
//! Owns nothing but path lookups and reading the `cmdline` file; never writes to the image dir.

use std::path::{Path, PathBuf};

/// Environment variable that overrides where the image is.
pub const IMAGE_DIR_ENV: &str = "ZOS_IMAGE_DIR";

/// Errors locating image files.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{file} not found in {dir} ({how}); run `make image` (or set {IMAGE_DIR_ENV})")]
    Missing {
        dir: PathBuf,
        file: &'static str,
        how: &'static str,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The directory holding `vmlinux`, `initramfs.cpio.zst`, `cmdline` and `zos.img`.
#[derive(Debug, Clone)]
pub struct ImageDir {
    dir: PathBuf,
    how: &'static str,
}

/// What a PVH (`-kernel`) boot needs.
#[derive(Debug, Clone)]
pub struct PvhImage {
    /// Uncompressed ELF kernel with a PVH note.
    pub kernel: PathBuf,
    /// zstd-compressed cpio initramfs.
    pub initrd: PathBuf,
    /// The image's kernel command line (from the `cmdline` file, trimmed).
    pub cmdline: String,
}

impl ImageDir {
    /// `$ZOS_IMAGE_DIR`, or `out/image` at the workspace root. The directory need not exist yet:
    /// each file lookup says what is missing.
    pub fn locate() -> ImageDir {
        match std::env::var_os(IMAGE_DIR_ENV) {
            Some(dir) if !dir.is_empty() => ImageDir {
                dir: PathBuf::from(dir),
                how: "from $ZOS_IMAGE_DIR",
            },
            _ => ImageDir {
                dir: workspace_root().join("out").join("image"),
                how: "the default <workspace>/out/image",
            },
        }
    }

    /// An explicit directory.
    pub fn at(dir: &Path) -> ImageDir {
        ImageDir {
            dir: dir.to_path_buf(),
            how: "given explicitly",
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of `file` in the image dir, if it exists.
    pub fn file(&self, file: &'static str) -> Result<PathBuf, ImageError> {
        let path = self.dir.join(file);
        if path.is_file() {
            Ok(path)
        } else {
            Err(ImageError::Missing {
                dir: self.dir.clone(),
                file,
                how: self.how,
            })
        }
    }

    /// `vmlinux` + `initramfs.cpio.zst` + `cmdline`.
    pub fn pvh(&self) -> Result<PvhImage, ImageError> {
        let kernel = self.file("vmlinux")?;
        let initrd = self.file("initramfs.cpio.zst")?;
        let cmdline_path = self.file("cmdline")?;
        let cmdline = std::fs::read_to_string(&cmdline_path)
            .map_err(|source| ImageError::Read {
                path: cmdline_path,
                source,
            })?
            .trim()
            .to_string();
        Ok(PvhImage {
            kernel,
            initrd,
            cmdline,
        })
    }

    /// `zos.img`: the GPT disk whose ESP holds the UKI.
    pub fn uefi_disk(&self) -> Result<PathBuf, ImageError> {
        self.file("zos.img")
    }
}

/// The workspace root (parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_name_make_image() {
        let dir = tempfile::tempdir().unwrap();
        let img = ImageDir::at(dir.path());
        let err = img.pvh().unwrap_err().to_string();
        assert!(
            err.contains("vmlinux") && err.contains("make image"),
            "{err}"
        );
        std::fs::write(dir.path().join("vmlinux"), b"x").unwrap();
        std::fs::write(dir.path().join("initramfs.cpio.zst"), b"x").unwrap();
        std::fs::write(dir.path().join("cmdline"), b"console=ttyS0 quiet\n").unwrap();
        let pvh = img.pvh().unwrap();
        assert_eq!(pvh.cmdline, "console=ttyS0 quiet");
        assert!(img.uefi_disk().is_err());
    }
}
