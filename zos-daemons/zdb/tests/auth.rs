//! AUTH (plain and SECURE challenge), --admin/--protect, SELECT with passwords and SECURE.

mod common;
use common::*;
use sha1::{Digest, Sha1};

fn secure(nonce: &str, pw: &str) -> String {
    hex::encode(Sha1::digest(format!("{nonce}:{pw}").as_bytes()))
}

#[test]
fn without_admin_password_everyone_is_admin() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(err(&mut c, &["AUTH", "x"]), "Authentication disabled");
    assert_eq!(
        err(&mut c, &["AUTH", "SECURE", "x"]),
        "Authentication disabled"
    );
    assert_eq!(err(&mut c, &["AUTH"]), "Unexpected arguments");
    assert_eq!(
        err(&mut c, &["AUTH", "a", "b", "c"]),
        "Unexpected arguments"
    );
    assert_eq!(status(&ok(&mut c, &["NSNEW", "n"])), "OK");
    // the challenge works without --admin (for SELECT SECURE)
    let n = status(&ok(&mut c, &["AUTH", "SECURE", "CHALLENGE"]));
    assert_eq!(n.len(), 16);
    assert!(n
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
}

#[test]
fn admin_password_paths() {
    let s = TestServer::admin("secret", false);
    let mut c = s.client();
    assert_eq!(err(&mut c, &["NSNEW", "n"]), "Permission denied");
    assert_eq!(err(&mut c, &["SET", "k", "v", "1"]), "Permission denied");
    assert_eq!(err(&mut c, &["DEL", "k", "1"]), "Permission denied");
    assert_eq!(err(&mut c, &["NSJUMP"]), "Permission denied");
    assert_eq!(err(&mut c, &["INDEX", "DIRTY"]), "Permission denied");
    assert_eq!(
        err(&mut c, &["DATA", "RAW", "0", "28"]),
        "Permission denied"
    );
    assert_eq!(err(&mut c, &["HOOKS"]), "Permission denied");
    assert_eq!(err(&mut c, &["RELOAD", "default"]), "Permission denied");
    assert_eq!(
        err(&mut c, &["NSSET", "default", "lock", "1"]),
        "Permission denied"
    );
    assert_eq!(err(&mut c, &["NSDEL", "x"]), "Permission denied");
    // without --protect, normal writes are allowed
    assert_eq!(bulk(&ok(&mut c, &["SET", "k", "v"])), b"k");
    assert_eq!(err(&mut c, &["AUTH", "wrong"]), "Access denied");
    assert_eq!(
        err(&mut c, &["AUTH", &"x".repeat(129)]),
        "Password too long"
    );
    assert_eq!(err(&mut c, &["AUTH", ""]), "Invalid argument");
    assert_eq!(status(&ok(&mut c, &["AUTH", "secret"])), "OK");
    assert_eq!(status(&ok(&mut c, &["NSNEW", "n"])), "OK");

    // SECURE
    let mut d = s.client();
    assert_eq!(
        err(&mut d, &["AUTH", "SECURE", &"0".repeat(40)]),
        "No CHALLENGE requested, secure authentication not available"
    );
    assert_eq!(
        err(&mut d, &["AUTH", "FOO", "x"]),
        "Only SECURE extra method supported"
    );
    let nonce = status(&ok(&mut d, &["AUTH", "SECURE", "CHALLENGE"]));
    assert_eq!(
        err(&mut d, &["AUTH", "SECURE", "abc"]),
        "Invalid hash length"
    );
    // nonce consumed by a failed attempt
    let nonce2 = status(&ok(&mut d, &["AUTH", "SECURE", "CHALLENGE"]));
    assert_ne!(nonce, nonce2);
    assert_eq!(
        err(&mut d, &["AUTH", "SECURE", &secure(&nonce2, "wrong")]),
        "Access denied"
    );
    assert_eq!(
        err(&mut d, &["AUTH", "SECURE", &secure(&nonce2, "secret")]),
        "No CHALLENGE requested, secure authentication not available"
    );
    let nonce3 = status(&ok(&mut d, &["AUTH", "SECURE", "challenge"]));
    assert_eq!(
        status(&ok(&mut d, &["AUTH", "SECURE", &secure(&nonce3, "secret")])),
        "OK"
    );
    assert_eq!(status(&ok(&mut d, &["NSNEW", "m"])), "OK");
}

