//! Every data command and its error strings, user mode, through the redis crate.

mod common;
use common::*;
use redis::Value;

#[test]
fn set_errors_and_checks() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(err(&mut c, &["SET", "k"]), "Unexpected arguments");
    assert_eq!(
        err(&mut c, &["SET", "k", "v", "1", "2"]),
        "Unexpected arguments"
    );
    assert_eq!(
        err(&mut c, &["SET", "", "v"]),
        "Invalid argument, key needed"
    );
    assert_eq!(
        err(&mut c, &["SET", &"a".repeat(256), "v"]),
        "Key too large"
    );
    assert_eq!(
        bulk(&ok(&mut c, &["SET", &"a".repeat(255), "v"])),
        "a".repeat(255).as_bytes()
    );
    // custom timestamp (admin: everybody is admin without --admin)
    ok(&mut c, &["SET", "t", "v", "1234567"]);
    assert_eq!(int(&ok(&mut c, &["KEYTIME", "t"])), 1234567);
    // empty payload is allowed
    assert_eq!(bulk(&ok(&mut c, &["SET", "e", ""])), b"e");
    assert_eq!(bulk(&ok(&mut c, &["GET", "e"])), b"");
    assert_eq!(int(&ok(&mut c, &["LENGTH", "e"])), 0);
    // binary keys and values
    let key = [0u8, 1, 2, 255, b'\r', b'\n'];
    let val: Vec<u8> = (0..=255u8).collect();
    assert_eq!(bulk(&okb(&mut c, &[b"SET", &key, &val])), key);
    assert_eq!(bulk(&okb(&mut c, &[b"GET", &key])), val);
    // large value (1 MiB)
    let big = vec![7u8; 1 << 20];
    okb(&mut c, &[b"SET", b"big", &big]);
    assert_eq!(bulk(&ok(&mut c, &["GET", "big"])), big);
    assert_eq!(int(&ok(&mut c, &["CHECK", "big"])), 1);
}

#[test]
fn get_family_errors() {
    let s = TestServer::start();
    let mut c = s.client();
    let long = "a".repeat(300);
    for cmdname in ["GET", "EXISTS", "CHECK", "LENGTH", "KEYTIME"] {
        assert_eq!(err(&mut c, &[cmdname]), "Unexpected arguments", "{cmdname}");
        assert_eq!(err(&mut c, &[cmdname, "a", "b"]), "Unexpected arguments");
        assert_eq!(err(&mut c, &[cmdname, ""]), "Invalid argument");
        assert_eq!(err(&mut c, &[cmdname, &long]), "Invalid key");
    }
    assert_eq!(err(&mut c, &["KEYCUR", "zz"]), "Key not found");
    assert_eq!(err(&mut c, &["KEYCUR"]), "Unexpected arguments");
    assert_eq!(err(&mut c, &["MGET"]), "Invalid arguments");
    assert_eq!(err(&mut c, &["MGET", &long]), "Invalid key");
    ok(&mut c, &["SET", "a", "1"]);
    ok(&mut c, &["SET", "b", "2"]);
    assert_eq!(
        ok(&mut c, &["MGET", "a", "zz", "b"]),
        Value::Array(vec![
            Value::BulkString(b"1".to_vec()),
            Value::Nil,
            Value::BulkString(b"2".to_vec())
        ])
    );
    assert_eq!(err(&mut c, &["DEL"]), "Unexpected arguments");
    assert_eq!(err(&mut c, &["DEL", ""]), "Invalid argument");
    assert_eq!(err(&mut c, &["DEL", &long]), "Invalid key");
    assert_eq!(err(&mut c, &["DEL", "zz"]), "Key not found");
    assert_eq!(status(&ok(&mut c, &["DEL", "a", "1700000000"])), "OK");
    assert_eq!(ok(&mut c, &["GET", "a"]), Value::Nil);
}

#[test]
fn misc_commands() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(err(&mut c, &["FOO"]), "Command not supported");
    assert_eq!(err(&mut c, &["*"]), "This is not a valid command");
    assert_eq!(err(&mut c, &["STOP"]), "Unauthorized");
    assert_eq!(
        err(&mut c, &["KSCAN", "a"]),
        "Command disabled in release code, not yet available"
    );
    assert_eq!(ok(&mut c, &["HOOKS"]), Value::Array(vec![]));
    let info = String::from_utf8(bulk(&ok(&mut c, &["INFO"]))).unwrap();
    assert!(
        info.starts_with("# server\nserver_name: 0-db (zdb)\n"),
        "{info}"
    );
    assert!(info.contains("sequential_key_size: 8\ndata_version: 3\nindex_version: 4\n"));
    for field in [
        "commands_executed: ",
        "data_disk_write_bytes: ",
        "index_disk_read_bytes: ",
        "network_rx_bytes: ",
        "network_tx_mb: ",
    ] {
        assert!(info.contains(field), "{field} missing: {info}");
    }
    assert_eq!(status(&ok(&mut c, &["PING", "x", "y"])), "PONG");
    // errors of INDEX/DATA sub-commands
    assert_eq!(err(&mut c, &["INDEX"]), "Missing arguments");
    assert_eq!(err(&mut c, &["INDEX", "X"]), "Unknown INDEX subcommand");
    assert_eq!(
        err(&mut c, &["INDEX", "DIRTY", "X"]),
        "Unknown INDEX DIRTY subcommand"
    );
    assert_eq!(err(&mut c, &["DATA"]), "Missing arguments");
    assert_eq!(err(&mut c, &["DATA", "X"]), "Unknown DATA subcommand");
    assert_eq!(err(&mut c, &["DATA", "RAW"]), "Missing arguments");
    assert_eq!(err(&mut c, &["DATA", "RAW", "0", "99999"]), "EOF");
}

