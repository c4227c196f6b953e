//! Packs a real tree (files of several sizes, an empty file, a duplicate, symlinks, a hard link,
//! a fifo, modes) into a `dir://` store and into a real zdb process on 127.0.0.1, then reads
//! every entry back through the library and compares type, mode, owner, times, size, content
//! and link target. The `root_` test adds owners and a device node (needs root).
//!
//! The zdb binary is `ZDB_BIN`, else `target/<profile>/zdb` (built by `cargo test --workspace`,
//! or here with `cargo build -p zdb` when missing).

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zos_flist::block::BLOCK_SIZE;
use zos_flist::store::{open, StoreUrl};
use zos_flist::{pack, read_file, FileType, Flist, PackOptions, ReadError, Router};

/// Bytes that do not compress away: a simple LCG.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

fn mknod(path: &Path, mode: u32, dev: u64) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mknod(c.as_ptr(), mode, dev) };
    assert_eq!(rc, 0, "mknod {path:?}: {}", std::io::Error::last_os_error());
}

/// The test tree; with `root`, owners other than root's and a character device.
fn make_tree(dir: &Path, root: bool) {
    let w = |p: &str, bytes: &[u8], mode: u32| {
        let path = dir.join(p);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    std::fs::create_dir_all(dir.join("etc/deep/er")).unwrap();
    std::fs::create_dir(dir.join("private")).unwrap();
    w("small.txt", b"hello flist\n", 0o644);
    w("empty", b"", 0o600);
    w("exact", &noise(BLOCK_SIZE, 1), 0o640);
    w("big.bin", &noise(2 * BLOCK_SIZE + 1000, 2), 0o755);
    w("etc/same-as-big", &noise(2 * BLOCK_SIZE + 1000, 2), 0o444);
    w("etc/zeros", &vec![0; 3 * BLOCK_SIZE - 1], 0o4755);
    w("etc/deep/er/leaf", b"leaf", 0o1644);
    std::fs::set_permissions(dir.join("private"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("../big.bin", dir.join("etc/link")).unwrap();
    std::os::unix::fs::symlink("/nowhere/at/all", dir.join("dangling")).unwrap();
    std::fs::hard_link(dir.join("big.bin"), dir.join("etc/hardlink")).unwrap();
    mknod(&dir.join("fifo"), libc::S_IFIFO | 0o620, 0);
    if root {
        let chown = |p: &str, uid: u32, gid: u32| {
            std::os::unix::fs::lchown(dir.join(p), Some(uid), Some(gid)).unwrap();
        };
        chown("small.txt", 1000, 1001);
        chown("etc", 33, 34);
        chown("etc/link", 7, 8);
        chown("private", 65534, 65534);
        mknod(
            &dir.join("null"),
            libc::S_IFCHR | 0o666,
            libc::makedev(1, 3),
        );
        mknod(
            &dir.join("private/sda"),
            libc::S_IFBLK | 0o660,
            libc::makedev(8, 0),
        );
        chown("private/sda", 0, 6);
    }
}

/// Every path below `dir` (relative, "" for the root) with its lstat.
fn source_entries(dir: &Path) -> Vec<(String, std::fs::Metadata)> {
    let mut out = vec![(String::new(), std::fs::symlink_metadata(dir).unwrap())];
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(dir.join(&rel)).unwrap() {
            let entry = entry.unwrap();
            let child = rel.join(entry.file_name());
            let meta = std::fs::symlink_metadata(dir.join(&child)).unwrap();
            if meta.is_dir() {
                stack.push(child.clone());
            }
            out.push((child.to_string_lossy().into_owned(), meta));
        }
    }
    out
}

/// Reads every entry of `fl` back through `router` and compares it with the tree at `src`.
async fn compare(src: &Path, fl: &Path, router: &Router) -> usize {
    let flist = Flist::open(fl).unwrap();
    let mut count = 0;
    let mut walked = 0;
    flist.walk(|_, _| walked += 1).unwrap();
    let sources = source_entries(src);
    assert_eq!(walked, sources.len(), "the flist has every entry, no more");
    for (rel, meta) in sources {
        let entry = flist.lookup(&format!("/{rel}")).unwrap();
        assert_eq!(entry.mode, meta.mode(), "{rel}: mode");
        assert_eq!(
            (entry.uid, entry.gid),
            (meta.uid(), meta.gid()),
            "{rel}: owner"
        );
        assert_eq!(entry.mtime, meta.mtime(), "{rel}: mtime");
        assert_eq!(entry.rdev, meta.rdev(), "{rel}: rdev");
        let path = src.join(&rel);
        match entry.file_type() {
            FileType::Regular => {
                let blocks = flist.blocks(entry.ino).unwrap();
                assert_eq!(blocks.len(), (meta.len() as usize).div_ceil(BLOCK_SIZE));
                let mut content = Vec::new();
                read_file(router, &entry, &blocks, &mut content)
                    .await
                    .unwrap();
                assert!(content == std::fs::read(&path).unwrap(), "{rel}: content");
                assert_eq!(entry.size, meta.len());
            }
            FileType::Link => {
                let target = std::fs::read_link(&path).unwrap();
                assert_eq!(
                    entry.data.as_deref(),
                    Some(target.as_os_str().as_encoded_bytes()),
                    "{rel}: target"
                );
            }
            FileType::Dir => assert!(meta.is_dir()),
            FileType::Fifo | FileType::Char | FileType::Block => {
                assert_eq!(entry.file_type(), FileType::of_mode(meta.mode()));
                assert!(flist.blocks(entry.ino).unwrap().is_empty());
            }
            other => panic!("{rel}: unexpected {other:?}"),
        }
        count += 1;
    }
    // The hard link is its own inode with the same blocks.
    let big = flist.lookup("/big.bin").unwrap();
    let hard = flist.lookup("/etc/hardlink").unwrap();
    assert_ne!(big.ino, hard.ino);
    assert_eq!(
        flist.blocks(big.ino).unwrap(),
        flist.blocks(hard.ino).unwrap()
    );
    count
}

fn dir_router(store: &Path) -> Router {
    Router::from_specs(&[format!("dir://{}", store.display())]).unwrap()
}

/// Block files under a dir store.
fn stored_blocks(store: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(store).unwrap() {
        for file in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            out.push(file.unwrap().path());
        }
    }
    out
}

#[tokio::test]
async fn packs_a_tree_into_a_dir_store_and_reads_it_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, store, fl) = (
        tmp.path().join("src"),
        tmp.path().join("store"),
        tmp.path().join("t.fl"),
    );
    std::fs::create_dir(&src).unwrap();
    make_tree(&src, false);
    let router = dir_router(&store);
    let options = PackOptions {
        tags: vec![("version".into(), "v1.2".into())],
        ..PackOptions::default()
    };
    let stats = pack(&src, &fl, &router, &options).await.unwrap();
    // small 1 + exact 1 + big 3 (same-as-big and hardlink dedupe) + zeros: 2 equal full blocks
    // and a short one + leaf 1 = 8 distinct blocks.
    assert_eq!(stats.uploaded, 8, "{stats:?}");
    assert_eq!(stats.hard_links, 1);
    assert_eq!((stats.symlinks, stats.specials), (2, 1));
    assert_eq!(stored_blocks(&store).len(), 8);
    let count = compare(&src, &fl, &router).await;
    assert_eq!(count, 16);
    let flist = Flist::open(&fl).unwrap();
    assert_eq!(flist.tags().unwrap(), [("version".into(), "v1.2".into())]);
    // The routes of the .fl are enough to read it.
    let routes = flist.routes().unwrap();
    assert_eq!(routes.len(), 1);
    let from_routes = Router::from_routes(&routes).unwrap();
    compare(&src, &fl, &from_routes).await;
    // Packing again gives the same blocks; an existing output is replaced only when complete.
    let again = tmp.path().join("again.fl");
    pack(&src, &again, &router, &options).await.unwrap();
    assert_eq!(stored_blocks(&store).len(), 8);
}

