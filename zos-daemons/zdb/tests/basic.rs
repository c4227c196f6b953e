//! Core protocol and user-mode semantics through the redis crate.

mod common;
use common::*;

#[test]
fn ping_time_set_get_del() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(status(&ok(&mut c, &["PING"])), "PONG");
    let t = ok(&mut c, &["TIME"]);
    match t {
        redis::Value::Array(v) => {
            assert_eq!(v.len(), 2);
            let secs: u64 = String::from_utf8(bulk(&v[0])).unwrap().parse().unwrap();
            assert!(secs > 1_600_000_000);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(bulk(&ok(&mut c, &["SET", "k", "v1"])), b"k");
    assert_eq!(bulk(&ok(&mut c, &["GET", "k"])), b"v1");
    // identical payload: nil, nothing written
    assert_eq!(ok(&mut c, &["SET", "k", "v1"]), redis::Value::Nil);
    assert_eq!(bulk(&ok(&mut c, &["SET", "k", "v2"])), b"k");
    assert_eq!(bulk(&ok(&mut c, &["GET", "k"])), b"v2");
    assert_eq!(int(&ok(&mut c, &["EXISTS", "k"])), 1);
    assert_eq!(int(&ok(&mut c, &["LENGTH", "k"])), 2);
    assert_eq!(int(&ok(&mut c, &["CHECK", "k"])), 1);
    assert!(int(&ok(&mut c, &["KEYTIME", "k"])) > 1_600_000_000);
    assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 1);
    assert_eq!(status(&ok(&mut c, &["DEL", "k"])), "OK");
    assert_eq!(err(&mut c, &["DEL", "k"]), "Key not found");
    assert_eq!(ok(&mut c, &["GET", "k"]), redis::Value::Nil);
    assert_eq!(int(&ok(&mut c, &["EXISTS", "k"])), 0);
    assert_eq!(ok(&mut c, &["LENGTH", "k"]), redis::Value::Nil);
    assert_eq!(ok(&mut c, &["CHECK", "k"]), redis::Value::Nil);
    assert_eq!(ok(&mut c, &["KEYTIME", "k"]), redis::Value::Nil);
    assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 0);
    // prefix abbreviation quirk
    assert_eq!(bulk(&ok(&mut c, &["SE", "a", "b"])), b"a");
    assert_eq!(bulk(&ok(&mut c, &["ge", "a"])), b"b");
}

#[test]
fn persistence_across_restart() {
    let mut s = TestServer::start();
    {
        let mut c = s.client();
        for i in 0..200 {
            ok(&mut c, &["SET", &format!("key{i}"), &format!("value{i}")]);
        }
        ok(&mut c, &["SET", "key5", "changed"]);
        ok(&mut c, &["DEL", "key7"]);
    }
    s.restart();
    let mut c = s.client();
    assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 199);
    assert_eq!(bulk(&ok(&mut c, &["GET", "key5"])), b"changed");
    assert_eq!(ok(&mut c, &["GET", "key7"]), redis::Value::Nil);
    assert_eq!(bulk(&ok(&mut c, &["GET", "key199"])), b"value199");
}
