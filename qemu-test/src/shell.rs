//! The node's debug shell: a root busybox shell that zos-init runs on the second serial port
//! (ttyS1) when the kernel command line has `runmode=dev`; QEMU exposes that port as a unix socket.
//!
//! Owns the host end of that socket and its log (`shell.log` in the VM's temp dir). A command's
//! output is cut out of the serial stream between unique begin/end markers that the shell prints
//! around it, so prompts, echo and earlier output never leak into a result. The serial line merges
//! stdout and stderr. Never used for anything but tests: production nodes have no such shell.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::console::{ConsoleError, SerialLog};

/// Default time a command may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Errors talking to the debug shell.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(
        "cannot connect to the debug shell socket {path} within {timeout:?}: {source} (is QEMU running?)"
    )]
    Connect {
        path: PathBuf,
        timeout: Duration,
        source: std::io::Error,
    },
    #[error("cannot write to the debug shell socket")]
    Write(#[source] std::io::Error),
    #[error(
        "the debug shell did not answer within {timeout:?} (is `runmode=dev` on the kernel command line? shell log: {log}); last output:\n{tail}"
    )]
    NoShell {
        timeout: Duration,
        log: PathBuf,
        tail: String,
    },
    #[error("command {cmd:?} did not finish")]
    Command {
        cmd: String,
        #[source]
        source: Box<ConsoleError>,
    },
    #[error("command {cmd:?} exited {code}: {output}")]
    Failed {
        cmd: String,
        code: i32,
        output: String,
    },
    #[error("command {0:?} spans several lines; the debug shell runs one line at a time")]
    MultiLine(String),
    #[error(transparent)]
    Console(#[from] ConsoleError),
}

/// What a command printed (stdout and stderr, merged by the serial line) and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdOutput {
    pub stdout: String,
    pub code: i32,
}

/// A connection to the debug shell.
#[derive(Debug)]
pub struct Shell {
    stream: UnixStream,
    log: SerialLog,
    tag: String,
    seq: u64,
}

impl Shell {
    /// Connects to QEMU's socket for the second serial port (retrying until it exists or
    /// `timeout` passes) and records everything it prints to `log_path`. Does not wait for the
    /// guest's shell: call [`Shell::sync`].
    pub fn connect(socket: &Path, log_path: &Path, timeout: Duration) -> Result<Shell, ShellError> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(source) if Instant::now() >= deadline => {
                    return Err(ShellError::Connect {
                        path: socket.to_path_buf(),
                        timeout,
                        source,
                    })
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let reader = stream.try_clone().map_err(|source| ShellError::Connect {
            path: socket.to_path_buf(),
            timeout,
            source,
        })?;
        let log = SerialLog::spawn("debug shell (ttyS1)", reader, log_path)?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Ok(Shell {
            stream,
            log,
            tag: format!("{:x}{:x}", std::process::id(), nanos),
            seq: 0,
        })
    }

