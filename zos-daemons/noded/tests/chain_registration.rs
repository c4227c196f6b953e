//! noded on TFChain: the real noded binary, the REAL TFChain runtime (`zos_testkit::LocalChain`,
//! chopsticks from `make deps`), the real activation service (`zos_activation`, in-process,
//! funding from //Alice) and a private bus (busd from `make deps`).
//!
//! Capacity: the runtime refuses a node with less than 100 GiB SRU. SRU comes from a real
//! storaged (in-process, see `common`) with one pool on a 200 GiB sparse loop device described as
//! an SSD; noded is pointed (`--root-sys`) at a fixture sysfs with a baseboard serial and the
//! host's own online CPUs. Nothing fakes capacity on the chain: CRU and MRU come from the host
//! (`/sys` CPU list copied, real `/proc`).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use zos_bus::node::registration;
use zos_bus::{inspect, node, NodeProxy, RegistrationStatus};
use zos_chain::{AccountId32, Chain, PublicIpInput};
use zos_env::{NodeConfig, RunMode};
use zos_testkit::LocalChain;
use zos_testkit::PrivateBus;

use common::{Storaged, GIB};
use zos_testkit::alice;

const SSD_BYTES: u64 = 200 * GIB;
const SERIAL: &str = "NODED-TEST-SERIAL";
/// What the activation service sends a new account: 100 000 TFT, plenty for fees.
const FUNDING: u128 = 1_000_000_000_000;
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const REGISTER_TIMEOUT: Duration = Duration::from_secs(90);

/// Alice's twin (first call only) and a farm named `name`; returns the farm id. Idempotent and
/// retried on connection errors: right after a chain reset, a submission racing noded's can fail
/// in the client with an RPC error although the extrinsic went through.
async fn alice_farm(chain: &Chain, name: &str) -> u32 {
    let alice = alice();
    let mut last = None;
    for _ in 0..5 {
        let step = async {
            if chain
                .twin_id_by_account(&alice.account_id())
                .await?
                .is_none()
            {
                if !chain.has_accepted_tc(&alice.account_id()).await? {
                    chain
                        .accept_tc(&alice, zos_chain::TC_LINK, zos_chain::TC_HASH)
                        .await?;
                }
                chain.create_twin(&alice, None, None).await?;
            }
            if let Some(id) = chain.farm_id_by_name(name).await? {
                return Ok(id);
            }
            let ip = PublicIpInput {
                ip: "185.206.122.33/24".into(),
                gw: "185.206.122.1".into(),
            };
            chain.create_farm(&alice, name, &[ip]).await
        };
        match step.await {
            Ok(id) => return id,
            // Right after a chain reset the pool may still judge a first submission against
            // the old state ("stale"): the next try is made against the new one.
            Err(e) if e.is_connection() || e.to_string().contains("stale") => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("alice's farm {name}: {e}"),
        }
    }
    panic!("alice's farm {name}: {last:?}");
}

/// A loopback port nobody listens on (bound, then released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The real activation service on a loopback port, funding from //Alice; aborted on drop.
struct Activation {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Activation {
    async fn start(chain_url: &str) -> Activation {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind activation");
        let url = format!(
            "http://{}{}",
            listener.local_addr().expect("addr"),
            zos_activation::ACTIVATION_PATH
        );
        let config = zos_activation::Config {
            chain_url: chain_url.to_string(),
            funder: alice(),
            amount: FUNDING,
        };
        let task = tokio::spawn(async move {
            if let Err(e) = zos_activation::serve(listener, config).await {
                panic!("activation service: {e}");
            }
        });
        Activation { url, task }
    }
}

impl Drop for Activation {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fixture sysfs: a baseboard serial, the host's online CPUs, no NICs.
fn fixture_sys(dir: &Path) -> PathBuf {
    let sys = dir.join("sys");
    fs::create_dir_all(sys.join("class/net")).expect("class/net");
    fs::create_dir_all(sys.join("class/dmi/id")).expect("dmi");
    fs::write(sys.join("class/dmi/id/board_serial"), format!("{SERIAL}\n")).expect("serial");
    let online = fs::read_to_string("/sys/devices/system/cpu/online").expect("host cpu list");
    fs::create_dir_all(sys.join("devices/system/cpu")).expect("cpu dir");
    fs::write(sys.join("devices/system/cpu/online"), online).expect("online");
    sys
}

/// One noded's files (identity, node config, fixture sysfs, an empty /dev) and its storaged
/// with one 200 GiB SSD pool.
struct NodeFiles {
    _storaged: Storaged,
    dir: tempfile::TempDir,
    sys: PathBuf,
}

impl NodeFiles {
    async fn new(bus: &PrivateBus) -> NodeFiles {
        NodeFiles::with_disks(bus, &[(SSD_BYTES, false)]).await
    }

