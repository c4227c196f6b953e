//! Early boot, PID 1 only: the kernel filesystems, the console, the hostname, and the node
//! configuration parsed from the kernel command line (published at `zos_env::NODE_CONFIG_PATH`).
//!
//! Nothing here may stop the boot: every failure is printed to the console and boot goes on.
//! It mounts only the fixed set below and writes only the node configuration file.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use zos_env::NodeConfig;

fn say(text: &str) {
    println!("zos-init: {text}");
}

struct Mount {
    source: &'static str,
    target: &'static str,
    fstype: &'static str,
    flags: MsFlags,
    data: Option<&'static str>,
}

fn early_mounts() -> Vec<Mount> {
    let nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    vec![
        Mount {
            source: "proc",
            target: "/proc",
            fstype: "proc",
            flags: nodev,
            data: None,
        },
        Mount {
            source: "sysfs",
            target: "/sys",
            fstype: "sysfs",
            flags: nodev,
            data: None,
        },
        Mount {
            source: "devtmpfs",
            target: "/dev",
            fstype: "devtmpfs",
            flags: MsFlags::MS_NOSUID,
            data: Some("mode=0755"),
        },
        Mount {
            source: "devpts",
            target: "/dev/pts",
            fstype: "devpts",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            data: Some("gid=5,mode=0620,ptmxmode=0666"),
        },
        Mount {
            source: "shm",
            target: "/dev/shm",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some("mode=1777"),
        },
        Mount {
            source: "tmpfs",
            target: "/run",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some("mode=0755"),
        },
        Mount {
            source: "cgroup2",
            target: "/sys/fs/cgroup",
            fstype: "cgroup2",
            flags: nodev,
            data: None,
        },
    ]
}

/// Runs every early-boot phase in order and returns the node configuration.
pub fn run() -> NodeConfig {
    mount_all();
    console();
    say("early boot: kernel filesystems mounted");
    links();
    let config = node_config();
    hostname(&config);
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        say(&format!(
            "cannot route ctrl-alt-del to the init: {e}",
            e = zos_base::Report(&e)
        ));
    }
    for dir in ["/run/zos", "/run/dbus", "/var/cache", "/var/log", "/tmp"] {
        if let Err(e) = std::fs::create_dir_all(dir) {
            say(&format!(
                "cannot create {dir}: {e}",
                e = zos_base::Report(&e)
            ));
        }
    }
    config
}

fn mount_all() {
    for m in early_mounts() {
        let _ = std::fs::create_dir_all(m.target);
        match mount(Some(m.source), m.target, Some(m.fstype), m.flags, m.data) {
            Ok(()) | Err(Errno::EBUSY) => {}
            Err(e) => say(&format!(
                "cannot mount {} on {}: {e}",
                m.fstype,
                m.target,
                e = zos_base::Report(&e)
            )),
        }
    }
}

/// Makes /dev/console the init's stdin, stdout and stderr.
fn console() {
    let Ok(f) = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    else {
        return;
    };
    for fd in 0..3 {
        // SAFETY: dup2 on a valid open fd onto the standard descriptors; no Rust object owns
        // 0..=2 exclusively, and `f` stays open for the call.
        unsafe {
            libc::dup2(f.as_raw_fd(), fd);
        }
    }
}

/// The /dev symlinks shells and daemons expect.
fn links() {
    for (target, link) in [
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
    ] {
        if !Path::new(link).exists() {
            let _ = std::os::unix::fs::symlink(target, link);
        }
    }
}

/// Parses the kernel command line. A bad value is reported loudly and that key dropped, so the
/// node still boots with everything else it was told.
pub fn parse_cmdline(cmdline: &str) -> NodeConfig {
    let mut line = cmdline.to_string();
    // Each round drops one bad key; bounded by the number of words.
    for _ in 0..=cmdline.split_whitespace().count() {
        match NodeConfig::from_cmdline(&line) {
            Ok(cfg) => return cfg,
            Err(zos_env::Error::InvalidValue { key, value, reason }) => {
                say(&format!(
                    "!!! kernel command line: {key}={value:?} is not valid ({reason}); IGNORING {key}"
                ));
                line = line
                    .split_whitespace()
                    .filter(|w| w.split_once('=').map(|(k, _)| k) != Some(key))
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            Err(e) => {
                say(&format!(
                    "!!! kernel command line: {e}; using defaults",
                    e = zos_base::Report(&e)
                ));
                break;
            }
        }
    }
    NodeConfig::from_cmdline("").unwrap_or_default()
}

fn node_config() -> NodeConfig {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let config = parse_cmdline(&cmdline);
    say(&format!(
        "node config: runmode={} farmer_id={} debug={}",
        config.runmode,
        config
            .farmer_id
            .map(|f| f.to_string())
            .unwrap_or_else(|| "none".into()),
        config.debug
    ));
    let path = Path::new(zos_env::NODE_CONFIG_PATH);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = config.store(path) {
        say(&format!(
            "!!! cannot store node configuration: {e}",
            e = zos_base::Report(&e)
        ));
    }
    config
}

fn hostname(config: &NodeConfig) {
    let name = config
        .extra
        .get("hostname")
        .filter(|h| !h.is_empty())
        .map(String::as_str)
        .unwrap_or("zos");
    match nix::unistd::sethostname(name) {
        Ok(()) => say(&format!("hostname {name}")),
        Err(e) => say(&format!(
            "cannot set hostname {name}: {e}",
            e = zos_base::Report(&e)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_key_is_dropped_not_fatal() {
        let c = parse_cmdline("console=ttyS0 farmer_id=abc runmode=dev hostname=n1");
        assert_eq!(c.farmer_id, None);
        assert_eq!(c.runmode, zos_env::RunMode::Dev);
        assert_eq!(c.extra.get("hostname").map(String::as_str), Some("n1"));
        let c = parse_cmdline("farmer_id=7");
        assert_eq!(c.farmer_id, Some(7));
    }
}
