//! networkd end to end, as root, in network namespaces this test creates (never the host's).
//!
//! Each test builds two namespaces joined by a veth pair: "server" runs a real dnsmasq, "node"
//! holds the other end (the node's NIC) and runs the real networkd binary, pointed at the veth
//! with `--nic` (a veth has no `/sys/class/net/X/device`, so physical-NIC detection would skip
//! it) and at a private busd. Needs root, `ip` (iproute2), `dnsmasq` and busd: `make deps`
//! installs them. Every namespace and process is removed by a Drop guard, also on failure.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use zos_bus::NetworkProxy;
use zos_testkit::PrivateBus;

/// A tool from `make deps`, or a failure that says so.
fn require_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(tool).is_file();
    assert!(
        found,
        "{tool} not found: `make deps` installs it (Debian package {package})"
    );
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test creates network namespaces and must run as root"
    );
}

/// Runs `ip ARGS`, failing the test with its stderr when it fails.
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(name: String) -> Self {
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }
    fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.0.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace also deletes the veth end inside it (and so its peer).
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A process we started, killed by pid on drop.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }
    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// SIGTERM, then up to 10 s for a clean exit; returns whether it exited by itself.
    fn terminate(&mut self) -> bool {
        let _ = kill(self.pid(), Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if !self.running() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Both namespaces, joined by a veth pair, plus a scratch directory.
struct Lab {
    id: u32,
    node: Netns,
    server: Netns,
    node_nic: String,
    server_nic: String,
    dir: tempfile::TempDir,
    // Declared last: dropped after the processes that use it.
    bus: PrivateBus,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Lab {
    fn new() -> Self {
        require_tool("ip", "iproute2");
        let id = (std::process::id() % 10_000) * 10 + NEXT.fetch_add(1, Ordering::SeqCst);
        let node = Netns::new(format!("ndtest-node-{id}"));
        let server = Netns::new(format!("ndtest-srv-{id}"));
        let node_nic = format!("ndn{id}");
        let server_nic = format!("nds{id}");
        // Created directly inside the namespaces: nothing appears in the host's namespace.
        node.ip(&[
            "link",
            "add",
            &node_nic,
            "type",
            "veth",
            "peer",
            "name",
            &server_nic,
            "netns",
            &server.0,
        ]);
        let bus = PrivateBus::start().unwrap_or_else(|e| panic!("private bus: {e}"));
        let dir = tempfile::tempdir().expect("temporary directory");
        Lab {
            id,
            node,
            server,
            node_nic,
            server_nic,
            dir,
            bus,
        }
    }

    /// 10.77.<id % 200>.0/24: each test its own subnet, only inside its namespaces.
    fn subnet(&self) -> u8 {
        (self.id % 200) as u8
    }
    fn host(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.subnet(), last)
    }

    fn resolv_conf(&self) -> PathBuf {
        self.dir.path().join("resolv.conf")
    }

    /// Addresses the server end and starts dnsmasq on it.
    fn start_dnsmasq(&self) -> Proc {
        require_tool("dnsmasq", "dnsmasq");
        let srv = format!("{}/24", self.host(1));
        self.server
            .ip(&["addr", "add", &srv, "dev", &self.server_nic]);
        self.server.ip(&["link", "set", &self.server_nic, "up"]);
        let log = self.dir.path().join("dnsmasq.log");
        let pid_file = self.dir.path().join("dnsmasq.pid");
        let out = std::fs::File::create(&log).expect("dnsmasq log");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.server.0, "dnsmasq", "--no-daemon"])
            .arg("--conf-file=/dev/null")
            .arg("--port=0")
            .arg("--bind-interfaces")
            .arg(format!("--interface={}", self.server_nic))
            .arg(format!(
                "--dhcp-range={},{},255.255.255.0,2m",
                self.host(50),
                self.host(60)
            ))
            .arg(format!("--dhcp-option=option:router,{}", self.host(1)))
            .arg(format!("--dhcp-option=option:dns-server,{}", self.host(53)))
            .arg(format!("--pid-file={}", pid_file.display()))
            .arg("--leasefile-ro")
            .arg("--log-dhcp")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .spawn()
            .expect("start dnsmasq");
        Proc { child, log }
    }

    /// Starts networkd in the node namespace on the veth end.
    fn start_networkd(&self, nic_wait_secs: u32, run: u32) -> Proc {
        let log = self.dir.path().join(format!("networkd-{run}.log"));
        let out = std::fs::File::create(&log).expect("networkd log");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.node.0])
            .arg(env!("CARGO_BIN_EXE_networkd"))
            .args(["--nic", &self.node_nic])
            .arg("--resolv-conf")
            .arg(self.resolv_conf())
            .args(["--nic-wait", &nic_wait_secs.to_string()])
            .args(["--dhcp-timeout", "20"])
            .env(zos_bus::BUS_ADDRESS_ENV, self.bus.address())
            .env("RUST_LOG", "networkd=debug,mozim=debug,info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .spawn()
            .expect("start networkd");
        Proc { child, log }
    }

    /// Link attributes of `name` in the node namespace, from `ip -o link show`.
    fn node_link(&self, name: &str) -> Option<String> {
        let out = self.node.ip(&["-o", "link", "show"]);
        out.lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .map(|n| n.trim().split('@').next() == Some(name))
                    .unwrap_or(false)
            })
            .map(str::to_string)
    }
}

