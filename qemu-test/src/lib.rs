//! qemu-test: boots the node image under QEMU (TCG) and checks it from the host.
//!
//! Owns: spawning `qemu-system-x86_64` processes, their temp dirs (console logs, sockets, disk
//! files, copies of boot media) and reading their serial ports. It talks to the guest only through
//! the serial console (ttyS0, read-only: markers and logs) and the debug shell on ttyS1 (`runmode=dev`).
//! It must never write to the built image in `out/image` (UEFI media are copied first), never give a
//! guest network access beyond QEMU user networking with `restrict=on` and forwards to 127.0.0.1, and
//! never leave a QEMU process behind: every [`Vm`] kills its QEMU by pid on drop. The local chain
//! and activation service of [`chain`] listen on 127.0.0.1 only and stop on drop.
//!
//! Modules: [`baseline`] (the tiny initramfs the boot benchmark compares with), [`chain`] (a
//! local TFChain + activation service for registration tests, and `zosctl`), [`vm`] (builder + process), [`console`] (serial log and marker waiting), [`shell`]
//! (debug shell), [`disk`] (sparse raw disk files, `btrfs check`), [`image`] (locating `out/image`),
//! [`markers`] (the lines the node prints that tests wait for), [`scenario`] (timeouts and shell
//! steps every boot test shares), [`zinit`] (reading `zos-init --json` output).

pub mod baseline;
pub mod chain;
pub mod console;
pub mod disk;
pub mod image;
pub mod markers;
pub mod scenario;
pub mod shell;
pub mod vm;
pub mod zinit;

pub use console::Found;
pub use disk::{Disk, DiskKind};
pub use image::{ImageDir, PvhImage};
pub use markers::{Ready, Registered};
pub use shell::{CmdOutput, Shell};
pub use vm::{UserNet, Vm, VmBuilder, VmError, GUESTFWD_ADDR};

use std::sync::{Mutex, MutexGuard};

static ONE_VM_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The machine has 2 cores: the tests of one binary boot their VMs one at a time through this
/// lock, whatever `--test-threads` says (cargo runs test binaries one after another).
pub fn vm_slot() -> MutexGuard<'static, ()> {
    // A test that panicked while holding the lock has already cleaned up its VM.
    ONE_VM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}
