//! Kernel modules, PID 1 only: coldplug (every `/sys/devices/**/modalias` matched against
//! `modules.alias`) and explicit lists (`/etc/modules-load.d/*.conf`), each module loaded once
//! with `finit_module`, dependencies first (from `modules.dep`).
//!
//! Only what the boot itself needs is loaded before services start: the modules of the devices
//! present (disks, NICs) and the list `boot.conf` (btrfs, for storaged's pools and the cache). The drivers the
//! CPU asks for (`cpu:` aliases: kvm and friends, for workloads) and every other list are loaded
//! by a background thread while the services start: under emulation loading a module
//! costs tens of milliseconds, and a service that needs one early gets it from the kernel's own
//! on-demand loading (`/sbin/modprobe`) anyway.
//!
//! It only reads the module tree and sysfs and loads modules; a missing or failing module is
//! reported and boot goes on. Only uncompressed `.ko` files are loaded.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::kmod::{finit_module, ModuleInitFlags};

/// Directory of the explicit module lists.
pub const LOAD_LIST_DIR: &str = "/etc/modules-load.d";
/// The list loaded before any service starts; the other lists load in the background.
pub const BOOT_LIST: &str = "boot.conf";
const MAX_DEPTH: usize = 32;
const MAX_PASSES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("module {0} is not in modules.dep")]
    Missing(String),
    #[error("loading module {name} from {path}: {errno}")]
    Load {
        name: String,
        path: PathBuf,
        errno: Errno,
    },
}

/// Module names are compared with `-` and `_` treated alike (as the kernel does).
fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    normalize(file.split(".ko").next().unwrap_or(file))
}

/// What `modules.alias`, `modules.dep` and `modules.builtin` say.
#[derive(Debug, Default, Clone)]
pub struct Index {
    aliases: Vec<(String, String)>,
    /// module → (path relative to the module dir, dependencies as module names)
    deps: HashMap<String, (String, Vec<String>)>,
    builtin: HashSet<String>,
}

impl Index {
    pub fn parse(alias: &str, dep: &str, builtin: &str) -> Index {
        let aliases = alias
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next()? == "alias").then_some(())?;
                Some((w.next()?.to_string(), normalize(w.next()?)))
            })
            .collect();
        let deps = dep
            .lines()
            .filter_map(|l| {
                let (path, rest) = l.split_once(':')?;
                let path = path.trim();
                let list = rest.split_whitespace().map(module_name).collect();
                Some((module_name(path), (path.to_string(), list)))
            })
            .collect();
        let builtin = builtin
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(module_name)
            .collect();
        Index {
            aliases,
            deps,
            builtin,
        }
    }

    pub fn load(dir: &Path) -> Result<Index, ModuleError> {
        let read = |name: &str, required: bool| match std::fs::read_to_string(dir.join(name)) {
            Ok(t) => Ok(t),
            Err(_) if !required => Ok(String::new()),
            Err(source) => Err(ModuleError::Read {
                path: dir.join(name),
                source,
            }),
        };
        Ok(Index::parse(
            &read("modules.alias", true)?,
            &read("modules.dep", true)?,
            &read("modules.builtin", false)?,
        ))
    }

    /// Modules whose alias patterns match a device's `modalias`.
    pub fn modules_for(&self, modalias: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (pattern, module) in &self.aliases {
            if !out.contains(module) && fnmatch(pattern.as_bytes(), modalias.as_bytes()) {
                out.push(module.clone());
            }
        }
        out
    }

    /// A name from a load list: a module name, else an alias (`fs-btrfs`). `None` for built-ins.
    pub fn resolve(&self, name: &str) -> Result<Option<String>, ModuleError> {
        let n = normalize(name);
        if self.deps.contains_key(&n) {
            return Ok(Some(n));
        }
        if self.builtin.contains(&n) {
            return Ok(None);
        }
        self.modules_for(name)
            .into_iter()
            .next()
            .map(Some)
            .ok_or(ModuleError::Missing(n))
    }

    /// `module` and everything it needs, dependencies first, each once.
    pub fn load_order(&self, module: &str) -> Result<Vec<(String, String)>, ModuleError> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        self.visit(&normalize(module), &mut seen, &mut order)?;
        Ok(order)
    }

    fn visit(
        &self,
        m: &str,
        seen: &mut HashSet<String>,
        order: &mut Vec<(String, String)>,
    ) -> Result<(), ModuleError> {
        if !seen.insert(m.to_string()) || self.builtin.contains(m) {
            return Ok(());
        }
        let (path, deps) = self
            .deps
            .get(m)
            .ok_or_else(|| ModuleError::Missing(m.into()))?;
        for d in deps {
            self.visit(d, seen, order)?;
        }
        order.push((m.to_string(), path.clone()));
        Ok(())
    }
}

