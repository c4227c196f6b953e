//! The 0-db command set: lookup (case-insensitive prefix match over 0-db's table order),
//! per-connection session state (namespace, admin, writable, challenge nonce), and every
//! handler with 0-db's replies and error strings. Talks to storage only through `Engine` and
//! `Namespace`; never touches sockets.

use std::time::Duration;

use sha1::{Digest, Sha1};

use crate::engine::{Engine, DEFAULT_NS};
use crate::format::{self, Mode, CURSOR_LEN, EKEY_LEN};
use crate::namespace::{Lock, RawError, SetOutcome, WriteError};
use crate::resp;

const MAX_KEY: usize = 255;
const NS_MAX: usize = 128;
const COMMAND_MAXLEN: usize = 256;
const SCAN_SLICE: Duration = Duration::from_millis(2);
const SCAN_MAX_ITEMS: usize = 10_000;
const WAIT_MAX_MS: u64 = 30 * 60 * 1000;

/// 0-db's command table, in its lookup order.
pub const COMMANDS: &[&str] = &[
    "*", "WAIT", "MIRROR", "MASTER", "PING", "TIME", "AUTH", "HOOKS", "INDEX", "DATA", "SET",
    "SETX", "GET", "MGET", "DEL", "EXISTS", "CHECK", "SCAN", "SCANX", "RSCAN", "KSCAN", "HISTORY",
    "KEYCUR", "LENGTH", "KEYTIME", "INFO", "STOP", "DBSIZE", "NSNEW", "NSDEL", "NSLIST", "NSSET",
    "NSINFO", "NSJUMP", "SELECT", "RELOAD", "FLUSH",
];

/// `strncasecmp(arg, name, len(arg)) == 0` over the table: the first name the argument
/// is a case-insensitive prefix of (an empty argument matches `*`).
pub fn lookup(arg: &[u8]) -> Option<&'static str> {
    COMMANDS.iter().copied().find(|name| {
        arg.len() <= name.len() && name.as_bytes()[..arg.len()].eq_ignore_ascii_case(arg)
    })
}

/// One request's arguments, as ranges into the connection buffer.
pub struct Req<'a> {
    pub buf: &'a [u8],
    pub ranges: &'a [(usize, usize)],
}

impl<'a> Req<'a> {
    pub fn argc(&self) -> usize {
        self.ranges.len()
    }

    pub fn arg(&self, i: usize) -> &'a [u8] {
        match self.ranges.get(i) {
            Some(&(s, e)) => &self.buf[s..e],
            None => &[],
        }
    }
}

pub struct Session {
    pub ns: String,
    pub generation: u64,
    pub admin: bool,
    pub writable: bool,
    pub nonce: Option<String>,
}

impl Session {
    pub fn new(engine: &Engine) -> Session {
        Session {
            ns: DEFAULT_NS.to_string(),
            generation: engine.get(DEFAULT_NS).map(|n| n.generation).unwrap_or(0),
            admin: engine.settings.admin.is_none(),
            writable: !engine.settings.protect,
            nonce: None,
        }
    }
}

/// What the connection must do after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Continue,
    Close,
    /// WAIT: block until another client of `generation` runs `command` (or any if `*`).
    Wait {
        command: &'static str,
        generation: u64,
        timeout: Duration,
    },
}

/// Result of one dispatch: the action and the command that ran (for WAIT notifications).
pub struct Outcome {
    pub action: Action,
    pub executed: Option<&'static str>,
    pub generation: u64,
}

fn atoll(b: &[u8]) -> i64 {
    let mut i = 0;
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    let neg = i < b.len() && b[i] == b'-';
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let mut v: i64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add((b[i] - b'0') as i64);
        i += 1;
    }
    if neg {
        -v
    } else {
        v
    }
}

fn sha1_hex(nonce: &str, password: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(nonce.as_bytes());
    h.update(b":");
    h.update(password);
    hex::encode(h.finalize())
}

/// 16 lowercase hex chars, like libzdb's `zdb_challenge`.
fn challenge() -> String {
    let b: [u8; 8] = rand::random();
    hex::encode(b)
}

struct Ctx<'e, 's, 'o> {
    engine: &'e mut Engine,
    s: &'s mut Session,
    out: &'o mut Vec<u8>,
}

