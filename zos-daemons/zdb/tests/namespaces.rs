//! NSNEW/NSDEL/NSLIST/NSINFO/NSSET (every property), DBSIZE, NSJUMP, RELOAD, FLUSH, and the
//! namespace semantics: worm, maxsize, lock, freeze, deleted-namespace detection.

mod common;
use common::*;
use redis::Value;

fn nsinfo(c: &mut redis::Connection, ns: &str) -> String {
    String::from_utf8(bulk(&ok(c, &["NSINFO", ns]))).unwrap()
}

#[test]
fn create_list_info_delete() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(err(&mut c, &["NSNEW"]), "Unexpected arguments");
    assert_eq!(err(&mut c, &["NSNEW", ""]), "Invalid argument");
    for bad in ["default", ".", "..", "a/b"] {
        assert_eq!(err(&mut c, &["NSNEW", bad]), "This name is not allowed");
    }
    assert_eq!(
        err(&mut c, &["NSNEW", &"n".repeat(129)]),
        "Namespace too long"
    );
    assert_eq!(status(&ok(&mut c, &["NSNEW", "one"])), "OK");
    assert_eq!(
        err(&mut c, &["NSNEW", "one"]),
        "This namespace is not available"
    );
    ok(&mut c, &["NSNEW", "two"]);
    assert_eq!(
        ok(&mut c, &["NSLIST"]),
        Value::Array(vec![
            Value::BulkString(b"default".to_vec()),
            Value::BulkString(b"one".to_vec()),
            Value::BulkString(b"two".to_vec()),
        ])
    );
    let info = nsinfo(&mut c, "one");
    let expected_prefix = "# namespace\nname: one\nentries: 0\npublic: yes\nworm: no\nlocked: no\n\
password: no\ndata_size_bytes: 0\ndata_size_mb: 0.00\ndata_limits_bytes: 0\nindex_size_bytes: 0\n\
index_size_kb: 0.00\nnext_internal_id: 0x00000000\nmode: userkey\n";
    assert!(info.starts_with(expected_prefix), "{info}");
    assert!(info.contains("data_disk_freespace_bytes: "));
    assert!(info.contains("data_path: "), "admin sees paths");
    assert!(info.contains("data_current_offset: 28\n"));
    assert_eq!(err(&mut c, &["NSINFO", "zz"]), "Namespace not found");
    assert_eq!(err(&mut c, &["NSINFO"]), "Unexpected arguments");
    assert!(s.index_dir("one").join("zdb-namespace").exists());
    assert!(s.index_dir("one").join("i0").exists());
    assert!(s.data_dir("one").join("d0").exists());

    assert_eq!(
        err(&mut c, &["NSDEL", "default"]),
        "Cannot remove default namespace"
    );
    assert_eq!(
        err(&mut c, &["NSDEL", "zz"]),
        "This namespace doesn't exists"
    );
    ok(&mut c, &["SELECT", "one"]);
    assert_eq!(
        err(&mut c, &["NSDEL", "one"]),
        "Cannot remove namespace you're currently using."
    );
    // another client inside "two" is detached when "two" is removed
    let mut other = s.client();
    ok(&mut other, &["SELECT", "two"]);
    assert_eq!(status(&ok(&mut c, &["NSDEL", "two"])), "OK");
    assert_eq!(
        err(&mut other, &["PING"]),
        "Your active namespace is not available anymore (probably removed)."
    );
    assert!(!s.index_dir("two").exists());
    assert!(!s.data_dir("two").exists());
    // re-creating the same name gives a fresh namespace
    ok(&mut c, &["NSNEW", "two"]);
    assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 0);
}

