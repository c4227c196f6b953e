//! The real noded binary on a private bus (busd from `make deps`) with a real storaged (see
//! `common`), checked through the typed proxy every other daemon uses.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use zos_bus::{inspect, node, NodeProxy};
use zos_testkit::PrivateBus;

use common::{Storaged, GIB};

const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running noded; killed (by pid) on drop. Its stdout goes to a log file for diagnostics.
struct Noded {
    child: Child,
    log: PathBuf,
}

impl Noded {
    fn spawn(bus: &PrivateBus, seed: &Path, log: PathBuf) -> Noded {
        Noded::spawn_with(bus, seed, log, &[])
    }

    fn spawn_with(bus: &PrivateBus, seed: &Path, log: PathBuf, args: &[&Path]) -> Noded {
        let out = fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_noded"))
            .arg("--identity")
            .arg(seed)
            .args(args)
            .env(zos_bus::BUS_ADDRESS_ENV, bus.address())
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(out)
            .spawn()
            .expect("noded starts");
        Noded { child, log }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit, at most `limit`.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "noded still running after {limit:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn wait_ready(&mut self, bus: &PrivateBus) {
        let ready = inspect::wait_for_owner(bus.address(), node::NAME, READY_TIMEOUT).await;
        if let Err(e) = ready {
            panic!(
                "noded not ready: {e}; exited: {:?}; log:\n{}",
                self.child.try_wait(),
                self.log()
            );
        }
    }

    fn terminate(&mut self) -> ExitStatus {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
        self.wait_exit(Duration::from_secs(10))
    }
}

