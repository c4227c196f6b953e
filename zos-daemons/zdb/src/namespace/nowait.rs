//! Reads that never wait for the disk, so the event loop can serve from the page cache.
//!
//! The server first runs a request inline on its worker thread with reads in "no wait" mode:
//! each positioned read is a `preadv2(RWF_NOWAIT)`, which the kernel answers only from the page
//! cache and otherwise fails with `EAGAIN`. A read that would wait marks the attempt as
//! blocked; the server then throws the reply away and runs the request again where blocking is
//! allowed (`block_in_place`). Only commands without side effects are attempted this way (see
//! `commands::runs_inline`), and writes always read in waiting mode ([`Waiting`]), so a write
//! never stops half-way. Handing every request to a blocking thread instead cost about half
//! of the throughput (each hand-off wakes another thread).
//!
//! Written here because no crate wraps `preadv2` flags (nix does not; std has no flags); the
//! unsafe part is the one `preadv2` call.

use std::cell::Cell;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use nix::libc;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static BLOCKED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with reads that do not wait; returns its result and whether a read would have
/// waited (then the result is meaningless and must be thrown away).
pub fn attempt<R>(f: impl FnOnce() -> R) -> (R, bool) {
    BLOCKED.set(false);
    let was = ACTIVE.replace(true);
    let r = f();
    ACTIVE.set(was);
    (r, BLOCKED.replace(false))
}

/// Whether a read of the current attempt would have waited.
pub fn blocked() -> bool {
    BLOCKED.get()
}

/// While it lives, reads wait (a write must not stop half-way); dropping it restores the mode
/// that was on before.
#[derive(Debug)]
#[must_use = "reads wait only while the guard lives"]
pub struct Waiting {
    was: bool,
}

impl Waiting {
    pub fn begin() -> Waiting {
        Waiting {
            was: ACTIVE.replace(false),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        ACTIVE.set(self.was);
    }
}

/// `read_exact_at`, answered from the page cache only during an attempt.
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    if !ACTIVE.get() {
        return file.read_exact_at(buf, offset);
    }
    let mut done = 0usize;
    while done < buf.len() {
        let rest = &mut buf[done..];
        let iov = libc::iovec {
            iov_base: rest.as_mut_ptr().cast(),
            iov_len: rest.len(),
        };
        let at = libc::off_t::try_from(offset + done as u64).map_err(io::Error::other)?;
        // SAFETY: `iov` points into `rest`, which is valid for writes of `iov_len` bytes for
        // the whole call; the fd is open for the borrow of `file`.
        let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, at, libc::RWF_NOWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                // Not in the page cache, or a filesystem without RWF_NOWAIT.
                Some(libc::EAGAIN) | Some(libc::EOPNOTSUPP) => {
                    BLOCKED.set(true);
                    return Err(io::Error::new(io::ErrorKind::WouldBlock, e));
                }
                _ => return Err(e),
            }
        }
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        done += n as usize;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_reads_succeed_and_outside_an_attempt_reads_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello, page cache").unwrap();
        let f = File::open(&path).unwrap();
        let mut buf = [0u8; 5];
        let (r, blocked) = attempt(|| read_exact_at(&f, &mut buf, 7));
        // Just written: in the page cache.
        r.unwrap();
        assert!(!blocked);
        assert_eq!(&buf, b"page ");
        let (r, blocked) = attempt(|| read_exact_at(&f, &mut [0u8; 8], 100));
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert!(!blocked);
        let (inner, blocked) = attempt(|| {
            let _waiting = Waiting::begin();
            ACTIVE.get()
        });
        assert!(!inner && !blocked);
        assert!(!ACTIVE.get(), "restored after the attempt");
    }
}
