//! The metadata of a v2 flist: one SQLite file, tables as rfs's `schema/schema.sql`:
//! `inode(ino, parent, name, size, uid, gid, mode, rdev, ctime, mtime)` (the root is ino 1 with
//! parent 0 and name "/"; `mode` is the full `st_mode`), `extra(ino, data)` (symlink targets),
//! `block(ino, id, key)` (32-byte blobs, row order = block order), `tag(key, value)` and
//! `route(start, end, url)`.
//!
//! [`Flist`] reads a file that may come from anyone: every row is checked (types, ranges, names
//! without `/` or NUL and never `.` or `..`, parent links without cycles) and a bad file is a
//! [`MetaError`], never a panic. [`Writer`] writes one as rfs does.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};

use crate::block::{Block, HASH_LEN};

/// The root directory's inode number.
pub const ROOT: u64 = 1;

/// rfs's schema (`schema/schema.sql`), table for table and index for index.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS inode (
    ino INTEGER PRIMARY KEY AUTOINCREMENT,
    parent INTEGER,
    name VARCHAR(255),
    size INTEGER,
    uid INTEGER,
    gid INTEGER,
    mode INTEGER,
    rdev INTEGER,
    ctime INTEGER,
    mtime INTEGER
);
CREATE INDEX IF NOT EXISTS parents ON inode (parent);
CREATE INDEX IF NOT EXISTS names ON inode (name);
CREATE TABLE IF NOT EXISTS extra (
    ino INTEGER PRIMARY KEY,
    data VARCHAR(4096)
);
CREATE TABLE IF NOT EXISTS block (
    ino INTEGER,
    id VARCHAR(32),
    key VARCHAR(32)
);
CREATE INDEX IF NOT EXISTS block_ino ON block (ino);
CREATE TABLE IF NOT EXISTS tag (
    key VARCHAR(10) PRIMARY KEY,
    value VARCHAR(255)
);
CREATE TABLE IF NOT EXISTS route (
    start integer,
    end integer,
    url VARCHAR(2048)
);
";

const ENTRY_COLUMNS: &str = "i.ino, i.parent, i.name, i.size, i.uid, i.gid, i.mode, i.rdev, \
     i.ctime, i.mtime, e.data FROM inode i LEFT JOIN extra e ON i.ino = e.ino";

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("cannot open flist {path}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path} is not a v2 flist (an rfs .fl SQLite file): {reason}")]
    NotAnFlist { path: PathBuf, reason: String },
    #[error("the flist is damaged: {0}")]
    Corrupt(String),
    #[error("cannot read the flist")]
    Sql(#[from] rusqlite::Error),
    #[error("{path:?} is not in the flist")]
    NotFound { path: String },
    #[error("{path:?} is not a directory in the flist")]
    NotADirectory { path: String },
    #[error("{path:?} is not a regular file in the flist")]
    NotAFile { path: String },
    #[error("invalid path {path:?}: {reason}")]
    BadPath { path: String, reason: &'static str },
    #[error("cannot write flist {path}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot store {what} in an flist: {reason}")]
    Unstorable { what: String, reason: &'static str },
}

/// The type bits of `st_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Regular,
    Dir,
    Link,
    Block,
    Char,
    Socket,
    Fifo,
    Unknown,
}

impl FileType {
    pub fn of_mode(mode: u32) -> FileType {
        match mode & libc::S_IFMT {
            libc::S_IFREG => FileType::Regular,
            libc::S_IFDIR => FileType::Dir,
            libc::S_IFLNK => FileType::Link,
            libc::S_IFBLK => FileType::Block,
            libc::S_IFCHR => FileType::Char,
            libc::S_IFSOCK => FileType::Socket,
            libc::S_IFIFO => FileType::Fifo,
            _ => FileType::Unknown,
        }
    }

    /// The letter `ls -l` shows.
    pub fn letter(self) -> char {
        match self {
            FileType::Regular => '-',
            FileType::Dir => 'd',
            FileType::Link => 'l',
            FileType::Block => 'b',
            FileType::Char => 'c',
            FileType::Socket => 's',
            FileType::Fifo => 'p',
            FileType::Unknown => '?',
        }
    }
}

/// One inode row with its extra data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ino: u64,
    pub parent: u64,
    pub name: String,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    /// The full `st_mode`: type and permission bits.
    pub mode: u32,
    pub rdev: u64,
    pub ctime: i64,
    pub mtime: i64,
    /// The `extra` row: a symlink's target.
    pub data: Option<Vec<u8>>,
}

