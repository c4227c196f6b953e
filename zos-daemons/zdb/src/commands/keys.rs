//! Key commands of the current namespace: SET/SETX, GET, MGET, DEL, EXISTS, CHECK, LENGTH,
//! KEYTIME, KEYCUR, SCAN/SCANX, RSCAN, HISTORY, with 0-db's check order and error strings.

use super::*;

/// 0-db's write gate, after the argument checks: the namespace is writable and neither frozen
/// nor locked; otherwise the error is replied and false returned.
fn may_write(c: &mut Ctx) -> bool {
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

pub(super) fn get_single(c: &mut Ctx, key: &[u8]) {
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
    get_single(c, r.arg(1));
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
    resp::array(c.out, r.argc() - 1);
    for i in 1..r.argc() {
        get_single(c, r.arg(i));
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

pub(super) fn history_reply(out: &mut Vec<u8>, parent: (u32, u32), ts: u32, payload: &[u8]) {
    resp::array(out, 3);
    if parent != (0, 0) {
        resp::bulk(out, &format::encode_ekey(parent.0, parent.1));
    } else {
        resp::nil(out);
    }
    resp::bulk(out, ts.to_string().as_bytes());
    resp::bulk(out, payload);
}

pub(super) fn cmd_history(c: &mut Ctx, r: &Req) {
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
