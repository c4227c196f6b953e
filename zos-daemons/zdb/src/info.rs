//! NSINFO's reply, typed: the server renders a [`NamespaceInfo`] and clients parse one back
//! (`admin`), so the text format has one definition. The text is 0-db's, line for line (the
//! 0-db compatibility tests compare it with a recording of the real 0-db).

use std::fmt::Write;
use std::path::PathBuf;

use crate::format::Mode;

/// One namespace, as NSINFO tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceInfo {
    pub name: String,
    pub entries: u64,
    pub public: bool,
    pub worm: bool,
    pub locked: bool,
    /// Whether a password is set (never the password).
    pub password: bool,
    pub data_size_bytes: u64,
    /// `maxsize`; 0 is no limit.
    pub data_limits_bytes: u64,
    pub index_size_bytes: u64,
    pub next_internal_id: u64,
    pub mode: Mode,
    pub index_io_errors: u64,
    pub index_io_error_last: u64,
    pub data_io_errors: u64,
    pub data_io_error_last: u64,
    /// Free bytes of the filesystems holding index and data, when they could be read.
    pub index_disk_free: Option<u64>,
    pub data_disk_free: Option<u64>,
    /// Only told to the admin.
    pub files: Option<Files>,
}

/// Where a namespace's files are (admin only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub data_path: PathBuf,
    pub data_active: PathBuf,
    pub index_path: PathBuf,
    pub index_active: PathBuf,
    pub data_current_id: u32,
    pub data_current_offset: u64,
}

/// An NSINFO text that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("NSINFO reply without a readable {field:?}")]
pub struct InfoError {
    pub field: &'static str,
}