impl Entry {
    pub fn file_type(&self) -> FileType {
        FileType::of_mode(self.mode)
    }

    /// Permission, setuid/setgid and sticky bits.
    pub fn permissions(&self) -> u32 {
        self.mode & !libc::S_IFMT
    }
}

/// A `route` row: blocks whose id starts with a byte in `start..=end` are in the store at `url`.
#[derive(Clone, PartialEq, Eq)]
pub struct Route {
    pub start: u8,
    pub end: u8,
    pub url: crate::store::StoreUrl,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02x}-{:02x}={}", self.start, self.end, self.url)
    }
}

/// A v2 flist opened read-only.
#[derive(Debug)]
pub struct Flist {
    conn: Connection,
}

impl Flist {
    /// Opens `path` and checks that it has rfs's tables and a root directory.
    pub fn open(path: &Path) -> Result<Flist, MetaError> {
        let not = |reason: String| MetaError::NotAnFlist {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_file() {
            return Err(not("no such file".into()));
        }
        // Immutable: SQLite takes no locks and writes no journal, WAL or shm file beside it,
        // whatever the file says about its journal mode.
        let conn = Connection::open_with_flags(
            immutable_uri(path),
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|source| MetaError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        for query in [
            "SELECT ino, parent, name, size, uid, gid, mode, rdev, ctime, mtime FROM inode LIMIT 0",
            "SELECT ino, data FROM extra LIMIT 0",
            "SELECT ino, id, key FROM block LIMIT 0",
            "SELECT key, value FROM tag LIMIT 0",
            "SELECT start, end, url FROM route LIMIT 0",
        ] {
            conn.prepare(query).map_err(|e| not(e.to_string()))?;
        }
        let flist = Flist { conn };
        let root = flist
            .entry(ROOT)?
            .ok_or_else(|| not("no root inode".into()))?;
        if root.parent != 0 || root.file_type() != FileType::Dir {
            return Err(not("the root inode is not a directory at the top".into()));
        }
        Ok(flist)
    }

    /// The root directory.
    pub fn root(&self) -> Result<Entry, MetaError> {
        self.entry(ROOT)?
            .ok_or_else(|| MetaError::Corrupt("no root inode".into()))
    }

    /// The inode `ino`, if there is one.
    pub fn entry(&self, ino: u64) -> Result<Option<Entry>, MetaError> {
        let ino = to_sql(ino)?;
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {ENTRY_COLUMNS} WHERE i.ino = ?1"))?;
        let found = stmt
            .query_row([ino], |row| Ok(read_entry(row)))
            .optional()?;
        found.transpose()
    }

    /// The entries of directory `dir`, by name. Checks their names, that no name is there twice
    /// and that `dir` is not its own child.
    pub fn children(&self, dir: &Entry) -> Result<Vec<Entry>, MetaError> {
        if dir.file_type() != FileType::Dir {
            return Err(MetaError::NotADirectory {
                path: dir.name.clone(),
            });
        }
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} WHERE i.parent = ?1 ORDER BY i.name, i.ino"
        ))?;
        let rows = stmt.query_map([to_sql(dir.ino)?], |row| Ok(read_entry(row)))?;
        let mut out: Vec<Entry> = Vec::new();
        for row in rows {
            let child = row??;
            check_name(&child)?;
            if child.ino == dir.ino || child.ino == ROOT {
                return Err(MetaError::Corrupt(format!(
                    "inode {} is a child of {}: the parent links loop",
                    child.ino, dir.ino
                )));
            }
            if out.last().is_some_and(|prev| prev.name == child.name) {
                return Err(MetaError::Corrupt(format!(
                    "directory inode {} has {:?} twice",
                    dir.ino, child.name
                )));
            }
            out.push(child);
        }
        Ok(out)
    }

    /// The entry at `path` ("/a/b" or "a/b"; "" and "/" are the root). Symlinks are not
    /// followed; `..` is refused, so a path never leaves the root.
    pub fn lookup(&self, path: &str) -> Result<Entry, MetaError> {
        let bad = |reason| MetaError::BadPath {
            path: path.to_string(),
            reason,
        };
        if path.contains('\0') {
            return Err(bad("it contains a NUL byte"));
        }
        let mut current = self.root()?;
        let mut walked = String::new();
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            if part == ".." {
                return Err(bad("`..` would leave the root"));
            }
            if current.file_type() != FileType::Dir {
                return Err(MetaError::NotADirectory { path: walked });
            }
            walked.push('/');
            walked.push_str(part);
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} WHERE i.parent = ?1 AND i.name = ?2 ORDER BY i.ino LIMIT 1"
            ))?;
            let found = stmt
                .query_row(rusqlite::params![to_sql(current.ino)?, part], |row| {
                    Ok(read_entry(row))
                })
                .optional()?
                .transpose()?;
            current = found.ok_or_else(|| MetaError::NotFound {
                path: walked.clone(),
            })?;
            if current.ino == ROOT {
                return Err(MetaError::Corrupt(format!(
                    "{walked:?} is the root again: the parent links loop"
                )));
            }
        }
        Ok(current)
    }

    /// Visits every entry below the root (depth first, by name within a directory) with its
    /// path ("/" for the root). An inode reached twice means the parent links loop: an error.
    pub fn walk(&self, mut visit: impl FnMut(&str, &Entry)) -> Result<(), MetaError> {
        let root = self.root()?;
        let mut seen = HashSet::from([root.ino]);
        let mut stack = vec![(String::from("/"), root)];
        while let Some((path, entry)) = stack.pop() {
            visit(&path, &entry);
            if entry.file_type() != FileType::Dir {
                continue;
            }
            let children = self.children(&entry)?;
            for child in children.into_iter().rev() {
                if !seen.insert(child.ino) {
                    return Err(MetaError::Corrupt(format!(
                        "inode {} is reached twice: the parent links loop",
                        child.ino
                    )));
                }
                let child_path = if path == "/" {
                    format!("/{}", child.name)
                } else {
                    format!("{path}/{}", child.name)
                };
                stack.push((child_path, child));
            }
        }
        Ok(())
    }

    /// The blocks of inode `ino`, in file order.
    pub fn blocks(&self, ino: u64) -> Result<Vec<Block>, MetaError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, key FROM block WHERE ino = ?1 ORDER BY rowid")?;
        let rows = stmt.query_map([to_sql(ino)?], |row| {
            Ok((hash_column(row, 0), hash_column(row, 1)))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, key) = row?;
            let bad = |what, e| MetaError::Corrupt(format!("a block of inode {ino}: {what} {e}"));
            out.push(Block {
                id: id.map_err(|e| bad("id", e))?,
                key: key.map_err(|e| bad("key", e))?,
            });
        }
        Ok(out)
    }

    /// The route table.
    pub fn routes(&self) -> Result<Vec<Route>, MetaError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT start, end, url FROM route ORDER BY rowid")?;
        let rows = stmt.query_map([], |row| {
            Ok((int_column(row, 0), int_column(row, 1), text_column(row, 2)))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (start, end, url) = row?;
            let bad = |e: String| MetaError::Corrupt(format!("a route: {e}"));
            let byte = |v: Result<i64, String>| {
                v.and_then(|v| u8::try_from(v).map_err(|_| format!("{v} is not a byte")))
                    .map_err(bad)
            };
            let (start, end) = (byte(start)?, byte(end)?);
            if start > end {
                return Err(bad(format!("start {start} is after end {end}")));
            }
            let url = crate::store::StoreUrl::parse(&url.map_err(bad)?)
                .map_err(|e| bad(e.to_string()))?;
            out.push(Route { start, end, url });
        }
        Ok(out)
    }

    /// The tags (`version`, `description`, `author`, custom ones), by key.
    pub fn tags(&self) -> Result<Vec<(String, String)>, MetaError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key, value FROM tag ORDER BY key")?;
        let rows = stmt.query_map([], |row| Ok((text_column(row, 0), text_column(row, 1))))?;
        let mut out = Vec::new();
        for row in rows {
            let (k, v) = row?;
            let bad = |e: String| MetaError::Corrupt(format!("a tag: {e}"));
            out.push((k.map_err(bad)?, v.map_err(bad)?));
        }
        Ok(out)
    }
}

