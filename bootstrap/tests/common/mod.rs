//! Test harness: runs the real `zos-init init` binary as a plain supervisor on the host with a
//! temporary config dir, socket and log dir; the supervisor is stopped (TERM, then KILL) on Drop.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_zos-init");

pub struct Init {
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub logs: PathBuf,
    pub console: PathBuf,
}

impl Init {
    /// A config dir with the given `(name, yaml)` files, not started yet.
    pub fn new(services: &[(&str, &str)]) -> Init {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("zinit");
        std::fs::create_dir(&config).expect("config dir");
        for (name, yaml) in services {
            std::fs::write(config.join(format!("{name}.yaml")), yaml).expect("write service");
        }
        Init {
            child: None,
            socket: dir.path().join("zinit.sock"),
            logs: dir.path().join("log"),
            console: dir.path().join("console.log"),
            config,
            dir,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn start(self, extra: &[&str]) -> Init {
        self.start_on_bus(extra, "unix:path=/nonexistent/test-bus")
    }

    /// Starts the supervisor with `ZOS_BUS_ADDRESS=bus`.
    pub fn start_on_bus(mut self, extra: &[&str], bus: &str) -> Init {
        let out = std::fs::File::create(&self.console).expect("console file");
        let child = Command::new(BIN)
            .arg("init")
            .arg("--config")
            .arg(&self.config)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--log-dir")
            .arg(&self.logs)
            .args(extra)
            .env("ZOS_BUS_ADDRESS", bus)
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("spawn zos-init");
        self.child = Some(child);
        let sock = self.socket.clone();
        wait_for("control socket", Duration::from_secs(10), || sock.exists());
        self
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run cli")
    }

    /// Runs the CLI and returns stdout; panics with stderr on failure.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "zos-init {args:?} failed: {}\nconsole:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.console_text()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the CLI expecting failure; returns stderr.
    pub fn err(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            !out.status.success(),
            "zos-init {args:?} unexpectedly succeeded"
        );
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    }

    /// `status` as (state, pid, target).
    pub fn status(&self, name: &str) -> (String, u32, String) {
        let text = self.ok(&["status", name]);
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .unwrap_or_default()
                .to_string()
        };
        (
            field("state"),
            field("pid").parse().unwrap_or(0),
            field("target"),
        )
    }

    pub fn wait_state(&self, name: &str, state: &str, timeout: Duration) {
        wait_for(&format!("{name} to be {state}"), timeout, || {
            self.status(name).0 == state
        });
    }

    pub fn console_text(&self) -> String {
        std::fs::read_to_string(&self.console).unwrap_or_default()
    }

    /// Waits for the supervisor to exit on its own; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let child = self.child.as_mut().expect("started");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                self.child = None;
                return st.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "zos-init did not exit in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Init {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Our own child, by pid: a graceful shutdown stops its services too.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Seconds of the day from a log file line's `YYYY-MM-DDTHH:MM:SS.mmmZ` prefix.
pub fn line_time(line: &str) -> f64 {
    let t = &line[11..23];
    let h: f64 = t[0..2].parse().expect("hour");
    let m: f64 = t[3..5].parse().expect("minute");
    let s: f64 = t[6..12].parse().expect("seconds");
    h * 3600.0 + m * 60.0 + s
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