impl Ctx<'_, '_, '_> {
    fn err(&mut self, m: &str) -> bool {
        resp::error(self.out, m);
        false
    }

    fn ok(&mut self) -> bool {
        resp::simple(self.out, "OK");
        true
    }

    /// `command_args_validate`: exact argc, no empty argument.
    fn validate(&mut self, r: &Req, n: usize) -> bool {
        if r.argc() != n {
            return self.err("Unexpected arguments");
        }
        if (0..n).any(|i| r.arg(i).is_empty()) {
            return self.err("Invalid argument");
        }
        true
    }

    fn validate_null(&mut self, r: &Req, n: usize) -> bool {
        if r.argc() != n {
            return self.err("Unexpected arguments");
        }
        true
    }

    fn validate_min(&mut self, r: &Req, n: usize) -> bool {
        if r.argc() < n {
            return self.err("Missing arguments");
        }
        if (0..r.argc()).any(|i| r.arg(i).is_empty()) {
            return self.err("Invalid argument");
        }
        true
    }

    fn admin(&mut self) -> bool {
        if !self.s.admin {
            self.engine.stats.unauthorized += 1;
            return self.err("Permission denied");
        }
        true
    }

    fn ns_arg_ok(&mut self, r: &Req, i: usize) -> bool {
        if r.arg(i).len() > NS_MAX {
            return self.err("Namespace too long");
        }
        true
    }

    fn overflow_ok(&mut self, r: &Req, i: usize, max: usize) -> bool {
        if r.arg(i).len() > max {
            return self.err("Argument too long");
        }
        true
    }

    fn lock(&mut self) -> Lock {
        self.engine
            .session_ns(&self.s.ns, self.s.generation)
            .map(|n| n.lock)
            .unwrap_or(Lock::Unlocked)
    }

    fn frozen(&mut self) -> bool {
        if self.lock() == Lock::Frozen {
            resp::error(
                self.out,
                "Namespace is temporarily frozen (read-write disabled)",
            );
            return true;
        }
        false
    }
}

/// Runs one request. `out` receives the reply (nothing for WAIT until it fires).
pub fn execute(engine: &mut Engine, s: &mut Session, r: &Req, out: &mut Vec<u8>) -> Outcome {
    let generation = s.generation;
    if engine.session_ns(&s.ns, s.generation).is_none() {
        resp::error(
            out,
            "Your active namespace is not available anymore (probably removed).",
        );
        return Outcome {
            action: Action::Close,
            executed: None,
            generation,
        };
    }
    let Some(name) = lookup(r.arg(0)) else {
        engine.stats.failed += 1;
        resp::error(out, "Command not supported");
        return Outcome {
            action: Action::Continue,
            executed: None,
            generation,
        };
    };
    engine.stats.commands += 1;
    let mut c = Ctx { engine, s, out };
    let mut action = Action::Continue;
    match name {
        "*" => {
            c.err("This is not a valid command");
        }
        "WAIT" => action = cmd_wait(&mut c, r),
        "MIRROR" | "MASTER" => {
            if c.admin() {
                c.err("Replication is not supported by this server");
            }
        }
        "PING" => resp::simple(c.out, "PONG"),
        "TIME" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            resp::array(c.out, 2);
            let mut b = itoa_buf(now.as_secs() as i64);
            resp::bulk(c.out, b.as_bytes());
            b = itoa_buf(now.subsec_micros() as i64);
            resp::bulk(c.out, b.as_bytes());
        }
        "AUTH" => cmd_auth(&mut c, r),
        "HOOKS" => {
            if c.admin() {
                resp::array(c.out, 0);
            }
        }
        "INDEX" => cmd_index(&mut c, r),
        "DATA" => cmd_data(&mut c, r),
        "SET" | "SETX" => cmd_set(&mut c, r),
        "GET" => cmd_get(&mut c, r),
        "MGET" => cmd_mget(&mut c, r),
        "DEL" => cmd_del(&mut c, r),
        "EXISTS" | "CHECK" | "LENGTH" | "KEYTIME" | "KEYCUR" => cmd_keyinfo(&mut c, r, name),
        "SCAN" | "SCANX" => cmd_scan(&mut c, r, true),
        "RSCAN" => cmd_scan(&mut c, r, false),
        "KSCAN" => {
            c.err("Command disabled in release code, not yet available");
        }
        "HISTORY" => cmd_history(&mut c, r),
        "INFO" => cmd_info(&mut c),
        "STOP" => {
            c.err("Unauthorized");
        }
        "DBSIZE" => {
            let v = c
                .engine
                .session_ns(&c.s.ns, c.s.generation)
                .map(|n| n.entries)
                .unwrap_or(0);
            resp::integer(c.out, v as i64);
        }
        "NSNEW" => cmd_nsnew(&mut c, r),
        "NSDEL" => cmd_nsdel(&mut c, r),
        "NSLIST" => {
            let names = c.engine.names().to_vec();
            resp::array(c.out, names.len());
            for n in names {
                resp::bulk(c.out, n.as_bytes());
            }
        }
        "NSSET" => cmd_nsset(&mut c, r),
        "NSINFO" => cmd_nsinfo(&mut c, r),
        "NSJUMP" => cmd_nsjump(&mut c),
        "SELECT" => cmd_select(&mut c, r),
        "RELOAD" => cmd_reload(&mut c, r),
        "FLUSH" => cmd_flush(&mut c),
        _ => {
            c.err("Command not supported");
        }
    }
    Outcome {
        action,
        executed: Some(name),
        generation,
    }
}

fn itoa_buf(v: i64) -> String {
    v.to_string()
}

