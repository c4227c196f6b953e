//! storaged on a booted node: the built image (`make image`) under QEMU with an SSD, an HDD and a
//! disk holding a farmer's ext4 filesystem. Pools appear with the right kind and size, the node's
//! cache is on the SSD pool, the foreign disk is never written (checksum before and after the
//! node's life), bad requests are refused, and volumes with their data survive a reboot.
//! Needs what boot_qemu needs (`make deps`) plus `mkfs.ext4` (e2fsprogs).

use std::path::Path;
use std::process::Command;

use qemu_test::scenario::{BOOT_TIMEOUT, GIB, SHELL_TIMEOUT, SHUTDOWN_TIMEOUT};
use qemu_test::{vm_slot, Disk, DiskKind, ImageDir, Shell, UserNet, Vm};
use zos_bus::storage::{disk_state, kind, Cache, Disk as BusDisk, Pool, Volume};

const SSD_BYTES: u64 = 16 << 30;
const HDD_BYTES: u64 = 8 << 30;
const FOREIGN_BYTES: u64 = 1 << 30;

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A farmer's disk: an ext4 filesystem with a file on it (made on the host).
fn foreign_disk(path: &Path) -> Disk {
    let disk = Disk::create_sparse(path, FOREIGN_BYTES).unwrap();
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "farmer-data"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("mkfs.ext4 (e2fsprogs) is needed: {e}"));
    assert!(out.status.success(), "mkfs.ext4: {out:?}");
    disk
}

