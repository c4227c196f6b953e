//! zdb against hostile clients, on loopback, with the real binary as a separate process (so its
//! memory can be measured: VmRSS/VmHWM of /proc/<pid>/status). Each attack must end in an error
//! or a closed connection, keep the server within a stated memory bound, keep another client
//! served within a stated latency, and lose no acknowledged data. Each test prints one
//! `hostile <attack>:` line with its figures before it asserts, so the same suite run against
//! another binary (`ZDB_HOSTILE_BIN=/path/to/zdb ZDB_HOSTILE_LEGACY=1`, without the connection
//! flags it does not know) tells how that one fares. Attackers connect from 127.0.0.2.. (their
//! own peer address), the victim from 127.0.0.1. Tests that mount a tmpfs need root.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrIn};

const ADMIN: &str = "adminpw";
/// The connection policy the suite runs with (short, so that the tests stay quick).
const REQUEST_TIMEOUT_S: u64 = 2;
const IDLE_TIMEOUT_S: u64 = 3;
const PER_PEER: usize = 16;
const BUDGET_MIB: u64 = 64;
/// What another client may wait for a PING while an attack runs (a debug build, on a machine
/// that may be busy with other tests).
const VICTIM_LATENCY: Duration = Duration::from_millis(1500);

fn legacy() -> bool {
    std::env::var_os("ZDB_HOSTILE_LEGACY").is_some()
}

fn binary() -> PathBuf {
    std::env::var_os("ZDB_HOSTILE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_zdb")))
}