fn cmd_wait(c: &mut Ctx, r: &Req) -> Action {
    if r.argc() != 2 && r.argc() != 3 {
        c.err("Invalid arguments");
        return Action::Continue;
    }
    let Some(command) = lookup(r.arg(1)) else {
        c.err("Unknown command to watch");
        return Action::Continue;
    };
    let mut timeout = 5000u64;
    if r.argc() == 3 {
        if r.arg(2).len() > 16 {
            c.err("Invalid timeout");
            return Action::Continue;
        }
        timeout = atoll(r.arg(2)).max(0) as u64;
        if !(100..=WAIT_MAX_MS).contains(&timeout) {
            c.err("Invalid timeout");
            return Action::Continue;
        }
    }
    Action::Wait {
        command,
        generation: c.s.generation,
        timeout: Duration::from_millis(timeout),
    }
}

fn password_matches(given: &[u8], expected: &[u8]) -> bool {
    given == expected
}

fn cmd_auth(c: &mut Ctx, r: &Req) {
    match r.argc() {
        2 => {
            let Some(admin) = c.engine.settings.admin.clone() else {
                c.err("Authentication disabled");
                return;
            };
            if !c.validate(r, 2) {
                return;
            }
            if r.arg(1).len() > 128 {
                c.err("Password too long");
                return;
            }
            if password_matches(r.arg(1), &admin) {
                c.s.admin = true;
                c.ok();
            } else {
                c.err("Access denied");
            }
        }
        3 => {
            if !c.validate(r, 3) {
                return;
            }
            let m = r.arg(1);
            if !(m.len() <= 6 && b"SECURE"[..m.len()].eq_ignore_ascii_case(m)) {
                c.err("Only SECURE extra method supported");
                return;
            }
            let a = r.arg(2);
            if a.len() <= 9 && b"CHALLENGE"[..a.len()].eq_ignore_ascii_case(a) {
                let n = challenge();
                resp::simple(c.out, &n);
                c.s.nonce = Some(n);
                return;
            }
            let Some(admin) = c.engine.settings.admin.clone() else {
                c.err("Authentication disabled");
                return;
            };
            let Some(nonce) = c.s.nonce.clone() else {
                c.err("No CHALLENGE requested, secure authentication not available");
                return;
            };
            if a.len() != 40 {
                c.err("Invalid hash length");
                return;
            }
            let expected = sha1_hex(&nonce, &admin);
            if a == expected.as_bytes() {
                c.s.admin = true;
                c.ok();
            } else {
                c.err("Access denied");
            }
            c.s.nonce = None;
        }
        _ => {
            c.err("Unexpected arguments");
        }
    }
}

fn cmd_select(c: &mut Ctx, r: &Req) {
    if r.argc() < 2 {
        c.err("Invalid argument");
        return;
    }
    if !c.ns_arg_ok(r, 1) {
        return;
    }
    let name = String::from_utf8_lossy(r.arg(1)).into_owned();
    let Some(ns) = c.engine.get(&name) else {
        c.err("Namespace not found");
        return;
    };
    let (password, public, generation) = (ns.password.clone(), ns.public, ns.generation);
    let mut writable = true;
    if let Some(pw) = password {
        if r.argc() < 3 {
            if !public {
                c.err("Namespace protected and private");
                return;
            }
            writable = false;
        } else {
            if r.argc() > 4 {
                c.err("Too many arguments");
                return;
            }
            if r.argc() == 3 {
                if r.arg(2).len() > 255 {
                    c.err("Password too long");
                    return;
                }
                if !password_matches(r.arg(2), &pw) {
                    c.err("Access denied");
                    return;
                }
            } else {
                let m = r.arg(2);
                if !(m.len() <= 6 && b"SECURE"[..m.len()].eq_ignore_ascii_case(m)) {
                    c.err("Only SECURE extra method supported");
                    return;
                }
                let Some(nonce) = c.s.nonce.clone() else {
                    c.err("No CHALLENGE requested, secure authentication not available");
                    return;
                };
                if r.arg(3).len() != 40 {
                    c.err("Invalid hash length");
                    return;
                }
                if r.arg(3) != sha1_hex(&nonce, &pw).as_bytes() {
                    c.err("Access denied");
                    return;
                }
            }
        }
    }
    c.s.ns = name;
    c.s.generation = generation;
    c.s.writable = writable;
    c.ok();
}

/// Current namespace of the session (checked to exist at dispatch).
macro_rules! cur_ns {
    ($c:expr) => {{
        match $c.engine.session_ns(&$c.s.ns, $c.s.generation) {
            Some(ns) => ns,
            None => {
                resp::error(
                    $c.out,
                    "Your active namespace is not available anymore (probably removed).",
                );
                return;
            }
        }
    }};
}

