//! Whether a disk is an SSD or an HDD, decided once, when its pool is made (the pool's label
//! keeps the verdict: `zos-pool-ssd-…` / `zos-pool-hdd-…`).
//!
//! The kernel's `queue/rotational` flag is not trusted: every virtio-blk disk says "rotational",
//! and so does a SCSI disk that does not report its rotation rate. Instead:
//! - [`measure`] times small random reads against sequential ones on the raw device (`O_DIRECT`,
//!   so no page cache), bounded to a few seconds;
//! - [`classify`] turns the figures and the device's own statements ([`Hints`]) into a
//!   [`Verdict`] with the reason, logged and shown in `Disks()`.
//!
//! The rule (also in storaged's README): in a VM the figures are the host's storage, not the
//! disk's, so a rotation rate the hypervisor states (SCSI VPD page B1: 1 = not rotating, > 1 =
//! rpm) decides, and a disk that states none is an SSD (as zos does in a VM). On bare metal the
//! figures decide: an HDD when the median random read takes at least [`HDD_RANDOM_US`] (zos's
//! `seektime` threshold) and at least [`HDD_RATIO`] times the median sequential read; if the
//! disk cannot be measured, the kernel's flag.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::pool::Kind;

/// Bytes per read (the usual physical block; `O_DIRECT` needs aligned offsets and buffers).
pub const READ_LEN: usize = 4096;
/// At most this many reads of each kind.
pub const READS: usize = 128;
/// Time budget of each kind of read: the whole measurement stays under ~3 s per disk.
pub const BUDGET: Duration = Duration::from_millis(1500);
/// A median random read this slow (µs) is a head seeking: zos's `seektime` says HDD above 500 µs.
pub const HDD_RANDOM_US: u64 = 500;
/// ... and that many times slower than a sequential read (a slow but flat device is no HDD).
pub const HDD_RATIO: u64 = 4;
/// Fewer reads than this in the budget: no figures.
const MIN_READS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum SeekError {
    #[error("cannot open {path} for direct reads")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading {path} at byte {offset}")]
    Read {
        path: PathBuf,
        offset: u64,
        #[source]
        source: io::Error,
    },
    #[error("{path} is too small to measure ({size} bytes)")]
    TooSmall { path: PathBuf, size: u64 },
    #[error("{path}: only {reads} reads in {budget:?}")]
    TooSlow {
        path: PathBuf,
        reads: usize,
        budget: Duration,
    },
}

/// Medians of the timed reads, microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub random_us: u64,
    pub sequential_us: u64,
    /// Reads done of each kind.
    pub reads: usize,
}

/// What the device and the machine say about the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    /// The node runs under a hypervisor.
    pub virtualized: bool,
    /// The rotation rate the device reports (SCSI VPD page B1): 1 = not rotating, else rpm.
    /// `None`: not reported.
    pub rotation_rate: Option<u16>,
    /// The kernel's `queue/rotational`.
    pub rotational: bool,
}

/// The kind and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub kind: Kind,
    pub why: String,
}

/// The rule (see the module doc).
pub fn classify(figures: Option<&Figures>, hints: &Hints) -> Verdict {
    let verdict = |kind, why: String| Verdict { kind, why };
    if hints.virtualized {
        return match hints.rotation_rate {
            Some(1) => verdict(Kind::Ssd, "in a VM; the disk reports no rotation".into()),
            Some(rpm) => verdict(Kind::Hdd, format!("in a VM; the disk reports {rpm} rpm")),
            None => verdict(
                Kind::Ssd,
                "in a VM, the disk reports no rotation rate: an SSD, as zos counts it".into(),
            ),
        };
    }
    match figures {
        Some(f) => {
            let seeks = f.random_us >= HDD_RANDOM_US
                && f.random_us >= HDD_RATIO.saturating_mul(f.sequential_us.max(1));
            let kind = if seeks { Kind::Hdd } else { Kind::Ssd };
            verdict(
                kind,
                format!(
                    "measured: random read {} µs, sequential {} µs (median of {})",
                    f.random_us, f.sequential_us, f.reads
                ),
            )
        }
        None if hints.rotational => {
            verdict(Kind::Hdd, "not measured; the kernel says rotational".into())
        }
        None => verdict(
            Kind::Ssd,
            "not measured; the kernel says not rotational".into(),
        ),
    }
}