#[test]
fn protect_mode() {
    let s = TestServer::admin("adm", true);
    let mut c = s.client();
    assert_eq!(
        err(&mut c, &["SET", "k", "v"]),
        "Namespace is in read-only mode"
    );
    assert_eq!(err(&mut c, &["DEL", "k"]), "Namespace is in read-only mode");
    assert_eq!(ok(&mut c, &["GET", "k"]), redis::Value::Nil);
    assert_eq!(err(&mut c, &["SELECT", "default", "bad"]), "Access denied");
    assert_eq!(status(&ok(&mut c, &["SELECT", "default", "adm"])), "OK");
    assert_eq!(bulk(&ok(&mut c, &["SET", "k", "v"])), b"k");
    // writable does not make it admin
    assert_eq!(err(&mut c, &["NSNEW", "x"]), "Permission denied");
    let info = String::from_utf8(bulk(&ok(&mut c, &["NSINFO", "default"]))).unwrap();
    assert!(info.contains("password: yes\n"), "{info}");
    assert!(
        !info.contains("data_path"),
        "admin-only fields leaked: {info}"
    );
}

#[test]
fn select_password_public_private_secure() {
    let s = TestServer::start();
    let mut a = s.client();
    ok(&mut a, &["NSNEW", "ns"]);
    ok(&mut a, &["NSSET", "ns", "password", "pw"]);
    let mut c = s.client();
    // public + password: read-only without password
    assert_eq!(status(&ok(&mut c, &["SELECT", "ns"])), "OK");
    assert_eq!(
        err(&mut c, &["SET", "k", "v"]),
        "Namespace is in read-only mode"
    );
    assert_eq!(status(&ok(&mut c, &["SELECT", "ns", "pw"])), "OK");
    assert_eq!(bulk(&ok(&mut c, &["SET", "k", "v"])), b"k");
    // private + password: refused without password
    ok(&mut a, &["NSSET", "ns", "public", "0"]);
    let mut d = s.client();
    assert_eq!(
        err(&mut d, &["SELECT", "ns"]),
        "Namespace protected and private"
    );
    assert_eq!(err(&mut d, &["SELECT", "ns", "x"]), "Access denied");
    assert_eq!(
        err(&mut d, &["SELECT", "ns", "a", "b", "c"]),
        "Too many arguments"
    );
    assert_eq!(
        err(&mut d, &["SELECT", "ns", "FOO", "x"]),
        "Only SECURE extra method supported"
    );
    assert_eq!(
        err(&mut d, &["SELECT", "ns", "SECURE", "x"]),
        "No CHALLENGE requested, secure authentication not available"
    );
    let n = status(&ok(&mut d, &["AUTH", "SECURE", "CHALLENGE"]));
    assert_eq!(
        err(&mut d, &["SELECT", "ns", "SECURE", "x"]),
        "Invalid hash length"
    );
    assert_eq!(
        err(&mut d, &["SELECT", "ns", "SECURE", &secure(&n, "bad")]),
        "Access denied"
    );
    // SELECT SECURE does not consume the nonce
    assert_eq!(
        status(&ok(&mut d, &["SELECT", "ns", "SECURE", &secure(&n, "pw")])),
        "OK"
    );
    assert_eq!(bulk(&ok(&mut d, &["GET", "k"])), b"v");
    assert_eq!(err(&mut d, &["SELECT"]), "Invalid argument");
    assert_eq!(err(&mut d, &["SELECT", "zz"]), "Namespace not found");
    assert_eq!(
        err(&mut d, &["SELECT", &"n".repeat(129)]),
        "Namespace too long"
    );
    // a password given to a password-less namespace is accepted
    ok(&mut a, &["NSNEW", "open"]);
    assert_eq!(status(&ok(&mut d, &["SELECT", "open", "whatever"])), "OK");
    // clearing the password
    ok(&mut a, &["NSSET", "ns", "password", "*"]);
    assert_eq!(status(&ok(&mut d, &["SELECT", "ns"])), "OK");
    assert_eq!(bulk(&ok(&mut d, &["SET", "k2", "v"])), b"k2");
}
