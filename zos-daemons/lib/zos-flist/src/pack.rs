//! Packing a directory tree into a `.fl`, as `rfs pack` does: one inode per entry (the root
//! named "/" with parent 0; `st_mode`, uid, gid, rdev, ctime, mtime as `lstat` gives them),
//! symlink targets in `extra`, regular files cut in [`BLOCK_SIZE`] blocks that are encoded
//! ([`crate::block`]) and uploaded through the [`Router`], and the router's routes (without
//! passwords unless asked). Symlinks are never followed.
//!
//! Hard links are stored as rfs stores them: one inode per name, each with the same block
//! list (the file is read once). Blocks are uploaded once per pack (deduplicated by id).
//! The `.fl` is written under a temporary name and renamed when complete.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt;

use crate::block::{self, Block, BlockError, BLOCK_SIZE, HASH_LEN};
use crate::meta::{MetaError, NewInode, Writer, ROOT};
use crate::store::{Router, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("{0}: the name is not UTF-8, which a .fl cannot hold")]
    Name(PathBuf),
    #[error("the router has no store: give at least one")]
    NoStore,
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Block(#[from] BlockError),
}

/// How to pack.
#[derive(Debug, Clone, Default)]
pub struct PackOptions {
    /// Keep store passwords in the routes of the `.fl` (rfs `--no-strip-password`).
    pub keep_passwords: bool,
    /// Tags to set (`version`, `description`, `author` or custom).
    pub tags: Vec<(String, String)>,
}

/// What a pack wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackStats {
    pub dirs: u64,
    pub files: u64,
    pub symlinks: u64,
    /// Fifos, sockets, device nodes.
    pub specials: u64,
    /// Names that are hard links to a file packed before.
    pub hard_links: u64,
    /// Bytes of regular files (a hard-linked file counted once).
    pub bytes: u64,
    /// Block rows written.
    pub blocks: u64,
    /// Distinct blocks uploaded.
    pub uploaded: u64,
}

/// Packs the tree at `root` into a new `.fl` at `out`, uploading blocks through `router`.
pub async fn pack(
    root: &Path,
    out: &Path,
    router: &Router,
    options: &PackOptions,
) -> Result<PackStats, PackError> {
    if router.routes().next().is_none() {
        return Err(PackError::NoStore);
    }
    let file_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = out.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let result = pack_into(root, &tmp, router, options).await;
    match result {
        Ok(stats) => {
            std::fs::rename(&tmp, out).map_err(|source| PackError::Io {
                path: out.to_path_buf(),
                source,
            })?;
            Ok(stats)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

async fn pack_into(
    root: &Path,
    fl: &Path,
    router: &Router,
    options: &PackOptions,
) -> Result<PackStats, PackError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PackError::Io { path, source }
    };
    let meta = std::fs::symlink_metadata(root).map_err(io(root))?;
    if !meta.is_dir() {
        return Err(PackError::NotADirectory(root.to_path_buf()));
    }
    let writer = Writer::create(fl)?;
    for (start, end, url) in router.routes() {
        let url = if options.keep_passwords {
            url.expose().to_string()
        } else {
            url.without_password()
        };
        writer.route(start, end, &url)?;
    }
    for (key, value) in &options.tags {
        writer.tag(key, value)?;
    }
    let mut packer = Packer {
        writer: &writer,
        router,
        uploaded: HashSet::new(),
        linked: HashMap::new(),
        stats: PackStats::default(),
        buffer: vec![0; BLOCK_SIZE],
    };
    let ino = writer.inode(&inode(0, "/".into(), &meta, None))?;
    debug_assert_eq!(ino, ROOT);
    packer.stats.dirs += 1;
    let mut dirs = vec![(ino, root.to_path_buf())];
    while let Some((parent, dir)) = dirs.pop() {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            names.push(entry.map_err(io(&dir))?.file_name());
        }
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let name = name
                .into_string()
                .map_err(|_| PackError::Name(path.clone()))?;
            let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
            let kind = meta.file_type();
            if kind.is_dir() {
                let ino = writer.inode(&inode(parent, name, &meta, None))?;
                packer.stats.dirs += 1;
                dirs.push((ino, path));
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path).map_err(io(&path))?;
                let target = std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str()).to_vec();
                writer.inode(&inode(parent, name, &meta, Some(target)))?;
                packer.stats.symlinks += 1;
            } else if kind.is_file() {
                packer.file(parent, name, &path, &meta).await?;
            } else {
                writer.inode(&inode(parent, name, &meta, None))?;
                packer.stats.specials += 1;
            }
        }
    }
    let stats = packer.stats;
    writer.finish()?;
    tracing::info!(
        files = stats.files,
        blocks = stats.blocks,
        uploaded = stats.uploaded,
        "flist packed"
    );
    Ok(stats)
}

fn inode(parent: u64, name: String, meta: &std::fs::Metadata, data: Option<Vec<u8>>) -> NewInode {
    NewInode {
        parent,
        name,
        size: meta.size(),
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode(),
        rdev: meta.rdev(),
        ctime: meta.ctime(),
        mtime: meta.mtime(),
        data,
    }
}

struct Packer<'a> {
    writer: &'a Writer,
    router: &'a Router,
    /// Ids uploaded by this pack.
    uploaded: HashSet<[u8; HASH_LEN]>,
    /// Files with more than one link, by (device, inode): their size and blocks.
    linked: HashMap<(u64, u64), (u64, Vec<Block>)>,
    stats: PackStats,
    buffer: Vec<u8>,
}

impl Packer<'_> {
    async fn file(
        &mut self,
        parent: u64,
        name: String,
        path: &Path,
        meta: &std::fs::Metadata,
    ) -> Result<(), PackError> {
        let link_key = (meta.nlink() > 1).then(|| (meta.dev(), meta.ino()));
        if let Some((size, blocks)) = link_key.and_then(|k| self.linked.get(&k)) {
            let ino = self.writer.inode(&NewInode {
                size: *size,
                ..inode(parent, name, meta, None)
            })?;
            for block in blocks {
                self.writer.block(ino, block)?;
            }
            self.stats.blocks += blocks.len() as u64;
            self.stats.hard_links += 1;
            return Ok(());
        }
        let (size, blocks) = self.upload(path).await?;
        // The size is what was read, so it always matches the blocks.
        let ino = self.writer.inode(&NewInode {
            size,
            ..inode(parent, name, meta, None)
        })?;
        for block in &blocks {
            self.writer.block(ino, block)?;
        }
        self.stats.files += 1;
        self.stats.bytes += size;
        self.stats.blocks += blocks.len() as u64;
        if let Some(key) = link_key {
            self.linked.insert(key, (size, blocks));
        }
        Ok(())
    }

    /// Reads `path` in full blocks, uploads the ones not uploaded yet; its size and blocks.
    async fn upload(&mut self, path: &Path) -> Result<(u64, Vec<Block>), PackError> {
        let io = |source| PackError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = tokio::fs::File::open(path).await.map_err(io)?;
        let mut blocks = Vec::new();
        let mut size = 0u64;
        loop {
            let mut filled = 0;
            while filled < BLOCK_SIZE {
                let n = file.read(&mut self.buffer[filled..]).await.map_err(io)?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            let (block, cipher) = block::encode(&self.buffer[..filled])?;
            if self.uploaded.insert(block.id) {
                self.router.set(&block.id, &cipher).await?;
                self.stats.uploaded += 1;
            }
            blocks.push(block);
            size += filled as u64;
            if filled < BLOCK_SIZE {
                break;
            }
        }
        Ok((size, blocks))
    }
}