    /// Waits until the guest's shell answers (it starts late in boot, and again after a reboot):
    /// sends a no-op every few seconds until one round-trips or `timeout` passes.
    pub fn sync(&mut self, timeout: Duration) -> Result<(), ShellError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ShellError::NoShell {
                    timeout,
                    log: self.log.log_path().to_path_buf(),
                    tail: self.log.tail(),
                });
            }
            // The probe has no quotes: a line cut short (typed before the shell started reading,
            // or half-sent before a reboot) cannot leave the shell waiting for a closing quote.
            // (Ctrl-C would not help: it ends the getty's shell.)
            match self.exchange("true", left.min(Duration::from_secs(3))) {
                Ok(_) => return Ok(()),
                Err(ConsoleError::Timeout { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Runs `cmd` with the default timeout.
    pub fn run(&mut self, cmd: &str) -> Result<CmdOutput, ShellError> {
        self.run_timeout(cmd, DEFAULT_TIMEOUT)
    }

    /// Runs `cmd` with the default timeout and returns what it printed; a non-zero exit is an
    /// error carrying the output.
    pub fn run_ok(&mut self, cmd: &str) -> Result<String, ShellError> {
        let out = self.run(cmd)?;
        if out.code != 0 {
            return Err(ShellError::Failed {
                cmd: cmd.to_string(),
                code: out.code,
                output: out.stdout,
            });
        }
        Ok(out.stdout)
    }

    /// Runs `cmd` (one line of shell, which must not read stdin) and returns its output and exit
    /// code. Output that does not end in a newline is returned as is.
    pub fn run_timeout(&mut self, cmd: &str, timeout: Duration) -> Result<CmdOutput, ShellError> {
        if cmd.contains('\n') {
            return Err(ShellError::MultiLine(cmd.to_string()));
        }
        // `eval` keeps a trailing `&` or `#` in `cmd` from breaking the marker line.
        let quoted = cmd.replace('\'', r"'\''");
        self.exchange(&format!("eval '{quoted}'"), timeout)
            .map_err(|source| ShellError::Command {
                cmd: cmd.to_string(),
                source: Box::new(source),
            })
    }

    /// Sends `line` between marker commands on one line, so a tty that echoes type-ahead cannot
    /// mix the echo into the output. `${QT_UNSET_}` expands to nothing: the echoed line never
    /// contains the markers the shell prints.
    fn exchange(&mut self, line: &str, timeout: Duration) -> Result<CmdOutput, ConsoleError> {
        self.seq += 1;
        let id = format!("{}_{}", self.tag, self.seq);
        let from = self.log.position();
        let script = format!("echo QTB${{QT_UNSET_}}{id}; {line}; echo QTE${{QT_UNSET_}}{id}:$?\n");
        self.send_raw(&script).map_err(|e| ConsoleError::Write {
            name: "debug shell".to_string(),
            source: e,
        })?;
        let pattern = format!(r"QTB{id}\n(?P<out>(?s:.*?))QTE{id}:(?P<rc>\d+)$");
        let found = self.log.wait_for(&pattern, from, timeout)?;
        Ok(CmdOutput {
            stdout: found.group("out").unwrap_or_default().to_string(),
            code: found
                .group("rc")
                .and_then(|rc| rc.parse().ok())
                .unwrap_or(-1),
        })
    }

    /// Types `cmd` without waiting for it (for commands that end the shell: reboot, shutdown).
    pub fn send(&mut self, cmd: &str) -> Result<(), ShellError> {
        self.send_raw(&format!("{cmd}\n"))
            .map_err(ShellError::Write)
    }

    /// Path of the shell's log file.
    pub fn log_path(&self) -> &Path {
        self.log.log_path()
    }

    fn send_raw(&mut self, text: &str) -> Result<(), std::io::Error> {
        self.stream.write_all(text.as_bytes())
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        // Ends the reader thread; QEMU keeps the chardev for the next connection.
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::UnixListener;

    /// A real `sh` behind a unix socket stands in for the guest's serial port.
    #[test]
    fn run_cuts_output_between_markers_and_reports_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("shell.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let out = conn.try_clone().unwrap();
            let mut child = std::process::Command::new("sh")
                .stdin(std::process::Stdio::piped())
                .stdout(std::os::fd::OwnedFd::from(out.try_clone().unwrap()))
                .stderr(std::os::fd::OwnedFd::from(out))
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            // Echo every line back first, like a tty with echo on.
            for line in BufReader::new(conn.try_clone().unwrap()).lines() {
                let Ok(line) = line else { break };
                let mut echo = conn.try_clone().unwrap();
                let _ = echo.write_all(format!("{line}\r\n").as_bytes());
                if stdin.write_all(format!("{line}\n").as_bytes()).is_err() {
                    break;
                }
            }
            drop(stdin);
            let _ = child.wait();
        });
        let mut sh =
            Shell::connect(&sock, &dir.path().join("shell.log"), Duration::from_secs(5)).unwrap();
        sh.sync(Duration::from_secs(10)).unwrap();
        let out = sh.run("echo hello; echo world").unwrap();
        assert_eq!(out.stdout, "hello\nworld\n");
        assert_eq!(out.code, 0);
        let out = sh
            .run("echo oops >&2; exit_code() { return 3; }; exit_code")
            .unwrap();
        assert_eq!(out.stdout, "oops\n");
        assert_eq!(out.code, 3);
        let out = sh
            .run("printf 'no newline'; echo 'it''s' # comment")
            .unwrap();
        assert_eq!(out.stdout, "no newlineits\n");
        assert!(matches!(sh.run("a\nb"), Err(ShellError::MultiLine(_))));
        drop(sh);
        server.join().unwrap();
    }
}
