//! zdb's command layer on multi-command frames, admin commands included: the input is a list of
//! commands (a table index, then arguments split on 0xff), sent as one pipelined buffer through
//! the same parse/execute loop the server runs, against a real engine on a temporary directory
//! that lives for the whole run. Every complete request gets a reply, nothing panics, and the
//! engine still answers NSLIST and INFO afterwards.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use zdb::commands::{self, Action, Req, Session};
use zdb::{Durability, Engine, Settings};

/// The commands drawn from (admin ones included: every session is admin without --admin).
const TABLE: &[&str] = &[
    "SET", "GET", "MGET", "DEL", "EXISTS", "CHECK", "SCAN", "RSCAN", "HISTORY", "KEYCUR",
    "LENGTH", "KEYTIME", "DBSIZE", "NSNEW", "NSDEL", "NSSET", "NSINFO", "NSLIST", "SELECT",
    "NSJUMP", "RELOAD", "FLUSH", "AUTH", "INDEX", "DATA", "INFO", "PING", "SETX",
];
const PROPERTIES: &[&[u8]] = &[
    b"maxsize", b"password", b"public", b"worm", b"lock", b"freeze", b"mode",
];

fn engine() -> &'static Mutex<Engine> {
    static ENGINE: OnceLock<Mutex<Engine>> = OnceLock::new();
    ENGINE.get_or_init(|| {
        // fuzz-smoke.sh gives a directory it removes afterwards.
        let dir = std::env::var_os("ZDB_FUZZ_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("zdb-fuzz-commands-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let engine = Engine::open(Settings {
            index_root: dir.join("index"),
            data_root: dir.join("data"),
            datasize: 512 * 1024,
            durability: Durability::None,
            mode: None,
            admin: None,
            protect: false,
            maxsize: 0,
        })
        .expect("engine on a temporary directory");
        Mutex::new(engine)
    })
}

fn frame(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fuzz_target!(|data: &[u8]| {
    // Commands: [index][args...] separated by 0xfe; arguments separated by 0xff.
    let mut buf = Vec::new();
    let mut requests = 0;
    for command in data.split(|b| *b == 0xfe).take(32) {
        let Some((&which, rest)) = command.split_first() else {
            continue;
        };
        let name = TABLE[which as usize % TABLE.len()].as_bytes();
        let mut args: Vec<&[u8]> = vec![name];
        for (i, a) in rest.split(|b| *b == 0xff).take(8).enumerate() {
            // NSSET's second argument from the property table, so it gets past "Invalid property".
            if name == b"NSSET" && i == 1 && a.len() == 1 {
                args.push(PROPERTIES[a[0] as usize % PROPERTIES.len()]);
            } else {
                args.push(&a[..a.len().min(64)]);
            }
        }
        frame(&mut buf, &args);
        requests += 1;
    }
    let mut engine = engine().lock().unwrap_or_else(|p| p.into_inner());
    let mut session = Session::new(&engine);
    let mut out = Vec::new();
    let mut ranges = Vec::new();
    let mut at = 0;
    let mut answered = 0;
    while at < buf.len() {
        match zdb::resp::parse(&buf[at..], &mut ranges) {
            Ok(Some(used)) => {
                let req = Req {
                    buf: &buf[at..],
                    ranges: &ranges,
                };
                let before = out.len();
                let o = commands::execute(&mut engine, &mut session, &req, &mut out);
                at += used;
                match o.action {
                    Action::Close => break,
                    // No other client runs: a WAIT would wait forever, and gives no reply.
                    Action::Wait { .. } => {}
                    Action::NeedRoom(n) => {
                        // The server would reserve it: grant it and run the request again.
                        assert!(n <= commands::MAX_REPLY, "room {n}");
                        session.reply_room = n;
                        at -= used;
                        continue;
                    }
                    Action::Continue | Action::AuthFailed => {
                        assert!(out.len() > before, "no reply to {:?}", req.arg(0));
                    }
                }
                answered += 1;
                if out.len() > 1 << 20 {
                    out.clear();
                }
            }
            other => panic!("a frame we built does not parse: {other:?}"),
        }
    }
    assert!(answered <= requests);
    // Still a working engine.
    let mut admin = Session::new(&engine);
    let mut b = Vec::new();
    frame(&mut b, &[b"NSLIST"]);
    frame(&mut b, &[b"INFO"]);
    let mut o = Vec::new();
    let mut at = 0;
    while let Ok(Some(used)) = zdb::resp::parse(&b[at..], &mut ranges) {
        let req = Req {
            buf: &b[at..],
            ranges: &ranges,
        };
        commands::execute(&mut engine, &mut admin, &req, &mut o);
        at += used;
    }
    assert!(o.starts_with(b"*"), "NSLIST answers an array");
});
