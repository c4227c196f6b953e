//! Whole-node boot tests: they boot the built image (`out/image`, or `$ZOS_IMAGE_DIR`) under
//! QEMU with TCG and need `qemu-system-x86_64`, OVMF and btrfs-progs (`make deps`) and the image
//! (`make image`). A missing piece fails the test with a message naming what provides it.
//!
//! The machine has 2 cores: the VMs in this file take turns through one lock, whatever
//! `--test-threads` says. One VM walks the node's life cycle (READY, bus, daemon restart,
//! reboot, shutdown), so the file boots four times in all (the life cycle twice, UEFI, and a
//! kernel that panics).

use std::time::Instant;

use qemu_test::scenario::{
    run_ok, wait_on_bus, BOOT_TIMEOUT, RESTART_TIMEOUT, SHELL_TIMEOUT, SHUTDOWN_TIMEOUT,
};
use qemu_test::zinit;
use qemu_test::{markers, vm_slot, Disk, DiskKind, ImageDir, Shell, UserNet, Vm};

/// A sparse SSD: storaged makes it a pool and puts the node's cache (5 GiB to start) on it.
const SSD_BYTES: u64 = 16 << 30;

fn pvh_image() -> qemu_test::PvhImage {
    ImageDir::locate().pvh().unwrap_or_else(|e| panic!("{e}"))
}

/// (a)-(e) One node through its life: the image as built (its own `cmdline`, plus a farmer id
/// and the debug shell) boots to READY by PVH, every daemon is on the bus, noded is restarted
/// after SIGKILL, a reboot keeps the node key, and a clean shutdown leaves the pool holding the
/// cache consistent.
#[test]
fn qemu_node_lifecycle_bus_restart_reboot_shutdown() {
    let _slot = vm_slot();
    let dir = tempfile::tempdir().unwrap();
    let ssd = Disk::create_sparse(&dir.path().join("ssd.raw"), SSD_BYTES).unwrap();
    let mut vm = Vm::builder()
        .name("lifecycle")
        .pvh(pvh_image())
        .disk(ssd.path(), DiskKind::ScsiHd { rotation_rate: 1 })
        .user_net(UserNet::new())
        .extra_cmdline("farmer_id=1 runmode=dev")
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let first = vm
        .wait_ready(BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "first boot: READY after {:?}, guest boot_ms={}, node={}",
        first.host_elapsed, first.guest_boot_ms, first.node_key
    );
    assert!(first.guest_boot_ms > 0);
    let mut shell = vm.shell(SHELL_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));

    // (b) Every daemon is Running and owns its bus name.
    let text = run_ok(&mut shell, "zos-init --json list");
    let list = zinit::services(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    for service in ["busd", "storaged", "noded", "networkd"] {
        assert_eq!(
            list.get(service).map(String::as_str),
            Some("Running"),
            "{service} in `zos-init list`: {list:?}"
        );
    }
    let names = run_ok(&mut shell, "zbusdebug list");
    for name in [
        zos_bus::node::NAME,
        zos_bus::network::NAME,
        zos_bus::storage::NAME,
    ] {
        assert!(
            names.lines().any(|l| l.trim() == name),
            "{name} missing from `zbusdebug list`:\n{names}"
        );
    }
    let tree = run_ok(
        &mut shell,
        &format!("zbusdebug tree {}", zos_bus::node::NAME),
    );
    assert!(
        tree.contains(zos_bus::node::PATH),
        "{} not in `zbusdebug tree {}`:\n{tree}",
        zos_bus::node::PATH,
        zos_bus::node::NAME
    );

    // (c) SIGKILL noded: zos-init restarts it under a new pid and it is back on the bus.
    let noded_pid = |shell: &mut Shell| {
        let text = run_ok(shell, "zos-init --json status noded");
        zinit::status(&text)
            .unwrap_or_else(|e| panic!("`zos-init status noded`: {e}: {text}"))
            .pid as u32
    };
    let old_pid = noded_pid(&mut shell);
    assert!(old_pid > 1, "noded pid {old_pid}");
    vm.mark();
    run_ok(&mut shell, &format!("kill -9 {old_pid}"));
    let deadline = Instant::now() + RESTART_TIMEOUT;
    let new_pid = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let found = vm
            .wait_for(&markers::service_running("noded"), left)
            .unwrap_or_else(|e| panic!("noded not restarted after kill -9 {old_pid}: {e}"));
        let pid: u32 = found
            .group("pid")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("bad running line {:?}", found.text));
        if pid != old_pid {
            break pid;
        }
    };
    wait_on_bus(&mut shell, zos_bus::node::NAME, RESTART_TIMEOUT);
    assert_eq!(noded_pid(&mut shell), new_pid);
    eprintln!("noded restarted: pid {old_pid} -> {new_pid}");

    // (d) Reboot: READY again with the same node key, read back from the cache.
    let asked = Instant::now();
    let second = vm
        .reboot(&mut shell, BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "reboot: READY {:?} after asking, guest boot_ms={}",
        asked.elapsed(),
        second.guest_boot_ms
    );
    assert_eq!(
        second.node_key, first.node_key,
        "node key changed across a reboot"
    );

    // (e) Clean shutdown: QEMU exits by itself and the pool holding the cache checks clean.
    let asked = Instant::now();
    let status = vm
        .shutdown(&mut shell, SHUTDOWN_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "shutdown: QEMU exited ({status}) {:?} after asking",
        asked.elapsed()
    );
    assert!(status.success(), "QEMU exited with {status}");
    drop(shell);
    drop(vm);
    let report = ssd
        .btrfs_check()
        .unwrap_or_else(|e| panic!("the SSD pool (holding the cache) after shutdown: {e}"));
    assert!(
        report.contains("found"),
        "unexpected btrfs check output:\n{report}"
    );
}