#[test]
fn data_raw_and_index_dirty() {
    let s = TestServer::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "k", "hello", "1700000000"]);
    ok(&mut c, &["SET", "k", "world", "1700000001"]);
    // the first data entry sits right after the 28-byte data header
    match ok(&mut c, &["DATA", "RAW", "0", "28"]) {
        Value::Array(v) => {
            assert_eq!(bulk(&v[0]), b"k");
            assert_eq!(int(&v[1]), 0);
            let crc = zdb::crc::zdb_crc32(b"hello");
            assert_eq!(bulk(&v[2]), format!("0x{crc:08x}").as_bytes());
            assert_eq!(int(&v[3]), 0);
            assert_eq!(int(&v[4]), 1_700_000_000);
            assert_eq!(bulk(&v[5]), b"hello");
        }
        other => panic!("{other:?}"),
    }
    // the update flagged the first index entry in place: i0 is dirty
    assert_eq!(
        ok(&mut c, &["INDEX", "DIRTY"]),
        Value::Array(vec![Value::Int(0)])
    );
    assert_eq!(status(&ok(&mut c, &["INDEX", "DIRTY", "RESET"])), "OK");
    assert_eq!(ok(&mut c, &["INDEX", "DIRTY"]), Value::Array(vec![]));
    // a deleted marker has no payload
    ok(&mut c, &["DEL", "k", "1700000002"]);
    let off = 28 + 18 + 1 + 5 + 18 + 1 + 5;
    match ok(&mut c, &["DATA", "RAW", "0", &off.to_string()]) {
        Value::Array(v) => {
            assert_eq!(int(&v[3]), 1);
            assert_eq!(v[5], Value::Nil);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wait_is_notified_by_another_client() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(err(&mut c, &["WAIT"]), "Invalid arguments");
    assert_eq!(err(&mut c, &["WAIT", "zz"]), "Unknown command to watch");
    assert_eq!(err(&mut c, &["WAIT", "SET", "5"]), "Invalid timeout");
    assert_eq!(
        err(&mut c, &["WAIT", "SET", "99999999999"]),
        "Invalid timeout"
    );
    assert_eq!(err(&mut c, &["WAIT", "SET", "100"]), "Timeout");
    let addr = s.addr;
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let cl = redis::Client::open(format!("redis://{addr}/")).unwrap();
        let mut o = cl.get_connection().unwrap();
        let _: redis::Value = redis::cmd("GET").arg("x").query(&mut o).unwrap();
        let _: redis::Value = redis::cmd("SET").arg("x").arg("y").query(&mut o).unwrap();
    });
    assert_eq!(status(&ok(&mut c, &["WAIT", "SET", "10000"])), "SET");
    t.join().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let cl = redis::Client::open(format!("redis://{addr}/")).unwrap();
        let mut o = cl.get_connection().unwrap();
        let _: redis::Value = redis::cmd("PING").query(&mut o).unwrap();
    });
    assert_eq!(status(&ok(&mut c, &["WAIT", "*", "10000"])), "PING");
    t.join().unwrap();
}

#[test]
fn durability_modes_serve_the_same() {
    for d in [
        zdb::Durability::Sync,
        zdb::Durability::SyncTime(std::time::Duration::from_secs(0)),
        zdb::Durability::SyncTime(std::time::Duration::from_secs(3600)),
    ] {
        let mut s = TestServer::start_with(|c| {
            c.settings.durability = d;
            c.settings.datasize = 512 * 1024;
        });
        let mut c = s.client();
        let v = vec![1u8; 100 * 1024];
        for i in 0..12 {
            okb(&mut c, &[b"SET", format!("k{i}").as_bytes(), &v]);
        }
        ok(&mut c, &["DEL", "k0"]);
        ok(&mut c, &["SET", "k1", "small"]);
        drop(c);
        s.restart();
        let mut c = s.client();
        assert_eq!(int(&ok(&mut c, &["DBSIZE"])), 11, "{d:?}");
        assert_eq!(bulk(&ok(&mut c, &["GET", "k1"])), b"small");
        assert!(bulk(&ok(&mut c, &["GET", "k11"])) == v);
    }
}
