//! Shared helpers: an in-process server on 127.0.0.1 with an ephemeral port over tempdirs, and
//! a raw RESP client for error strings the redis crate would hide.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use zdb::format::Mode;
use zdb::{Durability, ServerConfig, ServerHandle, Settings};

pub struct TestServer {
    pub handle: ServerHandle,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub cfg: ServerConfig,
}

pub fn config(dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        settings: Settings {
            index_root: dir.join("index"),
            data_root: dir.join("data"),
            datasize: 256 * 1024 * 1024,
            durability: Durability::None,
            mode: None,
            admin: None,
            protect: false,
            maxsize: 0,
        },
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        unix: None,
        limits: zdb::server::Limits::default(),
    }
}

impl TestServer {
    pub fn start_with(f: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        f(&mut cfg);
        let handle = ServerHandle::start(cfg.clone()).unwrap();
        let addr = handle.addr.unwrap();
        TestServer {
            handle,
            addr,
            dir,
            cfg,
        }
    }

    pub fn start() -> TestServer {
        Self::start_with(|_| {})
    }

    pub fn admin(pw: &str, protect: bool) -> TestServer {
        Self::start_with(|c| {
            c.settings.admin = Some(pw.as_bytes().to_vec());
            c.settings.protect = protect;
        })
    }

    pub fn mode(mode: Mode) -> TestServer {
        Self::start_with(|c| c.settings.mode = Some(mode))
    }

    pub fn client(&self) -> redis::Connection {
        let c = redis::Client::open(format!("redis://{}/", self.addr)).unwrap();
        let con = c.get_connection().unwrap();
        con.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        con
    }

    pub fn raw(&self) -> Raw {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Raw { s }
    }

    /// Stops and restarts on the same directories (new port).
    pub fn restart(&mut self) {
        self.handle.stop();
        let handle = ServerHandle::start(self.cfg.clone()).unwrap();
        self.addr = handle.addr.unwrap();
        self.handle = handle;
    }

    pub fn index_dir(&self, ns: &str) -> PathBuf {
        self.dir.path().join("index").join(ns)
    }

    pub fn data_dir(&self, ns: &str) -> PathBuf {
        self.dir.path().join("data").join(ns)
    }
}

/// Runs a command and returns the redis value or the server's error text.
pub fn cmd(con: &mut redis::Connection, args: &[&[u8]]) -> Result<redis::Value, String> {
    let mut c = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query::<redis::Value>(con).map_err(|e| {
        // The redis crate splits "-Foo bar" into code "Foo" and detail "bar".
        match (e.code(), e.detail()) {
            // single-word errors come back with a placeholder detail
            (Some(code), Some("Unknown extension error encountered")) => code.to_string(),
            (Some(code), Some(d)) => format!("{code} {d}"),
            (Some(code), None) => code.to_string(),
            _ => e.to_string(),
        }
    })
}

pub fn err(con: &mut redis::Connection, args: &[&str]) -> String {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    match cmd(con, &a) {
        Err(e) => e,
        Ok(v) => panic!("{args:?}: expected an error, got {v:?}"),
    }
}

pub fn ok(con: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    match cmd(con, &a) {
        Ok(v) => v,
        Err(e) => panic!("{args:?}: unexpected error {e}"),
    }
}

pub fn okb(con: &mut redis::Connection, args: &[&[u8]]) -> redis::Value {
    match cmd(con, args) {
        Ok(v) => v,
        Err(e) => panic!("unexpected error {e}"),
    }
}

pub fn bulk(v: &redis::Value) -> Vec<u8> {
    match v {
        redis::Value::BulkString(b) => b.clone(),
        redis::Value::SimpleString(s) => s.as_bytes().to_vec(),
        other => panic!("expected bulk, got {other:?}"),
    }
}

pub fn status(v: &redis::Value) -> String {
    match v {
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Okay => "OK".to_string(),
        other => panic!("expected status, got {other:?}"),
    }
}

pub fn int(v: &redis::Value) -> i64 {
    match v {
        redis::Value::Int(i) => *i,
        other => panic!("expected int, got {other:?}"),
    }
}

pub struct Raw {
    pub s: TcpStream,
}

impl Raw {
    pub fn send(&mut self, b: &[u8]) {
        self.s.write_all(b).unwrap();
    }

    /// Reads until `n` bytes or EOF.
    pub fn read_n(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        let mut got = 0;
        while got < n {
            match self.s.read(&mut out[got..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => got += k,
            }
        }
        out.truncate(got);
        out
    }

    pub fn read_line(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while !out.ends_with(b"\r\n") {
            match self.s.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(_) => out.push(b[0]),
            }
        }
        out
    }

    pub fn req(&mut self, args: &[&[u8]]) -> Vec<u8> {
        let mut b = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            b.extend_from_slice(a);
            b.extend_from_slice(b"\r\n");
        }
        self.send(&b);
        self.read_line()
    }

    /// True when the server closed the connection.
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.s.read(&mut b), Ok(0))
    }
}