fn cmd_set(c: &mut Ctx, r: &Req) {
    if r.argc() == 4 {
        if !c.admin() {
            return;
        }
    } else if !c.validate_null(r, 3) {
        return;
    }
    let key = r.arg(1);
    let value = r.arg(2);
    if key.len() > MAX_KEY {
        c.err("Key too large");
        return;
    }
    if !c.s.writable {
        c.err("Namespace is in read-only mode");
        return;
    }
    match c.lock() {
        Lock::Frozen => {
            c.err("Namespace is temporarily frozen (read-write disabled)");
            return;
        }
        Lock::ReadOnly => {
            c.err("Namespace is temporarily locked (read-only)");
            return;
        }
        Lock::Unlocked => {}
    }
    let ts = if r.argc() == 4 {
        Some(atoll(r.arg(3)) as u32)
    } else {
        None
    };
    let ns = cur_ns!(c);
    let existing = if key.is_empty() { None } else { ns.lookup(key) };
    let mut reply: Result<bool, &'static str> = Ok(false);
    if existing.is_some() && ns.worm {
        reply = Err("Namespace is protected by worm mode");
    } else if ns.maxsize > 0 {
        let floating = existing.map(|e| e.length as u64).unwrap_or(0);
        if ns.datasize.saturating_add(value.len() as u64) > ns.maxsize.saturating_add(floating) {
            reply = Err("No space left on this namespace");
        }
    }
    if reply.is_ok() && ns.mode() == Mode::User && key.is_empty() {
        reply = Err("Invalid argument, key needed");
    }
    if reply.is_ok() && ns.needs_jump(value.len()) {
        if let Err(e) = ns.jump() {
            tracing::error!(error = %e, "rotation failed");
            reply = Err("Cannot write data right now");
        }
    }
    let mode = ns.mode();
    let mut idout = [0u8; 8];
    if reply.is_ok() {
        reply = match ns.set(key, value, ts, existing, &mut idout) {
            Ok(SetOutcome::Unchanged) => Ok(false),
            Ok(SetOutcome::Written) => Ok(true),
            Ok(SetOutcome::SeqUnknownKey) => Err("Invalid key, only update authorized"),
            Err(WriteError::Data(e)) => {
                tracing::error!(error = %e, "data write failed");
                Err("Cannot write data right now")
            }
            Err(WriteError::Index(e)) => {
                tracing::error!(error = %e, "index write failed");
                Err("Cannot write index right now")
            }
        };
    }
    match reply {
        Err(m) => {
            c.err(m);
        }
        Ok(false) => resp::nil(c.out),
        Ok(true) => {
            if mode == Mode::Seq {
                resp::bulk(c.out, &idout);
            } else {
                resp::bulk(c.out, key);
            }
        }
    }
}

fn get_single(c: &mut Ctx, key: &[u8]) {
    let out_ptr = &mut *c.out;
    let Some(ns) = c.engine.session_ns(&c.s.ns, c.s.generation) else {
        resp::nil(out_ptr);
        return;
    };
    let Some(e) = ns.lookup(key) else {
        resp::nil(out_ptr);
        return;
    };
    resp::bulk_header(out_ptr, e.length as usize);
    let before = out_ptr.len();
    if ns.read_payload(&e, key, out_ptr).is_err() {
        // Undo the header: 0-db answers an internal error.
        let hdr = before - (e.length.to_string().len() + 3);
        out_ptr.truncate(hdr);
        resp::error(out_ptr, "Internal Error");
        return;
    }
    out_ptr.extend_from_slice(b"\r\n");
}

fn cmd_get(c: &mut Ctx, r: &Req) {
    if !c.validate(r, 2) {
        return;
    }
    if r.arg(1).len() > MAX_KEY {
        c.err("Invalid key");
        return;
    }
    if c.frozen() {
        return;
    }
    get_single(c, r.arg(1));
}

fn cmd_mget(c: &mut Ctx, r: &Req) {
    if r.argc() < 2 {
        c.err("Invalid arguments");
        return;
    }
    if (1..r.argc()).any(|i| r.arg(i).len() > MAX_KEY) {
        c.err("Invalid key");
        return;
    }
    if c.frozen() {
        return;
    }
    resp::array(c.out, r.argc() - 1);
    for i in 1..r.argc() {
        get_single(c, r.arg(i));
    }
}

fn cmd_del(c: &mut Ctx, r: &Req) {
    if r.argc() == 3 {
        if !c.admin() {
            return;
        }
    } else if !c.validate(r, 2) {
        return;
    }
    let key = r.arg(1);
    if key.len() > MAX_KEY {
        c.err("Invalid key");
        return;
    }
    if !c.s.writable {
        c.err("Namespace is in read-only mode");
        return;
    }
    match c.lock() {
        Lock::Frozen => {
            c.err("Namespace is temporarily frozen (read-write disabled)");
            return;
        }
        Lock::ReadOnly => {
            c.err("Namespace is temporarily locked (read-only)");
            return;
        }
        Lock::Unlocked => {}
    }
    let ts = if r.argc() == 3 {
        Some(atoll(r.arg(2)) as u32)
    } else {
        None
    };
    let ns = cur_ns!(c);
    let res = match ns.lookup(key) {
        None => Err("Key not found"),
        Some(_) if ns.worm => Err("Cannot delete a key when namespace is in worm mode"),
        Some(e) => match ns.delete(key, e, ts) {
            Ok(()) => Ok(()),
            Err(WriteError::Data(_)) => Err("Cannot delete key (data)"),
            Err(WriteError::Index(_)) => Err("Cannot delete key (index)"),
        },
    };
    match res {
        Ok(()) => {
            c.ok();
        }
        Err(m) => {
            c.err(m);
        }
    }
}

