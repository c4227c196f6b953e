//! The files a server writes, checked byte by byte against the 0-db v2 layout.

mod common;
use common::*;
use zdb::crc::zdb_crc32;

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn user_mode_files_layout() {
    let s = TestServer::start();
    let mut c = s.client();
    ok(&mut c, &["SET", "ab", "hello", "1700000000"]);
    ok(&mut c, &["SET", "ab", "world!", "1700000001"]);
    ok(&mut c, &["DEL", "ab", "1700000002"]);
    drop(c);

    let d = std::fs::read(s.data_dir("default").join("d0")).unwrap();
    // data header: DAT0, version 3, created 0, opened 0, fileid 0
    assert_eq!(&d[0..4], b"DAT0");
    assert_eq!(u32le(&d, 4), 3);
    assert_eq!(&d[8..24], &[0u8; 16]);
    assert_eq!(u32le(&d, 24), 0);
    // first entry at 28: idlength, datalength, previous, crc, flags, timestamp, key, payload
    let e1 = 28;
    assert_eq!(d[e1], 2);
    assert_eq!(u32le(&d, e1 + 1), 5);
    assert_eq!(u32le(&d, e1 + 5), 0);
    assert_eq!(u32le(&d, e1 + 9), zdb_crc32(b"hello"));
    assert_eq!(d[e1 + 13], 0);
    assert_eq!(u32le(&d, e1 + 14), 1_700_000_000);
    assert_eq!(&d[e1 + 18..e1 + 25], b"abhello");
    let e2 = e1 + 25;
    assert_eq!(
        u32le(&d, e2 + 5),
        e1 as u32,
        "previous = offset of the previous entry"
    );
    let e3 = e2 + 18 + 2 + 6;
    // deletion marker: empty payload, crc 0, flag deleted
    assert_eq!(d[e3], 2);
    assert_eq!(u32le(&d, e3 + 1), 0);
    assert_eq!(u32le(&d, e3 + 9), 0);
    assert_eq!(d[e3 + 13], 1);
    assert_eq!(d.len(), e3 + 20);

    let i = std::fs::read(s.index_dir("default").join("i0")).unwrap();
    assert_eq!(&i[0..4], b"IDX0");
    assert_eq!(u32le(&i, 4), 4);
    assert_eq!(&i[8..24], &[0u8; 16]);
    assert_eq!(u32le(&i, 24), 0);
    assert_eq!(i[28], 0, "mode user");
    let x1 = 29;
    assert_eq!(i[x1], 2);
    assert_eq!(u32le(&i, x1 + 1), e1 as u32);
    assert_eq!(u32le(&i, x1 + 5), 5);
    assert_eq!(i[x1 + 13], 1, "superseded version flagged deleted in place");
    assert_eq!(u32le(&i, x1 + 22), zdb_crc32(b"hello"));
    assert_eq!(&i[x1 + 34..x1 + 36], b"ab");
    let x2 = x1 + 36;
    assert_eq!(u32le(&i, x2 + 1), e2 as u32);
    assert_eq!(u32le(&i, x2 + 9), x1 as u32, "previous index entry");
    assert_eq!(i[x2 + 13], 1, "deleted key flagged in place");
    assert_eq!(
        u32le(&i, x2 + 14),
        0,
        "dataid as 0-db writes it for an update is the file id"
    );
    assert_eq!(u32le(&i, x2 + 26), 0, "parent file");
    assert_eq!(u32le(&i, x2 + 30), x1 as u32, "parent offset");
    assert_eq!(i.len(), x2 + 36, "DEL appends nothing to the index");

    let n = std::fs::read(s.index_dir("default").join("zdb-namespace")).unwrap();
    assert_eq!(u32le(&n, 0), 1);
    assert_eq!(n[4], 7);
    assert_eq!(n[5], 0);
    assert_eq!(&n[6..14], &[0u8; 8]);
    assert_eq!(n[14], 4 | 1, "extended + public");
    assert_eq!(&n[15..], b"default");
}

#[test]
fn seq_mode_slots() {
    let s = TestServer::mode(zdb::format::Mode::Seq);
    let mut c = s.client();
    for v in ["a", "b", "c"] {
        ok(&mut c, &["SET", "", v, "1700000000"]);
    }
    okb(&mut c, &[b"SET", &1u64.to_le_bytes(), b"B", b"1700000001"]);
    drop(c);
    let i = std::fs::read(s.index_dir("default").join("i0")).unwrap();
    assert_eq!(i[28], 1, "mode seq");
    // slots of 42 bytes, key = id as 8 bytes little endian
    for n in 0..4u64 {
        let at = 29 + 42 * n as usize;
        assert_eq!(i[at], 8);
        let key = u64::from_le_bytes(i[at + 34..at + 42].try_into().unwrap());
        assert_eq!(key, if n == 3 { 1 } else { n }, "slot {n}");
    }
    // slot 1 rewritten in place with the new payload; slot 3 is its deleted history copy
    let s1 = 29 + 42;
    let s3 = 29 + 42 * 3;
    assert_eq!(u32le(&i, s1 + 5), 1);
    assert_eq!(u32le(&i, s1 + 22), zdb_crc32(b"B"));
    assert_eq!(i[s1 + 13], 0);
    assert_eq!(u32le(&i, s1 + 30), s3 as u32, "parent = history copy");
    assert_eq!(i[s3 + 13], 1);
    assert_eq!(u32le(&i, s3 + 22), zdb_crc32(b"b"));
    assert_eq!(i.len(), 29 + 42 * 4);
}
