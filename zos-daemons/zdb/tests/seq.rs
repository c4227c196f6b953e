//! Sequential mode (fixed and per namespace in mixed mode): 8-byte little-endian ids, updates,
//! deletes, restart and rotation.

mod common;
use common::*;
use redis::Value;
use zdb::format::Mode;

fn id(n: u64) -> Vec<u8> {
    n.to_le_bytes().to_vec()
}

#[test]
fn seq_mode_ids_updates_deletes() {
    let mut s = TestServer::mode(Mode::Seq);
    let mut c = s.client();
    assert_eq!(bulk(&ok(&mut c, &["SET", "", "a"])), id(0));
    assert_eq!(bulk(&ok(&mut c, &["SET", "", "b"])), id(1));
    assert_eq!(bulk(&okb(&mut c, &[b"GET", &id(0)])), b"a");
    assert_eq!(okb(&mut c, &[b"GET", b"short"]), Value::Nil);
    assert_eq!(okb(&mut c, &[b"GET", &id(99)]), Value::Nil);
    assert_eq!(
        err(&mut c, &["SET", "nope", "x"]),
        "Invalid key, only update authorized"
    );
    assert_eq!(
        cmd(&mut c, &[b"SET", &id(7), b"x"]).unwrap_err(),
        "Invalid key, only update authorized"
    );
    // update keeps the id; the quirk: it consumes one id for the history copy
    assert_eq!(bulk(&okb(&mut c, &[b"SET", &id(0), b"a2"])), id(0));
    assert_eq!(okb(&mut c, &[b"SET", &id(0), b"a2"]), Value::Nil);
    assert_eq!(bulk(&ok(&mut c, &["SET", "", "c"])), id(3));
    assert_eq!(bulk(&okb(&mut c, &[b"GET", &id(0)])), b"a2");
    assert_eq!(okb(&mut c, &[b"GET", &id(2)]), Value::Nil);
    assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 3);
    // history of the update
    match okb(&mut c, &[b"HISTORY", &id(0)]) {
        Value::Array(v) => {
            assert_eq!(bulk(&v[2]), b"a2");
            let parent = bulk(&v[0]);
            match okb(&mut c, &[b"HISTORY", &id(0), &parent]) {
                Value::Array(w) => assert_eq!(bulk(&w[2]), b"a"),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(status(&okb(&mut c, &[b"DEL", &id(1)])), "OK");
    assert_eq!(okb(&mut c, &[b"GET", &id(1)]), Value::Nil);
    assert_eq!(cmd(&mut c, &[b"DEL", &id(1)]).unwrap_err(), "Key not found");
    let info = String::from_utf8(bulk(&ok(&mut c, &["NSINFO", "default"]))).unwrap();
    assert!(info.contains("mode: sequential\n"), "{info}");
    assert!(
        info.contains("next_internal_id: 0x400000000000000\n"),
        "{info}"
    );
    assert_eq!(
        err(&mut c, &["NSSET", "default", "mode", "user"]),
        "This server instance is configured to use a single runtime mode"
    );
    drop(c);
    s.restart();
    let mut c = s.client();
    assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 2);
    assert_eq!(bulk(&okb(&mut c, &[b"GET", &id(0)])), b"a2");
    assert_eq!(bulk(&okb(&mut c, &[b"GET", &id(3)])), b"c");
    assert_eq!(bulk(&ok(&mut c, &["SET", "", "d"])), id(4));
}

#[test]
fn seq_rotation_across_files() {
    let mut s = TestServer::start_with(|c| {
        c.settings.mode = Some(Mode::Seq);
        c.settings.datasize = 512 * 1024;
    });
    let mut c = s.client();
    let val = vec![b'x'; 100 * 1024];
    for n in 0..20u64 {
        let mut v = val.clone();
        v[0] = n as u8;
        assert_eq!(bulk(&okb(&mut c, &[b"SET", b"", &v])), id(n));
    }
    assert!(s.index_dir("default").join("i3").exists(), "rotated");
    // update an id living in an old file
    assert_eq!(bulk(&okb(&mut c, &[b"SET", &id(1), b"updated"])), id(1));
    drop(c);
    s.restart();
    let mut c = s.client();
    for n in 0..20u64 {
        let got = bulk(&okb(&mut c, &[b"GET", &id(n)]));
        if n == 1 {
            assert_eq!(got, b"updated");
        } else {
            assert_eq!(got.len(), val.len());
            assert_eq!(got[0], n as u8);
        }
    }
    assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 20);
}

#[test]
fn mixed_mode_per_namespace() {
    let s = TestServer::start();
    let mut c = s.client();
    ok(&mut c, &["NSNEW", "sq"]);
    ok(&mut c, &["NSNEW", "us"]);
    assert_eq!(
        err(&mut c, &["NSSET", "sq", "mode", "bad"]),
        "Invalid property value (expected: user, seq)"
    );
    ok(&mut c, &["NSSET", "sq", "mode", "seq"]);
    ok(&mut c, &["NSSET", "us", "mode", "user"]);
    ok(&mut c, &["SELECT", "sq"]);
    assert_eq!(bulk(&ok(&mut c, &["SET", "", "x"])), id(0));
    assert_eq!(
        err(&mut c, &["NSSET", "sq", "mode", "user"]),
        "Cannot change mode of used namespace"
    );
    ok(&mut c, &["SELECT", "us"]);
    assert_eq!(
        err(&mut c, &["SET", "", "x"]),
        "Invalid argument, key needed"
    );
    assert_eq!(bulk(&ok(&mut c, &["SET", "k", "x"])), b"k");
    // the mode lives in i0's header
    let i0 = std::fs::read(s.index_dir("sq").join("i0")).unwrap();
    assert_eq!(i0[28], 1);
    let i0 = std::fs::read(s.index_dir("us").join("i0")).unwrap();
    assert_eq!(i0[28], 0);
}

#[test]
fn fixed_mode_mismatch_refuses_start() {
    let s = TestServer::mode(Mode::Seq);
    let mut c = s.client();
    ok(&mut c, &["SET", "", "x"]);
    let mut cfg = s.cfg.clone();
    drop(c);
    drop(s.handle);
    cfg.settings.mode = Some(Mode::User);
    let e = zdb::ServerHandle::start(cfg).expect_err("must refuse");
    let msg = e.to_string();
    assert!(
        msg.contains("sequential") && msg.contains("userkey"),
        "{msg}"
    );
}