fn cmd_keyinfo(c: &mut Ctx, r: &Req, name: &'static str) {
    if !c.validate(r, 2) {
        return;
    }
    let key = r.arg(1);
    if name != "KEYCUR" && key.len() > MAX_KEY {
        c.err("Invalid key");
        return;
    }
    if c.frozen() {
        return;
    }
    let out: &mut Vec<u8> = c.out;
    let Some(ns) = c.engine.session_ns(&c.s.ns, c.s.generation) else {
        resp::nil(out);
        return;
    };
    let entry = ns.lookup(key);
    match (name, entry) {
        ("EXISTS", e) => resp::integer(out, e.is_some() as i64),
        ("KEYCUR", None) => resp::error(out, "Key not found"),
        ("KEYCUR", Some(e)) => resp::bulk(out, &e.cursor().encode()),
        (_, None) => resp::nil(out),
        ("CHECK", Some(e)) => match ns.check(&e) {
            Ok(ok) => resp::integer(out, ok as i64),
            Err(_) => resp::integer(out, -1),
        },
        ("LENGTH", Some(e)) => resp::integer(out, e.length as i64),
        (_, Some(e)) => resp::integer(out, e.timestamp as i64),
    }
}

fn cmd_scan(c: &mut Ctx, r: &Req, forward: bool) {
    if c.frozen() {
        return;
    }
    let out: &mut Vec<u8> = c.out;
    let Some(ns) = c.engine.session_ns(&c.s.ns, c.s.generation) else {
        return;
    };
    let mut items = Vec::new();
    let mut pos;
    if r.argc() == 1 {
        let first = if forward {
            ns.scan_next(None)
        } else {
            ns.scan_prev(None)
        };
        match first {
            Ok(Some(it)) => {
                pos = Some((it.cursor.fileid, it.cursor.idxoffset));
                items.push(it);
            }
            Ok(None) => {
                resp::error(out, "No more data");
                return;
            }
            Err(_) => {
                resp::error(out, "Internal Error");
                return;
            }
        }
    } else {
        if r.arg(1).len() != CURSOR_LEN {
            resp::error(out, "Invalid key format");
            return;
        }
        match ns.cursor_location(r.arg(1)) {
            Some(p) => pos = Some(p),
            None => {
                resp::error(out, "Invalid key format");
                return;
            }
        }
    }
    let start = std::time::Instant::now();
    while start.elapsed() < SCAN_SLICE && items.len() < SCAN_MAX_ITEMS {
        let next = if forward {
            ns.scan_next(pos)
        } else {
            ns.scan_prev(pos)
        };
        match next {
            Ok(Some(it)) => {
                pos = Some((it.cursor.fileid, it.cursor.idxoffset));
                items.push(it);
            }
            _ => break,
        }
    }
    let Some(last) = items.last() else {
        resp::error(out, "No more data");
        return;
    };
    resp::array(out, 2);
    resp::bulk(out, &last.cursor.encode());
    resp::array(out, items.len());
    for it in &items {
        resp::array(out, 3);
        resp::bulk(out, &it.key);
        resp::integer(out, it.length as i64);
        resp::integer(out, it.timestamp as i64);
    }
}

fn history_reply(out: &mut Vec<u8>, parent: (u32, u32), ts: u32, payload: &[u8]) {
    resp::array(out, 3);
    if parent != (0, 0) {
        resp::bulk(out, &format::encode_ekey(parent.0, parent.1));
    } else {
        resp::nil(out);
    }
    resp::bulk(out, ts.to_string().as_bytes());
    resp::bulk(out, payload);
}

fn cmd_history(c: &mut Ctx, r: &Req) {
    if r.argc() != 2 && r.argc() != 3 {
        c.err("Invalid arguments");
        return;
    }
    if c.frozen() {
        return;
    }
    let out: &mut Vec<u8> = c.out;
    let Some(ns) = c.engine.session_ns(&c.s.ns, c.s.generation) else {
        return;
    };
    let key = r.arg(1);
    if r.argc() == 2 {
        let Some(e) = ns.lookup(key) else {
            resp::error(out, "Key not found");
            return;
        };
        match ns.history_at(e.indexid, e.idxoffset) {
            Ok(Some((item, _, payload))) => history_reply(
                out,
                (item.parentid, item.parentoff),
                item.timestamp,
                &payload,
            ),
            _ => resp::error(out, "Internal Error"),
        }
        return;
    }
    let Some((fid, off)) = format::decode_ekey(r.arg(2)).filter(|_| r.arg(2).len() == EKEY_LEN)
    else {
        resp::error(out, "Invalid arguments");
        return;
    };
    if fid == 0 && off == 0 {
        resp::error(out, "No more history");
        return;
    }
    match ns.history_at(fid, off) {
        Ok(Some((item, k, payload))) => {
            if k != key {
                resp::error(out, "Invalid arguments (invalid key)");
                return;
            }
            history_reply(
                out,
                (item.parentid, item.parentoff),
                item.timestamp,
                &payload,
            )
        }
        _ => resp::error(out, "Invalid arguments (index query)"),
    }
}

