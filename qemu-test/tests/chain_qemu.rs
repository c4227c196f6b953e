//! Registration boot tests: the built image (`out/image`, or `$ZOS_IMAGE_DIR`) boots under QEMU
//! against a local TFChain (the real runtime under chopsticks) and the dev activation service,
//! both on 127.0.0.1 and reachable from the guest only through QEMU `guestfwd` rules
//! (`ws://10.0.2.100:9944`, `http://10.0.2.101:8041/activation/activate`, `restrict=on`).
//!
//! Needs what the boot tests need (`make deps`, `make image`), chopsticks (`make deps`) and the
//! `zosctl` binary (`make test-boot` builds it; else `cargo build -p zosctl`). The farmer's side
//! (twin, farm) is done with the real `zosctl`, as a farmer would; the node registers itself.
//!
//! The VM has what the runtime requires of a node: more than 2 GiB of memory (3 GiB) and at
//! least 100 GiB of SSD: a plain virtio disk (what a farmer's VM has; the kernel calls it
//! rotational, storaged counts it as an SSD), plus a `scsi-hd rotation_rate=1` disk (SSD) and a
//! `scsi-hd rotation_rate=7200` one (HDD), a fixed NIC MAC and an SMBIOS baseboard serial, so
//! every field of the node's record can be checked against what the VM was given. A VM with
//! only an HDD is refused by the chain, and noded says so in words. The VMs take turns through a
//! lock.

use std::time::{Duration, Instant};

use gridtypes::types::{Volume, ZMount, Zdb, ZdbResult};
use gridtypes::{Deployment, ResultState, Workload, WorkloadData};
use qemu_test::chain::{LocalGrid, FUNDER};
use qemu_test::scenario::{run_ok, BOOT_TIMEOUT, GIB, SHELL_TIMEOUT};
use qemu_test::zinit;
use qemu_test::{vm_slot, Disk, DiskKind, ImageDir, Shell, Vm};
use zos_chain::Signer;
use zos_testkit::free_port;

/// READY to REGISTERED: activation, terms, twin and node take a few seconds; noded's retries
/// (2 s doubling) need more when the farm comes late.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(180);
const UPTIME_TIMEOUT: Duration = Duration::from_secs(90);
/// noded's uptime interval on these test nodes (kernel command line `uptime_interval=`; the
/// grid's nodes report every 40 min).
const UPTIME_INTERVAL: &str = "10s";

const CPUS: u32 = 2;
const MEMORY_MB: u32 = 3072;
/// At least 100 GiB of SSD, or the runtime refuses the node. Sparse: costs no host disk space
/// beyond the cache filesystem the node writes on it. A plain virtio disk.
const SSD_BYTES: u64 = 120 << 30;
/// A second SSD, on `scsi-hd rotation_rate=1`.
const SCSI_SSD_BYTES: u64 = 8 << 30;
const HDD_BYTES: u64 = 8 << 30;
const MAC: &str = "52:54:00:5a:05:01";
const BOARD_SERIAL: &str = "ZOS-TEST-1";
/// Where provisiond serves the node API in the guest.
const NODE_API_PORT: u16 = 2021;
/// How long a zdb may take to listen again after the node booted.
const ZDB_UP_TIMEOUT: Duration = Duration::from_secs(30);
/// Where zdb serves namespaces in the guest.
const ZDB_PORT: u16 = 9900;
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(120);

/// `MemTotal` of the guest's /proc/meminfo, in bytes.
fn guest_mem_total(shell: &mut Shell) -> u64 {
    let meminfo = run_ok(shell, "cat /proc/meminfo");
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or_else(|| panic!("no MemTotal in /proc/meminfo:\n{meminfo}"))
}

/// Waits for the next REGISTERED line; on failure the panic shows noded's log from the node.
fn wait_registered(vm: &mut Vm, shell: &mut Shell) -> qemu_test::Registered {
    match vm.wait_registered(REGISTER_TIMEOUT) {
        Ok(reg) => reg,
        Err(e) => {
            let log = shell
                .run("tail -n 30 /var/log/zinit/noded.log")
                .map(|o| o.stdout)
                .unwrap_or_else(|e| format!("(cannot read it: {e})"));
            panic!("{e}\nnoded's log on the node:\n{log}")
        }
    }
}