#[tokio::test]
async fn wrong_block_bytes_are_an_error_never_content() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, store, fl) = (
        tmp.path().join("src"),
        tmp.path().join("store"),
        tmp.path().join("t.fl"),
    );
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), b"the real content").unwrap();
    let router = dir_router(&store);
    pack(&src, &fl, &router, &PackOptions::default())
        .await
        .unwrap();
    let flist = Flist::open(&fl).unwrap();
    let entry = flist.lookup("f").unwrap();
    let blocks = flist.blocks(entry.ino).unwrap();
    let files = stored_blocks(&store);
    assert_eq!(files.len(), 1);
    let file = &files[0];
    let good = std::fs::read(file).unwrap();
    // Another block's valid bytes under this id, then flipped bits, then nothing.
    let (_, other) = zos_flist::block::encode(b"the fake content").unwrap();
    let mut flipped = good.clone();
    flipped[3] ^= 0x10;
    for bad in [other, flipped] {
        std::fs::write(file, bad).unwrap();
        let mut out = Vec::new();
        let err = read_file(&router, &entry, &blocks, &mut out)
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::Store(_)), "{err}");
        assert!(out.is_empty());
    }
    std::fs::remove_file(file).unwrap();
    let mut out = Vec::new();
    assert!(read_file(&router, &entry, &blocks, &mut out).await.is_err());
    // A second store on the route that has the good bytes is used.
    let backup = tmp.path().join("backup");
    let mut router = dir_router(&store);
    router.add(
        0,
        255,
        open(&StoreUrl::parse(&format!("dir://{}", backup.display())).unwrap()).unwrap(),
    );
    router.set(&blocks[0].id, &good).await.unwrap();
    std::fs::write(file, b"garbage").unwrap();
    read_file(&router, &entry, &blocks, &mut out).await.unwrap();
    assert_eq!(out, b"the real content");
}

