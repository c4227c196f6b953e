//! Reading a file of a flist back: its blocks fetched through a [`Router`] (each checked and
//! decoded by [`crate::block::decode`]) and written out in order. The bytes must add up to the
//! inode's size; a short or long file is an error, not a truncated copy.
//!
//! Takes the entry and its blocks, not the [`crate::Flist`], so the future stays `Send`.

use std::io::Write;

use crate::block::Block;
use crate::meta::{Entry, FileType};
use crate::store::{Router, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("inode {ino} ({name:?}) is not a regular file")]
    NotAFile { ino: u64, name: String },
    #[error("inode {ino} ({name:?}) is {expected} bytes, its blocks hold {got}")]
    Size {
        ino: u64,
        name: String,
        expected: u64,
        got: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the file's bytes")]
    Write(#[source] std::io::Error),
}

/// Writes the content of `entry` (with its `blocks`, from [`crate::Flist::blocks`]) to `out`;
/// the number of bytes written.
pub async fn read_file(
    router: &Router,
    entry: &Entry,
    blocks: &[Block],
    out: &mut (dyn Write + Send),
) -> Result<u64, ReadError> {
    if entry.file_type() != FileType::Regular {
        return Err(ReadError::NotAFile {
            ino: entry.ino,
            name: entry.name.clone(),
        });
    }
    let size_error = |got| ReadError::Size {
        ino: entry.ino,
        name: entry.name.clone(),
        expected: entry.size,
        got,
    };
    let mut written = 0u64;
    for block in blocks {
        let plain = router.get_block(block).await?;
        written += plain.len() as u64;
        if written > entry.size {
            return Err(size_error(written));
        }
        out.write_all(&plain).map_err(ReadError::Write)?;
    }
    if written != entry.size {
        return Err(size_error(written));
    }
    Ok(written)
}