/// The VM and the temp dir of its disk files (fields drop in order: QEMU stops first).
struct Machine {
    vm: Vm,
    /// The host's loopback port forwarded to the node API (guest port 2021).
    api_port: u16,
    /// The host's loopback port forwarded to zdb (guest port 9900).
    zdb_port: u16,
    _dir: tempfile::TempDir,
}

/// A VM with the virtio SSD (storaged puts the node's cache on its pool), the SCSI SSD, the
/// HDD, the MAC and the serial, on `grid`'s forwards, in farm `farm_id`, with the debug shell.
fn boot(grid: &LocalGrid, name: &str, farm_id: u32) -> Machine {
    let dir = tempfile::tempdir().unwrap();
    let ssd = Disk::create_sparse(&dir.path().join("ssd.raw"), SSD_BYTES).unwrap();
    let scsi_ssd = Disk::create_sparse(&dir.path().join("scsi-ssd.raw"), SCSI_SSD_BYTES).unwrap();
    let hdd = Disk::create_sparse(&dir.path().join("hdd.raw"), HDD_BYTES).unwrap();
    let image = ImageDir::locate().pvh().unwrap_or_else(|e| panic!("{e}"));
    let api_port = free_port();
    let zdb_port = free_port();
    let vm = Vm::builder()
        .name(name)
        .pvh(image)
        .cpus(CPUS)
        .memory_mb(MEMORY_MB)
        .disk(ssd.path(), DiskKind::Virtio)
        .disk(scsi_ssd.path(), DiskKind::ScsiHd { rotation_rate: 1 })
        .disk(
            hdd.path(),
            DiskKind::ScsiHd {
                rotation_rate: 7200,
            },
        )
        .user_net(
            grid.user_net()
                .mac(MAC)
                .hostfwd(api_port, NODE_API_PORT)
                .hostfwd(zdb_port, ZDB_PORT),
        )
        .board_serial(BOARD_SERIAL)
        .extra_cmdline(&format!(
            "runmode=dev uptime_interval={UPTIME_INTERVAL} {}",
            grid.cmdline(farm_id)
        ))
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    Machine {
        vm,
        api_port,
        zdb_port,
        _dir: dir,
    }
}