impl Drop for Noded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn host_nproc() -> u64 {
    let out = Command::new("nproc").output().expect("nproc runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("nproc prints a number")
}

fn host_mem_total_bytes() -> u64 {
    let meminfo = fs::read_to_string("/proc/meminfo").expect("meminfo");
    let line = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .expect("MemTotal");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .expect("value")
        .parse()
        .expect("number");
    kib * 1024
}

fn kept_aside(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed.damaged-"))
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_node_interface_and_keeps_identity_across_restart() {
    let bus = PrivateBus::start().expect("private bus");
    let dir = tempfile::tempdir().expect("temp dir");
    let seed = dir.path().join("identityd/seed");

    // noded waits for storaged (its SRU/HRU and the cache the identity lives in).
    let mut noded = Noded::spawn(&bus, &seed, dir.path().join("noded-1.log"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        noded.child.try_wait().expect("try_wait").is_none(),
        "{}",
        noded.log()
    );
    assert!(!seed.exists(), "identity created before storaged was up");
    assert!(
        inspect::wait_for_owner(bus.address(), node::NAME, Duration::ZERO)
            .await
            .is_err(),
        "noded served before storaged was up"
    );
    let _storaged = Storaged::start(&bus, &[(8 * GIB, false), (4 * GIB, true)]).await;
    noded.wait_ready(&bus).await;

    let conn = zos_bus::connect_to(bus.address()).await.expect("connect");
    let proxy = NodeProxy::new(&conn).await.expect("proxy");

    let pk = proxy.public_key().await.expect("PublicKey");
    assert_eq!(pk.len(), 64, "{pk}");
    assert!(
        pk.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{pk}"
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&fs::read(&seed).expect("seed file")).expect("seed JSON");
    assert_eq!(doc["public_key"].as_str(), Some(pk.as_str()));
    assert!(
        !noded.log().contains(doc["seed"].as_str().expect("seed")),
        "seed in the log"
    );

    let cap = proxy.capacity().await.expect("Capacity");
    assert_eq!(cap.cru, host_nproc());
    assert_eq!(cap.mru, host_mem_total_bytes());
    assert_eq!(
        (cap.sru, cap.hru),
        (8 * GIB, 4 * GIB),
        "the pools storaged made"
    );

    assert_eq!(
        proxy.version().await.expect("Version"),
        env!("CARGO_PKG_VERSION")
    );

    let dmi = proxy.dmi().await.expect("Dmi");
    let vendor = fs::read_to_string("/sys/class/dmi/id/sys_vendor").unwrap_or_default();
    assert_eq!(dmi.system.manufacturer, vendor.trim());

    let ifaces = proxy.interfaces().await.expect("Interfaces");
    let mut links: Vec<String> = fs::read_dir("/sys/class/net")
        .expect("sysfs net")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lo")
        .collect();
    links.sort();
    let names: Vec<String> = ifaces.iter().map(|i| i.name.clone()).collect();
    assert_eq!(names, links);

    // What zbusdebug (the image's busctl) shows.
    let names = inspect::well_known_names(&conn).await.expect("list");
    assert!(names.contains(&node::NAME.to_string()), "{names:?}");
    let paths = inspect::object_paths(&conn, node::NAME)
        .await
        .expect("tree");
    assert!(paths.contains(&node::PATH.to_string()), "{paths:?}");

    // A second noded cannot take the name while the first runs.
    let mut second = Noded::spawn(&bus, &seed, dir.path().join("noded-second.log"));
    let status = second.wait_exit(READY_TIMEOUT);
    assert!(!status.success(), "second noded started: {}", second.log());
    assert!(second.log().contains(node::NAME), "{}", second.log());

    // SIGTERM is a clean stop.
    let status = noded.terminate();
    assert!(status.success(), "exit {status:?}; log:\n{}", noded.log());
    let seed_bytes = fs::read(&seed).expect("seed");

    // Same identity after a restart, file untouched.
    let mut noded = Noded::spawn(&bus, &seed, dir.path().join("noded-2.log"));
    noded.wait_ready(&bus).await;
    let proxy = NodeProxy::new(&conn).await.expect("proxy");
    assert_eq!(proxy.public_key().await.expect("PublicKey"), pk);
    assert_eq!(fs::read(&seed).expect("seed"), seed_bytes);
    assert!(noded.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_seed_is_kept_aside_and_noded_refuses_to_start() {
    let bus = PrivateBus::start().expect("private bus");
    let dir = tempfile::tempdir().expect("temp dir");
    let seed = dir.path().join("seed");
    fs::write(&seed, b"{\"version\":1,\"seed\":\"00ff\"}").expect("write");
    let _storaged = Storaged::start(&bus, &[(8 * GIB, false)]).await;

    let mut noded = Noded::spawn(&bus, &seed, dir.path().join("noded-1.log"));
    let status = noded.wait_exit(READY_TIMEOUT);
    assert!(!status.success(), "noded started with a damaged seed");
    let log = noded.log();
    assert!(log.contains("damaged") && log.contains("ERROR"), "{log}");
    assert!(!seed.exists(), "damaged seed replaced");
    let kept = kept_aside(dir.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        fs::read(&kept[0]).expect("kept"),
        b"{\"version\":1,\"seed\":\"00ff\"}"
    );

    // The next start (the init restarting it) refuses too and creates nothing.
    let mut again = Noded::spawn(&bus, &seed, dir.path().join("noded-2.log"));
    assert!(!again.wait_exit(READY_TIMEOUT).success());
    assert!(again.log().contains("refusing"), "{}", again.log());
    assert!(!seed.exists());

    // The operator deletes the kept-aside file: a new identity is created and served.
    fs::remove_file(&kept[0]).expect("remove");
    let mut fresh = Noded::spawn(&bus, &seed, dir.path().join("noded-3.log"));
    fresh.wait_ready(&bus).await;
    assert!(seed.exists());
    assert!(fresh.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_with_failure_when_the_bus_goes_away() {
    let bus = PrivateBus::start().expect("private bus");
    let dir = tempfile::tempdir().expect("temp dir");
    let storaged = Storaged::start(&bus, &[(8 * GIB, false)]).await;
    let mut noded = Noded::spawn(&bus, &dir.path().join("seed"), dir.path().join("noded.log"));
    noded.wait_ready(&bus).await;
    drop(storaged);
    drop(bus);
    let status = noded.wait_exit(Duration::from_secs(10));
    assert!(!status.success());
    assert!(noded.log().contains("bus connection"), "{}", noded.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_disk_the_cache_is_a_tmpfs_and_noded_does_not_register() {
    let bus = PrivateBus::start().expect("private bus");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("node.json");
    zos_env::NodeConfig {
        farmer_id: Some(1),
        runmode: zos_env::RunMode::Dev,
        debug: false,
        chain_url: "ws://127.0.0.1:9".into(),
        activation_url: "http://127.0.0.1:9/activation/activate".into(),
        extra: Default::default(),
    }
    .store(&config)
    .expect("node config");
    let _storaged = Storaged::start(&bus, &[]).await;

    let mut noded = Noded::spawn_with(
        &bus,
        &dir.path().join("seed"),
        dir.path().join("noded.log"),
        &[Path::new("--node-config"), &config],
    );
    noded.wait_ready(&bus).await;
    let conn = zos_bus::connect_to(bus.address()).await.expect("connect");
    let proxy = NodeProxy::new(&conn).await.expect("proxy");
    let cap = proxy.capacity().await.expect("Capacity");
    assert_eq!((cap.sru, cap.hru), (0, 0));
    let status = proxy.registration().await.expect("Registration");
    assert_eq!(status.state, node::registration::FAILED, "{status:?}");
    assert!(status.error.contains("no persistent cache"), "{status:?}");
    assert!(noded.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_with_failure_when_the_bus_goes_away_while_waiting_for_storaged() {
    let bus = PrivateBus::start().expect("private bus");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut noded = Noded::spawn(&bus, &dir.path().join("seed"), dir.path().join("noded.log"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(bus);
    let status = noded.wait_exit(Duration::from_secs(10));
    assert!(!status.success());
    assert!(
        noded.log().contains("waiting for storaged"),
        "{}",
        noded.log()
    );
}
