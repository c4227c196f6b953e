//! Readiness by bus name, against a private busd broker (the node's broker; `make deps` installs
//! it to target/tools/bin/busd). The test process itself claims the name the service waits for.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use common::{wait_for, Init};

struct Broker {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let busd = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/bin/busd");
        assert!(
            busd.exists(),
            "{} is missing: run `make deps` (cargo install --locked busd --version 0.6.1 --root target/tools)",
            busd.display()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("bus.sock");
        let address = format!("unix:path={}", sock.display());
        let child = Command::new(&busd)
            .args(["--address", &address])
            .spawn()
            .expect("spawn busd");
        wait_for("busd socket", Duration::from_secs(10), || sock.exists());
        Broker {
            child,
            address,
            _dir: dir,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ready_when_bus_name_is_owned() {
    let broker = Broker::start();
    let init = Init::new(&[("svc", "exec: sleep 1000\nready:\n  bus_name: tf.zos.Test\n")])
        .start_on_bus(&[], &broker.address);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(init.status("svc").0, "Spawned");
    assert!(!init.console_text().contains("ZOS READY"));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _conn = rt.block_on(async {
        zbus::connection::Builder::address(broker.address.as_str())
            .unwrap()
            .name("tf.zos.Test")
            .unwrap()
            .build()
            .await
            .unwrap()
    });
    init.wait_state("svc", "Running", Duration::from_secs(10));
    wait_for("READY marker", Duration::from_secs(5), || {
        init.console_text().contains("ZOS READY boot_ms=")
    });
}
