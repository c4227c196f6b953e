//! Service output: an in-memory ring for `log` streaming and one size-bounded rotating file per
//! service, with zinit's line format (`[+] name: line` for stdout, `[-] name: line` for stderr).
//!
//! This module only writes inside the log directory it is given (`NAME.log`, `NAME.log.1`, ...)
//! and never blocks a service: a full or failing disk loses file lines, not the service.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::AsyncReadExt;
use tokio::sync::broadcast;

/// Longest line kept; longer output is cut into several lines.
const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn mark(self) -> &'static str {
        match self {
            Stream::Stdout => "[+]",
            Stream::Stderr => "[-]",
        }
    }
}

/// Limits of the per-service files.
#[derive(Debug, Clone)]
pub struct FileLimits {
    pub dir: PathBuf,
    /// A file is rotated before it would grow past this many bytes.
    pub max_bytes: u64,
    /// Files kept per service, the live one included (`NAME.log` .. `NAME.log.{keep-1}`).
    pub keep: usize,
}

struct Rotating {
    file: File,
    size: u64,
}

struct Inner {
    ring: VecDeque<String>,
    files: HashMap<String, Rotating>,
}

/// Shared sink for every service's output.
#[derive(Clone)]
pub struct Logs {
    inner: Arc<Mutex<Inner>>,
    tx: broadcast::Sender<String>,
    ring_size: usize,
    limits: Arc<FileLimits>,
}

impl Logs {
    pub fn new(ring_size: usize, limits: FileLimits) -> Logs {
        if let Err(e) = std::fs::create_dir_all(&limits.dir) {
            tracing::error!(dir = %limits.dir.display(), error = %zos_base::Report(&e), "cannot create log directory");
        }
        let (tx, _) = broadcast::channel(1024);
        Logs {
            inner: Arc::new(Mutex::new(Inner {
                ring: VecDeque::with_capacity(ring_size.min(4096)),
                files: HashMap::new(),
            })),
            tx,
            ring_size: ring_size.max(1),
            limits: Arc::new(limits),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one line of `service`'s output (`label` is `name` or `name/test`).
    pub fn line(&self, service: &str, label: &str, stream: Stream, text: &str, console: bool) {
        let line = format!("{} {label}: {text}", stream.mark());
        if console {
            println!("{line}");
        }
        let mut inner = self.lock();
        self.write_file(&mut inner, service, &line);
        if inner.ring.len() >= self.ring_size {
            inner.ring.pop_front();
        }
        inner.ring.push_back(line.clone());
        // No subscriber is fine.
        let _ = self.tx.send(line);
    }

    /// Records the `[start]` marker of a new spawn.
    pub fn start_marker(&self, service: &str, console: bool) {
        self.line(
            service,
            service,
            Stream::Stderr,
            "------------ [start] ------------",
            console,
        );
    }

    /// The ring's content and a receiver for every later line, taken atomically.
    pub fn snapshot_and_follow(&self) -> (Vec<String>, broadcast::Receiver<String>) {
        let inner = self.lock();
        (inner.ring.iter().cloned().collect(), self.tx.subscribe())
    }

    fn write_file(&self, inner: &mut Inner, service: &str, line: &str) {
        let record = format!("{} {line}\n", utc_now());
        let len = record.len() as u64;
        let limits = &self.limits;
        let needs_rotation = inner
            .files
            .get(service)
            .is_some_and(|f| f.size > 0 && f.size + len > limits.max_bytes);
        if needs_rotation {
            inner.files.remove(service);
            rotate(&limits.dir, service, limits.keep);
        }
        if !inner.files.contains_key(service) {
            let path = log_path(&limits.dir, service, 0);
            match OpenOptions::new().create(true).append(true).open(&path) {
                Ok(file) => {
                    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                    inner
                        .files
                        .insert(service.to_string(), Rotating { file, size });
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %zos_base::Report(&e), "cannot open service log");
                    return;
                }
            }
        }
        let Some(f) = inner.files.get_mut(service) else {
            return;
        };
        if f.size > 0 && f.size + len > limits.max_bytes {
            // An existing file from a previous run is already full.
            inner.files.remove(service);
            rotate(&limits.dir, service, limits.keep);
            return self.write_file(inner, service, line);
        }
        match f.file.write_all(record.as_bytes()) {
            Ok(()) => f.size += len,
            Err(e) => {
                tracing::warn!(service, error = %zos_base::Report(&e), "cannot write service log")
            }
        }
    }
}

fn log_path(dir: &Path, service: &str, index: usize) -> PathBuf {
    if index == 0 {
        dir.join(format!("{service}.log"))
    } else {
        dir.join(format!("{service}.log.{index}"))
    }
}

/// Shifts `NAME.log.i` to `NAME.log.{i+1}`, dropping the oldest so at most `keep` files remain.
fn rotate(dir: &Path, service: &str, keep: usize) {
    let keep = keep.max(1);
    let _ = std::fs::remove_file(log_path(dir, service, keep - 1));
    for i in (0..keep - 1).rev() {
        let _ = std::fs::rename(log_path(dir, service, i), log_path(dir, service, i + 1));
    }
}

/// Reads `pipe` until EOF and records its lines.
pub async fn capture(
    logs: Logs,
    service: String,
    label: String,
    pipe: OwnedFd,
    stream: Stream,
    console: bool,
) {
    let mut rx = match tokio::net::unix::pipe::Receiver::from_owned_fd(pipe) {
        Ok(rx) => rx,
        Err(e) => {
            tracing::error!(service, error = %zos_base::Report(&e), "cannot watch output pipe");
            return;
        }
    };
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    let emit = |text: &[u8]| {
        logs.line(
            &service,
            &label,
            stream,
            &String::from_utf8_lossy(text),
            console,
        )
    };
    loop {
        let n = match rx.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        // Whole lines first, then cut what is left into MAX_LINE pieces (a line never grows
        // without bound in memory).
        while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
            emit(&pending[..pos]);
            pending.drain(..=pos);
        }
        while pending.len() >= MAX_LINE {
            emit(&pending[..MAX_LINE]);
            pending.drain(..MAX_LINE);
        }
    }
    if !pending.is_empty() {
        emit(&pending);
    }
}

