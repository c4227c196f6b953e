//! `zbusdebug` against a real broker (busd, from `make deps`) and a real service served here.

use std::process::{Command, Output};

use zos_testkit::PrivateBus;

const NAME: &str = "tf.zos.DebugTest";

struct Probe;

#[zbus::interface(name = "tf.zos.DebugTest1")]
impl Probe {
    fn ping(&self) -> String {
        "pong".into()
    }
}

fn zbusdebug(bus: &PrivateBus, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zbusdebug"))
        .arg("--address")
        .arg(bus.address())
        .args(args)
        .output()
        .expect("zbusdebug runs")
}

fn stdout_lines(out: &Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "zbusdebug failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_tree_and_wait() {
    let bus = PrivateBus::start().expect("private bus");

    // Before anyone owns the name, wait times out with a failure.
    let out = zbusdebug(&bus, &["wait", NAME, "--timeout", "0.3"]);
    assert!(!out.status.success(), "wait succeeded for an unowned name");
    assert!(String::from_utf8_lossy(&out.stderr).contains("had no owner"));

    let conn = zos_bus::connect_to(bus.address()).await.expect("connect");
    conn.object_server()
        .at("/tf/zos/DebugTest/child", Probe)
        .await
        .expect("serve");
    conn.request_name(NAME).await.expect("own name");

    let out = zbusdebug(&bus, &["wait", NAME, "--timeout", "5"]);
    assert!(out.status.success(), "wait failed: {out:?}");

    let names = stdout_lines(&zbusdebug(&bus, &["list"]));
    assert!(names.contains(&NAME.to_string()), "names: {names:?}");
    assert!(
        names.iter().all(|n| !n.starts_with(':')),
        "names: {names:?}"
    );

    let paths = stdout_lines(&zbusdebug(&bus, &["tree", NAME]));
    assert_eq!(
        paths,
        vec![
            "/",
            "/tf",
            "/tf/zos",
            "/tf/zos/DebugTest",
            "/tf/zos/DebugTest/child"
        ]
    );

    let out = zbusdebug(&bus, &["tree", "not a name"]);
    assert!(!out.status.success());
}

#[test]
fn private_bus_is_killed_on_drop() {
    let bus = PrivateBus::start().expect("private bus");
    let pid = bus.pid();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(proc_dir.exists());
    drop(bus);
    assert!(!proc_dir.exists(), "busd {pid} still exists after drop");
}