    /// With storaged's pools on these `(bytes, rotational)` disks.
    async fn with_disks(bus: &PrivateBus, disks: &[(u64, bool)]) -> NodeFiles {
        let dir = tempfile::tempdir().expect("temp dir");
        let sys = fixture_sys(dir.path());
        fs::create_dir_all(dir.path().join("dev")).expect("dev");
        let storaged = Storaged::start(bus, disks).await;
        NodeFiles {
            _storaged: storaged,
            dir,
            sys,
        }
    }

    fn seed(&self) -> PathBuf {
        self.dir.path().join("identityd/seed")
    }

    fn write_config(&self, farmer_id: Option<u32>, chain_url: &str, activation_url: &str) {
        let config = NodeConfig {
            farmer_id,
            runmode: RunMode::Dev,
            debug: false,
            chain_url: chain_url.to_string(),
            activation_url: activation_url.to_string(),
            extra: Default::default(),
        };
        config
            .store(&self.dir.path().join("node.json"))
            .expect("store node config");
    }
}

/// A running noded; killed (by pid) on drop. Its stdout goes to a log file.
struct Noded {
    child: Child,
    log: PathBuf,
}

impl Noded {
    async fn start(bus: &PrivateBus, files: &NodeFiles, name: &str) -> Noded {
        let log = files.dir.path().join(format!("{name}.log"));
        let out = fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_noded"))
            .arg("--identity")
            .arg(files.seed())
            .arg("--node-config")
            .arg(files.dir.path().join("node.json"))
            .arg("--root-sys")
            .arg(&files.sys)
            .arg("--root-dev")
            .arg(files.dir.path().join("dev"))
            .args(["--uptime-interval", "2s"])
            .args(["--retry-initial", "200ms", "--retry-max", "2s"])
            .args(["--funding-wait", "20s"])
            .env(zos_bus::BUS_ADDRESS_ENV, bus.address())
            .env("RUST_LOG", "info,zos_chain=warn")
            .stdin(Stdio::null())
            .stdout(out)
            .spawn()
            .expect("noded starts");
        let mut noded = Noded { child, log };
        if let Err(e) = inspect::wait_for_owner(bus.address(), node::NAME, READY_TIMEOUT).await {
            panic!(
                "noded not on the bus: {e}; exited: {:?}; log:\n{}",
                noded.child.try_wait(),
                noded.log()
            );
        }
        noded
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `ZOS REGISTERED ...` lines printed so far.
    fn registered_lines(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.starts_with("ZOS REGISTERED"))
            .map(str::to_string)
            .collect()
    }

