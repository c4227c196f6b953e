//! zdb driven by Python's redis package (Debian's python3-redis, `make deps`): the script
//! tests/python/client.py runs against a server on 127.0.0.1 and must exit 0.

mod common;

use std::process::Command;

use common::TestServer;

/// Debian's interpreter, where python3-redis is installed (a user's python3 may lack it).
const PYTHON: &str = "/usr/bin/python3";

#[test]
fn python_redis_client() {
    let server = TestServer::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client.py");
    let out = Command::new(PYTHON)
        .arg(script)
        .arg(server.addr.port().to_string())
        .output()
        .unwrap_or_else(|e| panic!("{PYTHON} (make deps installs python3-redis): {e}"));
    assert!(
        out.status.success(),
        "client.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
