//! SCAN/SCANX/RSCAN cursors, KEYCUR, HISTORY, and file rotation with a small --datasize.

mod common;
use common::*;
use redis::Value;

/// Walks a namespace with SCAN (or RSCAN) from the start; returns keys in order.
fn walk(c: &mut redis::Connection, cmdname: &str) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    let mut cursor: Option<Vec<u8>> = None;
    for _ in 0..10_000 {
        let r = match &cursor {
            None => cmd(c, &[cmdname.as_bytes()]),
            Some(cur) => cmd(c, &[cmdname.as_bytes(), cur]),
        };
        match r {
            Err(e) => {
                assert_eq!(e, "No more data");
                return keys;
            }
            Ok(Value::Array(v)) => {
                let next = bulk(&v[0]);
                assert_eq!(next.len(), 17);
                match &v[1] {
                    Value::Array(items) => {
                        for it in items {
                            match it {
                                Value::Array(t) => {
                                    assert_eq!(t.len(), 3);
                                    keys.push(bulk(&t[0]));
                                }
                                other => panic!("{other:?}"),
                            }
                        }
                    }
                    other => panic!("{other:?}"),
                }
                cursor = Some(next);
            }
            Ok(other) => panic!("{other:?}"),
        }
    }
    panic!("scan did not end");
}

#[test]
fn scan_rscan_keycur() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(err(&mut c, &["SCAN"]), "No more data");
    assert_eq!(err(&mut c, &["RSCAN"]), "No more data");
    for i in 0..30 {
        ok(&mut c, &["SET", &format!("k{i:02}"), "v"]);
    }
    ok(&mut c, &["SET", "k05", "changed"]); // moves k05 to the end
    ok(&mut c, &["DEL", "k10"]);
    let mut expected: Vec<Vec<u8>> = (0..30)
        .filter(|i| *i != 5 && *i != 10)
        .map(|i| format!("k{i:02}").into_bytes())
        .collect();
    expected.push(b"k05".to_vec());
    assert_eq!(walk(&mut c, "SCAN"), expected);
    assert_eq!(walk(&mut c, "SCANX"), expected);
    let mut rev = expected.clone();
    rev.reverse();
    assert_eq!(walk(&mut c, "RSCAN"), rev);
    // a cursor from KEYCUR continues strictly after that key
    let cur = bulk(&ok(&mut c, &["KEYCUR", "k20"]));
    assert_eq!(cur.len(), 17);
    match okb(&mut c, &[b"SCAN", &cur]) {
        Value::Array(v) => match &v[1] {
            Value::Array(items) => match &items[0] {
                Value::Array(t) => assert_eq!(bulk(&t[0]), b"k21"),
                o => panic!("{o:?}"),
            },
            o => panic!("{o:?}"),
        },
        o => panic!("{o:?}"),
    }
    assert_eq!(err(&mut c, &["SCAN", "short"]), "Invalid key format");
    let mut bad = cur.clone();
    bad[13] ^= 0xff; // crc no longer matches
    assert_eq!(
        cmd(&mut c, &[b"SCAN", &bad]).unwrap_err(),
        "Invalid key format"
    );
    // the cursor of the last key: nothing after it
    let last = bulk(&ok(&mut c, &["KEYCUR", "k05"]));
    assert_eq!(cmd(&mut c, &[b"SCAN", &last]).unwrap_err(), "No more data");
}

#[test]
fn history_chain() {
    let s = TestServer::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "h", "v1", "1000"]);
    ok(&mut c, &["SET", "h", "v2", "2000"]);
    ok(&mut c, &["SET", "h", "v3", "3000"]);
    let mut versions = Vec::new();
    let mut r = ok(&mut c, &["HISTORY", "h"]);
    for _ in 0..10 {
        let Value::Array(v) = r else { panic!() };
        versions.push((bulk(&v[1]), bulk(&v[2])));
        if v[0] == Value::Nil {
            break;
        }
        let parent = bulk(&v[0]);
        assert_eq!(parent.len(), 8);
        r = okb(&mut c, &[b"HISTORY", b"h", &parent]);
    }
    assert_eq!(
        versions,
        vec![
            (b"3000".to_vec(), b"v3".to_vec()),
            (b"2000".to_vec(), b"v2".to_vec()),
            (b"1000".to_vec(), b"v1".to_vec()),
        ]
    );
    assert_eq!(err(&mut c, &["HISTORY"]), "Invalid arguments");
    assert_eq!(err(&mut c, &["HISTORY", "zz"]), "Key not found");
    assert_eq!(err(&mut c, &["HISTORY", "h", "x"]), "Invalid arguments");
    assert_eq!(
        cmd(&mut c, &[b"HISTORY", b"h", &[0u8; 8]]).unwrap_err(),
        "No more history"
    );
    ok(&mut c, &["SET", "other", "o"]);
    let cur = bulk(&ok(&mut c, &["KEYCUR", "other"]));
    // {fileid, offset} of "other"'s entry, asked with the wrong key
    let ekey = [&cur[1..5], &cur[9..13]].concat();
    assert_eq!(
        cmd(&mut c, &[b"HISTORY", b"hx", &ekey]).unwrap_err(),
        "Invalid arguments (invalid key)"
    );
    let beyond = [&0u32.to_le_bytes()[..], &999_999u32.to_le_bytes()[..]].concat();
    assert_eq!(
        cmd(&mut c, &[b"HISTORY", b"h", &beyond]).unwrap_err(),
        "Invalid arguments (index query)"
    );
}

#[test]
fn rotation_with_small_datasize_and_reload() {
    let mut s = TestServer::start_with(|c| c.settings.datasize = 512 * 1024);
    let mut c = s.client();
    let val = vec![b'z'; 60 * 1024];
    for i in 0..40 {
        okb(&mut c, &[b"SET", format!("r{i:02}").as_bytes(), &val]);
    }
    // ~8 entries per 512 KiB file
    assert!(s.data_dir("default").join("d4").exists());
    for i in 0..5 {
        let d = std::fs::metadata(s.data_dir("default").join(format!("d{i}"))).unwrap();
        assert!(d.len() <= 512 * 1024, "d{i} is {} bytes", d.len());
    }
    ok(&mut c, &["SET", "r03", "small"]);
    ok(&mut c, &["DEL", "r07"]);
    let keys = walk(&mut c, "SCAN");
    assert_eq!(keys.len(), 39);
    assert_eq!(walk(&mut c, "RSCAN").len(), 39);
    assert_eq!(status(&ok(&mut c, &["RELOAD", "default"])), "OK");
    assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 39);
    drop(c);
    s.restart();
    let mut c = s.client();
    assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 39);
    assert_eq!(bulk(&ok(&mut c, &["GET", "r03"])), b"small");
    assert_eq!(bulk(&ok(&mut c, &["GET", "r39"])), val);
    assert_eq!(ok(&mut c, &["GET", "r07"]), Value::Nil);
    assert_eq!(walk(&mut c, "SCAN"), keys);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zdb-check"))
        .arg("--index")
        .arg(s.dir.path().join("index"))
        .arg("--data")
        .arg(s.dir.path().join("data"))
        .arg("verify")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
