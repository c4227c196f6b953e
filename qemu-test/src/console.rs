//! A serial port read by a background thread into an in-memory buffer and a log file, and waiting
//! for regex matches in it.
//!
//! Owns the reader thread and the log file it writes. Used for the console (ttyS0, QEMU's stdout)
//! and for the debug shell (ttyS1, a unix socket). Carriage returns are dropped so patterns can use
//! `$` and `\n`. It never writes to the guest.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use regex::bytes::Regex;

/// How many bytes of the log end an error message quotes.
const TAIL_BYTES: usize = 2000;

/// Errors while waiting for output on a serial port.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("bad pattern {pattern:?}")]
    Pattern {
        pattern: String,
        source: regex::Error,
    },
    #[error(
        "timed out after {timeout:?} waiting for /{pattern}/ on {name} (full log: {log}); last output:\n{tail}"
    )]
    Timeout {
        name: String,
        pattern: String,
        timeout: Duration,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "{name} closed (QEMU exited?) while waiting for /{pattern}/ (full log: {log}); last output:\n{tail}"
    )]
    Closed {
        name: String,
        pattern: String,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot write to {name}")]
    Write {
        name: String,
        source: std::io::Error,
    },
    #[error("cannot create serial log {path}")]
    LogFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One regex match: the matched text, its named groups and where it ended in the buffer.
#[derive(Debug, Clone)]
pub struct Found {
    /// The whole match.
    pub text: String,
    /// Offset just past the match in the serial buffer (a cursor for the next search).
    pub end: usize,
    groups: Vec<(String, String)>,
}

impl Found {
    /// The text of named group `name`, if it took part in the match.
    pub fn group(&self, name: &str) -> Option<&str> {
        self.groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Buffer {
    data: Vec<u8>,
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    buf: Mutex<Buffer>,
    grew: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A poisoned lock only means a reader panicked mid-append; the bytes are still valid.
        self.buf.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A serial stream being recorded. Dropping it does not stop the reader: the thread ends when
/// the stream reaches end of file (QEMU exited or the socket was shut down).
#[derive(Debug)]
pub struct SerialLog {
    name: String,
    /// Set for a kernel console: see [`SerialLog::splice_kernel_records`].
    kernel_records: Option<Regex>,
    log_path: PathBuf,
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
}

impl SerialLog {
    /// Starts a thread copying `stream` into memory and into a new file at `log_path`.
    pub fn spawn<R: Read + Send + 'static>(
        name: &str,
        stream: R,
        log_path: &Path,
    ) -> Result<SerialLog, ConsoleError> {
        let file = File::create(log_path).map_err(|source| ConsoleError::LogFile {
            path: log_path.to_path_buf(),
            source,
        })?;
        let shared = Arc::new(Shared {
            buf: Mutex::new(Buffer::default()),
            grew: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let reader = std::thread::Builder::new()
            .name(format!("serial-{name}"))
            .spawn(move || pump(stream, file, &thread_shared))
            .map_err(|source| ConsoleError::LogFile {
                path: log_path.to_path_buf(),
                source,
            })?;
        Ok(SerialLog {
            name: name.to_string(),
            kernel_records: None,
            log_path: log_path.to_path_buf(),
            shared,
            reader: Some(reader),
        })
    }

    /// Marks this stream as a kernel console. The kernel writes its log records to the UART
    /// between chunks of a process's own write, so a marker line can arrive cut in two:
    /// `boot_ms=1[    8.1] random: crng init done\n234\n`. With this set, searches skip a kernel
    /// record that starts in the middle of a line, and see `boot_ms=1234`.
    pub fn splice_kernel_records(mut self) -> SerialLog {
        // A record: `[<seconds>.<micros>] <text>\n`. The pattern is a constant, known to compile.
        self.kernel_records = Regex::new(r"\[ *\d+\.\d+\] [^\n]*\n").ok();
        self
    }

    /// Where the log file is.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Bytes received so far (a cursor meaning "only what comes after now").
    pub fn position(&self) -> usize {
        self.shared.lock().data.len()
    }

    /// Everything received from offset `from` on, as text.
    pub fn text_since(&self, from: usize) -> String {
        let buf = self.shared.lock();
        let from = from.min(buf.data.len());
        String::from_utf8_lossy(&buf.data[from..]).into_owned()
    }

    /// The last bytes received, for error messages.
    pub fn tail(&self) -> String {
        let len = self.position();
        self.text_since(len.saturating_sub(TAIL_BYTES))
    }

    /// Waits until `pattern` (multi-line mode: `^`/`$` match at line ends) matches the output
    /// received from offset `from` on.
    pub fn wait_for(
        &self,
        pattern: &str,
        from: usize,
        timeout: Duration,
    ) -> Result<Found, ConsoleError> {
        let re = Regex::new(&format!("(?m){pattern}")).map_err(|source| ConsoleError::Pattern {
            pattern: pattern.to_string(),
            source,
        })?;
        let deadline = Instant::now() + timeout;
        let mut buf = self.shared.lock();
        loop {
            let start = from.min(buf.data.len());
            match &self.kernel_records {
                None => {
                    if let Some(caps) = re.captures(&buf.data[start..]) {
                        return Ok(found(&re, &caps, start, None));
                    }
                }
                Some(records) => {
                    let (view, map) = splice(records, &buf.data, start);
                    if let Some(caps) = re.captures(&view) {
                        return Ok(found(&re, &caps, start, Some(&map)));
                    }
                }
            }
            if buf.closed {
                drop(buf);
                return Err(ConsoleError::Closed {
                    name: self.name.clone(),
                    pattern: pattern.to_string(),
                    log: self.log_path.clone(),
                    tail: self.tail(),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                drop(buf);
                return Err(ConsoleError::Timeout {
                    name: self.name.clone(),
                    pattern: pattern.to_string(),
                    timeout,
                    log: self.log_path.clone(),
                    tail: self.tail(),
                });
            }
            buf = self
                .shared
                .grew
                .wait_timeout(buf, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for SerialLog {
    fn drop(&mut self) {
        // Join only when the stream has already ended, so a drop never blocks on a live guest.
        if self.shared.lock().closed {
            if let Some(reader) = self.reader.take() {
                let _ = reader.join();
            }
        }
    }
}

/// `data[start..]` without the kernel records that begin in the middle of a line, and for each
/// byte kept its offset relative to `start`.
fn splice(records: &Regex, data: &[u8], start: usize) -> (Vec<u8>, Vec<usize>) {
    let mut view = Vec::with_capacity(data.len() - start);
    let mut map = Vec::with_capacity(data.len() - start);
    let mut keep_from = start;
    for m in records.find_iter(&data[start..]) {
        let (a, b) = (start + m.start(), start + m.end());
        if a == 0 || data[a - 1] == b'\n' {
            continue;
        }
        view.extend_from_slice(&data[keep_from..a]);
        map.extend((keep_from..a).map(|i| i - start));
        keep_from = b;
    }
    view.extend_from_slice(&data[keep_from..]);
    map.extend((keep_from..data.len()).map(|i| i - start));
    (view, map)
}

/// Builds a [`Found`] from a match in a view of the buffer starting at `offset`; `map` translates
/// view positions to positions relative to `offset` when the view was spliced.
fn found(
    re: &Regex,
    caps: &regex::bytes::Captures<'_>,
    offset: usize,
    map: Option<&[usize]>,
) -> Found {
    let whole = caps.get(0).map(|m| (m.as_bytes(), m.end()));
    let groups = re
        .capture_names()
        .flatten()
        .filter_map(|n| {
            caps.name(n).map(|m| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(m.as_bytes()).into_owned(),
                )
            })
        })
        .collect();
    let end = whole.map(|(_, e)| e).unwrap_or(0);
    let raw_end = match map {
        Some(map) if end > 0 => map.get(end - 1).map(|i| i + 1).unwrap_or(end),
        _ => end,
    };
    Found {
        text: whole
            .map(|(b, _)| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
        end: offset + raw_end,
        groups,
    }
}

fn pump<R: Read>(mut stream: R, mut file: File, shared: &Shared) {
    let mut chunk = [0u8; 8192];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let clean: Vec<u8> = chunk[..n].iter().copied().filter(|&b| b != b'\r').collect();
        // The log file is for people; losing it must not stop the in-memory copy tests rely on.
        let _ = file.write_all(&clean);
        shared.lock().data.extend_from_slice(&clean);
        shared.grew.notify_all();
    }
    let _ = file.flush();
    shared.lock().closed = true;
    shared.grew.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn waits_for_pattern_across_chunks_and_reports_timeout_and_close() {
        let dir = tempfile::tempdir().unwrap();
        let (mut tx, rx) = UnixStream::pair().unwrap();
        let log = SerialLog::spawn("test", rx, &dir.path().join("s.log")).unwrap();
        tx.write_all(b"boot...\r\nZOS REA").unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            tx.write_all(b"DY node=x\r\n").unwrap();
            tx
        });
        let f = log
            .wait_for(r"ZOS READY node=(?P<n>\w+)$", 0, Duration::from_secs(5))
            .map_err(|e| zos_base::report(&e));
        let tx = writer.join().unwrap();
        let f = f.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.group("n"), Some("x"));
        assert_eq!(log.text_since(0), "boot...\nZOS READY node=x\n");
        // Searching past the match finds nothing new.
        let err = log
            .wait_for("ZOS READY", f.end, Duration::from_millis(100))
            .unwrap_err();
        assert!(matches!(err, ConsoleError::Timeout { .. }), "{err}");
        drop(tx);
        let err = log
            .wait_for("never", 0, Duration::from_secs(5))
            .unwrap_err();
        assert!(matches!(err, ConsoleError::Closed { .. }), "{err}");
        let on_disk = std::fs::read_to_string(dir.path().join("s.log")).unwrap();
        assert_eq!(on_disk, "boot...\nZOS READY node=x\n");
    }

    #[test]
    fn kernel_records_cut_into_a_line_are_spliced_out() {
        let dir = tempfile::tempdir().unwrap();
        let (mut tx, rx) = UnixStream::pair().unwrap();
        let log = SerialLog::spawn("console", rx, &dir.path().join("c.log"))
            .unwrap()
            .splice_kernel_records();
        tx.write_all(
            b"[    1.000000] whole line stays\nZOS READY node=ab boot_ms=1[    8.123456] random: crng init done\n234\nafter\n",
        )
        .unwrap();
        let f = log
            .wait_for(r"boot_ms=(?P<ms>\d+)", 0, Duration::from_secs(5))
            .unwrap();
        assert_eq!(f.group("ms"), Some("1234"));
        // The cursor lands after "234" in the raw stream.
        assert_eq!(log.text_since(f.end), "\nafter\n");
        let f = log
            .wait_for(r"^\[ +1\.0+\] whole line stays$", 0, Duration::from_secs(5))
            .unwrap();
        assert_eq!(f.end, "[    1.000000] whole line stays".len());
        drop(tx);
    }
}