    /// The `ZOS REGISTERED` lines once there are at least `count` (or after 5 s). noded prints
    /// the line before the bus says `registered`, but it reaches the test through the stdout
    /// pipe and a reader thread, which may lag a little behind the bus.
    async fn wait_registered_lines(&self, count: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let lines = self.registered_lines();
            if lines.len() >= count || start.elapsed() > Duration::from_secs(5) {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn terminate(&mut self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
        let start = Instant::now();
        while self.child.try_wait().expect("try_wait").is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "noded ignores SIGTERM; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Noded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn proxy(bus: &PrivateBus) -> NodeProxy<'static> {
    let conn = zos_bus::connect_to(bus.address()).await.expect("bus");
    NodeProxy::new(&conn).await.expect("proxy")
}

/// Polls `Registration()` until `done` holds; panics with the log after `limit`.
async fn wait_status(
    proxy: &NodeProxy<'_>,
    noded: &Noded,
    limit: Duration,
    what: &str,
    done: impl Fn(&RegistrationStatus) -> bool,
) -> RegistrationStatus {
    let start = Instant::now();
    loop {
        let status = proxy.registration().await.expect("Registration()");
        if done(&status) {
            return status;
        }
        assert!(
            start.elapsed() < limit,
            "no {what} within {limit:?}; last status {status:?}; log:\n{}",
            noded.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn is_registered(s: &RegistrationStatus) -> bool {
    s.state == registration::REGISTERED
}

async fn node_account(proxy: &NodeProxy<'_>) -> AccountId32 {
    let hex_key = proxy.public_key().await.expect("PublicKey()");
    let bytes: [u8; 32] = hex::decode(hex_key)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    AccountId32(bytes)
}

/// `TfgridModule` events of finalized blocks from `from` on, counted by variant (collected until
/// the stream is idle for 2 s). `NodeUptimeReported` is counted only for `uptime_node` (its first
/// field); the other variants are counted whatever they carry.
async fn tfgrid_events(chain: &Chain, from: u64, uptime_node: u32) -> BTreeMap<String, usize> {
    let mut stream = chain.subscribe_events(Some(from)).await.expect("events");
    let mut counts = BTreeMap::new();
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
        let ev = item.expect("decodable event");
        if ev.pallet != "TfgridModule" {
            continue;
        }
        if ev.variant == "NodeUptimeReported" {
            let node = ev.fields.values().next().and_then(|v| v.as_u128());
            if node != Some(u128::from(uptime_node)) {
                continue;
            }
        }
        *counts.entry(ev.variant).or_insert(0) += 1;
    }
    counts
}

fn count(events: &BTreeMap<String, usize>, variant: &str) -> usize {
    events.get(variant).copied().unwrap_or(0)
}

fn host_mem_total_bytes() -> u64 {
    let meminfo = fs::read_to_string("/proc/meminfo").expect("meminfo");
    let kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("MemTotal")
        .parse()
        .expect("number");
    kib * 1024
}

fn host_nproc() -> u64 {
    let out = Command::new("nproc").output().expect("nproc runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number")
}

fn host_has_hypervisor_flag() -> bool {
    fs::read_to_string("/proc/cpuinfo")
        .expect("cpuinfo")
        .lines()
        .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"))
}

/// Registration end to end: first start creates account, twin and node (measured capacity,
/// serial, farm); uptime reports arrive; a restart finds the same node and changes nothing; a
/// start with another farmer_id is a reported conflict, not a move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_registers_reports_uptime_and_keeps_the_node_across_restarts() {
    zos_testkit::logs::init("zos_chain=warn,zos_activation=info");
    let local = LocalChain::start().await.expect("local chain (make deps)");
    let chain = Chain::connect(&local.url()).await.expect("connect");
    let activation = Activation::start(&local.url()).await;
    let bus = PrivateBus::start().expect("private bus (make deps)");
    let farm_a = alice_farm(&chain, "farm-a").await;
    let farm_b = alice_farm(&chain, "farm-b").await;
    let files = NodeFiles::new(&bus).await;
    files.write_config(Some(farm_a), &local.url(), &activation.url);

    // First boot.
    let mut noded = Noded::start(&bus, &files, "first").await;
    let proxy = proxy(&bus).await;
    let status = wait_status(
        &proxy,
        &noded,
        REGISTER_TIMEOUT,
        "registration",
        is_registered,
    )
    .await;
    assert_eq!(status.farm_id, farm_a);
    assert!(status.error.is_empty(), "{status:?}");
    let account = node_account(&proxy).await;
    let twin_id = chain
        .twin_id_by_account(&account)
        .await
        .expect("read")
        .expect("the node's twin exists");
    assert_eq!(status.twin_id, twin_id);
    let node_id = chain
        .node_id_by_twin(twin_id)
        .await
        .expect("read")
        .expect("the twin's node exists");
    assert_eq!(status.node_id, node_id);
    let node = chain.node(node_id).await.expect("read").expect("node");
    assert_eq!(node.farm_id, farm_a);
    assert_eq!(node.twin_id, twin_id);
    assert_eq!(node.resources.cru, host_nproc());
    assert_eq!(node.resources.mru, host_mem_total_bytes());
    assert_eq!(node.resources.sru, SSD_BYTES);
    assert_eq!(node.resources.hru, 0);
    assert_eq!(node.serial_number.as_deref(), Some(SERIAL));
    assert!(!node.secure_boot);
    assert_eq!(node.virtualized, host_has_hypervisor_flag());
    assert_eq!(
        noded.wait_registered_lines(1).await,
        vec![format!(
            "ZOS REGISTERED node_id={node_id} twin_id={twin_id}"
        )]
    );
    let record = fs::read_to_string(files.dir.path().join("identityd/registration.json"))
        .expect("registration record next to the seed");
    assert!(
        record.contains(&format!("\"node_id\":{node_id}")),
        "{record}"
    );

    // Uptime: reported right after registration, then every 2 s.
    let start = Instant::now();
    loop {
        let reports = count(
            &tfgrid_events(&chain, 1, node_id).await,
            "NodeUptimeReported",
        );
        if reports >= 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "{reports} uptime reports; log:\n{}",
            noded.log()
        );
    }
    noded.terminate();

    // Second boot: same node, nothing to update.
    let before = chain.finalized_number().await.expect("head") + 1;
    let mut noded = Noded::start(&bus, &files, "second").await;
    let status = wait_status(
        &proxy,
        &noded,
        REGISTER_TIMEOUT,
        "registration",
        is_registered,
    )
    .await;
    assert_eq!((status.node_id, status.twin_id), (node_id, twin_id));
    assert_eq!(
        noded.wait_registered_lines(1).await,
        vec![format!(
            "ZOS REGISTERED node_id={node_id} twin_id={twin_id}"
        )]
    );
    // An uptime report after the restart proves the registration pass is over.
    let start = Instant::now();
    let events = loop {
        let events = tfgrid_events(&chain, before, node_id).await;
        if count(&events, "NodeUptimeReported") > 0 {
            break events;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no uptime after restart; log:\n{}",
            noded.log()
        );
    };
    for variant in ["NodeUpdated", "NodeStored", "TwinStored"] {
        assert_eq!(
            count(&events, variant),
            0,
            "{variant} after a restart: {events:?}"
        );
    }
    let nodes = chain.nodes(Some(farm_a)).await.expect("nodes");
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    noded.terminate();

    // Third boot with another farmer_id: a conflict, reported; the node stays where it is.
    files.write_config(Some(farm_b), &local.url(), &activation.url);
    let noded = Noded::start(&bus, &files, "other-farm").await;
    let status = wait_status(&proxy, &noded, REGISTER_TIMEOUT, "conflict", |s| {
        s.state == registration::FAILED
    })
    .await;
    assert!(
        status.error.contains(&format!(
            "registered as node {node_id} in farm {farm_a}, not in farm {farm_b}"
        )),
        "{status:?}"
    );
    assert!(noded.log().contains("ERROR"), "{}", noded.log());
    assert!(noded.registered_lines().is_empty());
    assert_eq!(
        proxy.public_key().await.expect("bus still serves").len(),
        64
    );
    let node = chain.node(node_id).await.expect("read").expect("node");
    assert_eq!(node.farm_id, farm_a, "the node was moved");
    assert!(chain.nodes(Some(farm_b)).await.expect("nodes").is_empty());
}

/// farmer_id names a farm that does not exist yet: failed with FarmNotExists and the hint; once
/// the farmer creates it, noded registers without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_missing_farm_then_created_registers_without_restart() {
    zos_testkit::logs::init("zos_chain=warn,zos_activation=info");
    let local = LocalChain::start().await.expect("local chain (make deps)");
    let chain = Chain::connect(&local.url()).await.expect("connect");
    let activation = Activation::start(&local.url()).await;
    let bus = PrivateBus::start().expect("private bus (make deps)");
    let files = NodeFiles::new(&bus).await;
    // Farm ids start at 1: the first farm Alice creates will be this one.
    files.write_config(Some(1), &local.url(), &activation.url);
    let noded = Noded::start(&bus, &files, "noded").await;
    let proxy = proxy(&bus).await;
    let status = wait_status(&proxy, &noded, REGISTER_TIMEOUT, "failure", |s| {
        s.state == registration::FAILED
    })
    .await;
    assert!(status.error.contains("FarmNotExists"), "{status:?}");
    assert!(
        status.error.contains(&format!(
            "farm 1 does not exist on the chain at {}: create it with zosctl farm create",
            local.url()
        )),
        "{status:?}"
    );
    assert!(noded
        .log()
        .lines()
        .any(|l| l.contains("ERROR") && l.contains("FarmNotExists")));

    let farm = alice_farm(&chain, "late-farm").await;
    assert_eq!(farm, 1);
    let status = wait_status(
        &proxy,
        &noded,
        REGISTER_TIMEOUT,
        "registration",
        is_registered,
    )
    .await;
    assert_eq!(status.farm_id, 1);
    let node = chain
        .node(status.node_id)
        .await
        .expect("read")
        .expect("node");
    assert_eq!(node.farm_id, 1);
    assert_eq!(noded.wait_registered_lines(1).await.len(), 1);
}

/// The chain is down when noded starts, comes up later (noded registers), then is reset to
/// genesis mid-run (LocalChain::restart): noded registers again from scratch on the fresh chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_down_at_boot_then_up_then_reset_registers_again() {
    zos_testkit::logs::init("zos_chain=warn,zos_activation=info");
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}");
    let activation = Activation::start(&url).await;
    let bus = PrivateBus::start().expect("private bus (make deps)");
    let files = NodeFiles::new(&bus).await;
    files.write_config(Some(1), &url, &activation.url);
    let noded = Noded::start(&bus, &files, "noded").await;
    let proxy = proxy(&bus).await;
    let status = wait_status(&proxy, &noded, Duration::from_secs(40), "failure", |s| {
        s.state == registration::FAILED
    })
    .await;
    assert!(status.error.contains("not reachable"), "{status:?}");