/// Current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn utc_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs(dir: &Path, ring: usize, max: u64, keep: usize) -> Logs {
        Logs::new(
            ring,
            FileLimits {
                dir: dir.to_path_buf(),
                max_bytes: max,
                keep,
            },
        )
    }

    #[test]
    fn ring_keeps_last_lines_in_zinit_format() {
        let dir = tempfile::tempdir().unwrap();
        let l = logs(dir.path(), 2, 1 << 20, 2);
        l.line("a", "a", Stream::Stdout, "one", false);
        l.line("a", "a/test", Stream::Stderr, "two", false);
        l.line("b", "b", Stream::Stdout, "three", false);
        let (snap, _) = l.snapshot_and_follow();
        assert_eq!(snap, vec!["[-] a/test: two", "[+] b: three"]);
        let text = std::fs::read_to_string(dir.path().join("a.log")).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(
            text.lines()
                .all(|l| l.len() > 25 && l.as_bytes()[10] == b'T'),
            "{text}"
        );
    }

    #[test]
    fn files_rotate_and_stay_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let l = logs(dir.path(), 10, 1000, 3);
        for i in 0..500 {
            l.line(
                "svc",
                "svc",
                Stream::Stdout,
                &format!("line {i:04} {}", "x".repeat(40)),
                false,
            );
        }
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec!["svc.log", "svc.log.1", "svc.log.2"]);
        for n in &names {
            let size = std::fs::metadata(dir.path().join(n)).unwrap().len();
            assert!(size <= 1000, "{n} is {size} bytes");
        }
        let last = std::fs::read_to_string(dir.path().join("svc.log")).unwrap();
        assert!(last.contains("line 0499"));
    }

    #[test]
    fn utc_format() {
        let s = utc_now();
        assert_eq!(s.len(), 24, "{s}");
        assert!(s.starts_with("20") && s.ends_with('Z'));
    }
}
