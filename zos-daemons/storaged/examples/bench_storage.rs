//! `make bench-storage`: storaged's volume latency through the bus against the `btrfs` tool on
//! the same pool, and 1000 volumes created, listed and deleted.
//!
//! Runs as root on one 4 GiB sparse loop device with a private broker (busd from `make deps`);
//! build storaged first (`cargo build --release -p storaged`), this looks for it next to the
//! examples directory. Everything is cleaned up on exit, also on failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zos_bus::storage::{self, StorageProxy};
use zos_testkit::disks::{Env, MIB};
use zos_testkit::PrivateBus;

/// Create+delete pairs per method for the latency comparison.
const PAIRS: u32 = 50;
/// Volumes in the bulk run.
const BULK: u32 = 1000;

struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn btrfs(args: &[&str]) {
    let out = Command::new("btrfs")
        .args(args)
        .output()
        .expect("btrfs (btrfs-progs) runs");
    assert!(out.status.success(), "btrfs {args:?}: {out:?}");
}

fn per_op(total: Duration, n: u32) -> String {
    format!("{:.2} ms", total.as_secs_f64() * 1000.0 / f64::from(n))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let storaged: PathBuf = std::env::current_exe()
        .expect("own path")
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("storaged");
    assert!(
        storaged.is_file(),
        "{} is missing: build it first (cargo build --release -p storaged)",
        storaged.display()
    );
    let mut env = Env::new();
    env.add_disk(4096 * MIB, false);
    let bus = PrivateBus::start().expect("private bus");
    let _daemon = Daemon(
        Command::new(&storaged)
            .arg("--devices")
            .arg(env.devices_arg())
            .arg("--sys-root")
            .arg(env.sys())
            .arg("--mnt-root")
            .arg(env.mnt())
            .env(zos_bus::BUS_ADDRESS_ENV, bus.address())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("storaged starts"),
    );
    zos_bus::inspect::wait_for_owner(bus.address(), storage::NAME, Duration::from_secs(20))
        .await
        .expect("storaged ready");
    let conn = zos_bus::connect_to(bus.address()).await.expect("connect");
    let proxy = StorageProxy::new(&conn).await.expect("proxy");
    let pool = proxy.pools().await.expect("pools").remove(0);

    // Latency: create + delete through the bus.
    let start = Instant::now();
    for i in 0..PAIRS {
        let name = format!("lat{i}");
        proxy
            .create_volume(&name, MIB, "ssd")
            .await
            .expect("create");
        proxy.delete_volume(&name).await.expect("delete");
    }
    let bus_pairs = start.elapsed();

    // The same with the btrfs tool: subvolume create + qgroup limit + subvolume delete.
    let start = Instant::now();
    for i in 0..PAIRS {
        let path = format!("{}/cli{i}", pool.path);
        btrfs(&["subvolume", "create", &path]);
        btrfs(&["qgroup", "limit", "1M", &path]);
        btrfs(&["subvolume", "delete", &path]);
    }
    let cli_pairs = start.elapsed();

    // 1000 volumes.
    let start = Instant::now();
    for i in 0..BULK {
        proxy
            .create_volume(&format!("bulk{i}"), MIB, "ssd")
            .await
            .expect("create");
    }
    let created = start.elapsed();
    let start = Instant::now();
    let listed = proxy.volumes().await.expect("list");
    let list = start.elapsed();
    assert_eq!(listed.len(), BULK as usize);
    let start = Instant::now();
    for i in 0..BULK {
        proxy
            .delete_volume(&format!("bulk{i}"))
            .await
            .expect("delete");
    }
    let deleted = start.elapsed();

    println!("storaged benchmark (one 4 GiB loop-backed SSD pool)");
    println!(
        "  create+delete via bus (tf.zos.Storage1): {} per pair ({PAIRS} pairs)",
        per_op(bus_pairs, PAIRS)
    );
    println!(
        "  create+limit+delete via btrfs CLI:       {} per pair ({PAIRS} pairs)",
        per_op(cli_pairs, PAIRS)
    );
    println!(
        "  ratio bus/CLI: {:.2}",
        bus_pairs.as_secs_f64() / cli_pairs.as_secs_f64()
    );
    println!(
        "  {BULK} volumes: create {:.2} s ({} each), list {:.3} s, delete {:.2} s ({} each)",
        created.as_secs_f64(),
        per_op(created, BULK),
        list.as_secs_f64(),
        deleted.as_secs_f64(),
        per_op(deleted, BULK)
    );
}