#[tokio::test]
async fn the_router_splits_blocks_by_first_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, fl) = (tmp.path().join("src"), tmp.path().join("t.fl"));
    std::fs::create_dir(&src).unwrap();
    make_tree(&src, false);
    let (low, high) = (tmp.path().join("low"), tmp.path().join("high"));
    let router = Router::from_specs(&[
        format!("00-7f=dir://{}", low.display()),
        format!("80-ff=dir://{}", high.display()),
    ])
    .unwrap();
    pack(&src, &fl, &router, &PackOptions::default())
        .await
        .unwrap();
    let (l, h) = (stored_blocks(&low), stored_blocks(&high));
    assert_eq!(l.len() + h.len(), 8);
    let first = |p: &PathBuf| {
        u8::from_str_radix(&p.file_name().unwrap().to_string_lossy()[..2], 16).unwrap()
    };
    assert!(l.iter().all(|p| first(p) < 0x80) && h.iter().all(|p| first(p) >= 0x80));
    let routes = Flist::open(&fl).unwrap().routes().unwrap();
    assert_eq!(
        routes.iter().map(|r| (r.start, r.end)).collect::<Vec<_>>(),
        [(0, 0x7f), (0x80, 0xff)]
    );
    compare(&src, &fl, &Router::from_routes(&routes).unwrap()).await;
}

#[tokio::test]
async fn root_packs_owners_and_device_nodes() {
    assert!(
        nix_is_root(),
        "this test changes owners and creates device nodes: it must run as root"
    );
    let tmp = tempfile::tempdir().unwrap();
    let (src, store, fl) = (
        tmp.path().join("src"),
        tmp.path().join("store"),
        tmp.path().join("t.fl"),
    );
    std::fs::create_dir(&src).unwrap();
    make_tree(&src, true);
    let router = dir_router(&store);
    let stats = pack(&src, &fl, &router, &PackOptions::default())
        .await
        .unwrap();
    assert_eq!(stats.specials, 3);
    compare(&src, &fl, &router).await;
    let flist = Flist::open(&fl).unwrap();
    let null = flist.lookup("/null").unwrap();
    assert_eq!(
        (null.file_type(), null.rdev),
        (FileType::Char, libc::makedev(1, 3))
    );
    assert_eq!(
        (
            flist.lookup("/etc").unwrap().uid,
            flist.lookup("/etc").unwrap().gid
        ),
        (33, 34)
    );
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A zdb process on 127.0.0.1 with an admin password; killed (by its pid) on Drop.
struct Zdb {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Zdb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ADMIN: &str = "admin-pw";

fn zdb_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("ZDB_BIN") {
        return PathBuf::from(bin);
    }
    // target/<profile>/deps/<this test> → target/<profile>/zdb
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("zdb");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--locked", "-p", "zdb", "--bin", "zdb"])
            .status()
            .unwrap();
        assert!(status.success(), "cargo build -p zdb failed");
    }
    assert!(bin.is_file(), "no zdb binary at {bin:?}: set ZDB_BIN");
    bin
}