fn cmd_info(c: &mut Ctx) {
    use std::fmt::Write;
    let e = &*c.engine;
    let io = e.io_totals();
    let (rx, tx) = e.network();
    let mb = |v: u64| v as f64 / (1024.0 * 1024.0);
    let mut t = String::with_capacity(1024);
    let _ = write!(
        t,
        "# server\nserver_name: 0-db (zdb)\nserver_revision: zos-zdb {ver}\n\
engine_revision: zos-zdb {ver}\ninstance_id: {iid}\nboot_time: {boot}\nuptime: {up}\n\n\
# clients\nclients_lifetime: {cl}\n\n\
# internals\nsequential_key_size: 8\ndata_version: 3\nindex_version: 4\n\n# stats\n\
commands_executed: {ce}\ncommands_failed: {cf}\ncommands_unauthorized: {cu}\n",
        ver = env!("CARGO_PKG_VERSION"),
        iid = e.instance_id,
        boot = e.boot_time,
        up = e.boot.elapsed().as_secs(),
        cl = e.stats.clients,
        ce = e.stats.commands,
        cf = e.stats.failed,
        cu = e.stats.unauthorized,
    );
    let _ = write!(
        t,
        "index_disk_read_failed: {}\nindex_disk_write_failed: {}\n\
data_disk_read_failed: {}\ndata_disk_write_failed: {}\n\
index_disk_read_bytes: {}\nindex_disk_read_mb: {:.2}\n\
index_disk_write_bytes: {}\nindex_disk_write_mb: {:.2}\n\
data_disk_read_bytes: {}\ndata_disk_read_mb: {:.2}\n\
data_disk_write_bytes: {}\ndata_disk_write_mb: {:.2}\n\
network_rx_bytes: {rx}\nnetwork_rx_mb: {:.2}\nnetwork_tx_bytes: {tx}\nnetwork_tx_mb: {:.2}\n",
        io.index_read_failed,
        io.index_write_failed,
        io.data_read_failed,
        io.data_write_failed,
        io.index_read,
        mb(io.index_read),
        io.index_written,
        mb(io.index_written),
        io.data_read,
        mb(io.data_read),
        io.data_written,
        mb(io.data_written),
        mb(rx),
        mb(tx),
    );
    resp::bulk(c.out, t.as_bytes());
}

fn valid_name(n: &str) -> bool {
    !(n.is_empty()
        || n == "."
        || n == ".."
        || n.contains('/')
        || n == DEFAULT_NS
        || n.contains('\0'))
}

fn ns_name(c: &mut Ctx, r: &Req, i: usize) -> Option<String> {
    match std::str::from_utf8(r.arg(i)) {
        Ok(s) => Some(s.to_string()),
        Err(_) => {
            c.err("This name is not allowed");
            None
        }
    }
}

fn cmd_nsnew(c: &mut Ctx, r: &Req) {
    if !c.admin() || !c.validate(r, 2) || !c.ns_arg_ok(r, 1) {
        return;
    }
    let Some(name) = ns_name(c, r, 1) else {
        return;
    };
    if !valid_name(&name) {
        c.err("This name is not allowed");
        return;
    }
    if c.engine.get(&name).is_some() {
        c.err("This namespace is not available");
        return;
    }
    match c.engine.create(&name) {
        Ok(()) => {
            c.ok();
        }
        Err(e) => {
            tracing::error!(namespace = %name, error = %e, "cannot create namespace");
            c.err("Could not create namespace");
        }
    }
}

fn cmd_nsdel(c: &mut Ctx, r: &Req) {
    if !c.admin() || !c.validate(r, 2) || !c.ns_arg_ok(r, 1) {
        return;
    }
    let name = String::from_utf8_lossy(r.arg(1)).into_owned();
    if name == DEFAULT_NS {
        c.err("Cannot remove default namespace");
        return;
    }
    if c.engine.get(&name).is_none() {
        c.err("This namespace doesn't exists");
        return;
    }
    if c.s.ns == name {
        c.err("Cannot remove namespace you're currently using.");
        return;
    }
    match c.engine.delete(&name) {
        Ok(()) => {
            c.ok();
        }
        Err(e) => {
            tracing::error!(namespace = %name, error = %e, "cannot delete namespace");
            c.err("Could not delete this namespace");
        }
    }
}

