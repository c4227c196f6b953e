//! The 0-db command set: lookup (case-insensitive prefix match over 0-db's table order),
//! per-connection session state (namespace, admin, writable, challenge nonce), and every
//! handler with 0-db's replies and error strings. Talks to storage only through `Engine` and
//! `Namespace`; never touches sockets.

use std::time::Duration;

use sha1::{Digest, Sha1};

use crate::engine::{Engine, DEFAULT_NS};
use crate::format::{self, Mode, CURSOR_LEN, EKEY_LEN};
use crate::namespace::{nowait, Durability, Lock, RawError, SetOutcome, WriteError};
use crate::resp;

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

mod keys;
mod namespaces;
mod system;

use keys::*;
use namespaces::*;
use system::*;

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
#[derive(Debug)]
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

#[derive(Debug)]
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
#[derive(Debug)]
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

/// Whether the server may try `r` on its event loop, with reads from the page cache only (see
/// `namespace::nowait`): not the commands that create, delete or fsync files (nor writes when
/// every write is fsynced), which always run where blocking is allowed.
pub fn runs_inline(engine: &Engine, r: &Req) -> bool {
    match lookup(r.arg(0)) {
        Some("NSNEW" | "NSDEL" | "NSSET" | "NSJUMP" | "RELOAD" | "FLUSH" | "INDEX" | "DATA") => {
            false
        }
        Some("SET" | "SETX" | "DEL") => engine.settings.durability == Durability::None,
        _ => true,
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
    if nowait::blocked() {
        // Thrown away and run again by the server: count it once, and tell no WAIT.
        c.engine.stats.commands -= 1;
        return Outcome {
            action: Action::Continue,
            executed: None,
            generation,
        };
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