/// `file:PATH?immutable=1`, the path percent-encoded but for unreserved characters and `/`.
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for &b in std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()) {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

fn to_sql(ino: u64) -> Result<i64, MetaError> {
    i64::try_from(ino).map_err(|_| MetaError::Corrupt(format!("inode number {ino} is too large")))
}

fn check_name(entry: &Entry) -> Result<(), MetaError> {
    let name = &entry.name;
    let reason = if name.is_empty() {
        "it is empty"
    } else if name == "." || name == ".." {
        "it is `.` or `..`"
    } else if name.contains('/') {
        "it contains `/`"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(MetaError::Corrupt(format!(
        "inode {} has the name {name:?}: {reason}",
        entry.ino
    )))
}

fn int_column(row: &Row, i: usize) -> Result<i64, String> {
    match row.get_ref(i) {
        Ok(ValueRef::Integer(v)) => Ok(v),
        Ok(other) => Err(format!(
            "column {i} is {:?}, not an integer",
            other.data_type()
        )),
        Err(e) => Err(e.to_string()),
    }
}

fn text_column(row: &Row, i: usize) -> Result<String, String> {
    match row.get_ref(i) {
        Ok(ValueRef::Text(t)) => {
            String::from_utf8(t.to_vec()).map_err(|_| format!("column {i} is not UTF-8"))
        }
        Ok(other) => Err(format!("column {i} is {:?}, not text", other.data_type())),
        Err(e) => Err(e.to_string()),
    }
}

fn hash_column(row: &Row, i: usize) -> Result<[u8; HASH_LEN], String> {
    let bytes = match row.get_ref(i) {
        Ok(ValueRef::Blob(b)) | Ok(ValueRef::Text(b)) => b,
        Ok(other) => return Err(format!("is {:?}, not bytes", other.data_type())),
        Err(e) => return Err(e.to_string()),
    };
    bytes
        .try_into()
        .map_err(|_| format!("is {} bytes, not {HASH_LEN}", bytes.len()))
}

/// One row of [`ENTRY_COLUMNS`], checked; the error is already a [`MetaError`].
fn read_entry(row: &Row) -> Result<Entry, MetaError> {
    let ino = int_column(row, 0);
    let what = match &ino {
        Ok(ino) => format!("inode {ino}"),
        Err(_) => "an inode".to_string(),
    };
    let bad = |e: String| MetaError::Corrupt(format!("{what}: {e}"));
    let unsigned = |i: usize| {
        int_column(row, i)
            .and_then(|v| u64::try_from(v).map_err(|_| format!("column {i} is negative ({v})")))
    };
    let small = |i: usize| {
        unsigned(i).and_then(|v| u32::try_from(v).map_err(|_| format!("column {i} is too large")))
    };
    let data = match row.get_ref(10) {
        Ok(ValueRef::Null) => None,
        Ok(ValueRef::Blob(b)) | Ok(ValueRef::Text(b)) => Some(b.to_vec()),
        Ok(other) => return Err(bad(format!("extra data is {:?}", other.data_type()))),
        Err(e) => return Err(bad(e.to_string())),
    };
    Ok(Entry {
        ino: ino
            .and_then(|v| u64::try_from(v).map_err(|_| "negative inode number".into()))
            .map_err(bad)?,
        parent: unsigned(1).map_err(bad)?,
        name: text_column(row, 2).map_err(bad)?,
        size: unsigned(3).map_err(bad)?,
        uid: small(4).map_err(bad)?,
        gid: small(5).map_err(bad)?,
        mode: small(6).map_err(bad)?,
        rdev: unsigned(7).map_err(bad)?,
        ctime: int_column(row, 8).map_err(bad)?,
        mtime: int_column(row, 9).map_err(bad)?,
        data,
    })
}

/// An inode to add with [`Writer::inode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInode {
    pub parent: u64,
    pub name: String,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub rdev: u64,
    pub ctime: i64,
    pub mtime: i64,
    pub data: Option<Vec<u8>>,
}

/// Writes a new flist file, all in one transaction that [`Writer::finish`] commits.
#[derive(Debug)]
pub struct Writer {
    conn: Connection,
}

impl Writer {
    /// Creates `path` (which must not exist) with rfs's schema.
    pub fn create(path: &Path) -> Result<Writer, MetaError> {
        let create = |source| MetaError::Create {
            path: path.to_path_buf(),
            source,
        };
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(create)?;
        let conn = Connection::open(path).map_err(|source| MetaError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch("BEGIN")?;
        Ok(Writer { conn })
    }

    /// Adds an inode (and its extra data); its number.
    pub fn inode(&self, inode: &NewInode) -> Result<u64, MetaError> {
        let too_large = |what: &str| MetaError::Unstorable {
            what: format!("{what} of {:?}", inode.name),
            reason: "it is larger than SQLite's integers",
        };
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO inode (parent, name, size, uid, gid, mode, rdev, ctime, mtime) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        stmt.execute(rusqlite::params![
            to_sql(inode.parent)?,
            inode.name,
            i64::try_from(inode.size).map_err(|_| too_large("the size"))?,
            inode.uid,
            inode.gid,
            inode.mode,
            i64::try_from(inode.rdev).map_err(|_| too_large("the device number"))?,
            inode.ctime,
            inode.mtime,
        ])?;
        let ino = self.conn.last_insert_rowid();
        if let Some(data) = &inode.data {
            self.conn
                .prepare_cached("INSERT INTO extra (ino, data) VALUES (?1, ?2)")?
                .execute(rusqlite::params![ino, data])?;
        }
        u64::try_from(ino).map_err(|_| MetaError::Corrupt(format!("new inode number {ino}")))
    }

    /// Appends a block to inode `ino`'s list.
    pub fn block(&self, ino: u64, block: &Block) -> Result<(), MetaError> {
        self.conn
            .prepare_cached("INSERT INTO block (ino, id, key) VALUES (?1, ?2, ?3)")?
            .execute(rusqlite::params![
                to_sql(ino)?,
                &block.id[..],
                &block.key[..]
            ])?;
        Ok(())
    }

    /// Adds a route (its URL as given: strip passwords before).
    pub fn route(&self, start: u8, end: u8, url: &str) -> Result<(), MetaError> {
        self.conn
            .prepare_cached("INSERT INTO route (start, end, url) VALUES (?1, ?2, ?3)")?
            .execute(rusqlite::params![start, end, url])?;
        Ok(())
    }

    /// Sets a tag.
    pub fn tag(&self, key: &str, value: &str) -> Result<(), MetaError> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO tag (key, value) VALUES (?1, ?2)")?
            .execute(rusqlite::params![key, value])?;
        Ok(())
    }

    /// Commits everything written.
    pub fn finish(self) -> Result<(), MetaError> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_inode(parent: u64, name: &str) -> NewInode {
        NewInode {
            parent,
            name: name.into(),
            size: 4096,
            uid: 0,
            gid: 0,
            mode: libc::S_IFDIR | 0o755,
            rdev: 0,
            ctime: 1,
            mtime: 2,
            data: None,
        }
    }

    /// A small valid flist: / , /etc, /etc/passwd (2 blocks), /link -> etc/passwd.
    fn sample(dir: &Path) -> PathBuf {
        let path = dir.join("sample.fl");
        let w = Writer::create(&path).unwrap();
        assert_eq!(w.inode(&dir_inode(0, "/")).unwrap(), ROOT);
        let etc = w.inode(&dir_inode(ROOT, "etc")).unwrap();
        let file = w
            .inode(&NewInode {
                size: 10,
                mode: libc::S_IFREG | 0o644,
                uid: 7,
                gid: 8,
                ..dir_inode(etc, "passwd")
            })
            .unwrap();
        w.block(
            file,
            &Block {
                id: [1; 32],
                key: [2; 32],
            },
        )
        .unwrap();
        w.block(
            file,
            &Block {
                id: [3; 32],
                key: [4; 32],
            },
        )
        .unwrap();
        w.inode(&NewInode {
            mode: libc::S_IFLNK | 0o777,
            data: Some(b"etc/passwd".to_vec()),
            ..dir_inode(ROOT, "link")
        })
        .unwrap();
        w.route(0, 255, "dir:///tmp/store").unwrap();
        w.tag("version", "v2").unwrap();
        w.finish().unwrap();
        path
    }

    fn sql(path: &Path, statement: &str) {
        Connection::open(path)
            .unwrap()
            .execute_batch(statement)
            .unwrap();
    }

    #[test]
    fn reads_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let fl = Flist::open(&sample(dir.path())).unwrap();
        let passwd = fl.lookup("/etc/passwd").unwrap();
        assert_eq!((passwd.size, passwd.uid, passwd.gid), (10, 7, 8));
        assert_eq!(passwd.file_type(), FileType::Regular);
        assert_eq!(passwd.permissions(), 0o644);
        assert_eq!(fl.lookup("etc//./passwd").unwrap(), passwd);
        let blocks = fl.blocks(passwd.ino).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!((blocks[0].id, blocks[1].key), ([1; 32], [4; 32]));
        let link = fl.lookup("/link").unwrap();
        assert_eq!(link.data.as_deref(), Some(&b"etc/passwd"[..]));
        let mut paths = Vec::new();
        fl.walk(|p, _| paths.push(p.to_string())).unwrap();
        assert_eq!(paths, ["/", "/etc", "/etc/passwd", "/link"]);
        let routes = fl.routes().unwrap();
        assert_eq!((routes[0].start, routes[0].end), (0, 255));
        assert_eq!(fl.tags().unwrap(), [("version".into(), "v2".into())]);
        assert!(matches!(
            fl.lookup("/etc/nothing"),
            Err(MetaError::NotFound { .. })
        ));
        assert!(matches!(
            fl.lookup("/etc/passwd/x"),
            Err(MetaError::NotADirectory { .. })
        ));
    }

    #[test]
    fn refuses_paths_that_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let fl = Flist::open(&sample(dir.path())).unwrap();
        for path in ["../etc", "/etc/../../x", "/etc/..", "a\0b"] {
            assert!(
                matches!(fl.lookup(path), Err(MetaError::BadPath { .. })),
                "{path}"
            );
        }
    }

    #[test]
    fn refuses_bad_names() {
        for name in ["a/b", "..", ".", "", "x\0y"] {
            let dir = tempfile::tempdir().unwrap();
            let path = sample(dir.path());
            sql(
                &path,
                &format!(
                    "UPDATE inode SET name = CAST(X'{}' AS TEXT) WHERE ino = 2",
                    hex::encode(name)
                ),
            );
            let fl = Flist::open(&path).unwrap();
            assert!(
                matches!(fl.walk(|_, _| {}), Err(MetaError::Corrupt(_))),
                "{name:?}"
            );
        }
    }

    #[test]
    fn refuses_loops() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        // Each row has one parent, so a loop can only be off the root's tree (invisible) or
        // through the root (refused at open).
        sql(&path, "INSERT INTO inode (ino, parent, name, size, uid, gid, mode, rdev, ctime, mtime) VALUES (9, 9, 'self', 0, 0, 0, 16877, 0, 0, 0)");
        sql(&path, "UPDATE inode SET parent = 2 WHERE ino = 1");
        assert!(matches!(
            Flist::open(&path),
            Err(MetaError::NotAnFlist { .. })
        ));
        sql(&path, "UPDATE inode SET parent = 0 WHERE ino = 1");
        sql(&path, "UPDATE inode SET parent = 2 WHERE ino = 9");
        sql(&path, "UPDATE inode SET parent = 9 WHERE ino = 2");
        let fl = Flist::open(&path).unwrap();
        let mut n = 0;
        fl.walk(|_, _| n += 1).unwrap();
        assert_eq!(n, 2, "only the root and /link are reachable");
        // A directory that is its own child.
        sql(&path, "UPDATE inode SET parent = 9 WHERE ino = 9");
        let fl = Flist::open(&path).unwrap();
        let nine = fl.entry(9).unwrap().unwrap();
        assert!(matches!(fl.children(&nine), Err(MetaError::Corrupt(_))));
    }

    #[test]
    fn refuses_bad_rows() {
        for (statement, what) in [
            ("UPDATE inode SET size = -1 WHERE ino = 3", "negative size"),
            ("UPDATE inode SET uid = 'root' WHERE ino = 3", "text uid"),
            ("UPDATE inode SET mode = NULL WHERE ino = 3", "null mode"),
            (
                "UPDATE inode SET gid = 4294967296 WHERE ino = 3",
                "gid > u32",
            ),
            ("UPDATE inode SET name = X'ff' WHERE ino = 3", "blob name"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = sample(dir.path());
            sql(&path, statement);
            let fl = Flist::open(&path).unwrap();
            assert!(
                matches!(fl.walk(|_, _| {}), Err(MetaError::Corrupt(_))),
                "{what}"
            );
        }
        for statement in [
            "UPDATE block SET id = X'0102'",
            "UPDATE block SET key = 5",
            "UPDATE route SET start = 300",
            "UPDATE route SET start = 9, end = 3",
            "UPDATE route SET url = 'ftp://x'",
            "UPDATE tag SET value = X'ff'",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = sample(dir.path());
            sql(&path, statement);
            let fl = Flist::open(&path).unwrap();
            let failed = fl.blocks(3).is_err() || fl.routes().is_err() || fl.tags().is_err();
            assert!(failed, "{statement}");
        }
    }

    #[test]
    fn refuses_files_that_are_no_flist() {
        let dir = tempfile::tempdir().unwrap();
        let good = std::fs::read(sample(dir.path())).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("text", b"hello, this is not sqlite".to_vec()),
            ("half", good[..good.len() / 2].to_vec()),
            ("header", good[..100].to_vec()),
            ("garbled", {
                let mut g = good.clone();
                for b in g.iter_mut().skip(100).step_by(7) {
                    *b ^= 0x5a;
                }
                g
            }),
        ];
        for (what, bytes) in cases {
            let path = dir.path().join(format!("{what}.fl"));
            std::fs::write(&path, bytes).unwrap();
            // Whatever fails, it fails with an error, and reading on never panics.
            if let Ok(fl) = Flist::open(&path) {
                let _ = fl.walk(|_, e| {
                    let _ = fl.blocks(e.ino);
                });
                let _ = fl.routes();
                let _ = fl.tags();
            } else {
                assert!(Flist::open(&path).is_err(), "{what}");
            }
        }
        assert!(matches!(
            Flist::open(&dir.path().join("missing.fl")),
            Err(MetaError::NotAnFlist { .. })
        ));
        // A SQLite file without the tables.
        let other = dir.path().join("other.fl");
        sql(&other, "CREATE TABLE x (a)");
        assert!(matches!(
            Flist::open(&other),
            Err(MetaError::NotAnFlist { .. })
        ));
    }

    #[test]
    fn opens_read_only_without_files_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a ?#%é");
        std::fs::create_dir(&odd).unwrap();
        let path = sample(&odd);
        sql(&path, "PRAGMA journal_mode = WAL");
        let fl = Flist::open(&path).unwrap();
        fl.walk(|_, _| {}).unwrap();
        let names: Vec<_> = std::fs::read_dir(&odd)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["sample.fl"]);
    }

    #[test]
    fn writer_refuses_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        assert!(matches!(
            Writer::create(&path),
            Err(MetaError::Create { .. })
        ));
    }
}