fn cmd_nsset(c: &mut Ctx, r: &Req) {
    if !c.admin()
        || !c.validate(r, 4)
        || !c.ns_arg_ok(r, 1)
        || !c.overflow_ok(r, 2, COMMAND_MAXLEN)
        || !c.overflow_ok(r, 3, 63)
    {
        return;
    }
    let name = String::from_utf8_lossy(r.arg(1)).into_owned();
    let prop = r.arg(2);
    let value = r.arg(3);
    let mixed = c.engine.settings.mode.is_none();
    let Some(ns) = c.engine.get_mut(&name) else {
        c.err("Namespace not found");
        return;
    };
    let flag = value.first() == Some(&b'1');
    let res: Result<(), &'static str> = match prop {
        b"mode" => {
            if !mixed {
                Err("This server instance is configured to use a single runtime mode")
            } else if !ns.is_fresh() {
                Err("Cannot change mode of used namespace")
            } else {
                match value {
                    b"user" => ns.switch_mode(Mode::User).map_err(|_| "Internal Error"),
                    b"seq" => ns.switch_mode(Mode::Seq).map_err(|_| "Internal Error"),
                    _ => Err("Invalid property value (expected: user, seq)"),
                }
            }
        }
        b"lock" => {
            ns.lock = if flag { Lock::ReadOnly } else { Lock::Unlocked };
            Ok(())
        }
        b"freeze" => {
            ns.lock = if flag { Lock::Frozen } else { Lock::Unlocked };
            Ok(())
        }
        _ if name == DEFAULT_NS => Err("Cannot update default namespace"),
        b"maxsize" => {
            ns.maxsize = atoll(value) as u64;
            Ok(())
        }
        b"password" => {
            ns.password = if value == b"*" {
                None
            } else {
                Some(value.to_vec())
            };
            Ok(())
        }
        b"public" => {
            ns.public = flag;
            Ok(())
        }
        b"worm" => {
            ns.worm = flag;
            Ok(())
        }
        _ => Err("Invalid property"),
    };
    match res {
        Err(m) => {
            c.err(m);
        }
        Ok(()) => {
            if let Err(e) = ns.commit_descriptor() {
                tracing::error!(namespace = %name, error = %e, "descriptor write failed");
            }
            c.ok();
        }
    }
}

/// Free bytes for unprivileged users on the filesystem holding `p` (statvfs).
fn free_space(p: &std::path::Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(p).ok()?;
    Some(st.fragment_size() as u64 * st.blocks_available() as u64)
}

fn cmd_nsinfo(c: &mut Ctx, r: &Req) {
    if !c.validate(r, 2) || !c.ns_arg_ok(r, 1) {
        return;
    }
    let name = String::from_utf8_lossy(r.arg(1)).into_owned();
    let admin = c.s.admin;
    let Some(ns) = c.engine.get(&name) else {
        c.err("Namespace not found");
        return;
    };
    use std::fmt::Write;
    let mut t = String::with_capacity(1024);
    let yn = |b: bool| if b { "yes" } else { "no" };
    let mb = |v: u64| v as f64 / (1024.0 * 1024.0);
    let _ = write!(
        t,
        "# namespace\nname: {}\nentries: {}\npublic: {}\nworm: {}\nlocked: {}\npassword: {}\n\
data_size_bytes: {}\ndata_size_mb: {:.2}\ndata_limits_bytes: {}\nindex_size_bytes: {}\n\
index_size_kb: {:.2}\nnext_internal_id: 0x{:08x}\nmode: {}\n\
stats_index_io_errors: {}\nstats_index_io_error_last: {}\nstats_index_faults: 0\n\
stats_data_io_errors: {}\nstats_data_io_error_last: {}\nstats_data_faults: 0\n",
        ns.name,
        ns.entries,
        yn(ns.public),
        yn(ns.worm),
        yn(ns.lock != Lock::Unlocked),
        yn(ns.password.is_some()),
        ns.datasize,
        mb(ns.datasize),
        ns.maxsize,
        ns.index_size,
        ns.index_size as f64 / 1024.0,
        ns.next_entry().swap_bytes(),
        ns.mode().name(),
        ns.io.index_errors,
        ns.io.index_last_error,
        ns.io.data_errors,
        ns.io.data_last_error,
    );
    if ns.maxsize > 0 {
        let _ = writeln!(
            t,
            "space_available: {}",
            ns.maxsize.saturating_sub(ns.datasize)
        );
    }
    if let Some(f) = free_space(ns.index_dir()) {
        let _ = write!(
            t,
            "index_disk_freespace_bytes: {f}\nindex_disk_freespace_mb: {:.2}\n",
            mb(f)
        );
    }
    if let Some(f) = free_space(ns.data_dir()) {
        let _ = write!(
            t,
            "data_disk_freespace_bytes: {f}\ndata_disk_freespace_mb: {:.2}\n",
            mb(f)
        );
    }
    if admin {
        let _ = write!(
            t,
            "data_path: {}\ndata_active: {}\nindex_path: {}\nindex_active: {}\n\
data_current_id: {}\ndata_current_offset: {}\n",
            ns.data_dir().display(),
            ns.data_active().display(),
            ns.index_dir().display(),
            ns.index_active().display(),
            ns.data_current_id(),
            ns.data_current_offset()
        );
    }
    resp::bulk(c.out, t.as_bytes());
}

