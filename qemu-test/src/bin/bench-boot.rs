//! bench-boot: how long the node takes to boot under QEMU (TCG), against a baseline of the same
//! kernel with a tiny busybox initramfs that only prints a marker and powers off.
//!
//! Prints each boot's time (host wall clock from QEMU spawn to the marker, and the guest's own
//! boot_ms), the medians, the ratio ours/baseline (goal: at most 1.5), the initramfs size and the
//! summed resident memory of zos-init and the daemons at idle. Uses only temp files; never writes
//! to out/image. `make bench-boot` runs it; `--runs N` changes the number of boots (default 5).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use qemu_test::baseline::{self, BASELINE_MARKER};
use qemu_test::image::workspace_root;
use qemu_test::zinit;
use qemu_test::{Disk, DiskKind, ImageDir, PvhImage, Shell, UserNet, Vm};

const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
const IDLE_SETTLE: Duration = Duration::from_secs(5);
const RATIO_GOAL: f64 = 1.5;
const DAEMONS: [&str; 5] = ["busd", "noded", "networkd", "storaged", "provisiond"];

struct Sample {
    host_ms: u128,
    guest_ms: u64,
}

fn main() -> Result<()> {
    let runs = parse_runs()?;
    let image = ImageDir::locate().pvh()?;
    let work = tempfile::Builder::new().prefix("bench-boot-").tempdir()?;

    let busybox = baseline::find_busybox(&workspace_root().join("out/cache"), work.path())?;
    let base_initrd = work.path().join("baseline.cpio");
    let base_size = baseline::write_initramfs(&busybox, &base_initrd)?;
    let base_image = PvhImage {
        kernel: image.kernel.clone(),
        initrd: base_initrd,
        cmdline: image.cmdline.clone(),
    };

    let compressed = std::fs::metadata(&image.initrd)
        .with_context(|| format!("reading {}", image.initrd.display()))?
        .len();
    let uncompressed = zstd_size(&image.initrd)?;

    // Warm-up boot (not timed): makes the pool and cache the timed boots reuse, so they measure a
    // normal boot rather than first-boot formatting, and measures memory at idle.
    // Sparse, and big enough for the pool storaged makes and the 5 GiB cache it puts there.
    let cache = Disk::create_sparse(&work.path().join("ssd.raw"), 16 << 30)?;
    let rss = warm_up(&image, &cache)?;

    let mut base = Vec::new();
    let mut ours = Vec::new();
    for i in 1..=runs {
        let b = boot_baseline(&base_image)?;
        println!(
            "run {i}/{runs}: baseline {:>6} ms (guest {:>6} ms)",
            b.host_ms, b.guest_ms
        );
        base.push(b);
        let o = boot_ours(&image, &cache)?;
        println!(
            "run {i}/{runs}: zos      {:>6} ms (guest {:>6} ms)",
            o.host_ms, o.guest_ms
        );
        ours.push(o);
    }

    let base_host = median(base.iter().map(|s| s.host_ms as f64));
    let ours_host = median(ours.iter().map(|s| s.host_ms as f64));
    let base_guest = median(base.iter().map(|s| s.guest_ms as f64));
    let ours_guest = median(ours.iter().map(|s| s.guest_ms as f64));
    let ratio = ours_host / base_host;
    println!();
    println!("kernel:            {}", image.kernel.display());
    println!("command line:      {}", image.cmdline);
    println!("median baseline:   {base_host:.0} ms host, {base_guest:.0} ms guest ({runs} boots, initramfs {base_size} bytes)");
    println!("median zos:        {ours_host:.0} ms host, {ours_guest:.0} ms guest ({runs} boots)");
    println!(
        "ratio zos/baseline: {ratio:.2} host ({:.2} guest); goal <= {RATIO_GOAL}: {}",
        ours_guest / base_guest,
        if ratio <= RATIO_GOAL {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "initramfs:         {} compressed ({:.1} MiB), {} uncompressed ({:.1} MiB)",
        compressed,
        compressed as f64 / 1048576.0,
        uncompressed,
        uncompressed as f64 / 1048576.0
    );
    match rss {
        Ok(rss) => {
            let total: u64 = rss.iter().map(|(_, kb)| kb).sum();
            let parts: Vec<String> = rss.iter().map(|(n, kb)| format!("{n} {kb}")).collect();
            println!(
                "idle RSS:          {total} kB total ({} kB)",
                parts.join(", ")
            );
        }
        Err(e) => println!("idle RSS:          not measured: {e:#}"),
    }
    Ok(())
}

fn parse_runs() -> Result<usize> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(5),
        [flag, n] if flag == "--runs" => {
            let n: usize = n.parse().with_context(|| format!("--runs {n}"))?;
            if n == 0 {
                bail!("--runs must be at least 1");
            }
            Ok(n)
        }
        _ => bail!("usage: bench-boot [--runs N]"),
    }
}

