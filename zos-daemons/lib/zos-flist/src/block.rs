//! The block codec of rfs (`src/store/bs.rs`): `key = blake2b-256(plain)`, the plain bytes
//! compressed with raw snappy, encrypted with AES-256-GCM under `key` with the nonce `key[0..12]`
//! (no associated data, the 16-byte tag appended), and `id = blake2b-256(cipher)`: the store key.
//! Deterministic, so equal blocks get equal ids and stores deduplicate them.
//!
//! Decoding checks everything a store could get wrong: the id against the bytes, the GCM tag, the
//! decompressed size, and the key against the plain bytes. Bytes that fail are never returned.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

/// Files are cut in blocks of this size (rfs `BLOB_SIZE`); every block is full but the last.
pub const BLOCK_SIZE: usize = 512 * 1024;

/// The length of block ids and keys.
pub const HASH_LEN: usize = 32;

/// The largest encrypted block accepted from a store: snappy's worst case for a full block plus
/// the GCM tag, rounded up.
pub const MAX_CIPHER: usize = BLOCK_SIZE + BLOCK_SIZE / 6 + 64;

/// One block of a file, as a `block` row holds it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Block {
    /// blake2b-256 of the encrypted bytes: the key in the store.
    pub id: [u8; HASH_LEN],
    /// blake2b-256 of the plain bytes: the encryption key.
    pub key: [u8; HASH_LEN],
}

/// The key decrypts a file: Debug shows only the id.
impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("id", &hex::encode(self.id))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("block {id}: the store's bytes do not hash to the block id")]
    IdMismatch { id: String },
    #[error("block {id} is {len} bytes, more than the {MAX_CIPHER} a block can be")]
    TooLarge { id: String, len: usize },
    #[error("block {id} does not decrypt with its key (wrong key or damaged bytes)")]
    Decrypt { id: String },
    #[error("block {id} does not decompress: {reason}")]
    Decompress { id: String, reason: String },
    #[error("block {id}: the plain bytes do not hash to the block key")]
    KeyMismatch { id: String },
    #[error("a block is at most {BLOCK_SIZE} bytes, this one {0}")]
    PlainTooLarge(usize),
    #[error("cannot encrypt a block")]
    Encrypt,
}

fn hash(bytes: &[u8]) -> [u8; HASH_LEN] {
    Blake2b::<U32>::digest(bytes).into()
}

/// Encodes `plain` (at most [`BLOCK_SIZE`] bytes): its block row and the bytes to store.
pub fn encode(plain: &[u8]) -> Result<(Block, Vec<u8>), BlockError> {
    if plain.len() > BLOCK_SIZE {
        return Err(BlockError::PlainTooLarge(plain.len()));
    }
    let key = hash(plain);
    let compressed = snap::raw::Encoder::new()
        .compress_vec(plain)
        .map_err(|_| BlockError::Encrypt)?;
    let cipher = Aes256Gcm::new(&key.into())
        .encrypt(Nonce::from_slice(&key[..12]), compressed.as_slice())
        .map_err(|_| BlockError::Encrypt)?;
    let id = hash(&cipher);
    Ok((Block { id, key }, cipher))
}

/// Checks `cipher` (as a store returned it) against `block`; the plain bytes when all holds.
pub fn decode(block: &Block, cipher: &[u8]) -> Result<Vec<u8>, BlockError> {
    let id = || hex::encode(block.id);
    if cipher.len() > MAX_CIPHER {
        return Err(BlockError::TooLarge {
            id: id(),
            len: cipher.len(),
        });
    }
    if hash(cipher) != block.id {
        return Err(BlockError::IdMismatch { id: id() });
    }
    let compressed = Aes256Gcm::new(&block.key.into())
        .decrypt(Nonce::from_slice(&block.key[..12]), cipher)
        .map_err(|_| BlockError::Decrypt { id: id() })?;
    let len = snap::raw::decompress_len(&compressed).map_err(|e| BlockError::Decompress {
        id: id(),
        reason: e.to_string(),
    })?;
    if len > BLOCK_SIZE {
        return Err(BlockError::Decompress {
            id: id(),
            reason: format!("{len} bytes, more than a block"),
        });
    }
    let plain = snap::raw::Decoder::new()
        .decompress_vec(&compressed)
        .map_err(|e| BlockError::Decompress {
            id: id(),
            reason: e.to_string(),
        })?;
    if hash(&plain) != block.key {
        return Err(BlockError::KeyMismatch { id: id() });
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_determinism() {
        let plain = b"some bytes to store, some bytes to store".repeat(100);
        let (block, cipher) = encode(&plain).unwrap();
        let (again, cipher2) = encode(&plain).unwrap();
        assert_eq!(block, again);
        assert_eq!(cipher, cipher2);
        assert_eq!(block.key, hash(&plain));
        assert_eq!(block.id, hash(&cipher));
        assert_eq!(decode(&block, &cipher).unwrap(), plain);
        assert_eq!(
            decode(&encode(b"").unwrap().0, &encode(b"").unwrap().1).unwrap(),
            b""
        );
    }

    /// blake2b-256 (digest length 32 in the parameter block), as blake2b_simd's
    /// `Params::new().hash_length(32)` in rfs: the RFC 7693 style test vector for "abc".
    #[test]
    fn hash_is_blake2b_256() {
        assert_eq!(
            hex::encode(hash(b"abc")),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"
        );
    }

    #[test]
    fn wrong_bytes_are_refused() {
        let (block, mut cipher) = encode(b"hello world").unwrap();
        cipher[0] ^= 1;
        assert!(matches!(
            decode(&block, &cipher),
            Err(BlockError::IdMismatch { .. })
        ));
        // Bytes that match the id but not the key.
        let (other, other_cipher) = encode(b"other").unwrap();
        let forged = Block {
            id: other.id,
            key: block.key,
        };
        assert!(matches!(
            decode(&forged, &other_cipher),
            Err(BlockError::Decrypt { .. })
        ));
        assert!(matches!(
            decode(&block, &vec![0; MAX_CIPHER + 1]),
            Err(BlockError::TooLarge { .. })
        ));
        assert!(encode(&vec![0; BLOCK_SIZE + 1]).is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let (block, _) = encode(b"secret").unwrap();
        let shown = format!("{block:?}");
        assert!(!shown.contains(&hex::encode(block.key)));
        assert!(shown.contains(&hex::encode(block.id)));
    }
}
