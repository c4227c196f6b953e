//! storaged's storage core on real btrfs pools on loop devices (root): discovery and pools,
//! foreign disks left alone, volumes with real data up to the quota, virtual disks, allocation
//! and refusals, restart and remount.

use std::fs;
use std::io::Write;
use std::path::Path;

use storaged::btrfs;
use storaged::discovery::DiskState;
use storaged::names::NameError;
use storaged::pool::Kind;
use storaged::store::{Storage, StoreError};
use zos_disks::btrfs_label;
use zos_testkit::disks::{entries, Env, MIB};

fn label_of(dev: &Path) -> Option<String> {
    let mut head = vec![0u8; 0x20000];
    let mut f = fs::File::open(dev).expect("open");
    std::io::Read::read_exact(&mut f, &mut head).expect("read");
    btrfs_label(&head)
}

/// Writes 1 MiB chunks into `path` until the filesystem refuses; returns (bytes written, error).
fn fill(path: &Path, limit: u64) -> (u64, std::io::Error) {
    let chunk = vec![0xA5u8; MIB as usize];
    let mut f = fs::File::create(path).expect("create data file");
    let mut written = 0u64;
    loop {
        assert!(
            written <= limit,
            "wrote {written} bytes past the {limit}-byte limit"
        );
        if let Err(e) = f.write_all(&chunk).and_then(|_| f.sync_data()) {
            return (written, e);
        }
        written += MIB;
    }
}