/// A node boots, registers itself in the farm a farmer made with zosctl, with exactly the VM's
/// capacity, NIC and serial; a reboot keeps the same node (no duplicate); uptime reports arrive.
#[test]
fn qemu_chain_registration() {
    let _slot = vm_slot();
    let grid = LocalGrid::start().unwrap_or_else(|e| panic!("{e}"));
    let zosctl = grid.zosctl().unwrap_or_else(|e| panic!("{e}"));
    let farm_id = zosctl.farmer("qemu-farm").unwrap_or_else(|e| panic!("{e}"));

    let mut m = boot(&grid, "chain-registration", farm_id);
    let vm = &mut m.vm;
    let ready = vm
        .wait_ready(BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut shell = vm.shell(SHELL_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    let reg = wait_registered(vm, &mut shell);
    eprintln!(
        "READY after {:?}, REGISTERED node_id={} twin_id={} after {:?} ({:?} after READY)",
        ready.host_elapsed,
        reg.node_id,
        reg.twin_id,
        reg.host_elapsed,
        reg.host_elapsed.saturating_sub(ready.host_elapsed)
    );

    let mem_total = guest_mem_total(&mut shell);

    // The node's record is what the VM has.
    let node = grid
        .node(reg.node_id)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| {
            panic!(
                "node {} printed REGISTERED but is not on the chain",
                reg.node_id
            )
        });
    eprintln!("node record: {node:?}");
    assert_eq!(node.farm_id, farm_id, "{node:?}");
    assert_eq!(node.twin_id, reg.twin_id, "{node:?}");
    let account = grid
        .twin_account_hex(reg.twin_id)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("twin {} not on the chain", reg.twin_id));
    assert_eq!(
        account, ready.node_key,
        "the twin's account is not the node key of the READY line"
    );
    assert_eq!(node.resources.cru, u64::from(CPUS), "CRU: {node:?}");
    assert_eq!(
        node.resources.mru, mem_total,
        "MRU (guest MemTotal): {node:?}"
    );
    // The virtio disk and the rotation_rate=1 disk are SSDs, the 7200 rpm one an HDD.
    let classified = run_ok(
        &mut shell,
        "grep -E 'seek figures|disk classified' /var/log/zinit/storaged.log",
    );
    eprintln!("storaged's classification:\n{classified}");
    assert_eq!(
        node.resources.sru,
        SSD_BYTES + SCSI_SSD_BYTES,
        "SRU (the virtio and the rotation_rate=1 disks): {node:?}\n{classified}"
    );
    assert_eq!(
        node.resources.hru, HDD_BYTES,
        "HRU (the 7200 rpm disk): {node:?}\n{classified}"
    );
    let zos = node
        .interfaces
        .iter()
        .find(|i| i.name == "zos")
        .unwrap_or_else(|| panic!("no interface `zos` in {:?}", node.interfaces));
    assert_eq!(zos.mac.to_lowercase(), MAC, "{zos:?}");
    assert_eq!(
        node.serial_number.as_deref(),
        Some(BOARD_SERIAL),
        "{node:?}"
    );
    assert!(
        node.virtualized,
        "a QEMU guest must say virtualized: {node:?}"
    );
    assert!(!node.secure_boot, "PVH boot has no Secure Boot: {node:?}");

    // The first uptime report follows registration, the next one comes an interval later.
    let first = grid
        .wait_uptime_report(reg.node_id, 0, UPTIME_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let second = grid
        .wait_uptime_report(reg.node_id, first.block, UPTIME_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("uptime reports: {first:?}, {second:?}");
    assert!(
        second.uptime > first.uptime,
        "the second report must carry a larger uptime: {first:?} {second:?}"
    );

    // Reboot: same identity (from the cache), same node, still one node in the farm.
    let asked = Instant::now();
    let again = vm
        .reboot(&mut shell, BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        again.node_key, ready.node_key,
        "node key changed across a reboot"
    );
    let reg2 = wait_registered(vm, &mut shell);
    eprintln!(
        "after reboot: READY and REGISTERED node_id={} {:?} after asking",
        reg2.node_id,
        asked.elapsed()
    );
    assert_eq!(
        (reg2.node_id, reg2.twin_id),
        (reg.node_id, reg.twin_id),
        "a reboot must not register a new node or twin"
    );
    let nodes = grid.farm_nodes(farm_id).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        nodes.iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![reg.node_id],
        "farm {farm_id} must hold exactly the one node"
    );

    // The rebooted node reports again, as the same node, with its uptime started again.
    let third = grid
        .wait_uptime_report(reg.node_id, second.block, UPTIME_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("uptime report after reboot: {third:?}");
    drop(shell);
}

/// A node booted with the id of a farm that does not exist yet still reaches READY and serves on
/// the bus; noded logs why it cannot register and keeps retrying, and once the farmer creates
/// the farm the node registers in it without a reboot.
#[test]
fn qemu_chain_registration_waits_for_the_farm() {
    let _slot = vm_slot();
    let grid = LocalGrid::start().unwrap_or_else(|e| panic!("{e}"));
    let zosctl = grid.zosctl().unwrap_or_else(|e| panic!("{e}"));
    // Alice's twin, but no farm yet: on a fresh chain the first farm will be farm 1.
    zosctl
        .run_id(&["--key", qemu_test::chain::FUNDER, "twin", "create"], "id")
        .unwrap_or_else(|e| panic!("{e}"));
    let farm_id = 1;

    let mut m = boot(&grid, "chain-late-farm", farm_id);
    let vm = &mut m.vm;
    vm.wait_ready(BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut shell = vm.shell(SHELL_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    let text = run_ok(&mut shell, "zos-init --json list");
    let list = zinit::services(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        list.get("noded").map(String::as_str),
        Some("Running"),
        "noded in `zos-init list`: {list:?}"
    );
    let names = run_ok(&mut shell, "zbusdebug list");
    assert!(
        names.lines().any(|l| l.trim() == zos_bus::node::NAME),
        "noded must serve the bus while it cannot register:\n{names}"
    );

    // noded says why it cannot register (its log file on the node).
    let expected = format!("farm {farm_id} does not exist");
    let deadline = Instant::now() + REGISTER_TIMEOUT;
    loop {
        let out = shell
            .run("cat /var/log/zinit/noded.log")
            .unwrap_or_else(|e| panic!("{e}"));
        if out.stdout.contains(&expected) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "noded's log never said {expected:?}:\n{}",
            out.stdout
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let nodes = grid
        .block_on(grid.client().nodes(None))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        nodes.is_empty(),
        "no node may exist before its farm: {nodes:?}"
    );

    // The farmer creates the farm; the node registers without a reboot.
    let created = Instant::now();
    let made = zosctl
        .create_farm("late-farm")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(made, farm_id, "the first farm of a fresh chain");
    let reg = wait_registered(vm, &mut shell);
    eprintln!(
        "registered node_id={} {:?} after the farm was created",
        reg.node_id,
        created.elapsed()
    );
    let node = grid
        .node(reg.node_id)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("node {} not on the chain", reg.node_id));
    assert_eq!(node.farm_id, farm_id, "{node:?}");
    drop(shell);
}

/// A user deploys a volume, a zmount and a zdb namespace on a booted node: contract on chain,
/// deployment through the node API (signed, the key read from the chain), workloads ok, the
/// namespace reachable with a redis client, consumption on chain; a reboot keeps the deployment
/// and its data; cancelling the contract removes the volumes and the namespace, and stops the zdb it emptied.
#[test]
fn qemu_deploy_volumes_and_zdb_report_reboot_cancel() {
    let _slot = vm_slot();
    let grid = LocalGrid::start().unwrap_or_else(|e| panic!("{e}"));
    let zosctl = grid.zosctl().unwrap_or_else(|e| panic!("{e}"));
    let farm_id = zosctl
        .farmer("deploy-farm")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut m = boot(&grid, "deploy", farm_id);
    let api = format!("http://127.0.0.1:{}", m.api_port);
    let vm = &mut m.vm;
    vm.wait_ready(BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut shell = vm.shell(SHELL_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    let reg = wait_registered(vm, &mut shell);

    // The user: an ed25519 twin funded by //Alice.
    let chain = grid.client();
    let user = Signer::ed25519_from_seed(&[42; 32]);
    let alice = Signer::sr25519_from_uri("//Alice").unwrap();
    let twin = grid.block_on(async {
        chain
            .transfer_keep_alive(&alice, &user.account_id(), 1_000 * 10_000_000)
            .await?;
        chain.ensure_twin(&user).await
    });
    let twin = twin.unwrap_or_else(|e| panic!("user twin: {e}"));

    let mut d = Deployment::signed_by_owner(
        twin,
        vec![
            Workload::new("data", &WorkloadData::Volume(Volume { size: GIB })),
            Workload::new("disk", &WorkloadData::ZMount(ZMount { size: 2 * GIB })),
            Workload::new(
                "store",
                &WorkloadData::Zdb(Zdb {
                    size: GIB,
                    mode: "user".into(),
                    password: "secret".into(),
                    public: false,
                }),
            ),
        ],
    );
    let hash = d.challenge_hash_hex().unwrap();
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(hash.as_bytes());
    d.contract_id = grid
        .block_on(chain.create_node_contract(&user, reg.node_id, bytes, b"", 0, None))
        .unwrap_or_else(|e| panic!("contract: {e}"));
    let message = d.signing_message().unwrap();
    d.add_signature(twin, &user.sign(&message), user.scheme());

    let client = zos_api::Client::new(&api, user.clone(), twin).unwrap();
    let get = |client: &zos_api::Client| -> Option<Deployment> {
        grid.block_on(client.call::<Deployment>(
            "zos.deployment.get",
            serde_json::json!({ "contract_id": d.contract_id }),
        ))
        .ok()
    };
    // provisiond serves once the node is registered; give it a moment.
    let start = Instant::now();
    loop {
        match grid.block_on(client.call::<serde_json::Value>("zos.deployment.deploy", &d)) {
            Ok(_) => break,
            Err(e) => {
                assert!(start.elapsed() < DEPLOY_TIMEOUT, "deploy: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    let wait_all = |want: ResultState| -> Deployment {
        let start = Instant::now();
        loop {
            if let Some(got) = get(&client) {
                if got.workloads.iter().all(|w| w.result.state == want) {
                    return got;
                }
                assert!(start.elapsed() < DEPLOY_TIMEOUT, "not {want:?}: {got:#?}");
            }
            assert!(start.elapsed() < DEPLOY_TIMEOUT, "deployment not readable");
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    let deployed = wait_all(ResultState::Ok);
    eprintln!(
        "deployed: {:?}",
        deployed
            .workloads
            .iter()
            .map(|w| (&w.name, &w.result.state))
            .collect::<Vec<_>>()
    );
    let volume = format!("{twin}-{}-data", d.contract_id);
    let volumes: Vec<zos_bus::storage::Volume> =
        serde_json::from_str(&run_ok(&mut shell, "zbusdebug storage volumes")).unwrap();
    let path = volumes
        .iter()
        .find(|v| v.name == volume)
        .unwrap_or_else(|| panic!("{volume} not in {volumes:?}"))
        .path
        .clone();
    run_ok(&mut shell, &format!("echo user-data > {path}/file && sync"));

    // The zdb namespace, reached from outside with a redis client through the forwarded port.
    let zdb: ZdbResult = deployed
        .get("store")
        .expect("zdb workload")
        .result
        .data_as()
        .expect("zdb result");
    assert_eq!(zdb.namespace, format!("{twin}-{}-store", d.contract_id));
    assert_eq!(zdb.port, u64::from(ZDB_PORT));
    assert!(!zdb.ips.is_empty(), "{zdb:?}");
    let zdb_url = format!("redis://127.0.0.1:{}/", m.zdb_port);
    let namespace = zdb.namespace.clone();
    // After a reboot the stored deployment answers before its zdb listens again: a client
    // retries the connection for a moment, as one would.
    let zdb_session = move |f: &dyn Fn(&mut redis::Connection) -> redis::RedisResult<()>| {
        let client = redis::Client::open(zdb_url.as_str()).unwrap();
        let start = Instant::now();
        let mut con = loop {
            match client.get_connection() {
                Ok(con) => break con,
                Err(e) if e.is_io_error() && start.elapsed() < ZDB_UP_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("zdb connection: {e}"),
            }
        };
        f(&mut con)
    };
    zdb_session(&|con| {
        let refused: redis::RedisResult<()> = redis::cmd("SELECT").arg(&namespace).query(con);
        assert!(
            refused.is_err(),
            "a private namespace opened without its password"
        );
        redis::cmd("SELECT")
            .arg(&namespace)
            .arg("secret")
            .query::<()>(con)?;
        let key: Vec<u8> = redis::cmd("SET")
            .arg("greeting")
            .arg("hello zdb")
            .query(con)?;
        assert_eq!(key, b"greeting");
        Ok(())
    })
    .expect("zdb SET");

    // Consumption reaches the chain.
    let start = Instant::now();
    loop {
        let used = grid
            .block_on(chain.contract_resources(d.contract_id))
            .unwrap_or_else(|e| panic!("{e}"));
        if used.map(|u| u.sru) == Some(3 * GIB) {
            break;
        }
        assert!(
            start.elapsed() < DEPLOY_TIMEOUT,
            "consumption not reported: {used:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }

    // Reboot: the deployment and the volume's data are still there.
    vm.reboot(&mut shell, BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    wait_registered(vm, &mut shell);
    let after = wait_all(ResultState::Ok);
    assert_eq!(after.workloads.len(), 3);
    let data = run_ok(&mut shell, &format!("cat {path}/file"));
    assert_eq!(data.trim(), "user-data");
    zdb_session(&|con| {
        redis::cmd("SELECT")
            .arg(&namespace)
            .arg("secret")
            .query::<()>(con)?;
        let value: Vec<u8> = redis::cmd("GET").arg("greeting").query(con)?;
        assert_eq!(value, b"hello zdb", "zdb data lost across the reboot");
        Ok(())
    })
    .expect("zdb GET after reboot");

    // Cancelling the contract removes everything.
    grid.block_on(chain.cancel_contract(&user, d.contract_id))
        .unwrap_or_else(|e| panic!("cancel: {e}"));
    wait_all(ResultState::Deleted);
    let volumes = run_ok(&mut shell, "zbusdebug storage volumes");
    assert!(!volumes.contains(&volume), "{volumes}");
    let vdisks_gone = run_ok(&mut shell, "find /mnt -path '*/vdisks/*' -type f");
    assert!(vdisks_gone.trim().is_empty(), "{vdisks_gone}");
    // The zdb held only this namespace: it is stopped and its volume freed.
    assert!(!volumes.contains("\"zdb-"), "{volumes}");
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", m.zdb_port)).unwrap();
    let after = client
        .get_connection()
        .and_then(|mut con| redis::cmd("PING").query::<String>(&mut con));
    assert!(
        after.is_err(),
        "zdb still answers after its last namespace: {after:?}"
    );
}

/// A VM whose only disk is an HDD (`scsi-hd rotation_rate=7200`, 120 GiB): the chain refuses
/// the node for its SSD capacity, and noded says in words, in its log and on the bus, what the
/// node has, what the chain wants and what to do; it asks again only every 10 minutes.
#[test]
fn qemu_chain_hdd_only_node_is_refused_in_words() {
    let _slot = vm_slot();
    let grid = LocalGrid::start().unwrap_or_else(|e| panic!("{e}"));
    let zosctl = grid.zosctl().unwrap_or_else(|e| panic!("{e}"));
    let farm_id = zosctl.farmer("hdd-farm").unwrap_or_else(|e| panic!("{e}"));
    let api_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let hdd = Disk::create_sparse(&dir.path().join("hdd.raw"), SSD_BYTES).unwrap();
    let image = ImageDir::locate().pvh().unwrap_or_else(|e| panic!("{e}"));
    let mut vm = Vm::builder()
        .name("chain-hdd-only")
        .pvh(image)
        .cpus(CPUS)
        .memory_mb(MEMORY_MB)
        .disk(
            hdd.path(),
            DiskKind::ScsiHd {
                rotation_rate: 7200,
            },
        )
        .user_net(grid.user_net().hostfwd(api_port, NODE_API_PORT))
        .extra_cmdline(&format!("runmode=dev {}", grid.cmdline(farm_id)))
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    vm.wait_ready(BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut shell = vm.shell(SHELL_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    let expected = "this node has 0 B of SSD (and 120 GiB of HDD); TFChain requires at least \
                    100 GiB of SSD capacity";
    let deadline = Instant::now() + REGISTER_TIMEOUT;
    let log = loop {
        let out = shell
            .run("cat /var/log/zinit/noded.log")
            .unwrap_or_else(|e| panic!("{e}"));
        if out.stdout.contains(expected) {
            break out.stdout;
        }
        assert!(
            Instant::now() < deadline,
            "noded's log never said {expected:?}:\n{}",
            out.stdout
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    let line = log
        .lines()
        .find(|l| l.contains(expected))
        .unwrap_or_default();
    eprintln!("noded: {line}");
    assert!(line.contains("add an empty SSD"), "{line}");
    assert!(line.contains("retry_in_ms=600000"), "{line}");
    let classified = run_ok(
        &mut shell,
        "grep -E 'seek figures|disk classified' /var/log/zinit/storaged.log",
    );
    eprintln!("storaged's classification:\n{classified}");
    let nodes = grid
        .block_on(grid.client().nodes(None))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        nodes.is_empty(),
        "the chain took an HDD-only node: {nodes:?}"
    );

    // The farmer asks the node itself: its API answers before registration, with the words.
    let api = format!("http://127.0.0.1:{api_port}");
    let status = zosctl
        .run(&["--key", FUNDER, "--node-url", &api, "node", "status"])
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("zosctl node status: {status}");
    assert_eq!(status["registration"]["state"], "failed", "{status}");
    assert!(
        status["registration"]["error"]
            .as_str()
            .is_some_and(|e| e.contains(expected)),
        "{status}"
    );
    assert_eq!(status["registration"]["farm_id"], farm_id, "{status}");
    assert_eq!(status["serving_deployments"], false, "{status}");
    drop(shell);
}
