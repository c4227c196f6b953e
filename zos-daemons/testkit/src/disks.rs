//! Disks for storaged's tests and for the tests of daemons that need a real storaged (noded asks
//! it for SRU/HRU): sparse files on loop devices, a fixture sysfs
//! that describes them (so the real discovery code runs and a loop can be "rotational"), guards
//! that unmount and detach everything even when a test fails, and [`Env::serve`], which runs the
//! real storage service in-process on a test bus.
//!
//! Needs root, `losetup` (util-linux) and `mkfs.btrfs` (btrfs-progs); `make deps` installs both.
//! Panics (it is test code) with a message naming what is missing.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use storaged::discovery::Discovery;
use storaged::service::{self, StorageService};
use storaged::store::Storage;

pub const MIB: u64 = 1024 * 1024;

fn require(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is missing: `make deps` installs {package} (these tests need it)"
    );
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}", e = zos_base::Report(&e)));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A sparse file attached to a loop device; detached on drop.
#[derive(Debug)]
pub struct LoopDisk {
    pub file: PathBuf,
    pub dev: PathBuf,
}

impl LoopDisk {
    pub fn name(&self) -> String {
        self.dev
            .file_name()
            .expect("loop name")
            .to_string_lossy()
            .into_owned()
    }

    /// sha256 of the whole device (coreutils' sha256sum: an unoptimised test build hashes
    /// hundreds of MiB too slowly).
    pub fn sha256(&self) -> String {
        let line = run("sha256sum", &[self.dev.to_str().expect("utf-8 path")]);
        line.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

/// Unmounts everything under `root` on drop (deepest first; lazy unmount as a last resort).
#[derive(Debug)]
pub struct Mounts {
    pub root: PathBuf,
}

impl Mounts {
    pub fn under(&self) -> Vec<PathBuf> {
        let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut found: Vec<PathBuf> = text
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .map(PathBuf::from)
            .filter(|p| p.starts_with(&self.root))
            .collect();
        found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        found
    }

    pub fn unmount_all(&self) {
        for mp in self.under() {
            let ok = Command::new("umount")
                .arg(&mp)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(&mp).status();
            }
        }
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        self.unmount_all();
    }
}

/// Loop disks, their fixture sysfs and the mount root, torn down in the right order on drop:
/// mounts, then loops, then the directory.
#[derive(Debug)]
pub struct Env {
    pub mounts: Mounts,
    pub loops: Vec<LoopDisk>,
    pub dir: tempfile::TempDir,
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

impl Env {
    pub fn new() -> Env {
        assert!(
            nix::unistd::Uid::effective().is_root(),
            "root_loop_* tests need root (loop devices, mounts)"
        );
        require("losetup", "util-linux");
        require("mkfs.btrfs", "btrfs-progs");
        let dir = tempfile::Builder::new()
            .prefix("storaged-test-")
            .tempdir()
            .expect("temp dir");
        fs::create_dir_all(dir.path().join("sys/class/block")).expect("sys");
        // A QEMU guest, so storaged classifies the loop disks by the rotation rate their
        // fixture VPD page states (loop devices are as fast as the host's page cache).
        fs::create_dir_all(dir.path().join("sys/class/dmi/id")).expect("dmi");
        fs::write(dir.path().join("sys/class/dmi/id/sys_vendor"), "QEMU\n").expect("vendor");
        fs::create_dir_all(dir.path().join("mnt")).expect("mnt");
        Env {
            mounts: Mounts {
                root: dir.path().to_path_buf(),
            },
            loops: Vec::new(),
            dir,
        }
    }

    pub fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    /// Where tests mount the node's cache.
    pub fn cache_mount(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    pub fn sys(&self) -> PathBuf {
        self.dir.path().join("sys")
    }

    /// A new loop disk of `size` bytes, described in the fixture sysfs as rotational or not
    /// (`queue/rotational`, and a SCSI VPD page B1 stating 7200 rpm or no rotation).
    /// Returns its index in `loops`.
    pub fn add_disk(&mut self, size: u64, rotational: bool) -> usize {
        let index = self.loops.len();
        let file = self.dir.path().join(format!("disk{index}.img"));
        fs::File::create(&file)
            .and_then(|f| f.set_len(size))
            .expect("sparse file");
        let dev = PathBuf::from(run(
            "losetup",
            &["--find", "--show", file.to_str().expect("utf-8 path")],
        ));
        let disk = LoopDisk { file, dev };
        let entry = self.sys().join("class/block").join(disk.name());
        fs::create_dir_all(entry.join("queue")).expect("queue");
        fs::create_dir_all(entry.join("device")).expect("device");
        fs::write(entry.join("size"), format!("{}\n", size / 512)).expect("size");
        fs::write(
            entry.join("queue/rotational"),
            if rotational { "1\n" } else { "0\n" },
        )
        .expect("rotational");
        let rate: u16 = if rotational { 7200 } else { 1 };
        let [hi, lo] = rate.to_be_bytes();
        fs::write(
            entry.join("device/vpd_pgb1"),
            [0, 0xb1, 0, 0x3c, hi, lo, 0, 0],
        )
        .expect("vpd_pgb1");
        fs::write(entry.join("removable"), "0\n").expect("removable");
        fs::write(entry.join("ro"), "0\n").expect("ro");
        fs::write(entry.join("device/model"), "LOOP DISK\n").expect("model");
        fs::write(entry.join("device/serial"), format!("SN{index}\n")).expect("serial");
        self.loops.push(disk);
        index
    }

    /// Writes `data` at `offset` of loop disk `index` (foreign data).
    pub fn write_at(&self, index: usize, offset: u64, data: &[u8]) {
        use std::io::{Seek, SeekFrom};
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(&self.loops[index].dev)
            .expect("open loop");
        f.seek(SeekFrom::Start(offset)).expect("seek");
        f.write_all(data).expect("write");
        f.sync_all().expect("sync");
    }

    pub fn devices(&self) -> Vec<PathBuf> {
        self.loops.iter().map(|l| l.dev.clone()).collect()
    }

    pub fn discovery(&self) -> Discovery {
        Discovery {
            sys: self.sys(),
            dev: PathBuf::from("/dev"),
            devices: Some(self.devices()),
            virtualized: true,
        }
    }

    /// The `--devices` argument for the daemon.
    pub fn devices_arg(&self) -> String {
        self.devices()
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Env {
    /// Runs the real storage service on the bus at `address`: pools on this environment's disks,
    /// the cache at [`Env::cache_mount`]. It serves until the returned connection is dropped.
    pub async fn serve(&self, address: &str) -> zbus::Connection {
        let discovery = self.discovery();
        let mnt = self.mnt();
        let cache = self.cache_mount();
        let storage = tokio::task::spawn_blocking(move || {
            let mut storage = Storage::start(&discovery, &mnt).expect("storage starts");
            storage.mount_cache(&cache).expect("cache mounts");
            storage
        })
        .await
        .expect("storage start finished");
        let conn = zos_bus::connect_to(address).await.expect("bus connection");
        service::serve(&conn, StorageService::new(storage))
            .await
            .expect("storage service on the bus");
        conn
    }
}

/// Names in `dir` (sorted).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
