//! Key commands of the current namespace: SET/SETX, GET, MGET, DEL, EXISTS, CHECK, LENGTH,
//! KEYTIME, KEYCUR, SCAN/SCANX, RSCAN, HISTORY, with 0-db's check order and error strings.

use super::*;
use crate::namespace::Entry;

/// 0-db's write gate, after the argument checks: the namespace is writable and neither frozen
/// nor locked; otherwise the error is replied and false returned.
pub(super) fn may_write(c: &mut Ctx) -> bool {
    if !c.s.writable {
        c.err("Namespace is in read-only mode");
        return false;
    }
    match c.lock() {
        Lock::Frozen => {
            c.err("Namespace is temporarily frozen (read-write disabled)");
            false
        }
        Lock::ReadOnly => {
            c.err("Namespace is temporarily locked (read-only)");
            false
        }
        Lock::Unlocked => true,
    }
}

pub(super) fn cmd_set(c: &mut Ctx, r: &Req) {
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
    if !may_write(c) {
        return;
    }
    let ts = if r.argc() == 4 {
        Some(atoll(r.arg(3)) as u32)
    } else {
        None
    };
    let ns = cur_ns!(c);
    let existing = if key.is_empty() { None } else { ns.lookup(key) };
    if nowait::blocked() {
        // The lookup would have waited for the disk: the server runs this SET again.
        return;
    }
    let mut reply: Result<bool, &'static str> = Ok(false);
    if existing.is_some() && ns.worm {
        reply = Err("Namespace is protected by worm mode");
    } else if ns.maxsize > 0 {
        // What the namespace's files take on disk, not its live bytes (0-db's): an overwrite
        // or a delete frees nothing on disk, so it must not make room.
        let grows = ns.write_cost(key.len(), value.len());
        if ns.disk_bytes.saturating_add(grows) > ns.maxsize {
            reply = Err("No space left on this namespace");
        }
    }
    if reply.is_ok() && ns.mode() == Mode::User && key.is_empty() {
        reply = Err("Invalid argument, key needed");
    }
    if reply.is_ok() && ns.needs_jump(value.len()) {
        if let Err(e) = ns.jump() {
            tracing::error!(error = %zos_base::Report(&e), "rotation failed");
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
                tracing::error!(error = %zos_base::Report(&e), "data write failed");
                Err("Cannot write data right now")
            }
            Err(WriteError::Index(e)) => {
                tracing::error!(error = %zos_base::Report(&e), "index write failed");
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

/// The live entries of `keys` and the bytes their payloads add to the reply.
fn lookup_all(
    c: &mut Ctx,
    keys: impl Iterator<Item = usize>,
    r: &Req,
) -> (Vec<Option<Entry>>, usize) {
    let Some(ns) = c.engine.session_ns(&c.s.ns, c.s.generation) else {
        return (Vec::new(), 0);
    };
    let mut size = 0usize;
    let entries = keys
        .map(|i| {
            let e = ns.lookup(r.arg(i));
            size += e.map_or(0, |e| e.length as usize);
            e
        })
        .collect();
    (entries, size)
}

/// The reply of one GET of `key`, whose entry was looked up (and its room granted).
fn get_single(c: &mut Ctx, key: &[u8], entry: Option<Entry>) {
    let out_ptr = &mut *c.out;
    let (Some(ns), Some(e)) = (c.engine.session_ns(&c.s.ns, c.s.generation), entry) else {
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

pub(super) fn cmd_get(c: &mut Ctx, r: &Req) {
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
    let (entries, size) = lookup_all(c, 1..2, r);
    if !c.room(size) {
        return;
    }
    get_single(c, r.arg(1), entries.first().copied().flatten());
}

pub(super) fn cmd_mget(c: &mut Ctx, r: &Req) {
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
    let (entries, size) = lookup_all(c, 1..r.argc(), r);
    if size > MAX_REPLY {
        // Built whole before it is sent: refused rather than grown without bound.
        c.err("Reply too large");
        return;
    }
    if !c.room(size) {
        return;
    }
    resp::array(c.out, r.argc() - 1);
    for (i, e) in (1..r.argc()).zip(entries) {
        get_single(c, r.arg(i), e);
    }
}

pub(super) fn cmd_del(c: &mut Ctx, r: &Req) {
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
    if !may_write(c) {
        return;
    }
    let ts = if r.argc() == 3 {
        Some(atoll(r.arg(2)) as u32)
    } else {
        None
    };
    let ns = cur_ns!(c);
    let existing = ns.lookup(key);
    if nowait::blocked() {
        // The lookup would have waited for the disk: the server runs this DEL again.
        return;
    }
    let res = match existing {
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

pub(super) fn cmd_keyinfo(c: &mut Ctx, r: &Req, name: &'static str) {
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

pub(super) fn cmd_scan(c: &mut Ctx, r: &Req, forward: bool) {
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
    // A batch ends after 2 ms (0-db), 10 000 entries or a small reply's worth of them.
    let mut bytes: usize = items.iter().map(|i| i.key.len() + 48).sum();
    while start.elapsed() < SCAN_SLICE && items.len() < SCAN_MAX_ITEMS && bytes < SMALL_REPLY {
        let next = if forward {
            ns.scan_next(pos)
        } else {
            ns.scan_prev(pos)
        };
        match next {
            Ok(Some(it)) => {
                pos = Some((it.cursor.fileid, it.cursor.idxoffset));
                bytes += it.key.len() + 48;
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

/// Appends HISTORY's reply for the version at `fileid`/`offset`, whose key must be `key` when
/// `key` is given; the error to reply otherwise. The payload's claimed length is checked
/// against the reply room first: the location may come from a client.
fn history_reply(
    c: &mut Ctx,
    fileid: u32,
    offset: u32,
    key: Option<&[u8]>,
) -> Result<(), &'static str> {
    let bad = if key.is_some() {
        "Invalid arguments (index query)"
    } else {
        "Internal Error"
    };
    let Some(ns) = c.engine.session_ns(&c.s.ns, c.s.generation) else {
        return Err(bad);
    };
    let Ok(Some((item, k))) = ns.read_index_item(fileid, offset) else {
        return Err(bad);
    };
    if key.is_some_and(|key| key != k.as_slice()) {
        return Err("Invalid arguments (invalid key)");
    }
    if item.length as usize > format::MAX_PAYLOAD {
        return Err(bad);
    }
    if !c.room(item.length as usize) {
        return Ok(());
    }
    let out = &mut *c.out;
    let Some(ns) = c.engine.session_ns(&c.s.ns, c.s.generation) else {
        return Err(bad);
    };
    let before = out.len();
    resp::array(out, 3);
    if (item.parentid, item.parentoff) != (0, 0) {
        resp::bulk(out, &format::encode_ekey(item.parentid, item.parentoff));
    } else {
        resp::nil(out);
    }
    resp::bulk(out, item.timestamp.to_string().as_bytes());
    resp::bulk_header(out, item.length as usize);
    // Straight into the reply (the length was checked above).
    if ns.version_payload(fileid, offset, &item, &k, out).is_err() {
        out.truncate(before);
        return Err(bad);
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

pub(super) fn cmd_history(c: &mut Ctx, r: &Req) {
    if r.argc() != 2 && r.argc() != 3 {
        c.err("Invalid arguments");
        return;
    }
    if c.frozen() {
        return;
    }
    let key = r.arg(1);
    let Some(ns) = c.engine.session_ns(&c.s.ns, c.s.generation) else {
        return;
    };
    let result = if r.argc() == 2 {
        let Some(e) = ns.lookup(key) else {
            c.err("Key not found");
            return;
        };
        history_reply(c, e.indexid, e.idxoffset, None)
    } else {
        let Some((fid, off)) = format::decode_ekey(r.arg(2)).filter(|_| r.arg(2).len() == EKEY_LEN)
        else {
            c.err("Invalid arguments");
            return;
        };
        if fid == 0 && off == 0 {
            c.err("No more history");
            return;
        }
        history_reply(c, fid, off, Some(key))
    };
    if let Err(m) = result {
        c.err(m);
    }
}
