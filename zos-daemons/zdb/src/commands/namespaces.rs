//! Namespace commands: SELECT (passwords, SECURE), NSNEW, NSDEL, NSINFO, NSSET (every
//! property), NSJUMP, RELOAD, FLUSH.

use super::*;
use crate::info::{Files, NamespaceInfo};

pub(super) fn cmd_select(c: &mut Ctx, r: &Req) {
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
    let (access, password_gen) = (ns.access_gen, ns.password_gen);
    let mut writable = true;
    let mut proved = None;
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
            if !c.may_guess() {
                return;
            }
            if r.argc() == 3 {
                if r.arg(2).len() > 255 {
                    c.err("Password too long");
                    return;
                }
                if !password_matches(r.arg(2), &pw) {
                    c.denied();
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
                    c.denied();
                    return;
                }
            }
            proved = Some(password_gen);
        }
    }
    c.s.ns = name;
    c.s.generation = generation;
    c.s.writable = writable;
    c.s.access = access;
    c.s.proved = proved;
    c.ok();
}

pub(super) fn valid_name(n: &str) -> bool {
    !(n.is_empty()
        || n == "."
        || n == ".."
        || n.contains('/')
        || n == DEFAULT_NS
        || n.contains('\0'))
}

pub(super) fn ns_name(c: &mut Ctx, r: &Req, i: usize) -> Option<String> {
    match std::str::from_utf8(r.arg(i)) {
        Ok(s) => Some(s.to_string()),
        Err(_) => {
            c.err("This name is not allowed");
            None
        }
    }
}

pub(super) fn cmd_nsnew(c: &mut Ctx, r: &Req) {
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
            tracing::error!(namespace = %name, error = %zos_base::Report(&e), "cannot create namespace");
            c.err("Could not create namespace");
        }
    }
}

pub(super) fn cmd_nsdel(c: &mut Ctx, r: &Req) {
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
            tracing::error!(namespace = %name, error = %zos_base::Report(&e), "cannot delete namespace");
            c.err("Could not delete this namespace");
        }
    }
}

pub(super) fn cmd_nsset(c: &mut Ctx, r: &Req) {
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
        b"maxsize" | b"password" | b"public" | b"worm" => {
            let mut d = ns.descriptor();
            match prop {
                b"maxsize" => match parse_size(value) {
                    Some(n) => d.maxsize = n,
                    None => {
                        c.err("Invalid property value (expected: a size in bytes)");
                        return;
                    }
                },
                b"password" => d.password = (value != b"*").then(|| value.to_vec()),
                b"public" => d.public = flag,
                _ => d.worm = flag,
            }
            // Persisted first: a setting that cannot be saved is not taken, so a restart
            // never finds a namespace more open than it was told to be.
            ns.apply_descriptor(d).map_err(|e| {
                tracing::error!(namespace = %name, error = %e, "namespace settings not saved");
                "Could not save namespace settings"
            })
        }
        _ => Err("Invalid property"),
    };
    match res {
        Err(m) => {
            c.err(m);
        }
        Ok(()) => {
            c.ok();
        }
    }
}

/// A size in bytes: decimal digits only (0-db's `atoll` reads "-1" as 2^64 - 1 and "lots" as 0).
fn parse_size(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Free bytes for unprivileged users on the filesystem holding `p` (statvfs).
pub(super) fn free_space(p: &std::path::Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(p).ok()?;
    Some(st.fragment_size() as u64 * st.blocks_available() as u64)
}

pub(super) fn cmd_nsinfo(c: &mut Ctx, r: &Req) {
    if !c.validate(r, 2) || !c.ns_arg_ok(r, 1) {
        return;
    }
    let name = String::from_utf8_lossy(r.arg(1)).into_owned();
    let admin = c.s.admin;
    let Some(ns) = c.engine.get(&name) else {
        c.err("Namespace not found");
        return;
    };
    let info = NamespaceInfo {
        name: ns.name.clone(),
        entries: ns.entries,
        public: ns.public,
        worm: ns.worm,
        locked: ns.lock != Lock::Unlocked,
        password: ns.password.is_some(),
        data_size_bytes: ns.datasize,
        data_limits_bytes: ns.maxsize,
        index_size_bytes: ns.index_size,
        next_internal_id: ns.next_entry().swap_bytes(),
        mode: ns.mode(),
        index_io_errors: ns.io.index_errors,
        index_io_error_last: ns.io.index_last_error,
        data_io_errors: ns.io.data_errors,
        data_io_error_last: ns.io.data_last_error,
        index_disk_free: free_space(ns.index_dir()),
        data_disk_free: free_space(ns.data_dir()),
        files: admin.then(|| Files {
            data_path: ns.data_dir().to_path_buf(),
            data_active: ns.data_active(),
            index_path: ns.index_dir().to_path_buf(),
            index_active: ns.index_active(),
            data_current_id: ns.data_current_id(),
            data_current_offset: ns.data_current_offset(),
        }),
    };
    resp::bulk(c.out, info.render().as_bytes());
}

pub(super) fn cmd_nsjump(c: &mut Ctx) {
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
            tracing::error!(error = %zos_base::Report(&e), "jump failed");
            c.err("Internal Error");
        }
    }
}

pub(super) fn cmd_reload(c: &mut Ctx, r: &Req) {
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
            tracing::error!(namespace = %name, error = %zos_base::Report(&e), "reload failed");
            c.err("Internal Error");
        }
    }
}

/// FLUSH: 0-db's rule (a private namespace with a password only), and a flush is a write: the
/// session must be allowed to write (not read-only, not locked or frozen), and a worm
/// namespace keeps its data (0-db checks neither).
pub(super) fn cmd_flush(c: &mut Ctx) {
    let ns = cur_ns!(c);
    if ns.public || ns.password.is_none() {
        c.err("Flushing public namespace denied");
        return;
    }
    if !super::keys::may_write(c) {
        return;
    }
    let ns = cur_ns!(c);
    if ns.worm {
        c.err("Namespace is protected by worm mode");
        return;
    }
    match ns.flush() {
        Ok(()) => {
            c.ok();
        }
        Err(e) => {
            tracing::error!(error = %zos_base::Report(&e), "flush failed");
            c.err("Internal Server Error");
        }
    }
}
