//! The boot-time baseline: a tiny initramfs (static busybox + an `/init` that prints a marker and
//! powers off) for the same kernel, so the node's boot can be compared with "kernel + nothing".
//!
//! Owns writing that initramfs (an uncompressed newc cpio, built in memory) into a directory the
//! caller gives, and finding a static busybox: `out/cache` (unpacked by the image build) first, else
//! `apt-get download busybox-static` + `dpkg-deb -x` into a temp dir. Never installs anything.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Printed by the baseline's `/init`, with the guest's uptime in milliseconds.
pub const BASELINE_MARKER: &str = r"BASELINE READY boot_ms=(?P<ms>\d+)\n";

/// The baseline `/init`: mount /proc, silence kernel messages (so none splits the marker line),
/// print the marker with the uptime, power off.
const INIT: &str = "#!/bin/busybox sh\n\
/bin/busybox mount -t proc proc /proc\n\
echo 1 > /proc/sys/kernel/printk\n\
read up rest < /proc/uptime\n\
echo \"BASELINE READY boot_ms=$(/bin/busybox awk -v u=$up 'BEGIN{printf \"%d\", u*1000}')\"\n\
/bin/busybox poweroff -f\n";

/// Errors preparing the baseline.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("`{cmd}` failed: {detail}; `make deps` provides apt-get/dpkg-deb")]
    Tool { cmd: String, detail: String },
    #[error("no static busybox found in {0} after unpacking busybox-static")]
    NoBusybox(PathBuf),
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BaselineError + '_ {
    move |source| BaselineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A static busybox: the image build's unpacked copy under `cache_dir`, else one unpacked from
/// `apt-get download busybox-static` into `work_dir`.
pub fn find_busybox(cache_dir: &Path, work_dir: &Path) -> Result<PathBuf, BaselineError> {
    let unpacked = cache_dir.join("unpacked");
    if let Ok(entries) = std::fs::read_dir(&unpacked) {
        for entry in entries.flatten() {
            let candidate = entry.path().join("bin/busybox");
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("busybox-static")
                && candidate.is_file()
            {
                return Ok(candidate);
            }
        }
    }
    run(Command::new("apt-get")
        .args(["download", "busybox-static"])
        .current_dir(work_dir))?;
    let deb = std::fs::read_dir(work_dir)
        .map_err(io(work_dir))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| BaselineError::NoBusybox(work_dir.to_path_buf()))?;
    let root = work_dir.join("busybox-static");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    let bin = root.join("bin/busybox");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(BaselineError::NoBusybox(root))
    }
}

fn run(cmd: &mut Command) -> Result<(), BaselineError> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| BaselineError::Tool {
        cmd: shown.clone(),
        detail: zos_base::report(&e),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BaselineError::Tool {
            cmd: shown,
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// Writes the baseline initramfs (uncompressed cpio) to `out` and returns its size.
pub fn write_initramfs(busybox: &Path, out: &Path) -> Result<u64, BaselineError> {
    let bb = std::fs::read(busybox).map_err(io(busybox))?;
    let mut cpio = Cpio::default();
    cpio.dir("bin");
    cpio.dir("dev");
    cpio.dir("proc");
    // The kernel opens /dev/console before running /init; without it the marker goes nowhere.
    cpio.char_dev("dev/console", 0o600, 5, 1);
    cpio.file("bin/busybox", 0o755, &bb);
    cpio.file("init", 0o755, INIT.as_bytes());
    let bytes = cpio.finish();
    std::fs::write(out, &bytes).map_err(io(out))?;
    Ok(bytes.len() as u64)
}

/// A minimal writer of the "newc" cpio format the kernel unpacks.
#[derive(Default)]
struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, (0, 0), &[]);
    }

    fn char_dev(&mut self, name: &str, perm: u32, major: u32, minor: u32) {
        self.entry(name, 0o020000 | perm, (major, minor), &[]);
    }

    fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, 0o100000 | perm, (0, 0), data);
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let namesize = name.len() + 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            namesize,
            0
        );
        self.out.extend_from_slice(header.as_bytes());
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.ino = 0;
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's cpio reads back what the writer produced, names, modes and contents.
    #[test]
    fn cpio_is_readable_by_gnu_cpio() {
        let dir = tempfile::tempdir().unwrap();
        let fake_bb = dir.path().join("busybox");
        std::fs::write(&fake_bb, b"\x7fELF not really").unwrap();
        let img = dir.path().join("i.cpio");
        let size = write_initramfs(&fake_bb, &img).unwrap();
        assert!(size.is_multiple_of(4));
        let out = Command::new("cpio")
            .args(["-t", "-v", "--quiet", "-F"])
            .arg(&img)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = String::from_utf8_lossy(&out.stdout);
        for (mode, name) in [
            ("drwxr-xr-x", "bin"),
            ("crw-------", "dev/console"),
            ("-rwxr-xr-x", "bin/busybox"),
            ("-rwxr-xr-x", "init"),
        ] {
            assert!(
                listing
                    .lines()
                    .any(|l| l.starts_with(mode) && l.ends_with(&format!(" {name}"))),
                "{mode} {name} missing:\n{listing}"
            );
        }
        let extract = dir.path().join("x");
        std::fs::create_dir(&extract).unwrap();
        let st = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cpio -i -d --quiet --no-absolute-filenames -F {} init bin/busybox",
                img.display()
            ))
            .current_dir(&extract)
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(std::fs::read_to_string(extract.join("init")).unwrap(), INIT);
        assert_eq!(
            std::fs::read(extract.join("bin/busybox")).unwrap(),
            b"\x7fELF not really"
        );
    }
}