fn storage<T: serde::de::DeserializeOwned>(shell: &mut Shell, args: &str) -> T {
    let out = shell
        .run_ok(&format!("zbusdebug storage {args}"))
        .unwrap_or_else(|e| panic!("in the debug shell: {e}"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("zbusdebug storage {args}: {e}\n{out}"))
}

/// The exit code and output of a storage call that must fail.
fn storage_refused(shell: &mut Shell, args: &str) -> String {
    let out = shell
        .run(&format!("zbusdebug storage {args}"))
        .unwrap_or_else(|e| panic!("in the debug shell: {e}"));
    assert_ne!(
        out.code, 0,
        "zbusdebug storage {args} succeeded: {}",
        out.stdout
    );
    out.stdout
}

#[test]
fn qemu_storage_pools_foreign_disk_and_volumes_across_a_reboot() {
    let _slot = vm_slot();
    let dir = tempfile::tempdir().unwrap();
    let ssd = Disk::create_sparse(&dir.path().join("ssd.raw"), SSD_BYTES).unwrap();
    let hdd = Disk::create_sparse(&dir.path().join("hdd.raw"), HDD_BYTES).unwrap();
    let foreign = foreign_disk(&dir.path().join("foreign.raw"));
    let foreign_sum = sha256(foreign.path());

    let mut vm = Vm::builder()
        .name("storage")
        .pvh(ImageDir::locate().pvh().unwrap_or_else(|e| panic!("{e}")))
        .disk(ssd.path(), DiskKind::ScsiHd { rotation_rate: 1 })
        .disk(
            hdd.path(),
            DiskKind::ScsiHd {
                rotation_rate: 7200,
            },
        )
        .disk(foreign.path(), DiskKind::Virtio)
        .user_net(UserNet::new())
        .extra_cmdline("farmer_id=1 runmode=dev")
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let first = vm
        .wait_ready(BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut shell = vm.shell(SHELL_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));

    // One pool per empty disk, of the disk's kind and size.
    let pools: Vec<Pool> = storage(&mut shell, "pools");
    assert_eq!(pools.len(), 2, "{pools:#?}");
    let pool_of = |kind_word: &str| {
        pools
            .iter()
            .find(|p| p.kind == kind_word)
            .unwrap_or_else(|| panic!("no {kind_word} pool: {pools:#?}"))
            .clone()
    };
    let (ssd_pool, hdd_pool) = (pool_of(kind::SSD), pool_of(kind::HDD));
    assert_eq!(ssd_pool.size, SSD_BYTES);
    assert_eq!(hdd_pool.size, HDD_BYTES);

    // The farmer's disk is reported and left alone.
    let disks: Vec<BusDisk> = storage(&mut shell, "disks");
    let farmer = disks
        .iter()
        .find(|d| d.size == FOREIGN_BYTES)
        .unwrap_or_else(|| panic!("foreign disk not reported: {disks:#?}"));
    assert_eq!(farmer.state, disk_state::FOREIGN, "{farmer:#?}");
    assert!(farmer.reason.contains("ext"), "{farmer:#?}");

    // The node's cache is the SSD pool's subvolume, mounted on /var/cache, holding the identity.
    let cache: Cache = storage(&mut shell, "cache");
    assert!(cache.persistent, "{cache:#?}");
    assert_eq!(cache.pool, ssd_pool.name);
    assert_eq!(cache.mount_point, "/var/cache");
    let mounts = shell.run_ok("cat /proc/mounts").unwrap();
    assert!(
        mounts
            .lines()
            .any(|l| l.split(' ').nth(1) == Some("/var/cache")),
        "{mounts}"
    );

    // Volumes on each kind, with data.
    let web: Volume = storage(&mut shell, &format!("create-volume web {GIB} ssd"));
    let backup: Volume = storage(&mut shell, &format!("create-volume backup {GIB} hdd"));
    assert_eq!((web.pool.as_str(), web.size), (ssd_pool.name.as_str(), GIB));
    assert_eq!(
        (backup.pool.as_str(), backup.size),
        (hdd_pool.name.as_str(), GIB)
    );
    for v in [&web, &backup] {
        shell
            .run_ok(&format!("echo kept-{} > {}/file && sync", v.name, v.path))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // Creating it again with the same size is a success, with another size a refusal.
    let again: Volume = storage(&mut shell, &format!("create-volume web {GIB} ssd"));
    assert_eq!(again.path, web.path);
    let exists = storage_refused(&mut shell, &format!("create-volume web {} ssd", 2 * GIB));
    assert!(exists.contains("Exists"), "{exists}");

    // Bad input changes nothing.
    let bad = storage_refused(&mut shell, "create-volume ../etc 1024 ssd");
    assert!(bad.contains("InvalidName"), "{bad}");
    let reserved = storage_refused(&mut shell, "create-volume zos-cache 1024 ssd");
    assert!(reserved.contains("InvalidName"), "{reserved}");
    let big = storage_refused(&mut shell, &format!("create-volume huge {} hdd", 9 * GIB));
    assert!(big.contains("NoSpace"), "{big}");
    let volumes: Vec<Volume> = storage(&mut shell, "volumes");
    let names: Vec<&str> = volumes.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, vec!["backup", "web"]);

    // Reboot: the same identity, pools, volumes and data.
    let second = vm
        .reboot(&mut shell, BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        second.node_key, first.node_key,
        "identity lost across a reboot"
    );
    let after: Vec<Pool> = storage(&mut shell, "pools");
    let mut before_names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
    let mut after_names: Vec<&str> = after.iter().map(|p| p.name.as_str()).collect();
    before_names.sort();
    after_names.sort();
    assert_eq!(after_names, before_names, "pools changed across a reboot");
    let volumes: Vec<Volume> = storage(&mut shell, "volumes");
    assert_eq!(volumes.len(), 2, "{volumes:#?}");
    for v in [&web, &backup] {
        let kept = volumes
            .iter()
            .find(|k| k.name == v.name)
            .unwrap_or_else(|| panic!("{} lost: {volumes:#?}", v.name));
        assert_eq!((kept.size, &kept.pool), (v.size, &v.pool));
        let data = shell.run_ok(&format!("cat {}/file", v.path)).unwrap();
        assert_eq!(data.trim(), format!("kept-{}", v.name));
    }

    // Clean shutdown; the farmer's disk was never written; both pools check clean.
    let status = vm
        .shutdown(&mut shell, SHUTDOWN_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "QEMU exited with {status}");
    drop(shell);
    drop(vm);
    assert_eq!(
        sha256(foreign.path()),
        foreign_sum,
        "the foreign disk changed"
    );
    for (what, disk) in [("SSD", &ssd), ("HDD", &hdd)] {
        let report = disk
            .btrfs_check()
            .unwrap_or_else(|e| panic!("{what} pool after shutdown: {e}"));
        assert!(report.contains("found"), "{what}: {report}");
    }
}
