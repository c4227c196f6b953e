//! Wire-level behaviour with a raw socket: framing errors and their strings, pipelining,
//! partial requests, and a bounded seeded fuzz run against the live server.

mod common;
use common::*;

#[test]
fn framing_errors() {
    let s = TestServer::start();
    let mut r = s.raw();
    r.send(b"PING\r\n");
    assert_eq!(r.read_line(), b"-Malformed request, array expected\r\n");
    assert!(r.closed());

    let mut r = s.raw();
    r.send(b"*0\r\n");
    assert_eq!(r.read_line(), b"-Missing arguments\r\n");
    assert_eq!(r.req(&[b"PING"]), b"+PONG\r\n", "connection still usable");

    let mut r = s.raw();
    r.send(b"*2000\r\n");
    assert_eq!(r.read_line(), b"-Too many arguments\r\n");
    assert!(r.closed());

    let mut r = s.raw();
    r.send(b"*1\r\n:4\r\n");
    assert_eq!(r.read_line(), b"-Malformed query string\r\n");
    assert!(r.closed());

    let mut r = s.raw();
    r.send(b"*1\r\n$8388609\r\n");
    assert_eq!(r.read_line(), b"-Payload too big\r\n");
    assert!(r.closed());

    let mut r = s.raw();
    r.send(b"*-1\r\n");
    assert_eq!(r.read_line(), b"-Internal memory error\r\n");
    assert!(r.closed());

    // an 8 MiB argument is accepted
    let mut r = s.raw();
    let big = vec![b'q'; 8 * 1024 * 1024];
    assert_eq!(r.req(&[b"SET", b"big", &big]), b"$3\r\n");
    assert_eq!(r.read_line(), b"big\r\n");
}

#[test]
fn pipelining_and_partial_requests() {
    let s = TestServer::start();
    let mut r = s.raw();
    let mut batch = Vec::new();
    for i in 0..500 {
        let k = format!("p{i}");
        batch.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n$1\r\nv\r\n", k.len()).as_bytes(),
        );
    }
    batch.extend_from_slice(b"*1\r\n$6\r\nDBSIZE\r\n");
    r.send(&batch);
    let mut expected = Vec::new();
    for i in 0..500 {
        let k = format!("p{i}");
        expected.extend_from_slice(format!("${}\r\n{k}\r\n", k.len()).as_bytes());
    }
    expected.extend_from_slice(b":500\r\n");
    assert_eq!(r.read_n(expected.len()), expected);

    // a request split in tiny pieces
    let req = b"*2\r\n$3\r\nGET\r\n$2\r\np7\r\n";
    for b in req.iter() {
        r.send(&[*b]);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(r.read_n(7), b"$1\r\nv\r\n");
}

#[test]
fn random_bytes_never_kill_the_server() {
    let s = TestServer::start();
    let mut state: u64 = 0xDEAD_BEEF_1234_5678;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let cmds: [&[u8]; 6] = [b"SET", b"GET", b"SCAN", b"NSNEW", b"HISTORY", b"SELECT"];
    for _ in 0..200 {
        let mut r = s.raw();
        r.s.set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .unwrap();
        let mut buf = Vec::new();
        // half structured-but-wrong requests, half garbage
        if next() % 2 == 0 {
            let argc = next() % 4 + 1;
            buf.extend_from_slice(format!("*{argc}\r\n").as_bytes());
            for a in 0..argc {
                let arg: Vec<u8> = if a == 0 {
                    cmds[(next() % 6) as usize].to_vec()
                } else {
                    (0..next() % 20).map(|_| next() as u8).collect()
                };
                let declared = if next() % 5 == 0 {
                    next() % 40
                } else {
                    arg.len() as u64
                };
                buf.extend_from_slice(format!("${declared}\r\n").as_bytes());
                buf.extend_from_slice(&arg);
                buf.extend_from_slice(b"\r\n");
            }
        } else {
            buf = (0..next() % 200).map(|_| next() as u8).collect();
        }
        let _ = std::io::Write::write_all(&mut r.s, &buf);
        let _ = r.read_n(1 << 16);
    }
    let mut c = s.client();
    assert_eq!(status(&ok(&mut c, &["PING"])), "PONG");
}