fn cmd_nsjump(c: &mut Ctx) {
    if !c.admin() {
        return;
    }
    let ns = cur_ns!(c);
    let res = ns.jump();
    match res {
        Ok(()) => {
            c.ok();
        }
        Err(e) => {
            tracing::error!(error = %e, "jump failed");
            c.err("Internal Error");
        }
    }
}

fn cmd_reload(c: &mut Ctx, r: &Req) {
    if !c.admin() || !c.validate(r, 2) || !c.ns_arg_ok(r, 1) {
        return;
    }
    let name = String::from_utf8_lossy(r.arg(1)).into_owned();
    if c.engine.get(&name).is_none() {
        c.err("Namespace not found");
        return;
    }
    match c.engine.reload(&name) {
        Ok(()) => {
            c.ok();
        }
        Err(e) => {
            tracing::error!(namespace = %name, error = %e, "reload failed");
            c.err("Internal Error");
        }
    }
}

fn cmd_flush(c: &mut Ctx) {
    let ns = cur_ns!(c);
    if ns.public || ns.password.is_none() {
        c.err("Flushing public namespace denied");
        return;
    }
    match ns.flush() {
        Ok(()) => {
            c.ok();
        }
        Err(e) => {
            tracing::error!(error = %e, "flush failed");
            c.err("Internal Server Error");
        }
    }
}

fn cmd_index(c: &mut Ctx, r: &Req) {
    if !c.admin() || !c.validate_min(r, 2) || !c.overflow_ok(r, 1, COMMAND_MAXLEN) {
        return;
    }
    if !r.arg(1).eq_ignore_ascii_case(b"DIRTY") {
        c.err("Unknown INDEX subcommand");
        return;
    }
    if r.argc() == 3 {
        if !c.overflow_ok(r, 2, COMMAND_MAXLEN) {
            return;
        }
        if r.arg(2).eq_ignore_ascii_case(b"RESET") {
            let ns = cur_ns!(c);
            ns.dirty_reset();
            c.ok();
        } else {
            c.err("Unknown INDEX DIRTY subcommand");
        }
        return;
    }
    let ns = cur_ns!(c);
    let list = ns.dirty_list();
    resp::array(c.out, list.len());
    for id in list {
        resp::integer(c.out, id as i64);
    }
}

fn cmd_data(c: &mut Ctx, r: &Req) {
    if !c.admin() || !c.validate_min(r, 2) || !c.overflow_ok(r, 1, COMMAND_MAXLEN) {
        return;
    }
    if !r.arg(1).eq_ignore_ascii_case(b"RAW") {
        c.err("Unknown DATA subcommand");
        return;
    }
    if !c.validate_min(r, 4) {
        return;
    }
    let fileid = atoll(r.arg(2)) as u32;
    let offset = atoll(r.arg(3)).max(0) as u64;
    let out: &mut Vec<u8> = c.out;
    let Some(ns) = c.engine.session_ns(&c.s.ns, c.s.generation) else {
        return;
    };
    match ns.data_raw(fileid, offset) {
        Err(RawError::Eof) => resp::error(out, "EOF"),
        Err(RawError::Invalid) => resp::error(out, "Invalid Request"),
        Ok(raw) => {
            if raw.header.datalength == 0 && raw.header.flags & format::FLAG_DELETED == 0 {
                resp::error(out, "Invalid Request");
                return;
            }
            resp::array(out, 6);
            resp::bulk(out, &raw.key);
            resp::integer(out, raw.header.previous as i64);
            resp::bulk(out, format!("0x{:08x}", raw.header.integrity).as_bytes());
            resp::integer(out, raw.header.flags as i64);
            resp::integer(out, raw.header.timestamp as i64);
            if raw.payload.is_empty() {
                resp::nil(out);
            } else {
                resp::bulk(out, &raw.payload);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_lookup_like_strncasecmp() {
        assert_eq!(lookup(b"SE"), Some("SET"));
        assert_eq!(lookup(b"ge"), Some("GET"));
        assert_eq!(lookup(b"setx"), Some("SETX"));
        assert_eq!(lookup(b""), Some("*"));
        assert_eq!(lookup(b"SETXY"), None);
        assert_eq!(lookup(b"nope"), None);
        assert_eq!(lookup(b"NS"), Some("NSNEW"));
    }

    #[test]
    fn secure_hash_is_sha1_of_nonce_colon_password() {
        // sha1("abc:pw")
        let h = sha1_hex("abc", b"pw");
        assert_eq!(h.len(), 40);
        assert_eq!(h, hex::encode(Sha1::digest(b"abc:pw")));
        assert_eq!(challenge().len(), 16);
    }

    #[test]
    fn atoll_like_c() {
        assert_eq!(atoll(b"123abc"), 123);
        assert_eq!(atoll(b"-5"), -5);
        assert_eq!(atoll(b"x"), 0);
    }
}
