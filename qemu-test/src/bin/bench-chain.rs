//! bench-chain: how long a booted node takes to get itself onto TFChain, against the floor of a
//! farmer doing the simplest comparable work with `zosctl`.
//!
//! One local chain (the real runtime under chopsticks) and the dev activation service for the
//! whole run, reachable from the guest only through QEMU guestfwd rules.
//!
//! - node: N boots (default 3, `--runs N`), each with a fresh empty SSD (so a fresh identity that
//!   must be funded, accept the terms, create its twin and its node); the time is the host wall
//!   clock between the `ZOS READY` and `ZOS REGISTERED` lines on the console;
//! - floor: N times, a fresh key funded by //Alice (not timed), then `zosctl twin create`
//!   (accept_tc + create_twin) and `zosctl farm create` (create_farm), timed together on the host,
//!   process start and chain connection included.
//!
//! Prints every sample, the medians and the ratio node/floor. Uses only temp files; never writes
//! to out/image. `make bench-chain` runs it (it needs `target/debug/zosctl`).

use std::io::Read;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use qemu_test::chain::{LocalGrid, Zosctl, FUNDER};
use qemu_test::{Disk, DiskKind, ImageDir, PvhImage, Vm};

const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
const REGISTER_TIMEOUT: Duration = Duration::from_secs(180);
/// What the runtime requires of a node: > 2 GiB memory, >= 100 GiB SSD (sparse file).
const MEMORY_MB: u32 = 3072;
const SSD_BYTES: u64 = 120 << 30;
/// What the floor's fresh key gets from //Alice before it is timed.
const FLOOR_FUNDS: &str = "1000000000000";

fn main() -> Result<()> {
    let runs = parse_runs()?;
    let image = ImageDir::locate().pvh()?;
    let grid = LocalGrid::start()?;
    let zosctl = grid.zosctl()?;
    let farm_id = zosctl.farmer("bench-farm")?;
    let work = tempfile::Builder::new().prefix("bench-chain-").tempdir()?;
    println!(
        "local chain {} (farm {farm_id}), activation service on 127.0.0.1:{}",
        grid.chain_url(),
        grid.activation_port()
    );

    let mut node = Vec::new();
    let mut floor = Vec::new();
    for i in 1..=runs {
        let n = register_once(
            &grid,
            &image,
            farm_id,
            &work.path().join(format!("ssd-{i}.raw")),
        )?;
        println!(
            "run {i}/{runs}: node  READY->REGISTERED {:>6} ms (READY at {} ms, node {})",
            n.ms, n.ready_ms, n.node_id
        );
        node.push(n.ms as f64);
        let f = floor_once(&zosctl, &work.path().join(format!("floor-{i}.seed")), i)?;
        println!("run {i}/{runs}: floor twin create + farm create {f:>6} ms");
        floor.push(f as f64);
    }
    let node_median = median(&node);
    let floor_median = median(&floor);
    println!();
    println!("median node READY->REGISTERED: {node_median:.0} ms ({runs} boots; activation transfer, accept_tc, create_twin, create_node, each awaited to finality)");
    println!("median floor (zosctl):         {floor_median:.0} ms ({runs} runs; accept_tc, create_twin, create_farm, two process starts)");
    println!(
        "ratio node/floor:              {:.2}",
        node_median / floor_median
    );
    Ok(())
}

struct NodeSample {
    ms: u128,
    ready_ms: u128,
    node_id: u32,
}

/// Boots a fresh node (new empty SSD) and times READY → REGISTERED on the host.
fn register_once(
    grid: &LocalGrid,
    image: &PvhImage,
    farm_id: u32,
    ssd_path: &std::path::Path,
) -> Result<NodeSample> {
    let ssd = Disk::create_sparse(ssd_path, SSD_BYTES)?;
    let mut vm = Vm::builder()
        .name("bench-chain")
        .pvh(image.clone())
        .memory_mb(MEMORY_MB)
        .disk(ssd.path(), DiskKind::ScsiHd { rotation_rate: 1 })
        .user_net(grid.user_net())
        .extra_cmdline(&grid.cmdline(farm_id))
        .spawn()?;
    let ready = vm.wait_ready(BOOT_TIMEOUT)?;
    let reg = vm.wait_registered(REGISTER_TIMEOUT)?;
    let sample = NodeSample {
        ms: reg
            .host_elapsed
            .saturating_sub(ready.host_elapsed)
            .as_millis(),
        ready_ms: ready.host_elapsed.as_millis(),
        node_id: reg.node_id,
    };
    drop(vm);
    std::fs::remove_file(ssd_path).with_context(|| format!("removing {}", ssd_path.display()))?;
    Ok(sample)
}

/// A fresh key funded by //Alice (not timed), then `twin create` + `farm create` (timed).
fn floor_once(zosctl: &Zosctl, seed_path: &std::path::Path, i: u32) -> Result<u128> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("reading /dev/urandom")?;
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(seed_path, hex).with_context(|| format!("writing {}", seed_path.display()))?;
    let seed_arg = seed_path.display().to_string();
    let balance = zosctl.run(&["--seed-file", &seed_arg, "balance"])?;
    let Some(account) = balance.get("account").and_then(|a| a.as_str()) else {
        bail!("`zosctl balance` printed no account: {balance}");
    };
    zosctl.run(&[
        "--key",
        FUNDER,
        "transfer",
        "--to",
        account,
        "--amount",
        FLOOR_FUNDS,
    ])?;
    let started = Instant::now();
    zosctl.run_id(&["--seed-file", &seed_arg, "twin", "create"], "id")?;
    let name = format!("floor-{}-{i}", std::process::id());
    zosctl.run_id(&["--seed-file", &seed_arg, "farm", "create", &name], "id")?;
    Ok(started.elapsed().as_millis())
}

fn parse_runs() -> Result<u32> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(3),
        [flag, n] if flag == "--runs" => match n.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => bail!("--runs takes a positive number, not {n:?}"),
        },
        _ => bail!("usage: bench-chain [--runs N]"),
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
