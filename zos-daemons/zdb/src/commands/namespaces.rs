//! Namespace commands: SELECT (passwords, SECURE), NSNEW, NSDEL, NSINFO, NSSET (every
//! property), NSJUMP, RELOAD, FLUSH.

use super::*;

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
            tracing::error!(namespace = %name, error = %e, "cannot create namespace");
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
            tracing::error!(namespace = %name, error = %e, "cannot delete namespace");
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
            tracing::error!(error = %e, "jump failed");
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
            tracing::error!(namespace = %name, error = %e, "reload failed");
            c.err("Internal Error");
        }
    }
}

pub(super) fn cmd_flush(c: &mut Ctx) {
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
