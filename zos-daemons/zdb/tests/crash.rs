//! Crash and corruption tests: kill -9 of the real binary during a write loop, then restart
//! and check every acknowledged write; truncation of data/index files at random offsets,
//! then startup must recover (serving only correct data) or refuse with a clear error.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Only the process this test started, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(dir: &Path, extra: &[&str]) -> (Proc, PathBuf) {
    let sock = dir.join("zdb.sock");
    let _ = std::fs::remove_file(&sock);
    let child = Command::new(env!("CARGO_BIN_EXE_zdb"))
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--index")
        .arg(dir.join("index"))
        .arg("--socket")
        .arg(&sock)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("zdb.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .spawn()
        .expect("spawn zdb");
    let start = Instant::now();
    while !sock.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "zdb did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (Proc { child }, sock)
}

fn connect(sock: &Path) -> redis::Connection {
    let start = Instant::now();
    loop {
        let c = redis::Client::open(format!("redis+unix://{}", sock.display())).unwrap();
        match c.get_connection() {
            Ok(con) => return con,
            Err(e) => {
                assert!(start.elapsed() < Duration::from_secs(20), "connect: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn value_for(i: u64, round: u64) -> Vec<u8> {
    let len = 10 + (i * 7919 % 3000) as usize;
    (0..len)
        .map(|j| (i as usize * 31 + j + round as usize) as u8)
        .collect()
}

/// Xorshift, seeded: reproducible "random" offsets.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A write: key and the value it set (None = deleted).
type Op = (String, Option<Vec<u8>>);

#[test]
fn kill9_during_writes_sync_mode_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5EED_1234);
    // acknowledged: key -> Some(value) or None (deleted)
    let mut acked: std::collections::HashMap<String, Option<Vec<u8>>> = Default::default();
    for round in 0..3u64 {
        let (proc_, sock) = spawn(dir.path(), &["--sync", "--datasize", "524288"]);
        let stop = Arc::new(AtomicBool::new(false));
        let log: Arc<Mutex<Vec<Op>>> = Default::default();
        // the request in flight when the process died: it may or may not have landed
        let pending: Arc<Mutex<Option<Op>>> = Default::default();
        let (stop2, log2, sock2, pending2) =
            (stop.clone(), log.clone(), sock.clone(), pending.clone());
        let writer = std::thread::spawn(move || {
            let mut c = connect(&sock2);
            for i in 0..20_000u64 {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let key = format!("r{round}-k{}", i % 500);
                let r: redis::RedisResult<redis::Value> = if i % 11 == 10 {
                    redis::cmd("DEL").arg(&key).query(&mut c)
                } else {
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(value_for(i, round))
                        .query(&mut c)
                };
                match r {
                    Ok(_) => {
                        let v = if i % 11 == 10 {
                            None
                        } else {
                            Some(value_for(i, round))
                        };
                        log2.lock().unwrap().push((key, v));
                    }
                    Err(e) if e.code() == Some("Key") => {} // "Key not found"
                    Err(_) => {
                        // killed
                        let v = if i % 11 == 10 {
                            None
                        } else {
                            Some(value_for(i, round))
                        };
                        *pending2.lock().unwrap() = Some((key, v));
                        break;
                    }
                }
            }
        });
        std::thread::sleep(Duration::from_millis(150 + rng.next() % 400));
        drop(proc_); // SIGKILL
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        let entries = log.lock().unwrap().clone();
        assert!(
            !entries.is_empty(),
            "round {round}: nothing written before the kill"
        );
        for (k, v) in entries {
            acked.insert(k, v);
        }
        // restart (no --sync needed for reading) and check everything acknowledged
        let (_p, sock) = spawn(dir.path(), &["--datasize", "524288"]);
        let mut c = connect(&sock);
        let pending = pending.lock().unwrap().take();
        let mut landed: Option<Op> = None;
        for (k, v) in &acked {
            let got: Option<Vec<u8>> = redis::cmd("GET").arg(k).query(&mut c).unwrap();
            let in_flight = pending.as_ref().filter(|(pk, _)| pk == k).map(|(_, pv)| pv);
            if !(&got == v || Some(&got) == in_flight) {
                let log = std::fs::read_to_string(dir.path().join("zdb.log")).unwrap_or_default();
                let keep = dir.keep();
                panic!(
                    "round {round}: key {k}: acknowledged state lost (got {:?} bytes, want {:?}); dir kept at {keep:?}; log:\n{log}",
                    got.as_ref().map(|g| g.len()),
                    v.as_ref().map(|g| g.len())
                );
            }
            if in_flight.is_some() {
                // the in-flight write's outcome is now known: later rounds expect it
                landed = Some((k.clone(), got.clone()));
            }
            if v.is_some() {
                let ok: i64 = redis::cmd("CHECK").arg(k).query(&mut c).unwrap();
                assert_eq!(ok, 1, "CHECK {k}");
            }
        }
        if let Some((k, v)) = landed {
            acked.insert(k, v);
        }
        drop(c);
    }
    // the directory verifies cleanly after recovery
    let out = Command::new(env!("CARGO_BIN_EXE_zdb-check"))
        .arg("--index")
        .arg(dir.path().join("index"))
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("verify")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

type Dataset = Vec<(Vec<u8>, Vec<u8>)>;
type Versions = std::collections::HashMap<Vec<u8>, Vec<Vec<u8>>>;

fn build_dataset(mode: Option<zdb::format::Mode>) -> (tempfile::TempDir, Dataset) {
    let (d, live, _) = build_dataset_versions(mode);
    (d, live)
}

/// 300 writes (user mode: 120 keys, so most are updated), rotated over several files.
/// Returns the live values and every value each key ever had.
fn build_dataset_versions(
    mode: Option<zdb::format::Mode>,
) -> (tempfile::TempDir, Dataset, Versions) {
    let s = TestServer::start_with(|c| {
        c.settings.datasize = 512 * 1024;
        c.settings.mode = mode;
    });
    let mut c = s.client();
    let mut live = std::collections::HashMap::new();
    let mut versions: Versions = Default::default();
    for i in 0..300u64 {
        // ~7 KiB on average: the dataset spans 4-5 data files of 512 KiB.
        let v = value_for(i, 9).repeat(5);
        let key = if mode == Some(zdb::format::Mode::Seq) {
            bulk(&okb(&mut c, &[b"SET", b"", &v]))
        } else {
            let k = format!("key{}", i % 120).into_bytes();
            okb(&mut c, &[b"SET", &k, &v]);
            k
        };
        versions.entry(key.clone()).or_default().push(v.clone());
        live.insert(key, v);
    }
    drop(c);
    let TestServer { handle, dir, .. } = s;
    drop(handle);
    (dir, live.into_iter().collect(), versions)
}

fn files_of(root: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for top in ["index", "data"] {
        for ns in std::fs::read_dir(root.join(top)).unwrap().flatten() {
            if ns.path().is_dir() {
                for f in std::fs::read_dir(ns.path()).unwrap().flatten() {
                    v.push(f.path());
                }
            }
        }
    }
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&t).unwrap();
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

fn truncation_round(mode: Option<zdb::format::Mode>, seed: u64, rounds: u32) {
    let (base, live, versions) = build_dataset_versions(mode);
    let files = files_of(base.path());
    let mut rng = Rng(seed);
    let mut recovered = 0;
    let mut refused = 0;
    for round in 0..rounds {
        let work = tempfile::tempdir().unwrap();
        copy_dir(base.path(), work.path());
        let victim_rel = files[(rng.next() % files.len() as u64) as usize]
            .strip_prefix(base.path())
            .unwrap()
            .to_path_buf();
        let victim = work.path().join(&victim_rel);
        let len = std::fs::metadata(&victim).unwrap().len();
        let at = if len == 0 { 0 } else { rng.next() % len };
        std::fs::OpenOptions::new()
            .write(true)
            .open(&victim)
            .unwrap()
            .set_len(at)
            .unwrap();
        let mut cfg = common::config(work.path());
        cfg.settings.datasize = 512 * 1024;
        cfg.settings.mode = mode;
        // Loading in this thread: a panic fails the test.
        match zdb::Engine::open(cfg.settings.clone()) {
            Err(e) => {
                refused += 1;
                let msg = e.to_string();
                eprintln!("refused: {victim_rel:?} cut at {at}: {msg}");
                assert!(msg.len() > 10, "unclear error: {msg}");
                continue;
            }
            Ok(engine) => drop(engine),
        }
        recovered += 1;
        let h = zdb::ServerHandle::start(cfg).unwrap();
        let cl = redis::Client::open(format!("redis://{}/", h.addr.unwrap())).unwrap();
        let mut c = cl.get_connection().unwrap();
        for (k, v) in &live {
            let _ = v;
            match cmd(&mut c, &[b"GET", k]) {
                // The latest value, or an older acknowledged one when the cut removed the
                // newer version (the state at that point of the file), never other bytes.
                Ok(redis::Value::BulkString(got)) => assert!(
                    versions[k].contains(&got),
                    "round {round}: {victim_rel:?} cut at {at}: wrong data for {:?} ({} bytes)",
                    String::from_utf8_lossy(k),
                    got.len()
                ),
                Ok(redis::Value::Nil) => {}
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => assert_eq!(e, "Internal Error"),
            }
        }
        // the server keeps working after recovery
        let w = if mode == Some(zdb::format::Mode::Seq) {
            okb(&mut c, &[b"SET", b"", b"after"])
        } else {
            okb(&mut c, &[b"SET", b"after", b"crash"])
        };
        let k = bulk(&w);
        assert!(matches!(
            okb(&mut c, &[b"GET", &k]),
            redis::Value::BulkString(_)
        ));
    }
    eprintln!("{mode:?}: {recovered} recovered, {refused} refused with a clear error");
    assert!(recovered > 0, "nothing recovered ({refused} refused)");
}

#[test]
fn truncation_at_random_offsets_user_mode() {
    truncation_round(None, 0xC0FFEE, 24);
}

#[test]
fn truncation_at_random_offsets_seq_mode() {
    truncation_round(Some(zdb::format::Mode::Seq), 0xBADC0DE, 16);
}

#[test]
fn torn_tail_is_cut_not_served() {
    // Append half an entry to the active data and index files, as a power cut would.
    let (base, live) = build_dataset(None);
    let d = base.path().join("data/default");
    assert!(d.join("d3").exists(), "dataset spans several files");
    let i = base.path().join("index/default");
    let last = (0..)
        .take_while(|n| d.join(format!("d{n}")).exists())
        .count()
        - 1;
    let dfile = d.join(format!("d{last}"));
    let ifile = i.join(format!("i{last}"));
    let dlen = std::fs::metadata(&dfile).unwrap().len();
    let ilen = std::fs::metadata(&ifile).unwrap().len();
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&dfile)
        .unwrap();
    f.write_all(&[3, 0xff, 0xff, 0, 0, 0, 0]).unwrap();
    // a complete-looking index entry pointing at data that is not there
    let item = zdb::format::IndexItem {
        idlength: 3,
        offset: dlen as u32,
        length: 5000,
        flags: 0,
        ..Default::default()
    };
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&ifile)
        .unwrap();
    f.write_all(&item.encode()).unwrap();
    f.write_all(b"new").unwrap();
    let cfg = {
        let mut c = common::config(base.path());
        c.settings.datasize = 512 * 1024;
        c
    };
    let h = zdb::ServerHandle::start(cfg).unwrap();
    assert_eq!(std::fs::metadata(&dfile).unwrap().len(), dlen);
    assert_eq!(std::fs::metadata(&ifile).unwrap().len(), ilen);
    let cl = redis::Client::open(format!("redis://{}/", h.addr.unwrap())).unwrap();
    let mut c = cl.get_connection().unwrap();
    assert_eq!(okb(&mut c, &[b"GET", b"new"]), redis::Value::Nil);
    for (k, v) in &live {
        assert!(&bulk(&okb(&mut c, &[b"GET", k])) == v);
    }
}

#[test]
fn zdb_check_rebuilds_index_from_data() {
    for mode in [None, Some(zdb::format::Mode::Seq)] {
        let (base, live) = build_dataset(mode);
        let idx = base.path().join("index/default");
        // destroy the index files
        for n in 0.. {
            let p = idx.join(format!("i{n}"));
            if !p.exists() {
                break;
            }
            let b = std::fs::read(&p).unwrap();
            std::fs::write(&p, &b[..29]).unwrap();
        }
        let out = Command::new(env!("CARGO_BIN_EXE_zdb-check"))
            .arg("--index")
            .arg(base.path().join("index"))
            .arg("--data")
            .arg(base.path().join("data"))
            .args(["rebuild", "default"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut cfg = common::config(base.path());
        cfg.settings.mode = mode;
        let h = zdb::ServerHandle::start(cfg).unwrap();
        let cl = redis::Client::open(format!("redis://{}/", h.addr.unwrap())).unwrap();
        let mut c = cl.get_connection().unwrap();
        assert_eq!(int(&ok(&mut c, &["DBSIZE"])), live.len() as i64);
        for (k, v) in &live {
            assert!(&bulk(&okb(&mut c, &[b"GET", k])) == v, "{mode:?}");
        }
        let verify = Command::new(env!("CARGO_BIN_EXE_zdb-check"))
            .arg("--index")
            .arg(base.path().join("index"))
            .arg("--data")
            .arg(base.path().join("data"))
            .arg("verify")
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "{}",
            String::from_utf8_lossy(&verify.stdout)
        );
    }
}

/// A second server on a directory in use refuses to start (as 0-db, through `.lockfile`), and
/// the first keeps serving; once the first is gone, the directory can be served again.
#[test]
fn a_second_server_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (first, sock) = spawn(dir.path(), &[]);
    let mut con = connect(&sock);
    redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query::<()>(&mut con)
        .unwrap();
    // What a zdb that must refuse to start says on stderr.
    let refusal = |data: &str, index: &str, socket: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_zdb"))
            .arg("--data")
            .arg(dir.path().join(data))
            .arg("--index")
            .arg(dir.path().join(index))
            .arg("--socket")
            .arg(dir.path().join(socket))
            .output()
            .expect("run zdb");
        assert!(!out.status.success(), "zdb started on {data} and {index}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = refusal("data", "index", "second.sock");
    assert!(stderr.contains("another zdb is using"), "{stderr}");
    let v: Vec<u8> = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, b"v");

    // Index and data in one directory is refused too.
    let stderr = refusal("same", "same", "third.sock");
    assert!(stderr.contains("cannot be the same directory"), "{stderr}");

    drop(con);
    drop(first);
    let (_again, sock) = spawn(dir.path(), &[]);
    let v: Vec<u8> = redis::cmd("GET")
        .arg("k")
        .query(&mut connect(&sock))
        .unwrap();
    assert_eq!(v, b"v");
}