    let mut local = LocalChain::start_on(port).await.expect("chain on the port");
    let chain = Chain::connect(&local.url()).await.expect("connect");
    assert_eq!(alice_farm(&chain, "farm").await, 1);
    let first = wait_status(
        &proxy,
        &noded,
        REGISTER_TIMEOUT,
        "registration",
        is_registered,
    )
    .await;
    let account = node_account(&proxy).await;

    // Back to genesis: the node's account, twin and node are gone.
    local.restart().await.expect("chain restarts");
    assert_eq!(
        chain.twin_id_by_account(&account).await.expect("read"),
        None
    );
    assert_eq!(alice_farm(&chain, "farm").await, 1);
    let start = Instant::now();
    let node_id = loop {
        let twin = chain.twin_id_by_account(&account).await.expect("read");
        let node = match twin {
            Some(t) => chain.node_id_by_twin(t).await.expect("read"),
            None => None,
        };
        if let Some(id) = node {
            break id;
        }
        assert!(
            start.elapsed() < REGISTER_TIMEOUT,
            "not registered again after the reset; log:\n{}",
            noded.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let node = chain.node(node_id).await.expect("read").expect("node");
    assert_eq!(node.farm_id, 1);
    let status = wait_status(&proxy, &noded, REGISTER_TIMEOUT, "registration", |s| {
        is_registered(s) && s.node_id == node_id
    })
    .await;
    assert_eq!(status.twin_id, node.twin_id);
    // Created twice, printed twice (same ids: a fresh chain numbers the same way).
    let lines = noded.wait_registered_lines(2).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0],
        format!(
            "ZOS REGISTERED node_id={} twin_id={}",
            first.node_id, first.twin_id
        )
    );
}

/// No activation service, a malformed chain URL, no farmer_id: each is a clear status and log
/// line, and the bus keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_failures_are_reported_and_the_bus_keeps_serving() {
    zos_testkit::logs::init("zos_chain=warn,zos_activation=info");
    let local = LocalChain::start().await.expect("local chain (make deps)");
    let chain = Chain::connect(&local.url()).await.expect("connect");
    let farm = alice_farm(&chain, "farm").await;
    let bus = PrivateBus::start().expect("private bus (make deps)");
    let proxy = proxy(&bus).await;