/// The rotation rate in a SCSI Block Device Characteristics VPD page (B1) as sysfs shows it
/// (`device/vpd_pgb1`): bytes 4-5, big-endian. 0 (not reported), reserved values and a short
/// page: `None`.
pub fn rotation_rate(page: &[u8]) -> Option<u16> {
    if page.get(1) != Some(&0xb1) {
        return None;
    }
    let rate = u16::from_be_bytes([*page.get(4)?, *page.get(5)?]);
    match rate {
        1 | 0x0401..=0xfffe => Some(rate),
        _ => None,
    }
}

/// Reads the rotation rate of block device `name` from `<sys>/class/block/<name>/device/vpd_pgb1`.
pub fn reported_rotation_rate(sys: &Path, name: &str) -> Option<u16> {
    let page = std::fs::read(sys.join("class/block").join(name).join("device/vpd_pgb1")).ok()?;
    rotation_rate(&page)
}

/// Measures the disk `name` at `path` (logging the figures, or why there are none) and
/// classifies it.
pub fn judge(
    path: &Path,
    name: &str,
    size: u64,
    sys: &Path,
    virtualized: bool,
    rotational: bool,
) -> Verdict {
    let figures = match measure(path, size) {
        Ok(f) => {
            tracing::info!(
                disk = name,
                random_us = f.random_us,
                sequential_us = f.sequential_us,
                reads = f.reads,
                "seek figures"
            );
            Some(f)
        }
        Err(error) => {
            tracing::warn!(disk = name, error = %zos_base::Report(&error), "cannot measure the disk's seek time");
            None
        }
    };
    let hints = Hints {
        virtualized,
        rotation_rate: reported_rotation_rate(sys, name),
        rotational,
    };
    classify(figures.as_ref(), &hints)
}

