//! The node's resolver configuration (`/etc/resolv.conf`), written from the DHCP lease.
//!
//! Owns that one file and writes it atomically (temporary file in the same directory, fsync,
//! rename), so a reader never sees a half-written file. It touches nothing else.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ResolvError {
    #[error("cannot write resolver configuration {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The file's content for these name servers and search domain.
pub fn render(dns: &[Ipv4Addr], domain: Option<&str>) -> String {
    let mut out = String::from("# written by networkd from the DHCP lease on the zos bridge\n");
    if let Some(d) = domain.filter(|d| !d.is_empty() && !d.contains(char::is_whitespace)) {
        out.push_str(&format!("search {d}\n"));
    }
    for ip in dns {
        out.push_str(&format!("nameserver {ip}\n"));
    }
    out
}

/// Replaces `path` with the resolver configuration for `dns` and `domain`.
pub fn write(path: &Path, dns: &[Ipv4Addr], domain: Option<&str>) -> Result<(), ResolvError> {
    zos_base::write_atomic(path, render(dns, domain).as_bytes(), 0o644).map_err(|source| {
        ResolvError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_search_and_nameservers_in_order() {
        let text = render(
            &[Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)],
            Some("grid.test"),
        );
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            vec![
                "search grid.test",
                "nameserver 10.0.0.1",
                "nameserver 10.0.0.2"
            ]
        );
    }

    #[test]
    fn ignores_a_domain_that_would_break_the_file() {
        let text = render(
            &[Ipv4Addr::new(10, 0, 0, 1)],
            Some("a b\nnameserver 6.6.6.6"),
        );
        assert!(!text.contains("search"), "{text}");
        assert!(!text.contains("6.6.6.6"), "{text}");
    }

    #[test]
    fn write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(&path, "nameserver 192.0.2.1\n").unwrap();
        write(&path, &[Ipv4Addr::new(10, 9, 8, 7)], None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("nameserver 10.9.8.7"), "{text}");
        assert!(!text.contains("192.0.2.1"), "{text}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("resolv.conf")]);
    }

    #[test]
    fn write_into_a_missing_directory_names_the_path() {
        let err = write(
            Path::new("/nonexistent/dir/resolv.conf"),
            &[Ipv4Addr::new(10, 0, 0, 1)],
            None,
        )
        .unwrap_err();
        assert!(
            zos_base::report(&err).contains("/nonexistent/dir/resolv.conf"),
            "{err}"
        );
    }
}
