//! Requests whose data is not in the page cache: the server's first, non-waiting attempt
//! (`namespace::nowait`) gives up and the request runs again where blocking is allowed; the
//! client sees the right replies, in order. The data lives under the target directory (a real
//! disk: a tmpfs never drops its pages), and pages are dropped with `posix_fadvise(DONTNEED)`.

mod common;

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
use zdb::namespace::nowait;
use zdb::ServerHandle;

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Writes back and drops every page of the files under `root`.
fn drop_pages(root: &Path) {
    for path in files_under(root) {
        let f = File::open(&path).unwrap();
        f.sync_all().unwrap();
        posix_fadvise(f.as_fd(), 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED).unwrap();
    }
}

/// Whether reading `path` whole would wait for the disk.
fn would_wait(path: &Path) -> bool {
    let f = File::open(path).unwrap();
    let mut buf = vec![0u8; f.metadata().unwrap().len() as usize];
    nowait::attempt(|| nowait::read_exact_at(&f, &mut buf, 0)).1
}

fn value(i: usize) -> Vec<u8> {
    (0..4096).map(|j| ((i * 31 + j) % 251) as u8).collect()
}

#[test]
fn reads_that_miss_the_page_cache_are_served_right() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let cfg = common::config(dir.path());
    let data_file = dir.path().join("data/default/d0");
    {
        let server = ServerHandle::start(cfg.clone()).unwrap();
        let c = redis::Client::open(format!("redis://{}/", server.addr.unwrap())).unwrap();
        let mut con = c.get_connection().unwrap();
        let mut pipe = redis::pipe();
        for i in 0..300 {
            pipe.cmd("SET")
                .arg(format!("key{i}"))
                .arg(value(i))
                .ignore();
        }
        pipe.query::<()>(&mut con).unwrap();
    }
    drop_pages(dir.path());
    assert!(
        would_wait(&data_file),
        "the data file's pages were not dropped: this test proves nothing here"
    );

    let server = ServerHandle::start(cfg).unwrap();
    drop_pages(&dir.path().join("data"));
    let c = redis::Client::open(format!("redis://{}/", server.addr.unwrap())).unwrap();
    let mut con = c.get_connection().unwrap();
    // Pipelined, so cached and uncached requests mix in one batch: PINGs answer inline
    // between GETs that have to wait.
    let mut pipe = redis::pipe();
    for i in 0..300 {
        pipe.cmd("GET").arg(format!("key{i}"));
        pipe.cmd("PING");
    }
    let replies: Vec<redis::Value> = pipe.query(&mut con).unwrap();
    for i in 0..300 {
        assert_eq!(replies[2 * i], redis::Value::BulkString(value(i)), "key{i}");
        assert_eq!(
            replies[2 * i + 1],
            redis::Value::SimpleString("PONG".into())
        );
    }
    assert!(
        !would_wait(&data_file),
        "the GETs were served from the disk, so the file is cached again"
    );

    // An update of an uncached key (zdb compares the old payload first) and a DEL.
    drop_pages(&dir.path().join("data"));
    let same: Option<Vec<u8>> = redis::cmd("SET")
        .arg("key7")
        .arg(value(7))
        .query(&mut con)
        .unwrap();
    assert_eq!(same, None, "an identical payload is not written again");
    let _: () = redis::cmd("DEL").arg("key8").query(&mut con).unwrap();
    let gone: redis::RedisResult<Vec<u8>> = redis::cmd("GET").arg("key8").query(&mut con);
    assert!(gone.is_err() || gone.unwrap().is_empty());
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 299);
}