fn boot_baseline(image: &PvhImage) -> Result<Sample> {
    let mut vm = Vm::builder()
        .name("bench-baseline")
        .pvh(image.clone())
        .no_reboot()
        .spawn()?;
    let found = vm.wait_for(BASELINE_MARKER, BOOT_TIMEOUT)?;
    let host_ms = vm.started().elapsed().as_millis();
    let guest_ms = found
        .group("ms")
        .and_then(|m| m.parse().ok())
        .context("baseline marker without boot_ms")?;
    vm.wait_exit(Duration::from_secs(30))?;
    Ok(Sample { host_ms, guest_ms })
}

fn boot_ours(image: &PvhImage, cache: &Disk) -> Result<Sample> {
    let mut vm = Vm::builder()
        .name("bench-zos")
        .pvh(image.clone())
        .disk(cache.path(), DiskKind::Virtio)
        .user_net(UserNet::new())
        .extra_cmdline("farmer_id=1")
        .spawn()?;
    let ready = vm.wait_ready(BOOT_TIMEOUT)?;
    // Dropping the VM kills QEMU: btrfs (copy-on-write) comes back consistent on the next boot.
    Ok(Sample {
        host_ms: ready.host_elapsed.as_millis(),
        guest_ms: ready.guest_boot_ms,
    })
}

/// First boot on the empty disk; returns VmRSS (kB) of zos-init and each daemon at idle
/// (or why it could not be read), then shuts the node down.
fn warm_up(image: &PvhImage, cache: &Disk) -> Result<Result<Vec<(String, u64)>>> {
    let mut vm = Vm::builder()
        .name("bench-warmup")
        .pvh(image.clone())
        .disk(cache.path(), DiskKind::Virtio)
        .user_net(UserNet::new())
        .extra_cmdline("farmer_id=1 runmode=dev")
        .spawn()?;
    let ready = vm.wait_ready(BOOT_TIMEOUT)?;
    println!(
        "warm-up (first boot, makes the pool and the cache): {} ms host, {} ms guest",
        ready.host_elapsed.as_millis(),
        ready.guest_boot_ms
    );
    // Timings do not need the debug shell; memory does. Without it, say why and go on.
    let mut shell = match vm.shell(Duration::from_secs(90)) {
        Ok(shell) => shell,
        Err(e) => return Ok(Err(e.into())),
    };
    std::thread::sleep(IDLE_SETTLE);
    let rss = idle_rss(&mut shell);
    shell.send("zos-init shutdown")?;
    vm.wait_exit(Duration::from_secs(120))?;
    Ok(rss)
}

fn idle_rss(shell: &mut Shell) -> Result<Vec<(String, u64)>> {
    let mut rss = vec![("zos-init".to_string(), vm_rss_kb(shell, 1)?)];
    for daemon in DAEMONS {
        let status = shell.run(&format!("zos-init --json status {daemon}"))?;
        let pid = zinit::status(&status.stdout)
            .with_context(|| format!("`zos-init status {daemon}`: {}", status.stdout))?
            .pid as u32;
        rss.push((daemon.to_string(), vm_rss_kb(shell, pid)?));
    }
    Ok(rss)
}

/// VmRSS of `pid` in kB, read with shell builtins only (the image need not have `cat` or `grep`).
fn vm_rss_kb(shell: &mut Shell, pid: u32) -> Result<u64> {
    let out = shell.run(&format!(
        "while read k v u; do [ \"$k\" = VmRSS: ] && echo $v; done < /proc/{pid}/status"
    ))?;
    out.stdout
        .trim()
        .parse()
        .with_context(|| format!("VmRSS of pid {pid}: {:?}", out.stdout))
}

/// Size of the initramfs once `zstd -d` has unpacked it.
fn zstd_size(path: &std::path::Path) -> Result<u64> {
    let mut child = Command::new("zstd")
        .arg("-dc")
        .arg(path)
        .stdout(Stdio::piped())
        .spawn()
        .context("running zstd (`make deps` installs it)")?;
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    if let Some(mut out) = child.stdout.take() {
        loop {
            let n = out.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("zstd -dc {} failed: {status}", path.display());
    }
    Ok(total)
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