    // Nobody listens at the activation URL: the empty account cannot be funded.
    let files = NodeFiles::new(&bus).await;
    let nowhere = format!("http://127.0.0.1:{}/activation/activate", free_port());
    files.write_config(Some(farm), &local.url(), &nowhere);
    let mut noded = Noded::start(&bus, &files, "no-activation").await;
    let status = wait_status(&proxy, &noded, REGISTER_TIMEOUT, "failure", |s| {
        s.state == registration::FAILED
    })
    .await;
    assert!(status.error.contains("insufficient funds"), "{status:?}");
    assert!(status.error.contains("activation"), "{status:?}");
    assert!(status.error.contains(&nowhere), "{status:?}");
    assert!(noded
        .log()
        .lines()
        .any(|l| l.contains("ERROR") && l.contains("activation")));
    assert!(chain.nodes(None).await.expect("nodes").is_empty());
    noded.terminate();

    // A malformed chain URL (the init refuses it on the command line; the file can still hold it).
    files.write_config(Some(farm), "http://127.0.0.1:1", &nowhere);
    let mut noded = Noded::start(&bus, &files, "bad-url").await;
    let status = wait_status(&proxy, &noded, REGISTER_TIMEOUT, "failure", |s| {
        s.state == registration::FAILED
    })
    .await;
    assert!(status.error.contains("fix tfchain="), "{status:?}");
    assert!(status.error.contains("http://127.0.0.1:1"), "{status:?}");
    assert_eq!(
        proxy.public_key().await.expect("bus still serves").len(),
        64
    );
    noded.terminate();

