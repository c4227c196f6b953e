//! The real storaged binary on loop devices and a private bus (root; busd from `make deps`):
//! named D-Bus errors, kill -9 during volume creation (no leaked or phantom volumes), and a
//! restart after unmount that keeps volumes and data.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use storaged::btrfs;
use zos_bus::inspect;
use zos_bus::storage::{self, disk_state, StorageError, StorageProxy};
use zos_testkit::disks::{entries, Env, MIB};
use zos_testkit::PrivateBus;

const READY_TIMEOUT: Duration = Duration::from_secs(20);
const GIB: u64 = 1024 * MIB;
/// kill -9 rounds.
const ROUNDS: u64 = 50;
/// Volume creations in flight when storaged is killed, per round.
const PER_ROUND: usize = 10;
/// How long a call to a storaged that was killed may stay unanswered.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// A running storaged; killed (SIGKILL, by pid) on drop.
struct Storaged {
    child: Child,
    log: PathBuf,
}

impl Storaged {
    async fn start(env: &Env, bus: &PrivateBus, log: PathBuf) -> Storaged {
        let out = fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_storaged"))
            .arg("--devices")
            .arg(env.devices_arg())
            .arg("--sys-root")
            .arg(env.sys())
            .arg("--mnt-root")
            .arg(env.mnt())
            .arg("--cache-mount")
            .arg(env.cache_mount())
            .env(zos_bus::BUS_ADDRESS_ENV, bus.address())
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(out)
            .spawn()
            .expect("storaged starts");
        let mut s = Storaged { child, log };
        if let Err(e) = inspect::wait_for_owner(bus.address(), storage::NAME, READY_TIMEOUT).await {
            panic!(
                "storaged not ready: {e}; exited: {:?}; log:\n{}",
                s.child.try_wait(),
                fs::read_to_string(&s.log).unwrap_or_default()
            );
        }
        s
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn terminate(&mut self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
        let status = self.child.wait().expect("wait");
        assert!(
            status.success(),
            "exit {status:?}; log:\n{}",
            fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

impl Drop for Storaged {
    fn drop(&mut self) {
        self.kill9();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bus_errors_kill9_and_restart() {
    let mut env = Env::new();
    // Sparse, room for the 5 GiB cache and every volume of the kill rounds.
    let ssd = env.add_disk(8 * GIB, false);
    let foreign = env.add_disk(128 * MIB, true);
    env.write_at(foreign, 0, b"\xEB\x3C\x90mkfs.fat");
    let foreign_sum = env.loops[foreign].sha256();
    let bus = PrivateBus::start().expect("private bus");
    let logs = env.dir.path().to_path_buf();

    let mut daemon = Storaged::start(&env, &bus, logs.join("storaged-0.log")).await;
    let conn = zos_bus::connect_to(bus.address()).await.expect("connect");
    let proxy = StorageProxy::new(&conn).await.expect("proxy");

    let disks = proxy.disks().await.expect("Disks");
    assert_eq!(disks.len(), 2);
    let disk = |index: usize| {
        let path = env.loops[index].dev.to_string_lossy().into_owned();
        disks
            .iter()
            .find(|d| d.path == path)
            .expect("disk reported")
            .clone()
    };
    assert_eq!(disk(ssd).state, disk_state::POOL);
    assert_eq!(disk(foreign).state, disk_state::FOREIGN);
    assert!(disk(foreign).rotational);
    assert!(disk(foreign).reason.contains("wipe"), "{:?}", disk(foreign));
    let pools = proxy.pools().await.expect("Pools");
    assert_eq!(pools.len(), 1);
    assert_eq!(pools[0].kind, storage::kind::SSD);
    let pool_path = PathBuf::from(&pools[0].path);
    let cache = proxy.cache().await.expect("Cache");
    assert!(cache.persistent, "{cache:?}");
    assert_eq!(cache.pool, pools[0].name);
    fs::write(env.cache_mount().join("seed"), b"identity").expect("write in the cache");
    let cap = proxy.capacity().await.expect("Capacity");
    // The cache's 5 GiB limit is allocated on the pool (system-reserved SRU).
    assert_eq!(
        (cap.sru_total, cap.sru_used, cap.hru_total),
        (8 * GIB, 5 * GIB, 0)
    );

    // Errors arrive as named D-Bus errors the proxy turns back into variants.
    let v = proxy
        .create_volume("web", 32 * MIB, "ssd")
        .await
        .expect("CreateVolume");
    assert_eq!(v.size, 32 * MIB);
    assert!(matches!(
        proxy.create_volume("../x", MIB, "ssd").await,
        Err(StorageError::InvalidName(_))
    ));
    match proxy.create_volume("big", 3 * GIB, "ssd").await {
        Err(StorageError::NoSpace(m)) => {
            assert!(m.contains("2.9 GiB free, volume big needs 3 GiB"), "{m}")
        }
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert!(matches!(
        proxy.create_volume("hddvol", MIB, "hdd").await,
        Err(StorageError::NoSpace(_))
    ));
    assert!(matches!(
        proxy.create_volume("web", 64 * MIB, "ssd").await,
        Err(StorageError::Exists(_))
    ));
    assert!(matches!(
        proxy.create_volume("x", MIB, "nvme").await,
        Err(StorageError::InvalidArgument(_))
    ));
    assert!(matches!(
        proxy.resize_volume("ghost", MIB).await,
        Err(StorageError::NotFound(_))
    ));
    fs::write(PathBuf::from(&v.path).join("index.html"), b"hello").expect("data");
    let d = proxy
        .create_vdisk("disk0", 64 * MIB)
        .await
        .expect("CreateVdisk");
    assert_eq!(proxy.vdisks().await.expect("Vdisks"), vec![d.clone()]);
    assert_eq!(
        proxy
            .resize_vdisk("disk0", 96 * MIB)
            .await
            .expect("grow")
            .size,
        96 * MIB
    );
    proxy.delete_vdisk("disk0").await.expect("DeleteVdisk");
    proxy
        .delete_vdisk("disk0")
        .await
        .expect("DeleteVdisk again");
    assert_eq!(
        proxy.volume_usage("web").await.expect("VolumeUsage").name,
        "web"
    );

    // kill -9 while volumes are being created, ROUNDS times: after each restart what is listed is
    // exactly what is on disk, complete, and no partial survives.
    let mut confirmed = vec!["web".to_string()];
    for round in 0..ROUNDS {
        // Ten creations per round (storaged runs them one after the other), killed while it
        // works through them, so kills land during and between creations.
        // The calls use their own connection, closed after the kill: the broker does not answer
        // calls whose callee died, so each call is also bounded by CALL_TIMEOUT.
        let round_conn = zos_bus::connect_to(bus.address()).await.expect("connect");
        let calls: Vec<_> = (0..PER_ROUND)
            .map(|i| {
                let conn = round_conn.clone();
                let name = format!("k{round}-{i}");
                tokio::spawn(async move {
                    let proxy = StorageProxy::new(&conn).await.expect("proxy");
                    let call = proxy.create_volume(&name, MIB, "ssd");
                    (name.clone(), tokio::time::timeout(CALL_TIMEOUT, call).await)
                })
            })
            .collect();
        // Kill while storaged works through them: in even rounds the moment a creation is seen
        // half done (a `.partial` entry), in odd rounds up to 4 ms after the first one appears.
        let prefix = format!("k{round}-");
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            let names = entries(&pool_path);
            let partial = names.iter().any(|n| n.ends_with(".partial"));
            let any = names.iter().any(|n| n.starts_with(&prefix));
            if (round % 2 == 0 && partial) || (round % 2 == 1 && any) {
                break;
            }
            tokio::task::yield_now().await;
        }
        if round % 2 == 1 {
            tokio::time::sleep(Duration::from_micros((round * 331) % 4_000)).await;
        }
        daemon.kill9();
        for call in calls {
            if let Ok((name, Ok(Ok(v)))) = call.await {
                assert_eq!(v.size, MIB);
                confirmed.push(name);
            }
        }
        drop(round_conn);
        daemon =
            Storaged::start(&env, &bus, logs.join(format!("storaged-{}.log", round + 1))).await;
        let listed = proxy.volumes().await.expect("Volumes after restart");
        for v in &listed {
            assert_eq!(
                v.size,
                if v.name == "web" { 32 * MIB } else { MIB },
                "{v:?}"
            );
        }
        let mut listed_names: Vec<String> = listed.into_iter().map(|v| v.name).collect();
        listed_names.sort();
        let mut on_disk: Vec<String> = entries(&pool_path)
            .into_iter()
            .filter(|n| n != "vdisks" && n != storaged::names::CACHE)
            .collect();
        on_disk.sort();
        assert_eq!(listed_names, on_disk, "round {round}: listed vs on disk");
        assert!(
            on_disk.iter().all(|n| !n.contains('.')),
            "round {round}: partial left: {on_disk:?}"
        );
        for c in &confirmed {
            assert!(on_disk.contains(c), "round {round}: confirmed {c} lost");
        }
        assert!(entries(&PathBuf::from(&pools[0].path).join("vdisks")).is_empty());
    }
    let count = |what: &str| -> usize {
        (0..=ROUNDS)
            .map(|i| {
                fs::read_to_string(logs.join(format!("storaged-{i}.log")))
                    .unwrap_or_default()
                    .matches(what)
                    .count()
            })
            .sum()
    };
    let cleaned = count("removed an interrupted creation");
    eprintln!(
        "kill -9 rounds: {} creations confirmed before the kill, {} completed, {cleaned} partial volumes cleaned at restart",
        confirmed.len() - 1,
        count("volume created") - 1,
    );
    assert!(
        cleaned > 0,
        "no kill landed inside a creation: the test did not exercise the crash path"
    );
    // Creating a volume whose creation was killed works (idempotent from the caller's view).
    for round in 0..ROUNDS {
        for i in 0..PER_ROUND {
            let v = proxy
                .create_volume(&format!("k{round}-{i}"), MIB, "ssd")
                .await
                .expect("create after crash");
            assert!(btrfs::is_subvolume(&PathBuf::from(&v.path)));
        }
    }

    // A clean stop, an unmount (a reboot), a start: volumes and data are still there.
    daemon.terminate();
    env.mounts.unmount_all();
    let daemon = Storaged::start(&env, &bus, logs.join("storaged-final.log")).await;
    let pools_after = proxy.pools().await.expect("Pools");
    assert_eq!(pools_after[0].name, pools[0].name);
    assert_eq!(proxy.cache().await.expect("Cache"), cache);
    assert_eq!(
        fs::read(env.cache_mount().join("seed")).expect("cache kept"),
        b"identity"
    );
    let web = proxy.volume_usage("web").await.expect("web kept");
    assert_eq!(web.size, 32 * MIB);
    assert_eq!(
        fs::read(PathBuf::from(&web.path).join("index.html")).expect("data kept"),
        b"hello"
    );
    assert_eq!(
        proxy.volumes().await.expect("Volumes").len(),
        1 + ROUNDS as usize * PER_ROUND
    );
    proxy.delete_volume("web").await.expect("DeleteVolume");
    assert!(matches!(
        proxy.volume_usage("web").await,
        Err(StorageError::NotFound(_))
    ));
    drop(daemon);
    assert_eq!(
        env.loops[foreign].sha256(),
        foreign_sum,
        "foreign disk changed"
    );
}
