//! Server commands: WAIT, AUTH (plain and SECURE challenge), INFO, INDEX DIRTY, DATA RAW.

use super::*;

pub(super) fn sha1_hex(nonce: &str, password: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(nonce.as_bytes());
    h.update(b":");
    h.update(password);
    hex::encode(h.finalize())
}

/// 16 lowercase hex chars, like libzdb's `zdb_challenge`.
pub(super) fn challenge() -> String {
    let b: [u8; 8] = rand::random();
    hex::encode(b)
}

pub(super) fn cmd_wait(c: &mut Ctx, r: &Req) -> Action {
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

pub(super) fn password_matches(given: &[u8], expected: &[u8]) -> bool {
    given == expected
}

pub(super) fn cmd_auth(c: &mut Ctx, r: &Req) {
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
            if !c.may_guess() {
                return;
            }
            if password_matches(r.arg(1), &admin) {
                c.s.admin = true;
                c.ok();
            } else {
                c.denied();
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
            if !c.may_guess() {
                return;
            }
            let expected = sha1_hex(&nonce, &admin);
            if a == expected.as_bytes() {
                c.s.admin = true;
                c.ok();
            } else {
                c.denied();
            }
            c.s.nonce = None;
        }
        _ => {
            c.err("Unexpected arguments");
        }
    }
}

pub(super) fn cmd_info(c: &mut Ctx) {
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

pub(super) fn cmd_index(c: &mut Ctx, r: &Req) {
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

pub(super) fn cmd_data(c: &mut Ctx, r: &Req) {
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