/// Times [`READS`] reads of [`READ_LEN`] bytes at random aligned offsets over the whole
/// device, then as many consecutive ones from its start, each kind within [`BUDGET`].
/// Reads only.
pub fn measure(path: &Path, size: u64) -> Result<Figures, SeekError> {
    let blocks = size / READ_LEN as u64;
    if blocks < 2 * READS as u64 {
        return Err(SeekError::TooSmall {
            path: path.to_path_buf(),
            size,
        });
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .map_err(|source| SeekError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let mut buffer = vec![0u8; 2 * READ_LEN];
    let start = buffer.as_ptr().align_offset(READ_LEN);
    let block = &mut buffer[start..start + READ_LEN];
    let mut rng = Rng::seeded();
    let random = timed(&file, path, block, |_| {
        (rng.next() % blocks) * READ_LEN as u64
    })?;
    let sequential = timed(&file, path, block, |i| i as u64 * READ_LEN as u64)?;
    Ok(Figures {
        random_us: random.0,
        sequential_us: sequential.0,
        reads: random.1.min(sequential.1),
    })
}

/// Median time (µs) of reads at `offset(i)` and how many were made.
fn timed(
    file: &File,
    path: &Path,
    block: &mut [u8],
    mut offset: impl FnMut(usize) -> u64,
) -> Result<(u64, usize), SeekError> {
    let began = Instant::now();
    let mut times = Vec::with_capacity(READS);
    // One untimed read first: the device may be waking up.
    for i in 0..=READS {
        if began.elapsed() > BUDGET {
            break;
        }
        let at = offset(i);
        let t = Instant::now();
        file.read_at(block, at).map_err(|source| SeekError::Read {
            path: path.to_path_buf(),
            offset: at,
            source,
        })?;
        if i > 0 {
            times.push(t.elapsed().as_micros() as u64);
        }
    }
    if times.len() < MIN_READS {
        return Err(SeekError::TooSlow {
            path: path.to_path_buf(),
            reads: times.len(),
            budget: BUDGET,
        });
    }
    times.sort_unstable();
    Ok((times[times.len() / 2], times.len()))
}

/// xorshift64*, seeded from the clock: offsets need only be spread, not secret.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng(nanos | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARE: Hints = Hints {
        virtualized: false,
        rotation_rate: None,
        rotational: true,
    };

    fn figures(random_us: u64, sequential_us: u64) -> Figures {
        Figures {
            random_us,
            sequential_us,
            reads: 128,
        }
    }

    #[test]
    fn on_bare_metal_the_figures_decide() {
        // A 7200 rpm SATA disk: ~8 ms per random read, ~0.1 ms sequential.
        assert_eq!(classify(Some(&figures(8200, 110)), &BARE).kind, Kind::Hdd);
        // A SATA SSD and an NVMe drive, whatever the kernel's flag says.
        assert_eq!(classify(Some(&figures(180, 90)), &BARE).kind, Kind::Ssd);
        assert_eq!(classify(Some(&figures(70, 60)), &BARE).kind, Kind::Ssd);
        // Right at the threshold: a seek.
        assert_eq!(classify(Some(&figures(500, 125)), &BARE).kind, Kind::Hdd);
        assert_eq!(classify(Some(&figures(499, 10)), &BARE).kind, Kind::Ssd);
        // Slow everywhere (a USB bridge, a network disk): no head seeking.
        assert_eq!(classify(Some(&figures(2000, 1500)), &BARE).kind, Kind::Ssd);
        // Sequential reads faster than the clock shows.
        assert_eq!(classify(Some(&figures(600, 0)), &BARE).kind, Kind::Hdd);
        let v = classify(Some(&figures(8200, 110)), &BARE);
        assert_eq!(
            v.why,
            "measured: random read 8200 µs, sequential 110 µs (median of 128)"
        );
    }

    #[test]
    fn unmeasured_falls_back_to_the_kernel_flag() {
        assert_eq!(classify(None, &BARE).kind, Kind::Hdd);
        let flat = Hints {
            rotational: false,
            ..BARE
        };
        assert_eq!(classify(None, &flat).kind, Kind::Ssd);
    }

    #[test]
    fn in_a_vm_the_stated_rotation_rate_decides_else_ssd() {
        let vm = |rotation_rate| Hints {
            virtualized: true,
            rotation_rate,
            rotational: true,
        };
        // virtio-blk: rotational, no rate, and the host's figures look like an HDD's.
        let slow = figures(9000, 100);
        assert_eq!(classify(Some(&slow), &vm(None)).kind, Kind::Ssd);
        // scsi-hd rotation_rate=1 and =7200.
        assert_eq!(classify(Some(&slow), &vm(Some(1))).kind, Kind::Ssd);
        let hdd = classify(Some(&figures(50, 40)), &vm(Some(7200)));
        assert_eq!(hdd.kind, Kind::Hdd);
        assert_eq!(hdd.why, "in a VM; the disk reports 7200 rpm");
        assert_eq!(classify(None, &vm(None)).kind, Kind::Ssd);
    }

    #[test]
    fn rotation_rate_from_the_vpd_page() {
        let page = |rate: u16| {
            let [hi, lo] = rate.to_be_bytes();
            vec![0, 0xb1, 0, 0x3c, hi, lo, 0, 0]
        };
        assert_eq!(rotation_rate(&page(1)), Some(1));
        assert_eq!(rotation_rate(&page(7200)), Some(7200));
        assert_eq!(rotation_rate(&page(0)), None, "not reported");
        assert_eq!(rotation_rate(&page(0x0200)), None, "reserved");
        assert_eq!(rotation_rate(&page(0xffff)), None, "reserved");
        assert_eq!(rotation_rate(&[0, 0xb1, 0, 0x3c, 0x1c]), None, "short");
        let mut other = page(7200);
        other[1] = 0xb0;
        assert_eq!(rotation_rate(&other), None, "another page");
    }

    #[test]
    fn measures_a_file_and_refuses_tiny_ones() {
        // In the workspace's target directory: tmpfs may refuse O_DIRECT.
        let dir =
            tempfile::tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")).unwrap();
        let path = dir.path().join("disk");
        let size = 64 * 1024 * 1024;
        let f = File::create(&path).unwrap();
        f.set_len(size).unwrap();
        let figures = measure(&path, size).unwrap();
        assert!(figures.reads >= MIN_READS, "{figures:?}");
        assert!(matches!(
            measure(&path, 4096),
            Err(SeekError::TooSmall { .. })
        ));
        assert!(matches!(
            measure(&dir.path().join("none"), size),
            Err(SeekError::Open { .. })
        ));
    }
}