#[test]
fn nsset_properties() {
    let mut s = TestServer::start();
    let mut c = s.client();
    ok(&mut c, &["NSNEW", "p"]);
    assert_eq!(err(&mut c, &["NSSET", "p"]), "Unexpected arguments");
    assert_eq!(
        err(&mut c, &["NSSET", "zz", "worm", "1"]),
        "Namespace not found"
    );
    assert_eq!(err(&mut c, &["NSSET", "p", "foo", "1"]), "Invalid property");
    assert_eq!(
        err(&mut c, &["NSSET", "p", "Worm", "1"]),
        "Invalid property"
    );
    assert_eq!(
        err(&mut c, &["NSSET", "p", &"x".repeat(257), "1"]),
        "Argument too long"
    );
    assert_eq!(
        err(&mut c, &["NSSET", "p", "password", &"x".repeat(64)]),
        "Argument too long"
    );
    for prop in ["maxsize", "password", "public", "worm"] {
        assert_eq!(
            err(&mut c, &["NSSET", "default", prop, "1"]),
            "Cannot update default namespace"
        );
    }
    ok(&mut c, &["NSSET", "default", "lock", "0"]);
    ok(&mut c, &["NSSET", "p", "maxsize", "12345"]);
    ok(&mut c, &["NSSET", "p", "password", "pw"]);
    ok(&mut c, &["NSSET", "p", "public", "0"]);
    ok(&mut c, &["NSSET", "p", "worm", "1"]);
    let info = nsinfo(&mut c, "p");
    for line in [
        "public: no\n",
        "worm: yes\n",
        "password: yes\n",
        "data_limits_bytes: 12345\n",
        "space_available: 12345\n",
    ] {
        assert!(info.contains(line), "{line} missing in {info}");
    }
    // persisted in the descriptor, except lock/freeze
    ok(&mut c, &["NSSET", "p", "lock", "1"]);
    drop(c);
    s.restart();
    let mut c = s.client();
    let info = nsinfo(&mut c, "p");
    assert!(info.contains("public: no\n") && info.contains("worm: yes\n"));
    assert!(info.contains("password: yes\ndata_size_bytes"));
    assert!(info.contains("locked: no\n"), "lock is RAM only: {info}");
    let d = std::fs::read(s.index_dir("p").join("zdb-namespace")).unwrap();
    let desc = zdb::format::NsDescriptor::decode(&d).unwrap();
    assert_eq!(desc.password.as_deref(), Some(&b"pw"[..]));
    assert_eq!(desc.maxsize, 12345);
}

#[test]
fn worm_maxsize_lock_freeze() {
    let s = TestServer::start();
    let mut c = s.client();
    ok(&mut c, &["NSNEW", "w"]);
    ok(&mut c, &["SELECT", "w"]);
    ok(&mut c, &["SET", "k", "v"]);
    ok(&mut c, &["NSSET", "w", "worm", "1"]);
    assert_eq!(
        err(&mut c, &["SET", "k", "v2"]),
        "Namespace is protected by worm mode"
    );
    assert_eq!(
        err(&mut c, &["DEL", "k"]),
        "Cannot delete a key when namespace is in worm mode"
    );
    assert_eq!(bulk(&ok(&mut c, &["SET", "new", "x"])), b"new");
    ok(&mut c, &["NSSET", "w", "worm", "0"]);

    ok(&mut c, &["NSNEW", "m"]);
    ok(&mut c, &["SELECT", "m"]);
    // maxsize counts what the entries take on disk (18 + key + value in the data file, 34 +
    // key in the index), every version: unlike 0-db, replacing a value frees nothing
    ok(&mut c, &["NSSET", "m", "maxsize", "184"]);
    ok(&mut c, &["SET", "a", "12345"]);
    ok(&mut c, &["SET", "b", "123456"]);
    assert_eq!(bulk(&ok(&mut c, &["SET", "a", "1234567890"])), b"a");
    assert_eq!(
        err(&mut c, &["SET", "a", "1"]),
        "No space left on this namespace"
    );
    ok(&mut c, &["NSSET", "m", "maxsize", "0"]);
    ok(&mut c, &["SET", "b", "123456"]);

    ok(&mut c, &["NSSET", "m", "lock", "1"]);
    assert_eq!(
        err(&mut c, &["SET", "c", "1"]),
        "Namespace is temporarily locked (read-only)"
    );
    assert_eq!(
        err(&mut c, &["DEL", "a"]),
        "Namespace is temporarily locked (read-only)"
    );
    assert_eq!(bulk(&ok(&mut c, &["GET", "b"])), b"123456");
    assert!(nsinfo(&mut c, "m").contains("locked: yes\n"));
    ok(&mut c, &["NSSET", "m", "lock", "0"]);

    ok(&mut c, &["NSSET", "m", "freeze", "1"]);
    let frozen = "Namespace is temporarily frozen (read-write disabled)";
    for args in [
        &["SET", "c", "1"][..],
        &["DEL", "a"],
        &["GET", "a"],
        &["MGET", "a"],
        &["EXISTS", "a"],
        &["CHECK", "a"],
        &["LENGTH", "a"],
        &["KEYTIME", "a"],
        &["KEYCUR", "a"],
        &["SCAN"],
        &["RSCAN"],
        &["HISTORY", "a"],
    ] {
        assert_eq!(err(&mut c, args), frozen, "{args:?}");
    }
    assert!(nsinfo(&mut c, "m").contains("locked: yes\n"));
    ok(&mut c, &["NSSET", "m", "freeze", "0"]);
    assert_eq!(bulk(&ok(&mut c, &["GET", "a"])), b"1234567890");
}