fn mac_of(link_line: &str) -> String {
    let mut words = link_line.split_whitespace();
    while let Some(w) = words.next() {
        if w == "link/ether" {
            return words.next().unwrap_or_default().to_string();
        }
    }
    String::new()
}

fn ifindex_of(link_line: &str) -> String {
    link_line.split(':').next().unwrap_or_default().to_string()
}

/// Longest wait for one bus call: a call must never hang the test.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits until networkd owns its bus name (a call to a name nobody owns may get no answer at
/// all from the broker), then returns a proxy for it.
async fn proxy(bus: &PrivateBus, networkd: &mut Proc) -> NetworkProxy<'static> {
    let conn = zos_bus::connect_to(bus.address())
        .await
        .expect("connect to the private bus");
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.expect("DBus proxy");
    let name = zbus::names::BusName::try_from(zos_bus::network::NAME).expect("bus name");
    let start = Instant::now();
    loop {
        assert!(networkd.running(), "networkd exited:\n{}", networkd.log());
        let owned = tokio::time::timeout(CALL_TIMEOUT, dbus.name_has_owner(name.clone())).await;
        if let Ok(Ok(true)) = owned {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "networkd never took {}: {owned:?}\n{}",
            zos_bus::network::NAME,
            networkd.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    NetworkProxy::new(&conn).await.expect("network proxy")
}

/// Polls `Status()` until `done` holds, for at most `limit`; returns the last status.
async fn wait_status(
    bus: &PrivateBus,
    networkd: &mut Proc,
    limit: Duration,
    done: impl Fn(&zos_bus::NetworkStatus) -> bool,
) -> zos_bus::NetworkStatus {
    let proxy = proxy(bus, networkd).await;
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < limit {
        assert!(networkd.running(), "networkd exited:\n{}", networkd.log());
        if let Ok(Ok(status)) = tokio::time::timeout(CALL_TIMEOUT, proxy.status()).await {
            if done(&status) {
                return status;
            }
            last = Some(status);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "no expected status within {limit:?}; last {last:?}\nnetworkd log:\n{}",
        networkd.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_netns_bridge_dhcp_and_restart_keep_the_address() {
    let lab = Lab::new();
    let dnsmasq = lab.start_dnsmasq();
    let mut networkd = lab.start_networkd(10, 1);

    let status = wait_status(&lab.bus, &mut networkd, Duration::from_secs(45), |s| {
        !s.addresses.is_empty() && !s.gateway.is_empty()
    })
    .await;
    let ctx = || format!("networkd:\n{}\ndnsmasq:\n{}", networkd.log(), dnsmasq.log());

    // The bridge, with the veth enslaved and the veth's MAC.
    let bridge = lab
        .node_link("zos")
        .unwrap_or_else(|| panic!("no zos bridge\n{}", ctx()));
    let nic = lab.node_link(&lab.node_nic).expect("node veth");
    assert!(
        nic.contains("master zos"),
        "veth not enslaved: {nic}\n{}",
        ctx()
    );
    assert_eq!(mac_of(&bridge), mac_of(&nic), "bridge MAC is not the NIC's");
    assert!(bridge.contains("UP"), "bridge not up: {bridge}");

    // The address from dnsmasq's range, on the bridge, as the kernel sees it and as the bus says.
    let addr4 = lab.node.ip(&["-o", "-4", "addr", "show", "dev", "zos"]);
    let cidr = addr4
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap_or_else(|| panic!("no IPv4 address on zos: {addr4}\n{}", ctx()))
        .to_string();
    let (ip, prefix) = cidr.split_once('/').expect("CIDR");
    let ip: Ipv4Addr = ip.parse().expect("IPv4");
    let last = ip.octets()[3];
    assert!(
        ip.octets()[..3] == lab.host(0).octets()[..3] && (50..=60).contains(&last),
        "{ip} not in dnsmasq's range"
    );
    assert_eq!(prefix, "24");
    assert_eq!(status.addresses, vec![cidr.clone()]);
    assert_eq!(status.bridge, "zos");
    assert_eq!(status.uplink, lab.node_nic);
    assert_eq!(status.gateway, lab.host(1).to_string());
    assert_eq!(status.dns, vec![lab.host(53).to_string()]);
    let addresses = proxy(&lab.bus, &mut networkd)
        .await
        .addresses()
        .await
        .expect("Addresses()");
    assert_eq!(addresses, vec![cidr.clone()]);

    // Default route via the router dnsmasq gave, on the bridge.
    let routes = lab.node.ip(&["-4", "route", "show", "default"]);
    assert!(
        routes.contains(&format!("default via {} dev zos", lab.host(1))),
        "default route: {routes}"
    );

    // resolv.conf (our temporary one) names the DNS server.
    let resolv = std::fs::read_to_string(lab.resolv_conf()).expect("resolv.conf written");
    assert!(
        resolv
            .lines()
            .any(|l| l == format!("nameserver {}", lab.host(53))),
        "{resolv}"
    );

    // Restart: the bridge and address survive the stop, and DHCP gives the same address back.
    let bridge_index = ifindex_of(&bridge);
    assert!(networkd.terminate(), "networkd did not stop on SIGTERM");
    drop(networkd);
    let kept = lab.node.ip(&["-o", "-4", "addr", "show", "dev", "zos"]);
    assert!(kept.contains(&cidr), "address gone after stop: {kept}");

    let mut networkd = lab.start_networkd(10, 2);
    let status = wait_status(&lab.bus, &mut networkd, Duration::from_secs(45), |s| {
        !s.gateway.is_empty()
    })
    .await;
    assert_eq!(status.addresses, vec![cidr.clone()], "{}", networkd.log());
    let bridges = lab.node.ip(&["-o", "link", "show", "type", "bridge"]);
    assert_eq!(
        bridges.lines().count(),
        1,
        "bridges after restart: {bridges}"
    );
    let bridge_after = lab.node_link("zos").expect("zos bridge after restart");
    assert_eq!(
        ifindex_of(&bridge_after),
        bridge_index,
        "bridge was recreated"
    );
    assert!(networkd.log().contains("bridge exists, keeping it"));
    assert!(networkd.terminate(), "networkd did not stop on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_netns_no_carrier_times_out_and_still_serves_the_bus() {
    let lab = Lab::new();
    // The server end stays down: the node's veth has no carrier.
    let mut networkd = lab.start_networkd(2, 1);

    let proxy = proxy(&lab.bus, &mut networkd).await;
    let addresses = tokio::time::timeout(CALL_TIMEOUT, proxy.addresses())
        .await
        .expect("Addresses() answers")
        .expect("Addresses()");
    assert!(addresses.is_empty(), "{addresses:?}");

    // After the 2 s wait it says so, keeps running and keeps answering.
    let start = Instant::now();
    while !networkd.log().contains("no NIC has a carrier") {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no timeout message:\n{}",
            networkd.log()
        );
        assert!(networkd.running(), "networkd exited:\n{}", networkd.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = tokio::time::timeout(CALL_TIMEOUT, proxy.status())
        .await
        .expect("Status() answers")
        .expect("Status()");
    assert_eq!(status.uplink, "");
    assert!(status.addresses.is_empty());
    assert!(
        lab.node_link("zos").is_none(),
        "bridge made without an uplink"
    );

    // A carrier appearing later is picked up: the bridge gets made (no DHCP server here).
    lab.server.ip(&["link", "set", &lab.server_nic, "up"]);
    let status = wait_status(&lab.bus, &mut networkd, Duration::from_secs(15), |s| {
        s.uplink == lab.node_nic
    })
    .await;
    assert!(status.addresses.is_empty(), "{:?}", status.addresses);
    let nic = lab.node_link(&lab.node_nic).expect("node veth");
    assert!(nic.contains("master zos"), "{nic}");
    assert!(networkd.terminate(), "networkd did not stop on SIGTERM");
}

/// Seconds of `valid_lft` on the bridge's IPv4 address.
fn valid_lft(lab: &Lab) -> Option<u64> {
    let out = lab.node.ip(&["-o", "-4", "addr", "show", "dev", "zos"]);
    let mut words = out.split_whitespace();
    while let Some(w) = words.next() {
        if w == "valid_lft" {
            return words.next()?.trim_end_matches("sec").parse().ok();
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_netns_lease_is_renewed_at_t1() {
    let lab = Lab::new();
    let dnsmasq = lab.start_dnsmasq();
    let mut networkd = lab.start_networkd(10, 1);
    let first = wait_status(&lab.bus, &mut networkd, Duration::from_secs(45), |s| {
        !s.addresses.is_empty()
    })
    .await;
    // The address carries the lease's lifetime (dnsmasq: 2 minutes), so the kernel drops it by
    // itself if networkd is gone when the lease runs out.
    let lft = valid_lft(&lab).expect("address has a finite lifetime");
    assert!((60..=120).contains(&lft), "valid_lft {lft}");

    // T1 is half the lease: about 60 s. A renewal is a second ACK for the same address.
    let bound = |log: &str| log.matches("DHCP lease bound").count();
    let start = Instant::now();
    while bound(&networkd.log()) < 2 {
        assert!(networkd.running(), "networkd exited:\n{}", networkd.log());
        assert!(
            start.elapsed() < Duration::from_secs(100),
            "no renewal within 100 s\nnetworkd:\n{}\ndnsmasq:\n{}",
            networkd.log(),
            dnsmasq.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let lft = valid_lft(&lab).expect("address still there");
    assert!(lft > 100, "lifetime not refreshed by the renewal: {lft}");
    let status = wait_status(&lab.bus, &mut networkd, Duration::from_secs(5), |_| true).await;
    assert_eq!(status.addresses, first.addresses);
    assert!(
        dnsmasq.log().matches("DHCPACK").count() >= 2,
        "{}",
        dnsmasq.log()
    );
    assert!(networkd.terminate(), "networkd did not stop on SIGTERM");
}