#[test]
fn pools_volumes_vdisks_and_restart() {
    let mut env = Env::new();
    let ssd_small = env.add_disk(512 * MIB, false);
    let ssd_big = env.add_disk(768 * MIB, false);
    let hdd = env.add_disk(512 * MIB, true);
    let foreign = env.add_disk(256 * MIB, false);
    env.write_at(foreign, 4096, b"somebody else's data");
    env.write_at(foreign, 200 * MIB, b"more of it");
    let foreign_sum = env.loops[foreign].sha256();

    // Discovery sees three empty disks and one foreign.
    // (Discovery sorts by name; look disks up by device node.)
    let disks = env.discovery().disks().expect("discovery");
    assert_eq!(disks.len(), 4);
    let disk = |index: usize| {
        disks
            .iter()
            .find(|d| d.path == env.loops[index].dev)
            .expect("disk discovered")
    };
    assert!(matches!(disk(foreign).state, DiskState::Foreign { .. }));
    assert_eq!(disk(hdd).state, DiskState::Empty);
    assert!(disk(hdd).rotational);
    assert_eq!(disk(hdd).model, "LOOP DISK");

    let storage = Storage::start(&env.discovery(), &env.mnt()).expect("start");
    let pools = storage.pools().expect("pools");
    assert_eq!(pools.len(), 3, "{pools:?}");
    for (index, kind) in [
        (ssd_small, Kind::Ssd),
        (ssd_big, Kind::Ssd),
        (hdd, Kind::Hdd),
    ] {
        let dev = &env.loops[index].dev;
        let pool = pools
            .iter()
            .find(|p| &p.pool.device == dev)
            .unwrap_or_else(|| panic!("no pool on {}", dev.display()));
        assert_eq!(pool.pool.kind, kind);
        assert!(pool.pool.name.starts_with(&format!("zos-pool-{kind}-")));
        assert_eq!(label_of(dev).as_deref(), Some(pool.pool.name.as_str()));
        assert_eq!(pool.pool.path, env.mnt().join(&pool.pool.name));
        assert!(btrfs::is_subvolume(&pool.pool.path.join("vdisks")));
    }
    let report = storage
        .disks()
        .iter()
        .find(|d| d.info.path == env.loops[foreign].dev)
        .expect("foreign disk reported");
    assert!(report.pool.is_none());
    assert!(report.reason.contains("wipe"), "{}", report.reason);
    assert_eq!(
        env.loops[foreign].sha256(),
        foreign_sum,
        "foreign disk changed"
    );

    let totals = storage.totals().expect("totals");
    assert_eq!(totals.sru_total, 1280 * MIB);
    assert_eq!(totals.hru_total, 512 * MIB);
    assert_eq!((totals.sru_used, totals.hru_used), (0, 0));

    // SSD volumes go to the SSD pool with the most room, HDD volumes to the HDD pool.
    let pool_on = |disk: usize| {
        pools
            .iter()
            .find(|p| p.pool.device == env.loops[disk].dev)
            .expect("a pool on the disk")
            .pool
            .name
            .clone()
    };
    let big_pool = pool_on(ssd_big);
    let v = storage
        .create_volume("data", 64 * MIB, Kind::Ssd)
        .expect("create");
    assert_eq!(v.pool, big_pool);
    assert_eq!(v.size, 64 * MIB);
    let h = storage
        .create_volume("zdb1", 32 * MIB, Kind::Hdd)
        .expect("create hdd");
    assert_eq!(h.kind, Kind::Hdd);

    // Idempotent create; another size or kind is an error.
    assert_eq!(
        storage
            .create_volume("data", 64 * MIB, Kind::Ssd)
            .expect("again")
            .path,
        v.path
    );
    assert!(matches!(
        storage.create_volume("data", 65 * MIB, Kind::Ssd),
        Err(StoreError::Exists(_))
    ));
    assert!(matches!(
        storage.create_volume("data", 64 * MIB, Kind::Hdd),
        Err(StoreError::Exists(_))
    ));

    // A volume on a named pool: there, or a clear refusal that creates nothing.
    let small_pool = pool_on(ssd_small);
    let on = storage
        .create_volume_on(&small_pool, "pinned", 16 * MIB)
        .expect("create on a pool");
    assert_eq!((on.pool.as_str(), on.size), (small_pool.as_str(), 16 * MIB));
    assert_eq!(
        storage
            .create_volume_on(&small_pool, "pinned", 16 * MIB)
            .expect("again")
            .path,
        on.path
    );
    assert!(matches!(
        storage.create_volume_on(&big_pool, "pinned", 16 * MIB),
        Err(StoreError::Exists(_))
    ));
    assert!(matches!(
        storage.create_volume_on("zos-pool-hdd-00000000", "elsewhere", MIB),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        storage.create_volume_on(&small_pool, "too-big", 600 * MIB),
        Err(StoreError::NoSpace(_))
    ));
    assert!(storage.volume_usage("too-big").is_err());
    assert!(storage.delete_volume("pinned").expect("delete"));

    // Bad names never reach the filesystem.
    for bad in [
        "",
        "../x",
        "a/b",
        "..",
        "x.partial",
        "vdisks",
        "-x",
        &"n".repeat(storaged::names::MAX_LEN + 1),
    ] {
        let err = storage
            .create_volume(bad, MIB, Kind::Ssd)
            .expect_err("bad name accepted");
        assert!(matches!(err, StoreError::InvalidName(_)), "{bad}: {err}");
        assert!(matches!(
            storage.create_vdisk(bad, MIB),
            Err(StoreError::InvalidName(_))
        ));
    }
    assert!(matches!(
        storage.create_volume("zero", 0, Kind::Ssd),
        Err(StoreError::InvalidArgument(_))
    ));

    // Too big for any pool: refused with the pool's numbers, nothing written.
    let before: Vec<Vec<String>> = pools.iter().map(|p| entries(&p.pool.path)).collect();
    let err = storage
        .create_volume("huge", 2048 * MIB, Kind::Ssd)
        .expect_err("huge fits?");
    let text = err.to_string();
    assert!(matches!(err, StoreError::NoSpace(_)), "{text}");
    assert_eq!(
        text,
        format!("pool {big_pool} has 704 MiB free, volume huge needs 2 GiB")
    );
    let after: Vec<Vec<String>> = pools.iter().map(|p| entries(&p.pool.path)).collect();
    assert_eq!(before, after);

    // Real data up to the limit: the quota refuses (EDQUOT), not the disk.
    let (written, error) = fill(&v.path.join("blob"), 64 * MIB);
    assert_eq!(error.raw_os_error(), Some(libc::EDQUOT), "{error}");
    assert!(written >= 32 * MIB, "only {written} bytes fit in 64 MiB");
    let usage = storage.volume_usage("data").expect("usage");
    assert!(usage.used >= written, "{} < {written}", usage.used);
    assert!(usage.used <= 64 * MIB + MIB, "{}", usage.used);

    // Resize: not below usage, grow within the pool, not beyond it.
    assert!(matches!(
        storage.resize_volume("data", 16 * MIB),
        Err(StoreError::InvalidArgument(_))
    ));
    let grown = storage.resize_volume("data", 128 * MIB).expect("grow");
    assert_eq!(grown.size, 128 * MIB);
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(v.path.join("blob"))
        .expect("reopen");
    f.write_all(&vec![1u8; 8 * MIB as usize])
        .and_then(|_| f.sync_data())
        .expect("more data fits after grow");
    drop(f);
    assert!(matches!(
        storage.resize_volume("data", 4096 * MIB),
        Err(StoreError::NoSpace(_))
    ));
    assert!(matches!(
        storage.resize_volume("nope", MIB),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        storage.volume_usage("nope"),
        Err(StoreError::NotFound(_))
    ));
    let shrunk = storage
        .resize_volume("data", usage.used + 16 * MIB)
        .expect("shrink above usage");
    assert_eq!(shrunk.size, usage.used + 16 * MIB);

    // Virtual disks: sparse, NOCOW, grow only.
    let d = storage.create_vdisk("vm1", 100 * MIB).expect("vdisk");
    assert_eq!(d.size, 100 * MIB);
    assert!(d.used < MIB, "not sparse: {}", d.used);
    let file = fs::File::open(&d.path).expect("open vdisk");
    assert!(btrfs::is_nocow(&file, &d.path).expect("flags"));
    drop(file);
    assert_eq!(
        storage.create_vdisk("vm1", 100 * MIB).expect("again").path,
        d.path
    );
    assert!(matches!(
        storage.create_vdisk("vm1", 50 * MIB),
        Err(StoreError::Exists(_))
    ));
    assert!(matches!(
        storage.resize_vdisk("vm1", 50 * MIB),
        Err(StoreError::InvalidArgument(_))
    ));
    assert_eq!(
        storage.resize_vdisk("vm1", 200 * MIB).expect("grow").size,
        200 * MIB
    );
    assert!(matches!(
        storage.create_vdisk("vm2", 4096 * MIB),
        Err(StoreError::NoSpace(_))
    ));
    assert_eq!(storage.vdisks().expect("list").len(), 1);

    let totals = storage.totals().expect("totals");
    assert_eq!(totals.sru_used, shrunk.size + 200 * MIB);
    assert_eq!(totals.hru_used, 32 * MIB);

    // Delete is idempotent.
    assert!(storage.delete_volume("zdb1").expect("delete"));
    assert!(!storage.delete_volume("zdb1").expect("delete again"));
    assert!(storage.delete_vdisk("vm1").expect("delete vdisk"));
    assert!(!storage.delete_vdisk("vm1").expect("again"));
    assert!(matches!(
        storage.delete_volume("../etc"),
        Err(StoreError::InvalidName(NameError::BadCharacter(_)))
    ));
    storage.create_vdisk("keep", 10 * MIB).expect("vdisk");
    let names: Vec<String> = storage
        .volumes()
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, vec!["data"]);

    // Restart while mounted: same pools, same volumes.
    let pool_names: Vec<String> = pools.iter().map(|p| p.pool.name.clone()).collect();
    drop(storage);
    let storage = Storage::start(&env.discovery(), &env.mnt()).expect("restart");
    let again: Vec<String> = storage
        .pools()
        .expect("pools")
        .into_iter()
        .map(|p| p.pool.name)
        .collect();
    assert_eq!(again, pool_names);
    assert_eq!(storage.volumes().expect("list").len(), 1);

    // Reboot-like: unmounted, then started again: remounted, not re-formatted, data kept.
    drop(storage);
    env.mounts.unmount_all();
    assert!(env.mounts.under().is_empty());
    let storage = Storage::start(&env.discovery(), &env.mnt()).expect("after unmount");
    let again: Vec<String> = storage
        .pools()
        .expect("pools")
        .into_iter()
        .map(|p| p.pool.name)
        .collect();
    assert_eq!(again, pool_names);
    let v = storage.volume_usage("data").expect("kept");
    assert_eq!(v.size, shrunk.size);
    assert!(fs::metadata(v.path.join("blob")).expect("data kept").len() >= written);
    assert_eq!(storage.vdisks().expect("vdisks")[0].name, "keep");
    assert_eq!(
        env.loops[foreign].sha256(),
        foreign_sum,
        "foreign disk changed"
    );
}

