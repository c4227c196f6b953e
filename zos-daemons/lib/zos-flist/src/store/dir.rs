//! `dir://PATH`: blocks as files `PATH/<hex[0..2]>/<hex>` (rfs's layout; rfs's older flat
//! `PATH/<hex>` is read too). Writes go to a temporary name first, so a reader never sees half
//! a block.

use std::io::ErrorKind;
use std::path::PathBuf;

use super::{Store, StoreError, StoreUrl};
use crate::block::HASH_LEN;

#[derive(Debug)]
pub struct DirStore {
    url: StoreUrl,
    root: PathBuf,
}

impl DirStore {
    pub fn new(url: StoreUrl) -> DirStore {
        let root = PathBuf::from(url.rest());
        DirStore { url, root }
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            url: self.url.clone(),
            source,
        }
    }
}

#[async_trait::async_trait]
impl Store for DirStore {
    async fn get(&self, id: &[u8; HASH_LEN]) -> Result<Option<Vec<u8>>, StoreError> {
        let name = hex::encode(id);
        for path in [
            self.root.join(&name[..2]).join(&name),
            self.root.join(&name),
        ] {
            match tokio::fs::read(&path).await {
                Ok(bytes) => return Ok(Some(bytes)),
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(None)
    }

    async fn set(&self, id: &[u8; HASH_LEN], bytes: &[u8]) -> Result<(), StoreError> {
        let name = hex::encode(id);
        let dir = self.root.join(&name[..2]);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| self.io(e))?;
        // The project's one atomic write (temp file, fsync, rename, directory fsync).
        let (path, bytes) = (dir.join(&name), bytes.to_vec());
        tokio::task::spawn_blocking(move || zos_base::write_atomic(&path, &bytes, 0o644))
            .await
            .map_err(|e| self.io(std::io::Error::other(e)))?
            .map_err(|e| self.io(e))
    }

    fn url(&self) -> &StoreUrl {
        &self.url
    }
}