impl Zdb {
    fn start() -> Zdb {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(zdb_binary())
            .arg("--index")
            .arg(dir.path().join("index"))
            .arg("--data")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1", "--port", &port.to_string()])
            .args(["--admin", ADMIN])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let zdb = Zdb {
            child,
            port,
            _dir: dir,
        };
        let until = Instant::now() + Duration::from_secs(20);
        while zdb.command(&["PING"]).is_err() {
            assert!(Instant::now() < until, "zdb did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        zdb
    }

    /// One command on a fresh connection (after AUTH when it is not PING); the reply line.
    fn command(&self, args: &[&str]) -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut send = |args: &[&str]| -> std::io::Result<String> {
            let mut req = format!("*{}\r\n", args.len());
            for a in args {
                req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
            }
            s.write_all(req.as_bytes())?;
            let mut buf = [0; 512];
            let n = s.read(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
        };
        if args != ["PING"] {
            let auth = send(&["AUTH", ADMIN])?;
            assert!(auth.starts_with("+OK"), "AUTH: {auth}");
        }
        send(args)
    }
}

#[tokio::test]
async fn packs_into_a_zdb_namespace_and_reads_it_back() {
    let zdb = Zdb::start();
    assert!(zdb.command(&["NSNEW", "flist"]).unwrap().starts_with("+OK"));
    for (key, value) in [("password", "ns-secret"), ("public", "0")] {
        let set = zdb.command(&["NSSET", "flist", key, value]).unwrap();
        assert!(set.starts_with("+OK"), "NSSET {key}: {set}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let (src, fl) = (tmp.path().join("src"), tmp.path().join("t.fl"));
    std::fs::create_dir(&src).unwrap();
    make_tree(&src, false);
    let url = format!("zdb://:ns-secret@127.0.0.1:{}/flist", zdb.port);
    let router = Router::from_specs(&[url]).unwrap();
    assert!(!format!("{router:?}").contains("ns-secret"));
    let stats = pack(&src, &fl, &router, &PackOptions::default())
        .await
        .unwrap();
    assert_eq!(stats.uploaded, 8);
    compare(&src, &fl, &router).await;
    // The .fl keeps the route without the password; with it given again, it reads.
    let routes = Flist::open(&fl).unwrap().routes().unwrap();
    let stored = routes[0].url.expose().to_string();
    assert_eq!(stored, format!("zdb://127.0.0.1:{}/flist", zdb.port));
    let no_password = Router::from_routes(&routes).unwrap();
    let flist = Flist::open(&fl).unwrap();
    let small = flist.lookup("/small.txt").unwrap();
    let blocks = flist.blocks(small.ino).unwrap();
    let mut out = Vec::new();
    let err = read_file(&no_password, &small, &blocks, &mut out)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("flist"), "{err}");
    // Packing again gives the same blocks (zdb answers nil: the values are there already).
    let again = tmp.path().join("again.fl");
    pack(&src, &again, &router, &PackOptions::default())
        .await
        .unwrap();
    let (a, b) = (Flist::open(&fl).unwrap(), Flist::open(&again).unwrap());
    for path in ["/big.bin", "/etc/zeros"] {
        let (ea, eb) = (a.lookup(path).unwrap(), b.lookup(path).unwrap());
        assert_eq!(a.blocks(ea.ino).unwrap(), b.blocks(eb.ino).unwrap());
    }
}
