//! One QEMU virtual machine running the node image under TCG: building its command line,
//! spawning it, reading its console, and killing it.
//!
//! Owns the QEMU process (killed by pid on drop: SIGTERM, then SIGKILL) and a temp dir holding the
//! console log, QEMU's stderr, the debug-shell socket and copies of boot media. The temp dir is
//! removed on drop unless the VM failed (a wait timed out, or the test is panicking): then it is
//! kept and its path printed (`QEMU_TEST_KEEP=1` keeps it always). Networking is QEMU user networking only, always `restrict=on`, with
//! forwards that can only reach 127.0.0.1.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::console::{ConsoleError, Found, SerialLog};
use crate::disk::DiskKind;
use crate::image::PvhImage;
use crate::markers::{self, Ready, Registered};
use crate::shell::{Shell, ShellError};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";
/// Set to 1 to keep every VM's temp dir (logs, disks), not only those of failed VMs.
pub const KEEP_ENV: &str = "QEMU_TEST_KEEP";
/// OVMF firmware (combined code + vars, used read-only through `-bios`).
pub const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// Errors building, running or stopping a VM.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("VM has no boot source: call .pvh(...) or .uefi(...)")]
    NoBoot,
    #[error(
        "extra kernel command line {0:?} cannot be used with UEFI boot: the UKI carries its own"
    )]
    CmdlineWithUefi(String),
    #[error("{what} {path} not found{hint}")]
    MissingFile {
        what: &'static str,
        path: PathBuf,
        hint: &'static str,
    },
    #[error("cannot create the VM's temp dir")]
    TempDir(#[source] std::io::Error),
    #[error("cannot copy boot disk {from} to {to}")]
    CopyDisk {
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start {QEMU}; `make deps` installs qemu-system-x86 from bookworm-backports")]
    Spawn { source: std::io::Error },
    #[error("QEMU exited at once with {status}; its stderr ({stderr_path}):\n{stderr}")]
    EarlyExit {
        status: ExitStatus,
        stderr_path: PathBuf,
        stderr: String,
    },
    #[error("QEMU did not exit within {timeout:?} (console log: {log}); last output:\n{tail}")]
    NoExit {
        timeout: Duration,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot wait for QEMU")]
    Wait(#[source] std::io::Error),
    #[error("the guest kernel panicked before READY: {line} (console log: {log})")]
    KernelPanic { line: String, log: PathBuf },
    #[error("READY line {0:?} does not parse")]
    BadReady(String),
    #[error("marker line {0:?} does not parse")]
    BadMarker(String),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error(transparent)]
    Shell(#[from] ShellError),
    #[error(transparent)]
    Setup(#[from] std::io::Error),
}

/// What carries each guest-forwarded connection to the host's loopback.
pub const SOCAT: &str = "socat";

/// The guest address [`UserNet::guestfwd`] forwards from.
/// How long after READY noded's key line may still reach the console.
const NODE_LINE_LAG: Duration = Duration::from_secs(10);

pub const GUESTFWD_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);

/// QEMU user networking (`-netdev user,restrict=on`) with forwards to the host's loopback only.
#[derive(Debug, Clone, Default)]
pub struct UserNet {
    hostfwd: Vec<(u16, u16)>,
    guestfwd: Vec<(Ipv4Addr, u16, u16)>,
    mac: Option<String>,
}

impl UserNet {
    /// A NIC with no forwards: the guest gets DHCP from QEMU and reaches nothing.
    pub fn new() -> UserNet {
        UserNet::default()
    }

    /// TCP `127.0.0.1:host_port` on the host → `guest_port` in the guest.
    pub fn hostfwd(mut self, host_port: u16, guest_port: u16) -> UserNet {
        self.hostfwd.push((host_port, guest_port));
        self
    }

    /// TCP from the guest to `10.0.2.100:guest_port` → `127.0.0.1:host_port` on the host.
    pub fn guestfwd(self, guest_port: u16, host_port: u16) -> UserNet {
        self.guestfwd_to(GUESTFWD_ADDR, guest_port, host_port)
    }

    /// TCP from the guest to `guest_addr:guest_port` → `127.0.0.1:host_port` on the host, any
    /// number of connections (each through its own `socat`, which QEMU starts). The
    /// address must be inside QEMU's user network (10.0.2.0/24) and not one of its own
    /// (10.0.2.2 gateway, .3 DNS, .15 the guest); QEMU refuses the option otherwise.
    pub fn guestfwd_to(mut self, guest_addr: Ipv4Addr, guest_port: u16, host_port: u16) -> UserNet {
        self.guestfwd.push((guest_addr, guest_port, host_port));
        self
    }

    /// The NIC's MAC address (`aa:bb:cc:dd:ee:ff`); QEMU's default is 52:54:00:12:34:56.
    pub fn mac(mut self, mac: &str) -> UserNet {
        self.mac = Some(mac.to_string());
        self
    }

    pub(crate) fn netdev_arg(&self) -> String {
        let mut arg = String::from("user,id=net0,restrict=on");
        for (h, g) in &self.hostfwd {
            arg.push_str(&format!(",hostfwd=tcp:127.0.0.1:{h}-:{g}"));
        }
        // `cmd:` (a socat per connection), not a `tcp:` chardev: QEMU opens a chardev target
        // once, at start, and carries a single guest connection over it, so a reconnect or a
        // second connection (a reboot, an HTTP client) would hang.
        for (a, g, h) in &self.guestfwd {
            arg.push_str(&format!(
                ",guestfwd=tcp:{a}:{g}-cmd:{SOCAT} STDIO TCP:127.0.0.1:{h}"
            ));
        }
        arg
    }

    fn device_arg(&self) -> String {
        match &self.mac {
            Some(mac) => format!("virtio-net-pci,netdev=net0,mac={mac}"),
            None => "virtio-net-pci,netdev=net0".to_string(),
        }
    }
}

#[derive(Debug, Clone)]
enum Boot {
    Pvh(PvhImage),
    Uefi(PathBuf),
}

/// Builds a [`Vm`]. Defaults: 1024 MiB, 2 vCPUs, no disks, no network, reboots allowed.
#[derive(Debug, Clone)]
pub struct VmBuilder {
    name: String,
    boot: Option<Boot>,
    memory_mb: u32,
    cpus: u32,
    disks: Vec<(PathBuf, DiskKind)>,
    net: Option<UserNet>,
    extra_cmdline: Vec<String>,
    no_reboot: bool,
    board_serial: Option<String>,
}

impl VmBuilder {
    /// A name for logs and error messages.
    pub fn name(mut self, name: &str) -> VmBuilder {
        self.name = name.to_string();
        self
    }

    /// Direct PVH boot of an uncompressed kernel with an initramfs and command line (`-kernel`).
    /// A guest reboot boots the same kernel again.
    pub fn pvh(mut self, image: PvhImage) -> VmBuilder {
        self.boot = Some(Boot::Pvh(image));
        self
    }

    /// UEFI boot (OVMF) of a disk image. The image is copied into the VM's temp dir first, so the
    /// original is never written.
    pub fn uefi(mut self, disk_image: &Path) -> VmBuilder {
        self.boot = Some(Boot::Uefi(disk_image.to_path_buf()));
        self
    }

    pub fn memory_mb(mut self, mb: u32) -> VmBuilder {
        self.memory_mb = mb;
        self
    }

    pub fn cpus(mut self, cpus: u32) -> VmBuilder {
        self.cpus = cpus;
        self
    }

    /// Attaches a raw disk file (written in place: it is the test's to keep or check).
    pub fn disk(mut self, path: &Path, kind: DiskKind) -> VmBuilder {
        self.disks.push((path.to_path_buf(), kind));
        self
    }

    /// Adds a virtio NIC on QEMU user networking.
    pub fn user_net(mut self, net: UserNet) -> VmBuilder {
        self.net = Some(net);
        self
    }

    /// Appends words to the kernel command line (PVH only), e.g. `"farmer_id=1 runmode=dev"`.
    pub fn extra_cmdline(mut self, words: &str) -> VmBuilder {
        self.extra_cmdline
            .extend(words.split_whitespace().map(str::to_string));
        self
    }

    /// Make QEMU exit instead of rebooting the guest.
    pub fn no_reboot(mut self) -> VmBuilder {
        self.no_reboot = true;
        self
    }

    /// The SMBIOS baseboard (type 2) serial number the guest reads from
    /// `/sys/class/dmi/id/board_serial` (`-smbios type=2,serial=...`). No commas.
    pub fn board_serial(mut self, serial: &str) -> VmBuilder {
        self.board_serial = Some(serial.to_string());
        self
    }

    /// The QEMU arguments this builder produces, with `dir` as the VM's temp dir.
    fn args(&self, dir: &Path, uefi_copy: Option<&Path>) -> Result<Vec<String>, VmError> {
        let mut a: Vec<String> = [
            "-accel",
            "tcg",
            "-M",
            "pc",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-monitor",
            "none",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut push = |args: &[&str]| a.extend(args.iter().map(|s| s.to_string()));
        push(&["-m", &self.memory_mb.to_string()]);
        push(&["-smp", &self.cpus.to_string()]);
        // ttyS0: the console, on QEMU's stdout. ttyS1: the debug shell, on a unix socket.
        push(&[
            "-chardev",
            "stdio,id=con,signal=off",
            "-serial",
            "chardev:con",
        ]);
        let sock = dir.join("shell.sock");
        push(&[
            "-chardev",
            &format!("socket,id=shell,path={},server=on,wait=off", sock.display()),
            "-serial",
            "chardev:shell",
        ]);
        if self.no_reboot {
            push(&["-no-reboot"]);
        }
        if let Some(serial) = &self.board_serial {
            if serial.contains(',') {
                return Err(VmError::Setup(std::io::Error::other(format!(
                    "board serial {serial:?} contains a comma, which QEMU option strings cannot carry"
                ))));
            }
            push(&["-smbios", &format!("type=2,serial={serial}")]);
        }
        // Entropy from the host, as a real node has from RDRAND or a TPM. TCG's default CPU has
        // neither, and without this the guest's crng takes seconds to initialise, stalling every
        // process that asks for random bytes early (busd does).
        push(&[
            "-object",
            "rng-random,id=rng0,filename=/dev/urandom",
            "-device",
            "virtio-rng-pci,rng=rng0",
        ]);
        match (&self.boot, uefi_copy) {
            (Some(Boot::Pvh(img)), _) => {
                let mut cmdline = img.cmdline.clone();
                for w in &self.extra_cmdline {
                    cmdline.push(' ');
                    cmdline.push_str(w);
                }
                push(&["-kernel", &path_str(&img.kernel)?]);
                push(&["-initrd", &path_str(&img.initrd)?]);
                push(&["-append", &cmdline]);
            }
            (Some(Boot::Uefi(_)), Some(copy)) => {
                push(&["-bios", OVMF]);
                push(&[
                    "-drive",
                    &format!("file={},if=none,id=boot,format=raw", path_str(copy)?),
                    "-device",
                    "virtio-blk-pci,drive=boot,bootindex=0",
                ]);
            }
            _ => return Err(VmError::NoBoot),
        }
        let mut scsi = false;
        for (i, (path, kind)) in self.disks.iter().enumerate() {
            push(&[
                "-drive",
                &format!("file={},if=none,id=d{i},format=raw", path_str(path)?),
            ]);
            match kind {
                DiskKind::Virtio => push(&[
                    "-device",
                    &format!("virtio-blk-pci,drive=d{i},serial=zos-d{i}"),
                ]),
                DiskKind::ScsiHd { rotation_rate } => {
                    if !scsi {
                        push(&["-device", "virtio-scsi-pci,id=scsi0"]);
                        scsi = true;
                    }
                    push(&[
                        "-device",
                        &format!(
                            "scsi-hd,drive=d{i},bus=scsi0.0,rotation_rate={rotation_rate},serial=zos-d{i}"
                        ),
                    ]);
                }
            }
        }
        if let Some(net) = &self.net {
            push(&["-netdev", &net.netdev_arg()]);
            push(&["-device", &net.device_arg()]);
        }
        Ok(a)
    }

    /// Checks the inputs, prepares the temp dir and starts QEMU.
    pub fn spawn(self) -> Result<Vm, VmError> {
        let boot = self.boot.clone().ok_or(VmError::NoBoot)?;
        if matches!(boot, Boot::Uefi(_)) && !self.extra_cmdline.is_empty() {
            return Err(VmError::CmdlineWithUefi(self.extra_cmdline.join(" ")));
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("qemu-test-{}-", self.name))
            .tempdir()
            .map_err(VmError::TempDir)?;
        let uefi_copy = match &boot {
            Boot::Pvh(img) => {
                require("kernel", &img.kernel, "; run `make image`")?;
                require("initramfs", &img.initrd, "; run `make image`")?;
                None
            }
            Boot::Uefi(src) => {
                require("disk image", src, "; run `make image`")?;
                require(
                    "OVMF firmware",
                    Path::new(OVMF),
                    "; `make deps` installs ovmf",
                )?;
                let to = dir.path().join("boot.img");
                std::fs::copy(src, &to).map_err(|source| VmError::CopyDisk {
                    from: src.clone(),
                    to: to.clone(),
                    source,
                })?;
                Some(to)
            }
        };
        for (path, _) in &self.disks {
            require("disk", path, "")?;
        }
        if self.net.as_ref().is_some_and(|n| !n.guestfwd.is_empty()) {
            require_tool(SOCAT, "; `make deps` installs socat")?;
        }
        let args = self.args(dir.path(), uefi_copy.as_deref())?;
        let stderr_path = dir.path().join("qemu.stderr");
        let stderr = std::fs::File::create(&stderr_path)?;
        std::fs::write(dir.path().join("qemu.args"), args.join("\n"))?;
        let started = Instant::now();
        let mut child = Command::new(QEMU)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|source| VmError::Spawn { source })?;
        let Some(stdout) = child.stdout.take() else {
            kill_child(&mut child);
            return Err(VmError::Spawn {
                source: std::io::Error::other("QEMU's stdout was not piped"),
            });
        };
        let console =
            match SerialLog::spawn("console (ttyS0)", stdout, &dir.path().join("console.log")) {
                Ok(c) => c.splice_kernel_records(),
                Err(e) => {
                    kill_child(&mut child);
                    return Err(e.into());
                }
            };
        let mut vm = Vm {
            name: self.name,
            child,
            console,
            cursor: 0,
            started,
            dir: Some(dir),
            stderr_path,
            failed: false,
            exited: None,
        };
        // A bad argument makes QEMU exit at once; say so with its stderr instead of a timeout.
        std::thread::sleep(Duration::from_millis(100));
        if let Some(status) = vm.child.try_wait().map_err(VmError::Wait)? {
            vm.failed = true;
            vm.exited = Some(status);
            return Err(VmError::EarlyExit {
                status,
                stderr: std::fs::read_to_string(&vm.stderr_path).unwrap_or_default(),
                stderr_path: vm.stderr_path.clone(),
            });
        }
        eprintln!(
            "qemu-test: VM {} started (pid {}), console log {}",
            vm.name,
            vm.child.id(),
            vm.console.log_path().display()
        );
        Ok(vm)
    }
}

/// A running QEMU.
#[derive(Debug)]
pub struct Vm {
    name: String,
    child: Child,
    console: SerialLog,
    cursor: usize,
    started: Instant,
    dir: Option<tempfile::TempDir>,
    stderr_path: PathBuf,
    failed: bool,
    exited: Option<ExitStatus>,
}

impl Vm {
    /// A builder with the defaults.
    pub fn builder() -> VmBuilder {
        VmBuilder {
            name: "vm".to_string(),
            boot: None,
            memory_mb: 1024,
            cpus: 2,
            disks: Vec::new(),
            net: None,
            extra_cmdline: Vec::new(),
            no_reboot: false,
            board_serial: None,
        }
    }

    /// When QEMU was spawned.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The console log file.
    pub fn console_log(&self) -> &Path {
        self.console.log_path()
    }

    /// The VM's temp dir.
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or(Path::new("."))
    }

    /// Waits for `pattern` on the console after the previous match, and moves past it: successive
    /// calls see successive lines (a second READY after a reboot, not the first one again).
    pub fn wait_for(&mut self, pattern: &str, timeout: Duration) -> Result<Found, VmError> {
        match self.console.wait_for(pattern, self.cursor, timeout) {
            Ok(found) => {
                self.cursor = found.end;
                Ok(found)
            }
            Err(e) => {
                self.failed = true;
                Err(e.into())
            }
        }
    }

    /// Waits for the next `ZOS READY` line and noded's `ZOS NODE` line of the same boot; fails at
    /// once if the kernel panics first.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Ready, VmError> {
        let boot_start = self.cursor;
        let pattern = format!("{}|(?P<panic>{})", markers::READY, markers::KERNEL_PANIC);
        let ready = self.wait_for(&pattern, timeout)?;
        let elapsed = self.started.elapsed();
        if ready.group("panic").is_some() {
            self.failed = true;
            return Err(VmError::KernelPanic {
                line: ready.text.trim_end().to_string(),
                log: self.console.log_path().to_path_buf(),
            });
        }
        // noded prints its key before it takes its bus name, but the init copies its output to
        // the console on its own schedule: the line may follow READY by a moment.
        let node = self
            .console
            .wait_for(markers::NODE_KEY, boot_start, NODE_LINE_LAG)
            .map_err(|e| {
                self.failed = true;
                VmError::from(e)
            })?;
        self.cursor = self.cursor.max(node.end);
        Ready::from_found(&ready, &node, elapsed).ok_or(VmError::BadReady(ready.text))
    }

    /// Waits for the next `ZOS REGISTERED` line (noded, once the node is on the chain).
    pub fn wait_registered(&mut self, timeout: Duration) -> Result<Registered, VmError> {
        let found = self.wait_for(markers::REGISTERED, timeout)?;
        let elapsed = self.started.elapsed();
        Registered::from_found(&found, elapsed).ok_or(VmError::BadMarker(found.text))
    }

    /// Skips everything printed so far: later waits only see new output.
    pub fn mark(&mut self) {
        self.cursor = self.console.position();
    }

    /// Connects to the debug shell (needs `runmode=dev`) and waits until it answers.
    pub fn shell(&mut self, timeout: Duration) -> Result<Shell, VmError> {
        let dir = self.dir().to_path_buf();
        let result = Shell::connect(&dir.join("shell.sock"), &dir.join("shell.log"), timeout)
            .and_then(|mut sh| sh.sync(timeout).map(|()| sh));
        result.map_err(|e| {
            self.failed = true;
            e.into()
        })
    }

    /// Waits for QEMU to exit by itself (guest power-off, or a reboot with `no_reboot`).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, VmError> {
        if let Some(status) = self.exited {
            return Ok(status);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().map_err(VmError::Wait)? {
                self.exited = Some(status);
                return Ok(status);
            }
            if Instant::now() >= deadline {
                self.failed = true;
                return Err(VmError::NoExit {
                    timeout,
                    log: self.console.log_path().to_path_buf(),
                    tail: self.console.tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Reboots the node from its debug shell (`zos-init reboot`) and waits for READY again (and
    /// the shell): the next boot's markers.
    pub fn reboot(&mut self, shell: &mut Shell, timeout: Duration) -> Result<Ready, VmError> {
        self.mark();
        shell.send("zos-init reboot")?;
        let ready = self.wait_ready(timeout)?;
        shell.sync(timeout)?;
        Ok(ready)
    }

    /// Shuts the node down from its debug shell (`zos-init shutdown`) and waits for QEMU to exit.
    pub fn shutdown(
        &mut self,
        shell: &mut Shell,
        timeout: Duration,
    ) -> Result<ExitStatus, VmError> {
        shell.send("zos-init shutdown")?;
        self.wait_exit(timeout)
    }

    /// The failure seen so far was the point of the test: remove the temp dir on drop after all.
    pub fn failure_expected(&mut self) {
        self.failed = false;
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if self.exited.is_none() {
            kill_child(&mut self.child);
        }
        let asked = std::env::var_os(KEEP_ENV).is_some_and(|v| !v.is_empty() && v != "0");
        if self.failed || asked || std::thread::panicking() {
            if let Some(dir) = self.dir.take() {
                let kept = dir.keep();
                eprintln!(
                    "qemu-test: VM {} {}; kept {} (console.log, shell.log, qemu.stderr, qemu.args)",
                    self.name,
                    if asked { "done" } else { "failed" },
                    kept.display()
                );
            }
        }
    }
}

/// SIGTERM, up to 3 s to exit, then SIGKILL; always reaps.
fn kill_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let Ok(raw) = i32::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    let pid = Pid::from_raw(raw);
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = kill(pid, Signal::SIGKILL);
    let _ = child.wait();
}

fn require(what: &'static str, path: &Path, hint: &'static str) -> Result<(), VmError> {
    if path.exists() {
        Ok(())
    } else {
        Err(VmError::MissingFile {
            what,
            path: path.to_path_buf(),
            hint,
        })
    }
}

/// `tool` must be an executable in `$PATH`.
fn require_tool(tool: &'static str, hint: &'static str) -> Result<(), VmError> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err(VmError::MissingFile {
            what: "program",
            path: PathBuf::from(tool),
            hint,
        })
    }
}

/// QEMU takes paths in comma-separated option strings, where a comma would split the option.
fn path_str(path: &Path) -> Result<String, VmError> {
    let s = path.display().to_string();
    if s.contains(',') {
        return Err(VmError::Setup(std::io::Error::other(format!(
            "path {s} contains a comma, which QEMU option strings cannot carry"
        ))));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pvh() -> PvhImage {
        PvhImage {
            kernel: "/img/vmlinux".into(),
            initrd: "/img/initramfs.cpio.zst".into(),
            cmdline: "console=ttyS0".into(),
        }
    }

    #[test]
    fn args_for_pvh_with_disks_and_net() {
        let b = Vm::builder()
            .pvh(pvh())
            .memory_mb(512)
            .disk(Path::new("/t/cache.raw"), DiskKind::Virtio)
            .disk(
                Path::new("/t/hdd.raw"),
                DiskKind::ScsiHd {
                    rotation_rate: 7200,
                },
            )
            .disk(
                Path::new("/t/ssd.raw"),
                DiskKind::ScsiHd { rotation_rate: 1 },
            )
            .user_net(UserNet::new().hostfwd(2222, 22).guestfwd(9944, 19944))
            .extra_cmdline("farmer_id=1  runmode=dev");
        let a = b.args(Path::new("/tmp/vm"), None).unwrap().join(" ");
        assert!(a.contains("-accel tcg -M pc"), "{a}");
        assert!(a.contains("-m 512 -smp 2"), "{a}");
        assert!(
            a.contains("-append console=ttyS0 farmer_id=1 runmode=dev"),
            "{a}"
        );
        assert!(
            a.contains("socket,id=shell,path=/tmp/vm/shell.sock,server=on,wait=off"),
            "{a}"
        );
        assert_eq!(a.matches("virtio-scsi-pci").count(), 1, "{a}");
        assert!(
            a.contains("scsi-hd,drive=d1,bus=scsi0.0,rotation_rate=7200"),
            "{a}"
        );
        assert!(
            a.contains("scsi-hd,drive=d2,bus=scsi0.0,rotation_rate=1"),
            "{a}"
        );
        assert!(a.contains(
            "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22,guestfwd=tcp:10.0.2.100:9944-cmd:socat STDIO TCP:127.0.0.1:19944"
        ), "{a}");
        assert!(!a.contains("-no-reboot"), "{a}");
        assert!(!a.contains("-smbios"), "{a}");
        assert!(a.ends_with("-device virtio-net-pci,netdev=net0"), "{a}");
        assert!(a.contains("-device virtio-rng-pci,rng=rng0"), "{a}");
    }

    #[test]
    fn args_for_guestfwd_addresses_mac_and_board_serial() {
        let b = Vm::builder()
            .pvh(pvh())
            .user_net(
                UserNet::new()
                    .guestfwd(9944, 40001)
                    .guestfwd_to(Ipv4Addr::new(10, 0, 2, 101), 8041, 40002)
                    .mac("52:54:00:aa:bb:01"),
            )
            .board_serial("ZOS-TEST-1");
        let a = b.args(Path::new("/tmp/vm"), None).unwrap().join(" ");
        assert!(a.contains(
            "user,id=net0,restrict=on,guestfwd=tcp:10.0.2.100:9944-cmd:socat STDIO TCP:127.0.0.1:40001,guestfwd=tcp:10.0.2.101:8041-cmd:socat STDIO TCP:127.0.0.1:40002"
        ), "{a}");
        assert!(
            a.contains("-device virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:01"),
            "{a}"
        );
        assert!(a.contains("-smbios type=2,serial=ZOS-TEST-1"), "{a}");
        let err = Vm::builder()
            .pvh(pvh())
            .board_serial("a,b")
            .args(Path::new("/tmp/vm"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("comma"), "{err}");
    }

    #[test]
    fn uefi_refuses_extra_cmdline_and_missing_boot() {
        let err = Vm::builder()
            .uefi(Path::new("/nonexistent/zos.img"))
            .extra_cmdline("runmode=dev")
            .spawn()
            .err()
            .map(|e| zos_base::report(&e))
            .unwrap_or_default();
        assert!(err.contains("UKI"), "{err}");
        assert!(matches!(Vm::builder().spawn(), Err(VmError::NoBoot)));
        let err = Vm::builder()
            .uefi(Path::new("/nonexistent/zos.img"))
            .spawn()
            .err()
            .map(|e| zos_base::report(&e))
            .unwrap_or_default();
        assert!(err.contains("make image"), "{err}");
    }

    #[test]
    fn args_for_uefi_use_the_copy() {
        let b = Vm::builder().uefi(Path::new("/img/zos.img")).no_reboot();
        let a = b
            .args(Path::new("/tmp/vm"), Some(Path::new("/tmp/vm/boot.img")))
            .unwrap()
            .join(" ");
        assert!(a.contains("-bios /usr/share/ovmf/OVMF.fd"), "{a}");
        assert!(a.contains("file=/tmp/vm/boot.img,if=none,id=boot"), "{a}");
        assert!(!a.contains("/img/zos.img"), "{a}");
        assert!(a.contains("-no-reboot"), "{a}");
    }
}
