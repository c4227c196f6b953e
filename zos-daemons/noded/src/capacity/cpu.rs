//! CRU: the number of logical CPUs.

use std::io;

use super::{parse_error, read_string, CapacityError, Roots};

/// Logical CPUs online: `<sys>/devices/system/cpu/online`, else the `processor` entries of
/// `<proc>/cpuinfo` when the sysfs file does not exist.
pub fn logical_cpus(roots: &Roots) -> Result<u64, CapacityError> {
    let online = roots.sys.join("devices/system/cpu/online");
    match std::fs::read_to_string(&online) {
        Ok(text) => parse_cpu_list(&text)
            .filter(|n| *n > 0)
            .ok_or_else(|| parse_error(&online, format!("not a CPU list: {:?}", text.trim()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let path = roots.proc.join("cpuinfo");
            match count_processors(&read_string(&path)?) {
                0 => Err(parse_error(&path, "no processor entries")),
                n => Ok(n),
            }
        }
        Err(source) => Err(CapacityError::Read {
            path: online,
            source,
        }),
    }
}

/// Counts the CPUs in a kernel CPU list such as `0-3,6,8-9`.
pub fn parse_cpu_list(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut count = 0u64;
    for part in text.split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((lo, hi)) => {
                let lo: u64 = lo.parse().ok()?;
                let hi: u64 = hi.parse().ok()?;
                count += hi.checked_sub(lo)? + 1;
            }
            None => {
                part.parse::<u64>().ok()?;
                count += 1;
            }
        }
    }
    Some(count)
}

/// Counts `processor : N` lines of `/proc/cpuinfo`.
pub fn count_processors(cpuinfo: &str) -> u64 {
    cpuinfo
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim() == "processor")
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::fixture::Tree;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0\n"), Some(1));
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0-3,6,8-9"), Some(7));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a-b"), None);
    }

    #[test]
    fn online_file_wins() {
        let t = Tree::new();
        t.write("sys/devices/system/cpu/online", "0-7\n");
        t.write("proc/cpuinfo", "processor\t: 0\n");
        assert_eq!(logical_cpus(&t.roots).unwrap(), 8);
    }

    #[test]
    fn falls_back_to_cpuinfo() {
        let t = Tree::new();
        t.write(
            "proc/cpuinfo",
            "processor\t: 0\nmodel name\t: X\n\nprocessor\t: 1\nmodel name\t: X\n\nprocessor\t: 2\n",
        );
        assert_eq!(logical_cpus(&t.roots).unwrap(), 3);
    }

    #[test]
    fn garbage_is_an_error() {
        let t = Tree::new();
        t.write("sys/devices/system/cpu/online", "many\n");
        let err = logical_cpus(&t.roots).unwrap_err();
        assert!(zos_base::report(&err).contains("not a CPU list"), "{err}");
        let t = Tree::new();
        assert!(matches!(
            logical_cpus(&t.roots),
            Err(CapacityError::Read { .. })
        ));
    }

    #[test]
    fn host_online_cpus_match_cpuinfo() {
        // The node runs without CPU affinity limits; on the test host both views agree.
        let n = logical_cpus(&Roots::default()).unwrap();
        assert!(n >= 1);
        assert_eq!(
            n,
            count_processors(&std::fs::read_to_string("/proc/cpuinfo").unwrap())
        );
    }
}