/// (f) OVMF boots zos.img (GPT, ESP with the UKI at /EFI/BOOT/BOOTX64.EFI) to READY.
#[test]
fn qemu_uefi_boot_reaches_ready() {
    let _slot = vm_slot();
    let image = ImageDir::locate()
        .uefi_disk()
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let ssd = Disk::create_sparse(&dir.path().join("ssd.raw"), SSD_BYTES).unwrap();
    let mut vm = Vm::builder()
        .name("uefi-ready")
        .uefi(&image)
        .disk(ssd.path(), DiskKind::ScsiHd { rotation_rate: 1 })
        .user_net(UserNet::new())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let ready = vm
        .wait_ready(BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "uefi boot: READY after {:?} on the host, guest boot_ms={}",
        ready.host_elapsed, ready.guest_boot_ms
    );
}

/// The harness notices a dead guest at once instead of waiting out the READY timeout: the image's
/// kernel with an initramfs that is not a cpio panics ("VFS: Unable to mount root fs").
#[test]
fn qemu_harness_reports_kernel_panic_before_timeout() {
    let _slot = vm_slot();
    let image = pvh_image();
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("not-a-cpio");
    std::fs::write(&bogus, "this is not an initramfs\n".repeat(64)).unwrap();
    let mut vm = Vm::builder()
        .name("panic")
        .pvh(qemu_test::PvhImage {
            initrd: bogus,
            ..image
        })
        .no_reboot()
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let err = vm
        .wait_ready(BOOT_TIMEOUT)
        .expect_err("a kernel without an initramfs cannot reach READY");
    assert!(
        matches!(
            err,
            qemu_test::VmError::KernelPanic { .. }
                | qemu_test::VmError::Console(qemu_test::console::ConsoleError::Closed { .. })
        ),
        "{err}"
    );
    assert!(
        started.elapsed() < BOOT_TIMEOUT / 2,
        "took {:?} to notice: {err}",
        started.elapsed()
    );
    eprintln!("noticed in {:?}: {err}", started.elapsed());
    vm.failure_expected();
}