/// The server's log, `zdb.log` beside its files; a failed test prints its tail.
fn log(root: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("zdb.log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A zdb process on 127.0.0.1 (`--protect --admin`, unix socket too); killed on Drop.
struct Zdb {
    child: Child,
    port: u16,
    root: PathBuf,
    _dir: Option<tempfile::TempDir>,
    extra: Vec<String>,
}

impl Zdb {
    fn start(extra: &[&str]) -> Zdb {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let mut z = Zdb::spawn(root, extra);
        z._dir = Some(dir);
        z
    }

    /// A server on `root` (index and data under it).
    fn spawn(root: PathBuf, extra: &[&str]) -> Zdb {
        let port = free_port();
        let mut args: Vec<String> = [
            "--index",
            &root.join("index").to_string_lossy(),
            "--data",
            &root.join("data").to_string_lossy(),
            "--listen",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--admin",
            ADMIN,
            "--protect",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if !legacy() {
            for (flag, value) in [
                ("--request-timeout", REQUEST_TIMEOUT_S.to_string()),
                ("--idle-timeout", IDLE_TIMEOUT_S.to_string()),
                ("--max-clients-per-ip", PER_PEER.to_string()),
                ("--max-buffer-bytes", (BUDGET_MIB << 20).to_string()),
            ] {
                args.push(flag.into());
                args.push(value);
            }
        }
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        args.extend(extra.iter().cloned());
        let child = Command::new(binary())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(log(&root))
            .spawn()
            .expect("zdb starts");
        let z = Zdb {
            child,
            port,
            root,
            _dir: None,
            extra,
        };
        z.wait_ready();
        z
    }

    fn try_ready(&self, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Ok(mut c) = TcpStream::connect(self.addr()) {
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                if c.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok() {
                    let mut b = [0u8; 7];
                    if c.read_exact(&mut b).is_ok() && &b == b"+PONG\r\n" {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn wait_ready(&self) {
        assert!(
            self.try_ready(Duration::from_secs(20)),
            "zdb never answered PING"
        );
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn status_kib(&self, field: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn rss_mib(&self) -> u64 {
        self.status_kib("VmRSS:") / 1024
    }

    fn peak_mib(&self) -> u64 {
        self.status_kib("VmHWM:") / 1024
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn client(&self) -> Client {
        Client::connect(self.addr(), Ipv4Addr::LOCALHOST)
    }

    fn attacker(&self, n: u8) -> Client {
        Client::connect(self.addr(), Ipv4Addr::new(127, 0, 0, 2 + n))
    }

    /// An admin connection (AUTH done).
    fn admin(&self) -> Client {
        let mut c = self.client();
        assert_eq!(c.call(&[b"AUTH", ADMIN.as_bytes()]), b"+OK\r\n");
        c
    }

    fn stop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.wait();
    }

    /// Kills and starts again on the same files; false when it does not come up.
    fn restart(&mut self) -> bool {
        self.stop();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let port = free_port();
        let root = self.root.clone();
        let mut args = vec![
            "--index".to_string(),
            root.join("index").to_string_lossy().into_owned(),
            "--data".into(),
            root.join("data").to_string_lossy().into_owned(),
            "--listen".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--admin".into(),
            ADMIN.into(),
            "--protect".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        self.child = Command::new(binary())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(log(&self.root))
            .spawn()
            .expect("zdb starts");
        self.port = port;
        self.try_ready(Duration::from_secs(10))
    }
}

impl Drop for Zdb {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.root.join("zdb.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("zdb.log (last lines):");
            for l in tail.iter().rev() {
                eprintln!("  {l}");
            }
        }
    }
}

/// A TCP client from a chosen loopback address, speaking raw RESP.
struct Client {
    s: TcpStream,
}

fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut b = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        b.extend_from_slice(a);
        b.extend_from_slice(b"\r\n");
    }
    b
}

impl Client {
    fn connect(to: SocketAddr, from: Ipv4Addr) -> Client {
        let fd: OwnedFd = socket::socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("socket");
        socket::bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &SockaddrIn::from(SocketAddrV4::new(from, 0)),
        )
        .expect("bind the source address");
        let SocketAddr::V4(to) = to else {
            unreachable!("the suite listens on 127.0.0.1")
        };
        socket::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(to))
            .expect("connect");
        let s = TcpStream::from(fd);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_nodelay(true).unwrap();
        Client { s }
    }

    fn send(&mut self, b: &[u8]) -> bool {
        self.s.write_all(b).is_ok()
    }

    /// One reply, raw (a bulk or an array of bulks read whole); empty on EOF or timeout.
    fn reply(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.reply_into(&mut out) {
            out.clear();
        }
        out
    }

    fn line(&mut self, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let mut b = [0u8; 1];
        while !out[start..].ends_with(b"\r\n") {
            match self.s.read(&mut b) {
                Ok(1) => out.push(b[0]),
                _ => return false,
            }
        }
        true
    }

    fn reply_into(&mut self, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        if !self.line(out) {
            return false;
        }
        let head = out[start..out.len() - 2].to_vec();
        let n: i64 = std::str::from_utf8(&head[1..])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1);
        match head[0] {
            b'$' if n >= 0 => {
                let at = out.len();
                out.resize(at + n as usize + 2, 0);
                self.s.read_exact(&mut out[at..]).is_ok()
            }
            b'*' if n >= 0 => (0..n).all(|_| self.reply_into(out)),
            _ => true,
        }
    }

    fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        if !self.send(&encode(args)) {
            return Vec::new();
        }
        self.reply()
    }

    /// True when the server closed the connection within `within`.
    fn closed_within(&mut self, within: Duration) -> bool {
        self.s.set_read_timeout(Some(within)).unwrap();
        let mut b = [0u8; 4096];
        let until = Instant::now() + within;
        loop {
            match self.s.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
            if Instant::now() >= until {
                return false;
            }
        }
    }
}

/// PINGs from 127.0.0.1 every 20 ms until stopped; the slowest answer (a PING with no answer
/// within 10 s counts as 10 s).
struct Victim {
    stop: Arc<AtomicBool>,
    worst_ms: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Victim {
    fn start(z: &Zdb) -> Victim {
        let addr = z.addr();
        let stop = Arc::new(AtomicBool::new(false));
        let worst_ms = Arc::new(AtomicU64::new(0));
        let (s, w) = (stop.clone(), worst_ms.clone());
        let thread = std::thread::spawn(move || {
            let mut c = Client::connect(addr, Ipv4Addr::LOCALHOST);
            // at least one PING, however short the attack
            let mut first = true;
            while first || !s.load(Ordering::Relaxed) {
                first = false;
                let t = Instant::now();
                let r = c.call(&[b"PING"]);
                let ms = if r == b"+PONG\r\n" {
                    t.elapsed().as_millis() as u64
                } else {
                    // dropped (an idle timeout cannot hit: it PINGs every 20 ms)
                    c = Client::connect(addr, Ipv4Addr::LOCALHOST);
                    10_000
                };
                w.fetch_max(ms, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Victim {
            stop,
            worst_ms,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        Duration::from_millis(self.worst_ms.load(Ordering::Relaxed))
    }
}

/// How many of `conns` the server has closed.
fn closed_count(conns: &mut [Client]) -> usize {
    conns
        .iter_mut()
        .map(|c| c.closed_within(Duration::from_millis(50)))
        .filter(|closed| *closed)
        .count()
}

/// Samples the RSS every 10 ms while `f` runs; returns f's result and the highest sample.
fn watch_rss<R>(z: &Zdb, f: impl FnOnce() -> R) -> (R, u64) {
    let pid = z.child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let high = Arc::new(AtomicU64::new(0));
    let (s, h) = (stop.clone(), high.clone());
    let t = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            if let Some(kb) = st
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                h.fetch_max(kb / 1024, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let r = f();
    stop.store(true, Ordering::Relaxed);
    let _ = t.join();
    (r, high.load(Ordering::Relaxed))
}

fn is_error(r: &[u8]) -> bool {
    r.first() == Some(&b'-')
}

fn show(r: &[u8]) -> String {
    let s = String::from_utf8_lossy(&r[..r.len().min(80)]).into_owned();
    if s.is_empty() {
        "(closed)".into()
    } else {
        s.trim_end().to_string()
    }
}

/// Makes namespace `ns` (admin), with `password` and `public`.
fn namespace(admin: &mut Client, ns: &str, password: Option<&str>, public: bool) {
    assert_eq!(admin.call(&[b"NSNEW", ns.as_bytes()]), b"+OK\r\n");
    if let Some(pw) = password {
        assert_eq!(
            admin.call(&[b"NSSET", ns.as_bytes(), b"password", pw.as_bytes()]),
            b"+OK\r\n"
        );
    }
    let flag: &[u8] = if public { b"1" } else { b"0" };
    assert_eq!(
        admin.call(&[b"NSSET", ns.as_bytes(), b"public", flag]),
        b"+OK\r\n"
    );
}

fn select(c: &mut Client, ns: &str, password: Option<&str>) -> Vec<u8> {
    match password {
        Some(pw) => c.call(&[b"SELECT", ns.as_bytes(), pw.as_bytes()]),
        None => c.call(&[b"SELECT", ns.as_bytes()]),
    }
}

// ---- memory before checks ----

/// HISTORY with an index location inside an entry, so that the 4 bytes read as the payload
/// length are the entry's timestamp (1 GiB here): from an anonymous reader of a public
/// namespace. Bound: the peak RSS stays under 64 MiB above the start.
#[test]
fn history_with_a_crafted_offset_allocates_nothing() {
    let z = Zdb::start(&[]);
    let mut admin = z.admin();
    namespace(&mut admin, "pub", Some("pw"), true);
    assert_eq!(select(&mut admin, "pub", Some("pw")), b"+OK\r\n");
    // An explicit timestamp of 2^30: the first entry of i0 is at 29 (key "k"); at 29 + 13 the
    // length field falls on the timestamp.
    assert_eq!(
        admin.call(&[b"SET", b"k", b"value", b"1073741824"]),
        b"$1\r\nk\r\n"
    );
    // more entries after it, so that the crafted 34 bytes lie inside the file
    assert_eq!(admin.call(&[b"SET", b"k2", b"value"]), b"$2\r\nk2\r\n");
    let start = z.peak_mib();
    let victim = Victim::start(&z);
    let mut reader = z.attacker(0);
    assert_eq!(select(&mut reader, "pub", None), b"+OK\r\n");
    let mut ekey = Vec::new();
    ekey.extend_from_slice(&0u32.to_le_bytes());
    ekey.extend_from_slice(&(29u32 + 13).to_le_bytes());
    let mut replies = Vec::new();
    for _ in 0..3 {
        replies.push(reader.call(&[b"HISTORY", b"", &ekey]));
    }
    let latency = victim.finish();
    let grew = z.peak_mib().saturating_sub(start);
    eprintln!(
        "hostile history-crafted-offset: reply {:?}, peak RSS +{grew} MiB, victim worst PING {latency:?}",
        show(&replies[0])
    );
    assert!(replies.iter().all(|r| is_error(r)), "{replies:?}");
    assert!(grew < 64, "peak RSS grew by {grew} MiB");
    assert!(latency < VICTIM_LATENCY, "{latency:?}");
    assert_eq!(admin.call(&[b"GET", b"k"]), b"$5\r\nvalue\r\n");
}

/// MGET of one 4 MiB value 64 times, 4 times over on 4 connections that never read. Bound:
/// RSS under 64 MiB (budget) + 64 MiB above the start; before, the replies were built whole.
#[test]
fn mget_replies_to_a_client_that_does_not_read_are_bounded() {
    let z = Zdb::start(&[]);
    let mut admin = z.admin();
    namespace(&mut admin, "pub", None, true);
    let value = vec![b'v'; 4 << 20];
    let mut c = z.client();
    assert_eq!(select(&mut c, "pub", None), b"+OK\r\n");
    assert_eq!(c.call(&[b"SET", b"big", &value]), b"$3\r\nbig\r\n");
    let keys: Vec<&[u8]> = std::iter::once(&b"MGET"[..])
        .chain(std::iter::repeat_n(&b"big"[..], 64))
        .collect();
    let frame = encode(&keys);
    let start = z.rss_mib();
    let victim = Victim::start(&z);
    let ((first, closed), high) = watch_rss(&z, || {
        let mut attackers: Vec<Client> = (0..4).map(|_| z.attacker(0)).collect();
        for a in &mut attackers {
            assert_eq!(select(a, "pub", None), b"+OK\r\n");
            for _ in 0..4 {
                a.send(&frame);
            }
        }
        // Let the server do what it does with them (stop early past 1.5 GiB).
        let until = Instant::now() + Duration::from_secs(6);
        while Instant::now() < until && z.rss_mib() < 1536 {
            std::thread::sleep(Duration::from_millis(50));
        }
        let first = attackers[0].reply();
        let closed = attackers[1].closed_within(Duration::from_secs(REQUEST_TIMEOUT_S * 3));
        (first, closed)
    });
    let latency = victim.finish();
    let grew = high.saturating_sub(start);
    eprintln!(
        "hostile mget-not-reading: first reply {:?}, RSS +{grew} MiB, non-reader closed: {closed}, victim worst PING {latency:?}",
        show(&first)
    );
    let mget = (first, grew, latency);

    // GETs of the 4 MiB value, 8 pipelined on each of 30 connections (two peers) that never
    // read: each reply is allowed, together they must stay within the budget.
    let get = encode(&[b"GET", b"big"]).repeat(8);
    let start = z.rss_mib();
    let victim = Victim::start(&z);
    let (closed, high) = watch_rss(&z, || {
        let mut attackers: Vec<Client> = (0..30).map(|i| z.attacker(1 + i % 2)).collect();
        for a in &mut attackers {
            assert_eq!(select(a, "pub", None), b"+OK\r\n");
            a.send(&get);
        }
        let until = Instant::now() + Duration::from_secs(REQUEST_TIMEOUT_S + 3);
        while Instant::now() < until && z.rss_mib() < 1536 {
            std::thread::sleep(Duration::from_millis(50));
        }
        closed_count(&mut attackers)
    });
    let latency = victim.finish();
    let grew = high.saturating_sub(start);
    eprintln!(
        "hostile get-flood-not-reading: RSS +{grew} MiB, {closed}/30 non-readers closed, victim worst PING {latency:?}"
    );
    let (first, mget_grew, mget_latency) = mget;
    assert!(is_error(&first) || first.is_empty(), "{}", show(&first));
    assert!(mget_grew < BUDGET_MIB + 64, "RSS grew by {mget_grew} MiB");
    assert!(mget_latency < VICTIM_LATENCY, "{mget_latency:?}");
    assert!(grew < BUDGET_MIB + 64, "RSS grew by {grew} MiB");
    assert!(latency < VICTIM_LATENCY, "{latency:?}");
    let mut c = z.client();
    assert_eq!(select(&mut c, "pub", None), b"+OK\r\n");
    let mut r = c.call(&[b"GET", b"big"]);
    assert_eq!(r.len(), value.len() + 12);
    r.truncate(12);
    assert_eq!(r, b"$4194304\r\nvv");
}

// ---- hangs ----

/// redis-py's pipeline of 2000 GETs of 4 KiB values (8 MiB of replies), 10 s socket timeout.
#[test]
fn a_redis_py_pipeline_of_2000_gets_completes() {
    let z = Zdb::start(&[]);
    let mut admin = z.admin();
    namespace(&mut admin, "pub", None, true);
    let script = r#"
import sys, time, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=10)
r.response_callbacks.clear()
r.execute_command("SELECT", "pub")
v = b"x" * 4096
for i in range(2000):
    r.execute_command("SET", "k%d" % i, v)
t = time.time()
p = r.pipeline(transaction=False)
for i in range(2000):
    p.execute_command("GET", "k%d" % i)
try:
    out = p.execute()
    assert all(x == v for x in out), "wrong values"
    print("ok %.3f" % (time.time() - t))
except redis.exceptions.TimeoutError:
    print("timeout %.3f" % (time.time() - t))
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script, &z.port.to_string()])
        .output()
        .expect("python3 with python3-redis (make deps)");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    eprintln!(
        "hostile pipeline-2000-gets: {text} s {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    assert!(text.starts_with("ok "), "{text}");
}

// ---- connections ----

/// 60 connections that start an 8 MiB SET before authenticating and never finish it. Bound:
/// RSS under 32 MiB above the start; each ends in an error or a close.
#[test]
fn half_sent_large_requests_before_authentication_are_cut() {
    let z = Zdb::start(&[]);
    let start = z.rss_mib();
    let victim = Victim::start(&z);
    let (closed, high) = watch_rss(&z, || {
        let mut conns = Vec::new();
        for i in 0..60u8 {
            // four peers of 15 (the per-peer limit is 16)
            let mut a = z.attacker(i % 4);
            a.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8388608\r\n");
            let chunk = vec![b'a'; 1 << 20];
            for _ in 0..7 {
                if !a.send(&chunk) {
                    break;
                }
            }
            conns.push(a);
        }
        std::thread::sleep(Duration::from_millis(500));
        closed_count(&mut conns)
    });
    let latency = victim.finish();
    let grew = high.saturating_sub(start);
    eprintln!(
        "hostile half-sent-unauthenticated: {closed}/60 closed, RSS +{grew} MiB, victim worst PING {latency:?}"
    );
    assert_eq!(closed, 60);
    assert!(grew < 32, "RSS grew by {grew} MiB");
    assert!(latency < VICTIM_LATENCY, "{latency:?}");
}

/// A client that sends a request one byte at a time, and one that sends nothing: dropped after
/// the request deadline and the idle timeout.
#[test]
fn slow_and_idle_clients_are_dropped() {
    let z = Zdb::start(&[]);
    let mut idle = z.attacker(0);
    let mut slow = z.attacker(1);
    let t = Instant::now();
    let frame = encode(&[b"PING", &[b'x'; 64]]);
    let mut slow_closed = None;
    for b in frame.iter().take(60) {
        if !slow.send(&[*b]) {
            slow_closed = Some(t.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if slow_closed.is_none() && slow.closed_within(Duration::from_secs(1)) {
        slow_closed = Some(t.elapsed());
    }
    let idle_closed = idle
        .closed_within(Duration::from_secs(IDLE_TIMEOUT_S + 2))
        .then(|| t.elapsed());
    eprintln!(
        "hostile slow-and-idle: byte-a-100ms request closed after {slow_closed:?}, idle closed after {idle_closed:?}"
    );
    let slow_at = slow_closed.expect("the slow client is dropped");
    assert!(
        slow_at < Duration::from_secs(REQUEST_TIMEOUT_S + 2),
        "{slow_at:?}"
    );
    assert!(idle_closed.is_some());
}

/// 200 connections from one peer: those past the per-peer limit end in an error or a close;
/// a client from another address is still served.
#[test]
fn connections_per_peer_are_limited() {
    let z = Zdb::start(&[]);
    let victim = Victim::start(&z);
    let mut conns: Vec<Client> = (0..200).map(|_| z.attacker(0)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut served = 0;
    for c in &mut conns {
        if c.call(&[b"PING"]) == b"+PONG\r\n" {
            served += 1;
        }
    }
    let latency = victim.finish();
    eprintln!(
        "hostile connections-per-peer: {served}/200 served from one address, victim worst PING {latency:?}"
    );
    assert_eq!(served, PER_PEER);
    assert!(latency < VICTIM_LATENCY, "{latency:?}");
}

// ---- authority ----

/// FLUSH refused in worm mode, when locked, and from a read-only session; the data stays.
#[test]
fn flush_respects_worm_lock_and_read_only_sessions() {
    let z = Zdb::start(&[]);
    let mut admin = z.admin();
    let mut results = Vec::new();
    for (ns, prop) in [("w", &b"worm"[..]), ("l", &b"lock"[..])] {
        namespace(&mut admin, ns, Some("pw"), false);
        let mut c = z.client();
        assert_eq!(select(&mut c, ns, Some("pw")), b"+OK\r\n");
        assert_eq!(c.call(&[b"SET", b"k", b"v"]), b"$1\r\nk\r\n");
        assert_eq!(
            admin.call(&[b"NSSET", ns.as_bytes(), prop, b"1"]),
            b"+OK\r\n"
        );
        let r = c.call(&[b"FLUSH"]);
        results.push((ns, show(&r), c.call(&[b"EXISTS", b"k"])));
    }
    // a read-only session (public + password, no password given), then made private
    namespace(&mut admin, "r", Some("pw"), true);
    let mut writer = z.client();
    assert_eq!(select(&mut writer, "r", Some("pw")), b"+OK\r\n");
    assert_eq!(writer.call(&[b"SET", b"k", b"v"]), b"$1\r\nk\r\n");
    let mut reader = z.attacker(0);
    assert_eq!(select(&mut reader, "r", None), b"+OK\r\n");
    assert_eq!(admin.call(&[b"NSSET", b"r", b"public", b"0"]), b"+OK\r\n");
    let r = reader.call(&[b"FLUSH"]);
    results.push(("r", show(&r), writer.call(&[b"EXISTS", b"k"])));
    eprintln!("hostile flush-authority: {results:?}");
    for (ns, reply, exists) in &results {
        assert!(
            reply.starts_with('-') || reply == "(closed)",
            "{ns}: {reply}"
        );
        assert_eq!(exists, b":1\r\n", "{ns}: the data must stay");
    }
}

/// A session opened before NSSET adds a password (or makes a namespace private) loses what the
/// new settings no longer give it.
#[test]
fn sessions_lose_rights_when_the_namespace_changes() {
    let z = Zdb::start(&[]);
    let mut admin = z.admin();
    namespace(&mut admin, "open", None, true);
    let mut s = z.attacker(0);
    assert_eq!(select(&mut s, "open", None), b"+OK\r\n");
    assert_eq!(s.call(&[b"SET", b"a", b"1"]), b"$1\r\na\r\n");
    // a password, public: the session becomes read-only
    assert_eq!(
        admin.call(&[b"NSSET", b"open", b"password", b"pw"]),
        b"+OK\r\n"
    );
    let after_password = s.call(&[b"SET", b"b", b"2"]);
    // private: the session loses access
    assert_eq!(
        admin.call(&[b"NSSET", b"open", b"public", b"0"]),
        b"+OK\r\n"
    );
    let after_private = s.call(&[b"GET", b"a"]);
    // a session that proved the password keeps it
    let mut owner = z.client();
    assert_eq!(select(&mut owner, "open", Some("pw")), b"+OK\r\n");
    assert_eq!(
        admin.call(&[b"NSSET", b"open", b"public", b"1"]),
        b"+OK\r\n"
    );
    let owner_write = owner.call(&[b"SET", b"c", b"3"]);
    eprintln!(
        "hostile session-recheck: SET after password {:?}, GET after private {:?}, owner SET {:?}",
        show(&after_password),
        show(&after_private),
        show(&owner_write)
    );
    assert!(is_error(&after_password), "{}", show(&after_password));
    assert!(
        is_error(&after_private) || after_private.is_empty(),
        "{}",
        show(&after_private)
    );
    assert_eq!(owner_write, b"$1\r\nc\r\n");
}

/// A tmpfs of a few MiB for the index root (root); unmounted on Drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount (needs root)");
        assert!(st.success(), "mount tmpfs (needs root)");
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills what is left with a file.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.path().join("filler")).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.write_all(&[0u8; 1]);
        let _ = f.sync_all();
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.path().join("filler"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// On a full disk, NSSET password must fail and leave the namespace as it was, in memory and
/// after a restart; a failed NSNEW must leave nothing that stops the next start.
#[test]
fn a_full_disk_fails_loudly_and_keeps_the_server_startable_root() {
    let disk = SmallDisk::new("4m");
    let mut z = Zdb::spawn(disk.path().to_path_buf(), &[]);
    let mut admin = z.admin();
    namespace(&mut admin, "t", Some("old"), false);
    disk.fill();
    let nsset = admin.call(&[b"NSSET", b"t", b"password", b"new"]);
    let nsnew = admin.call(&[b"NSNEW", b"fresh"]);
    let mut c = z.client();
    let old_in_memory = select(&mut c, "t", Some("old"));
    drop(admin);
    let started_full = z.restart();
    disk.free();
    let started = started_full || z.restart();
    let mut after = Vec::new();
    if started {
        let mut c = z.client();
        after = select(&mut c, "t", Some("old"));
        if after != b"+OK\r\n" {
            after = select(&mut c, "t", None);
        }
    }
    eprintln!(
        "hostile full-disk: NSSET password {:?}, NSNEW {:?}, old password in memory {:?}, restart while full: {started_full}, after restart SELECT t old {:?}",
        show(&nsset),
        show(&nsnew),
        show(&old_in_memory),
        show(&after)
    );
    assert!(is_error(&nsset), "{}", show(&nsset));
    assert!(is_error(&nsnew), "{}", show(&nsnew));
    assert_eq!(old_in_memory, b"+OK\r\n");
    assert!(started_full, "the server must start on a full disk");
    assert_eq!(after, b"+OK\r\n", "the old password still holds");
    let mut c = z.client();
    assert_eq!(
        select(&mut c, "t", None),
        b"-Namespace protected and private\r\n"
    );
}

/// Wrong passwords sent as fast as possible for 2 s from one peer (pipelined, 8 connections):
/// how many the server checks. Bound: at most 30 per peer; the right password from another
/// peer still works at once.
#[test]
fn password_guessing_is_rate_limited() {
    let z = Zdb::start(&[]);
    let mut admin = z.admin();
    namespace(&mut admin, "vault", Some("correct horse"), false);
    let tried = Arc::new(AtomicU64::new(0));
    let addr = z.addr();
    let until = Instant::now() + Duration::from_secs(2);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let tried = tried.clone();
            std::thread::spawn(move || {
                let mut a = Client::connect(addr, Ipv4Addr::new(127, 0, 0, 2));
                a.s.set_read_timeout(Some(Duration::from_millis(2500)))
                    .unwrap();
                let frame: Vec<u8> = (0..100)
                    .flat_map(|i| encode(&[b"SELECT", b"vault", format!("guess{i}").as_bytes()]))
                    .collect();
                while Instant::now() < until {
                    if !a.send(&frame) {
                        return;
                    }
                    for _ in 0..100 {
                        let r = a.reply();
                        if r == b"-Access denied\r\n" {
                            tried.fetch_add(1, Ordering::Relaxed);
                        } else if r.is_empty() || Instant::now() >= until {
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let checked = tried.load(Ordering::Relaxed);
    let mut owner = z.client();
    let t = Instant::now();
    let own = select(&mut owner, "vault", Some("correct horse"));
    let own_latency = t.elapsed();
    eprintln!(
        "hostile password-guessing: {checked} wrong passwords checked in 2 s ({}/s) from one peer, owner SELECT {:?} in {own_latency:?}",
        checked / 2,
        show(&own)
    );
    assert!(checked <= 30, "{checked} guesses checked");
    assert_eq!(own, b"+OK\r\n");
    assert!(own_latency < VICTIM_LATENCY);
}

// ---- quota ----

/// maxsize 1 MiB; one key overwritten with 100 different 64 KiB values. Bound: the namespace's
/// files stay within maxsize plus one entry.
#[test]
fn maxsize_counts_the_bytes_on_disk() {
    let z = Zdb::start(&[]);
    let mut admin = z.admin();
    namespace(&mut admin, "q", None, true);
    assert_eq!(
        admin.call(&[b"NSSET", b"q", b"maxsize", b"1048576"]),
        b"+OK\r\n"
    );
    let mut c = z.attacker(0);
    assert_eq!(select(&mut c, "q", None), b"+OK\r\n");
    let mut accepted = 0;
    let mut refusal = Vec::new();
    for i in 0..100u32 {
        let mut v = vec![0u8; 64 * 1024];
        v[..4].copy_from_slice(&i.to_le_bytes());
        let r = c.call(&[b"SET", b"k", &v]);
        if r == b"$1\r\nk\r\n" {
            accepted += 1;
        } else {
            refusal = r;
        }
    }
    let on_disk: u64 = ["index", "data"]
        .iter()
        .flat_map(|d| std::fs::read_dir(z.root.join(d).join("q")).expect("namespace dir"))
        .flatten()
        .filter(|e| e.file_name() != "zdb-namespace")
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    eprintln!(
        "hostile quota-overwrite: {accepted}/100 overwrites accepted, files {} KiB for maxsize 1024 KiB, refusal {:?}",
        on_disk / 1024,
        show(&refusal)
    );
    assert!(
        on_disk <= (1 << 20) + 64 * 1024 + 256,
        "{on_disk} bytes on disk"
    );
    assert_eq!(refusal, b"-No space left on this namespace\r\n");
    // the last acknowledged value is the one served
    let r = c.call(&[b"GET", b"k"]);
    let last = (accepted - 1) as u32;
    assert_eq!(&r[r.len() - 2 - 64 * 1024..][..4], &last.to_le_bytes());
}

/// NSSET maxsize takes a byte count: a negative or non-numeric one is refused, not read as
/// 2^64 - 1.
#[test]
fn nsset_maxsize_refuses_what_is_not_a_size() {
    let z = Zdb::start(&[]);
    let mut admin = z.admin();
    namespace(&mut admin, "m", None, true);
    let neg = admin.call(&[b"NSSET", b"m", b"maxsize", b"-1"]);
    let word = admin.call(&[b"NSSET", b"m", b"maxsize", b"lots"]);
    let info = admin.call(&[b"NSINFO", b"m"]);
    let limit = String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| l.strip_prefix("data_limits_bytes: ").map(str::to_string))
        .unwrap_or_default();
    eprintln!(
        "hostile nsset-maxsize: -1 {:?}, lots {:?}, data_limits_bytes {limit}",
        show(&neg),
        show(&word)
    );
    assert!(is_error(&neg) && is_error(&word));
    assert_eq!(limit, "0");
}

/// The server survives the whole suite's worth of abuse in one process: still up.
#[test]
fn the_server_is_still_up_after_malformed_floods() {
    let mut z = Zdb::start(&[]);
    for i in 0..50u8 {
        let mut a = z.attacker(i % 3);
        a.send(b"*99999999\r\n");
        a.send(&[0xffu8; 1000]);
    }
    assert!(z.alive());
    let mut c = z.client();
    assert_eq!(c.call(&[b"PING"]), b"+PONG\r\n");
}
