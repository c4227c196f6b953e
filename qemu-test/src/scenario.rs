//! What the boot tests share beyond the harness: how long a node gets for each step under TCG
//! on this machine kind (2 cores, no KVM for the node), and the few steps every scenario takes
//! in the debug shell, with panics that show what the node said (test code).

use std::time::{Duration, Instant};

use crate::Shell;

/// Boot to READY (a cold boot with an empty cache disk under TCG takes 20-60 s here).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
/// The debug shell answering after READY.
pub const SHELL_TIMEOUT: Duration = Duration::from_secs(90);
/// A clean power-off (every service stopped, pools unmounted).
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);
/// A crashed daemon restarted by the init and back on the bus.
pub const RESTART_TIMEOUT: Duration = Duration::from_secs(60);

pub const GIB: u64 = 1 << 30;

/// Runs `cmd` in the debug shell; its output, or a panic with what the shell said.
pub fn run_ok(shell: &mut Shell, cmd: &str) -> String {
    shell
        .run_ok(cmd)
        .unwrap_or_else(|e| panic!("in the debug shell: {e}", e = zos_base::Report(&e)))
}

/// Polls `zbusdebug list` until the bus name `name` is owned; the last listing.
pub fn wait_on_bus(shell: &mut Shell, name: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let out = run_ok(shell, "zbusdebug list");
        if out.lines().any(|l| l.trim() == name) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not on the bus after {timeout:?}; `zbusdebug list`:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