/// fnmatch(3) without flags: `*`, `?`, and `[...]` classes (`!`/`^` negation, ranges).
pub fn fnmatch(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            let step = match p[pi] {
                b'*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                b'?' => Some(pi + 1),
                b'[' => match class(p, pi, t[ti]) {
                    Some((true, next)) => Some(next),
                    Some((false, _)) => None,
                    None => (t[ti] == b'[').then_some(pi + 1),
                },
                c => (c == t[ti]).then_some(pi + 1),
            };
            if let Some(next) = step {
                pi = next;
                ti += 1;
                continue;
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `p[start] == '['`; returns (matched, index after
/// `]`), or `None` if the class is not closed (then `[` is literal).
fn class(p: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            matched |= (p[i]..=p[i + 2]).contains(&c);
            i += 3;
        } else {
            matched |= p[i] == c;
            i += 1;
        }
    }
    None
}

/// Every `modalias` under `root` (normally /sys/devices), without following symlinks.
pub fn device_modaliases(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() && depth < MAX_DEPTH {
                stack.push((e.path(), depth + 1));
            } else if ft.is_file() && e.file_name() == "modalias" {
                if let Ok(text) = std::fs::read_to_string(e.path()) {
                    let alias = text.trim();
                    if !alias.is_empty() {
                        out.push(alias.to_string());
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Module names of the `*.conf` files of `dir` (one per line, `#`/`;` comments), files in name
/// order: the names of [`BOOT_LIST`] first, then those of every other file.
pub fn load_lists(dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|e| {
            e.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let names = |f: &PathBuf| -> Vec<String> {
        std::fs::read_to_string(f)
            .map(|t| {
                t.lines()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (boot, rest): (Vec<PathBuf>, Vec<PathBuf>) = files
        .into_iter()
        .partition(|f| f.file_name().is_some_and(|n| n == BOOT_LIST));
    (
        boot.iter().flat_map(names).collect(),
        rest.iter().flat_map(names).collect(),
    )
}

/// Loads modules from one module tree, remembering what it already did.
pub struct Loader {
    index: Index,
    dir: PathBuf,
    done: HashSet<String>,
    pub loaded: Vec<String>,
}

impl Loader {
    pub fn new(index: Index, dir: PathBuf) -> Loader {
        Loader {
            index,
            dir,
            done: HashSet::new(),
            loaded: Vec::new(),
        }
    }

    /// Loads `module` and its dependencies; already-loaded modules are skipped.
    pub fn load(&mut self, module: &str) -> Result<(), ModuleError> {
        for (name, rel) in self.index.load_order(module)? {
            if !self.done.insert(name.clone()) || Path::new("/sys/module").join(&name).exists() {
                continue;
            }
            let path = self.dir.join(&rel);
            let file = File::open(&path).map_err(|source| ModuleError::Read {
                path: path.clone(),
                source,
            })?;
            match finit_module(&file, c"", ModuleInitFlags::empty()) {
                Ok(()) => self.loaded.push(name),
                Err(Errno::EEXIST) => {}
                Err(errno) => return Err(ModuleError::Load { name, path, errno }),
            }
        }
        Ok(())
    }
}

fn say(text: &str) {
    println!("zos-init: {text}");
}

/// Loads what the boot needs (coldplug, [`BOOT_LIST`]), then leaves the other lists to a
/// background thread. Never fails the boot.
pub fn run() {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = Path::new("/lib/modules").join(&release);
    let index = match Index::load(&dir) {
        Ok(i) => i,
        Err(e) => {
            say(&format!(
                "modules: {e}; no modules will be loaded",
                e = zos_base::Report(&e)
            ));
            return;
        }
    };
    let (boot, rest) = load_lists(Path::new(LOAD_LIST_DIR));

    // The boot list loads on a second thread while this one coldplugs the devices: both are
    // needed before the services, and the CPU work of one (btrfs' raid6 speed test) overlaps the
    // waits of the other.
    let boot_list = {
        let mut loader = Loader::new(index.clone(), dir.clone());
        std::thread::Builder::new()
            .name("modules-boot".into())
            .spawn(move || {
                let failed = load_names(&mut loader, &boot);
                (loader.loaded, failed)
            })
    };
    let mut loader = Loader::new(index.clone(), dir.clone());
    let mut failed = 0;
    let mut tried: HashSet<String> = HashSet::new();
    let mut for_cpu = Vec::new();
    for pass in 1..=MAX_PASSES {
        let (cpu, devices): (Vec<String>, Vec<String>) =
            device_modaliases(Path::new("/sys/devices"))
                .into_iter()
                .partition(|a| a.starts_with("cpu:"));
        for_cpu.extend(cpu.iter().flat_map(|a| loader.index.modules_for(a)));
        let wanted: Vec<String> = devices
            .iter()
            .flat_map(|a| loader.index.modules_for(a))
            .filter(|m| tried.insert(m.clone()))
            .collect();
        if wanted.is_empty() {
            break;
        }
        say(&format!(
            "modules: coldplug pass {pass}: {} candidate modules",
            wanted.len()
        ));
        for m in wanted {
            if let Err(e) = loader.load(&m) {
                tracing::warn!(module = %m, error = %zos_base::Report(&e), "coldplug module not loaded");
                failed += 1;
            }
        }
    }
    match boot_list.map(|t| t.join()) {
        Ok(Ok((loaded, boot_failed))) => {
            loader.loaded.extend(loaded);
            failed += boot_failed;
        }
        Ok(Err(_)) => say("modules: the boot list loader panicked"),
        Err(e) => say(&format!(
            "modules: cannot start the boot list loader: {e}",
            e = zos_base::Report(&e)
        )),
    }
    say(&format!(
        "modules: loaded {} for the boot ({}), {failed} failed",
        loader.loaded.len(),
        loader.loaded.join(" ")
    ));

    let spawned = std::thread::Builder::new()
        .name("modules".into())
        .spawn(move || {
            let mut loader = Loader::new(index, dir);
            for_cpu.sort();
            for_cpu.dedup();
            let failed = load_names(&mut loader, &for_cpu) + load_names(&mut loader, &rest);
            say(&format!(
                "modules: loaded {} in the background ({}), {failed} failed",
                loader.loaded.len(),
                loader.loaded.join(" ")
            ));
        });
    if let Err(e) = spawned {
        say(&format!(
            "modules: cannot start the background loader: {e}",
            e = zos_base::Report(&e)
        ));
    }
}

/// Loads each named module (aliases resolved); returns how many failed, each reported.
fn load_names(loader: &mut Loader, names: &[String]) -> usize {
    let mut failed = 0;
    for name in names {
        let resolved = loader.index.resolve(name);
        if let Err(e) = resolved.and_then(|m| m.map_or(Ok(()), |m| loader.load(&m))) {
            say(&format!("modules: {name}: {e}", e = zos_base::Report(&e)));
            failed += 1;
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_cases() {
        let m = |p: &str, t: &str| fnmatch(p.as_bytes(), t.as_bytes());
        assert!(m("virtio:d00000001v*", "virtio:d00000001v00001AF4"));
        assert!(!m("virtio:d00000002v*", "virtio:d00000001v00001AF4"));
        assert!(m(
            "pci:v00008086d*sv*sd*bc02sc00i*",
            "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"
        ));
        assert!(!m(
            "pci:v00008086d*sv*sd*bc02sc00i*",
            "pci:v00008086d0000100Esv00001AF4sd00001100bc03sc00i00"
        ));
        assert!(m("a?c", "abc") && !m("a?c", "ac"));
        assert!(m("x[0-9]y", "x5y") && !m("x[0-9]y", "xay"));
        assert!(m("x[!0-9]y", "xay") && !m("x[^0-9]y", "x1y"));
        assert!(m("x[]]y", "x]y"));
        assert!(m("a[b", "a[b"));
        assert!(m("*", "") && m("**a", "a") && !m("a*b", "acbd"));
        assert!(m(
            "usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*",
            "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00"
        ));
    }

    const ALIAS: &str = "# Aliases extracted from modules themselves.\n\
        alias virtio:d00000001v* virtio_net\n\
        alias virtio:d00000002v* virtio_blk\n\
        alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci\n\
        alias fs-btrfs btrfs\n";
    const DEP: &str = "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko\n\
        kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n\
        kernel/net/core/failover.ko:\n\
        kernel/drivers/block/virtio_blk.ko:\n\
        kernel/fs/btrfs/btrfs.ko: kernel/lib/raid6/raid6_pq.ko kernel/crypto/xor.ko kernel/lib/libcrc32c.ko\n\
        kernel/lib/raid6/raid6_pq.ko:\n\
        kernel/crypto/xor.ko:\n\
        kernel/lib/libcrc32c.ko: kernel/crypto/crc32c-generic.ko\n\
        kernel/crypto/crc32c-generic.ko:\n";

    #[test]
    fn alias_lookup_and_dep_order() {
        let idx = Index::parse(ALIAS, DEP, "kernel/drivers/virtio/virtio_pci.ko\n");
        assert_eq!(
            idx.modules_for("virtio:d00000001v00001AF4"),
            vec!["virtio_net"]
        );
        assert!(idx.modules_for("virtio:d00000009v00001AF4").is_empty());
        let order: Vec<String> = idx
            .load_order("virtio_net")
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
        assert!(pos("failover") < pos("net_failover") && pos("net_failover") < pos("virtio_net"));
        assert_eq!(order.len(), 3);
        let order = idx.load_order("btrfs").unwrap();
        let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.last(), Some(&"btrfs"));
        assert!(
            names.iter().position(|n| *n == "crc32c_generic")
                < names.iter().position(|n| *n == "libcrc32c")
        );
        assert_eq!(order.last().unwrap().1, "kernel/fs/btrfs/btrfs.ko");
        assert_eq!(idx.resolve("fs-btrfs").unwrap().as_deref(), Some("btrfs"));
        assert_eq!(
            idx.resolve("crc32c-generic").unwrap().as_deref(),
            Some("crc32c_generic")
        );
        assert_eq!(idx.resolve("virtio-pci").unwrap(), None);
        assert!(matches!(idx.resolve("nope"), Err(ModuleError::Missing(_))));
    }

    #[test]
    fn sysfs_walk_and_load_list() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("pci0000:00/0000:00:03.0/virtio0");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(dev.join("modalias"), "virtio:d00000001v00001AF4\n").unwrap();
        std::fs::write(
            dir.path().join("pci0000:00/0000:00:03.0/modalias"),
            "pci:v00001AF4d00001000\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(dir.path(), dev.join("loop")).unwrap();
        let aliases = device_modaliases(dir.path());
        assert_eq!(
            aliases,
            vec!["pci:v00001AF4d00001000", "virtio:d00000001v00001AF4"]
        );
        let conf = tempfile::tempdir().unwrap();
        std::fs::write(conf.path().join("b.conf"), "# comment\nbridge\n\ntun\n").unwrap();
        std::fs::write(conf.path().join("a.conf"), "btrfs\n").unwrap();
        std::fs::write(conf.path().join("c.txt"), "ignored\n").unwrap();
        std::fs::write(conf.path().join(BOOT_LIST), "crc32c_generic\nbtrfs\n").unwrap();
        let (boot, rest) = load_lists(conf.path());
        assert_eq!(boot, vec!["crc32c_generic", "btrfs"]);
        assert_eq!(rest, vec!["btrfs", "bridge", "tun"]);
    }
}