#[test]
fn interrupted_creations_are_removed_at_start() {
    let mut env = Env::new();
    env.add_disk(256 * MIB, false);
    let storage = Storage::start(&env.discovery(), &env.mnt()).expect("start");
    let pool = storage.pools().expect("pools").remove(0).pool;
    storage
        .create_volume("done", 8 * MIB, Kind::Ssd)
        .expect("create");
    // What a crash mid-creation leaves behind.
    btrfs::create_subvolume(&pool.path.join("half.partial")).expect("subvol");
    btrfs::create_subvolume(&pool.path.join("limited.partial")).expect("subvol");
    btrfs::set_limit(&pool.path.join("limited.partial"), 8 * MIB).expect("limit");
    fs::write(pool.vdisks().join("vm.partial"), b"").expect("file");
    let names: Vec<String> = storage
        .volumes()
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, vec!["done"], "partial volumes are never reported");
    drop(storage);

    let storage = Storage::start(&env.discovery(), &env.mnt()).expect("restart");
    assert_eq!(entries(&pool.path), vec!["done", "vdisks"]);
    assert!(entries(&pool.vdisks()).is_empty());
    assert_eq!(storage.volumes().expect("list").len(), 1);
}

#[test]
fn foreign_btrfs_and_mounted_disks_are_left_alone() {
    let mut env = Env::new();
    // A btrfs of someone else, even one labelled like the cache disk of early builds.
    let cache = env.add_disk(256 * MIB, false);
    let mounted = env.add_disk(256 * MIB, false);
    let empty = env.add_disk(256 * MIB, true);
    for (index, label) in [(cache, "zos-cache"), (mounted, "boot")] {
        let out = std::process::Command::new("mkfs.btrfs")
            .args(["-q", "-L", label])
            .arg(&env.loops[index].dev)
            .output()
            .expect("mkfs.btrfs");
        assert!(out.status.success(), "{out:?}");
    }
    // The "boot medium": mounted by someone else, under the guarded mount root.
    let other = env.mnt().join("other");
    fs::create_dir_all(&other).expect("dir");
    nix::mount::mount(
        Some(&env.loops[mounted].dev),
        &other,
        Some("btrfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .expect("mount");
    let cache_sum = env.loops[cache].sha256();

    let storage = Storage::start(&env.discovery(), &env.mnt()).expect("start");
    let state = |index: usize| {
        storage
            .disks()
            .iter()
            .find(|d| d.info.path == env.loops[index].dev)
            .expect("disk reported")
            .info
            .state
            .clone()
    };
    assert!(
        matches!(state(cache), DiskState::Foreign { ref what } if what.contains("zos-cache")),
        "{:?}",
        state(cache)
    );
    assert_eq!(state(mounted), DiskState::InUse);
    assert_eq!(state(empty), DiskState::Empty);
    let pools = storage.pools().expect("pools");
    assert_eq!(pools.len(), 1);
    assert_eq!(pools[0].pool.kind, Kind::Hdd);
    assert_eq!(label_of(&env.loops[mounted].dev).as_deref(), Some("boot"));
    assert_eq!(env.loops[cache].sha256(), cache_sum, "foreign disk changed");
}

const GIB: u64 = 1024 * MIB;

#[test]
fn cache_lives_on_the_ssd_pool_grows_and_survives_a_restart() {
    let mut env = Env::new();
    let hdd = env.add_disk(8 * GIB, true);
    let ssd = env.add_disk(8 * GIB, false);

    let mut storage = Storage::start(&env.discovery(), &env.mnt()).expect("start");
    let cache = storage.mount_cache(&env.cache_mount()).expect("cache");
    assert!(cache.persistent());
    assert_eq!(cache.size, storaged::cache::INITIAL_SIZE);
    let pools = storage.pools().expect("pools");
    let on = |index: usize| {
        pools
            .iter()
            .find(|p| p.pool.device == env.loops[index].dev)
            .expect("pool")
            .clone()
    };
    assert_eq!(cache.pool.as_deref(), Some(on(ssd).pool.name.as_str()));
    // The cache's limit is allocated space of its pool (system-reserved SRU), not a volume.
    assert_eq!(on(ssd).allocated, storaged::cache::INITIAL_SIZE);
    assert_eq!(on(hdd).allocated, 0);
    assert_eq!(
        storage.totals().expect("totals").sru_used,
        storaged::cache::INITIAL_SIZE
    );
    assert!(storage.volumes().expect("volumes").is_empty());
    assert!(matches!(
        storage.create_volume("zos-cache", MIB, Kind::Ssd),
        Err(StoreError::InvalidName(NameError::Reserved(_)))
    ));
    fs::write(env.cache_mount().join("seed"), b"node identity").expect("write in the cache");

    // Growth: with a small limit nearly used, one check grows it by a step.
    let subvolume = on(ssd).pool.path.join(storaged::names::CACHE);
    btrfs::set_limit(&subvolume, 8 * MIB).expect("small limit");
    assert_eq!(
        storage.grow_cache().expect("check"),
        None,
        "not used enough"
    );
    fs::write(env.cache_mount().join("state"), vec![7u8; 6 * MIB as usize]).expect("fill");
    assert_eq!(
        storage.grow_cache().expect("check"),
        Some(8 * MIB + storaged::cache::GROW_STEP)
    );

    // A restart of storaged with the cache still mounted keeps it.
    drop(storage);
    let mut storage = Storage::start(&env.discovery(), &env.mnt()).expect("restart");
    let again = storage
        .mount_cache(&env.cache_mount())
        .expect("cache again");
    assert_eq!(again.pool, cache.pool);

    // A reboot: nothing mounted, the same pool and data come back.
    drop(storage);
    env.mounts.unmount_all();
    let mut storage = Storage::start(&env.discovery(), &env.mnt()).expect("after reboot");
    let after = storage
        .mount_cache(&env.cache_mount())
        .expect("cache after reboot");
    assert_eq!(after.pool, cache.pool);
    assert_eq!(after.size, 8 * MIB + storaged::cache::GROW_STEP);
    assert_eq!(
        fs::read(env.cache_mount().join("seed")).expect("seed kept"),
        b"node identity"
    );
}

#[test]
fn cache_falls_back_to_an_hdd_pool_then_to_a_tmpfs() {
    let mut env = Env::new();
    env.add_disk(8 * GIB, true);
    let mut storage = Storage::start(&env.discovery(), &env.mnt()).expect("start");
    let cache = storage.mount_cache(&env.cache_mount()).expect("cache");
    assert!(cache.persistent());
    assert_eq!(storage.totals().expect("totals").hru_used, cache.size);
    drop(storage);
    env.mounts.unmount_all();

    let none = Env::new();
    let mut storage = Storage::start(&none.discovery(), &none.mnt()).expect("start");
    let cache = storage
        .mount_cache(&none.cache_mount())
        .expect("tmpfs cache");
    assert!(!cache.persistent());
    assert_eq!(cache.size, 0);
    let fstype = fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .find(|l| l.split_whitespace().nth(4) == none.cache_mount().to_str())
        .and_then(|l| {
            l.split(" - ")
                .nth(1)
                .map(|t| t.split(' ').next().unwrap_or("").to_string())
        });
    assert_eq!(fstype.as_deref(), Some("tmpfs"));
}
