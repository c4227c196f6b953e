//! Flists, format v2 (`.fl`, rfs's "FungiList"): the metadata file (SQLite: tables `inode`,
//! `extra`, `block`, `route`, `tag`, as `rfs/schema/schema.sql`), the block codec (blake2b-256,
//! snappy, AES-256-GCM keyed by the content hash), the block stores (`dir://`, `zdb://`,
//! `http(s)://`) behind one trait with rfs's first-byte router, packing a directory tree into a
//! `.fl` and reading files back.
//!
//! Owns only flist files and blocks. It never mounts anything (that is flistd's job) and never
//! touches the files of a tree it packs beyond reading them. Store passwords never appear in
//! `Debug`, `Display`, logs or (by default) in the routes written into a `.fl`.

pub mod block;
pub mod meta;
pub mod pack;
pub mod read;
pub mod store;

pub use block::{Block, BlockError, BLOCK_SIZE};
pub use meta::{Entry, FileType, Flist, MetaError, NewInode, Route, Writer};
pub use pack::{pack, PackError, PackOptions, PackStats};
pub use read::{read_file, ReadError};
pub use store::{Router, Store, StoreError, StoreUrl};