#[test]
fn flush_reload_jump_dbsize() {
    let s = TestServer::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "d", "1"]);
    assert_eq!(err(&mut c, &["FLUSH"]), "Flushing public namespace denied");
    ok(&mut c, &["NSNEW", "f"]);
    ok(&mut c, &["NSSET", "f", "password", "pw"]);
    ok(&mut c, &["SELECT", "f", "pw"]);
    assert_eq!(err(&mut c, &["FLUSH"]), "Flushing public namespace denied");
    ok(&mut c, &["NSSET", "f", "public", "0"]);
    ok(&mut c, &["SELECT", "f", "pw"]);
    for i in 0..10 {
        ok(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    assert_eq!(status(&ok(&mut c, &["NSJUMP"])), "OK");
    ok(&mut c, &["SET", "after", "jump"]);
    assert!(s.index_dir("f").join("i1").exists());
    assert!(s.data_dir("f").join("d1").exists());
    assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 11);
    assert_eq!(status(&ok(&mut c, &["FLUSH"])), "OK");
    assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 0);
    assert_eq!(ok(&mut c, &["GET", "k1"]), Value::Nil);
    assert!(!s.index_dir("f").join("i1").exists());
    ok(&mut c, &["SET", "x", "y"]);
    assert_eq!(err(&mut c, &["RELOAD", "zz"]), "Namespace not found");
    assert_eq!(err(&mut c, &["RELOAD"]), "Unexpected arguments");
    assert_eq!(status(&ok(&mut c, &["RELOAD", "f"])), "OK");
    assert_eq!(bulk(&ok(&mut c, &["GET", "x"])), b"y");
    assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 1);
    // default is untouched
    ok(&mut c, &["SELECT", "default"]);
    assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 1);
}

#[test]
fn unix_socket_and_dualnet() {
    let s = TestServer::start_with(|c| {
        c.unix = Some(c.settings.index_root.with_file_name("zdb.sock"));
    });
    let path = s.cfg.unix.clone().unwrap();
    let cl = redis::Client::open(format!("redis+unix://{}", path.display())).unwrap();
    let mut u = cl.get_connection().unwrap();
    ok(&mut u, &["SET", "via", "unix"]);
    let mut t = s.client();
    assert_eq!(bulk(&ok(&mut t, &["GET", "via"])), b"unix");
}
