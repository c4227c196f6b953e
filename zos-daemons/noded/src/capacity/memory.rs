//! MRU: total memory in bytes.

use super::{parse_error, read_string, CapacityError, Roots};

/// `MemTotal` of `<proc>/meminfo`, in bytes.
pub fn mem_total_bytes(roots: &Roots) -> Result<u64, CapacityError> {
    let path = roots.proc.join("meminfo");
    parse_mem_total(&read_string(&path)?)
        .ok_or_else(|| parse_error(&path, "no valid `MemTotal: N kB` line"))
}

/// Parses the `MemTotal:  N kB` line into bytes.
pub fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => kib.checked_mul(1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::fixture::Tree;

    #[test]
    fn parses_mem_total() {
        let meminfo = "MemTotal:       24668172 kB\nMemFree:        1000 kB\n";
        assert_eq!(parse_mem_total(meminfo), Some(24668172 * 1024));
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: x kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: 12 MB\n"), None);
    }

    #[test]
    fn reads_fixture() {
        let t = Tree::new();
        t.write("proc/meminfo", "MemTotal:        2048 kB\n");
        assert_eq!(mem_total_bytes(&t.roots).unwrap(), 2048 * 1024);
        t.write("proc/meminfo", "garbage\n");
        assert!(matches!(
            mem_total_bytes(&t.roots),
            Err(CapacityError::Parse { .. })
        ));
    }
}