    // No farmer_id: an orphan.
    files.write_config(None, &local.url(), &nowhere);
    let noded = Noded::start(&bus, &files, "orphan").await;
    let status = wait_status(&proxy, &noded, READY_TIMEOUT, "orphan", |s| {
        s.state == registration::ORPHAN
    })
    .await;
    assert!(status.error.contains("no farmer_id"), "{status:?}");
    assert!(noded.log().contains("orphan"), "{}", noded.log());
    drop(noded);

    // No node configuration at all: failed, said so, still serving.
    fs::remove_file(files.dir.path().join("node.json")).expect("remove node.json");
    let noded = Noded::start(&bus, &files, "no-config").await;
    let status = wait_status(&proxy, &noded, READY_TIMEOUT, "failure", |s| {
        s.state == registration::FAILED
    })
    .await;
    assert!(
        status.error.contains("cannot read the node configuration"),
        "{status:?}"
    );
    assert_eq!(
        proxy.capacity().await.expect("bus still serves").sru,
        SSD_BYTES
    );
}

/// Only an HDD (a 200 GiB rotational loop disk): the runtime refuses the node, and noded says in
/// words what the node has, what the chain wants and what to do, on the bus and in its log, and
/// asks again only every 10 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_hdd_only_node_is_refused_in_words() {
    zos_testkit::logs::init("zos_chain=warn,zos_activation=info");
    let local = LocalChain::start().await.expect("local chain (make deps)");
    let chain = Chain::connect(&local.url()).await.expect("connect");
    let activation = Activation::start(&local.url()).await;
    let bus = PrivateBus::start().expect("private bus (make deps)");
    let farm = alice_farm(&chain, "hdd-farm").await;
    let files = NodeFiles::with_disks(&bus, &[(SSD_BYTES, true)]).await;
    files.write_config(Some(farm), &local.url(), &activation.url);
    let noded = Noded::start(&bus, &files, "hdd-only").await;
    let proxy = proxy(&bus).await;
    let status = wait_status(&proxy, &noded, REGISTER_TIMEOUT, "failure", |s| {
        s.state == registration::FAILED
    })
    .await;
    let words = "this node has 0 B of SSD (and 200 GiB of HDD); TFChain requires at least 100 GiB \
                 of SSD capacity (the chain refused create_node: TfgridModule.InvalidSRUInput): \
                 add an empty SSD";
    assert!(status.error.starts_with(words), "{status:?}");
    assert!(
        status.error.ends_with("noded asks again every 10 min"),
        "{status:?}"
    );
    assert_eq!(status.farm_id, farm, "the farm it asks to join");
    let log = noded.log();
    let line = log
        .lines()
        .find(|l| l.contains("ERROR") && l.contains(words))
        .unwrap_or_else(|| panic!("no ERROR line with the words:\n{log}"));
    assert!(line.contains("retry_in_ms=600000"), "{line}");
    assert!(chain.nodes(None).await.expect("nodes").is_empty());
}