fn mb(v: u64) -> f64 {
    v as f64 / (1024.0 * 1024.0)
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

impl NamespaceInfo {
    /// Bytes that may still be written (`space_available`), when there is a limit.
    pub fn space_available(&self) -> Option<u64> {
        (self.data_limits_bytes > 0)
            .then(|| self.data_limits_bytes.saturating_sub(self.data_size_bytes))
    }

    /// NSINFO's text.
    pub fn render(&self) -> String {
        let mut t = String::with_capacity(1024);
        let _ = write!(
            t,
            "# namespace\nname: {}\nentries: {}\npublic: {}\nworm: {}\nlocked: {}\npassword: {}\n\
data_size_bytes: {}\ndata_size_mb: {:.2}\ndata_limits_bytes: {}\nindex_size_bytes: {}\n\
index_size_kb: {:.2}\nnext_internal_id: 0x{:08x}\nmode: {}\n\
stats_index_io_errors: {}\nstats_index_io_error_last: {}\nstats_index_faults: 0\n\
stats_data_io_errors: {}\nstats_data_io_error_last: {}\nstats_data_faults: 0\n",
            self.name,
            self.entries,
            yes_no(self.public),
            yes_no(self.worm),
            yes_no(self.locked),
            yes_no(self.password),
            self.data_size_bytes,
            mb(self.data_size_bytes),
            self.data_limits_bytes,
            self.index_size_bytes,
            self.index_size_bytes as f64 / 1024.0,
            self.next_internal_id,
            self.mode.name(),
            self.index_io_errors,
            self.index_io_error_last,
            self.data_io_errors,
            self.data_io_error_last,
        );
        if let Some(free) = self.space_available() {
            let _ = writeln!(t, "space_available: {free}");
        }
        if let Some(f) = self.index_disk_free {
            let _ = write!(
                t,
                "index_disk_freespace_bytes: {f}\nindex_disk_freespace_mb: {:.2}\n",
                mb(f)
            );
        }
        if let Some(f) = self.data_disk_free {
            let _ = write!(
                t,
                "data_disk_freespace_bytes: {f}\ndata_disk_freespace_mb: {:.2}\n",
                mb(f)
            );
        }
        if let Some(files) = &self.files {
            let _ = write!(
                t,
                "data_path: {}\ndata_active: {}\nindex_path: {}\nindex_active: {}\n\
data_current_id: {}\ndata_current_offset: {}\n",
                files.data_path.display(),
                files.data_active.display(),
                files.index_path.display(),
                files.index_active.display(),
                files.data_current_id,
                files.data_current_offset
            );
        }
        t
    }

    /// Reads NSINFO's text back.
    pub fn parse(text: &str) -> Result<NamespaceInfo, InfoError> {
        let value = |key: &'static str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
                .map(str::trim)
        };
        let need = |key: &'static str| value(key).ok_or(InfoError { field: key });
        let number = |key: &'static str| {
            need(key)?
                .parse::<u64>()
                .map_err(|_| InfoError { field: key })
        };
        let flag = |key: &'static str| match need(key)? {
            "yes" => Ok(true),
            "no" => Ok(false),
            _ => Err(InfoError { field: key }),
        };
        let optional = |key: &'static str| value(key).and_then(|v| v.parse::<u64>().ok());
        let next = need("next_internal_id")?;
        let next_internal_id = next
            .strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or(InfoError {
                field: "next_internal_id",
            })?;
        let mode = match need("mode")? {
            "userkey" => Mode::User,
            "sequential" => Mode::Seq,
            _ => return Err(InfoError { field: "mode" }),
        };
        let files = match value("data_path") {
            None => None,
            Some(data_path) => Some(Files {
                data_path: data_path.into(),
                data_active: need("data_active")?.into(),
                index_path: need("index_path")?.into(),
                index_active: need("index_active")?.into(),
                data_current_id: u32::try_from(number("data_current_id")?).map_err(|_| {
                    InfoError {
                        field: "data_current_id",
                    }
                })?,
                data_current_offset: number("data_current_offset")?,
            }),
        };
        Ok(NamespaceInfo {
            name: need("name")?.to_string(),
            entries: number("entries")?,
            public: flag("public")?,
            worm: flag("worm")?,
            locked: flag("locked")?,
            password: flag("password")?,
            data_size_bytes: number("data_size_bytes")?,
            data_limits_bytes: number("data_limits_bytes")?,
            index_size_bytes: number("index_size_bytes")?,
            next_internal_id,
            mode,
            index_io_errors: number("stats_index_io_errors")?,
            index_io_error_last: number("stats_index_io_error_last")?,
            data_io_errors: number("stats_data_io_errors")?,
            data_io_error_last: number("stats_data_io_error_last")?,
            index_disk_free: optional("index_disk_freespace_bytes"),
            data_disk_free: optional("data_disk_freespace_bytes"),
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(files: bool) -> NamespaceInfo {
        NamespaceInfo {
            name: "7-12-kv".into(),
            entries: 3,
            public: false,
            worm: false,
            locked: true,
            password: true,
            data_size_bytes: 4096,
            data_limits_bytes: 1 << 30,
            index_size_bytes: 210,
            next_internal_id: 0x0300_0000,
            mode: Mode::Seq,
            index_io_errors: 0,
            index_io_error_last: 0,
            data_io_errors: 1,
            data_io_error_last: 1_700_000_000,
            index_disk_free: Some(5 << 30),
            data_disk_free: None,
            files: files.then(|| Files {
                data_path: "/data/7-12-kv".into(),
                data_active: "/data/7-12-kv/zdb-data-00000".into(),
                index_path: "/index/7-12-kv".into(),
                index_active: "/index/7-12-kv/zdb-index-00000".into(),
                data_current_id: 0,
                data_current_offset: 4096,
            }),
        }
    }

    #[test]
    fn renders_and_reads_back() {
        for files in [false, true] {
            let info = sample(files);
            let text = info.render();
            assert_eq!(NamespaceInfo::parse(&text), Ok(info));
        }
        let text = sample(false).render();
        assert!(text.starts_with("# namespace\nname: 7-12-kv\nentries: 3\n"));
        assert!(text.contains("\nmode: sequential\n"));
        assert!(text.contains("\nspace_available: 1073737728\n"));
        assert!(text.contains("\nnext_internal_id: 0x03000000\n"));
    }

    #[test]
    fn a_reply_that_is_no_nsinfo_is_refused() {
        assert_eq!(
            NamespaceInfo::parse("OK"),
            Err(InfoError {
                field: "next_internal_id"
            })
        );
        let text = sample(false)
            .render()
            .replace("public: no", "public: maybe");
        assert_eq!(
            NamespaceInfo::parse(&text),
            Err(InfoError { field: "public" })
        );
    }
}
