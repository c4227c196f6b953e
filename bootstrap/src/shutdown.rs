//! The end of a PID 1's life, after the supervisor has stopped every service: kill what is left,
//! sync, unmount everything (read-only remount of what stays busy) and reboot(2).
//!
//! Only called when the init is PID 1; a plain supervisor just exits.

use std::time::Duration;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{sync, Pid};

use crate::supervisor::Action;

/// Mount points that must not be unmounted before the end (the kernel needs them to the last).
const KEEP: &[&str] = &["/", "/proc", "/sys", "/dev"];

/// Kills every remaining process, syncs, unmounts and reboots or powers off. Does not return.
pub fn finish(action: Action) -> ! {
    println!("zos-init: sending SIGTERM to all remaining processes");
    // pid -1: every process but ourselves.
    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
    std::thread::sleep(Duration::from_secs(2));
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    std::thread::sleep(Duration::from_millis(200));
    println!("zos-init: syncing disks");
    sync();
    unmount_all();
    sync();
    let mode = match action {
        Action::Reboot => RebootMode::RB_AUTOBOOT,
        Action::PowerOff | Action::Exit => RebootMode::RB_POWER_OFF,
    };
    println!(
        "zos-init: {}",
        if mode == RebootMode::RB_AUTOBOOT {
            "rebooting"
        } else {
            "powering off"
        }
    );
    match reboot(mode) {
        Err(e) => {
            eprintln!(
                "zos-init: reboot(2) failed: {e}; halting here",
                e = zos_base::Report(&e)
            );
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    }
}

/// Mount points from `/proc/self/mounts` text, in mount order (octal escapes decoded).
pub fn mount_points(mounts: &str) -> Vec<String> {
    mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(unescape)
        .collect()
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let code: String = chars.by_ref().take(3).collect();
            match u8::from_str_radix(&code, 8) {
                Ok(b) => out.push(b as char),
                Err(_) => {
                    out.push('\\');
                    out.push_str(&code);
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn unmount_all() {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    for point in mount_points(&mounts).into_iter().rev() {
        if KEEP.contains(&point.as_str()) {
            continue;
        }
        match umount2(point.as_str(), MntFlags::empty()) {
            Ok(()) => println!("zos-init: unmounted {point}"),
            Err(e) => {
                let ro = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
                let r = mount(None::<&str>, point.as_str(), None::<&str>, ro, None::<&str>);
                println!(
                    "zos-init: cannot unmount {point} ({e}); read-only remount: {}",
                    if r.is_ok() { "done" } else { "failed" },
                    e = zos_base::Report(&e)
                );
            }
        }
    }
    let ro = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    let _ = mount(None::<&str>, "/", None::<&str>, ro, None::<&str>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mount_table() {
        let t = "proc /proc proc rw 0 0\n/dev/vda /var/cache btrfs rw 0 0\nx /mnt/a\\040b tmpfs rw 0 0\n";
        assert_eq!(mount_points(t), vec!["/proc", "/var/cache", "/mnt/a b"]);
    }
}
