//! Command-line flags of the `zdb` binary (0-db's names and defaults) and their translation
//! into a `ServerConfig`. Owns parsing and validation only.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use thiserror::Error;

use crate::engine::Settings;
use crate::format::Mode;
use crate::namespace::Durability;
use crate::server::{Limits, ServerConfig, MIN_BUFFER_BUDGET};

pub const DEFAULT_DATASIZE: u64 = 256 * 1024 * 1024;
pub const MIN_DATASIZE: u64 = 512 * 1024;
pub const MAX_DATASIZE: u64 = 4 * 1024 * 1024 * 1024 - 1;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("--listen {0:?} is not an IP address")]
    Listen(String),
    #[error("--datasize {0} out of range ({MIN_DATASIZE}..={MAX_DATASIZE} bytes)")]
    Datasize(u64),
    #[error("--protect needs --admin")]
    ProtectWithoutAdmin,
    #[error("--max-buffer-bytes {0} cannot hold the largest request and reply ({MIN_BUFFER_BUDGET} bytes; 0 = no limit)")]
    Budget(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    User,
    Seq,
    /// 0-db maps `direct` to `seq`.
    Direct,
}

#[derive(Debug, Parser)]
#[command(
    name = "zdb",
    version,
    about = "0-db compatible key-value server (RESP over TCP/unix socket, 0-db v2 files)"
)]
pub struct Args {
    /// Data files root (`<data>/<namespace>/d<N>`).
    #[arg(long, default_value = "./zdb-data")]
    pub data: PathBuf,
    /// Index files root (`<index>/<namespace>/i<N>` and `zdb-namespace`).
    #[arg(long, default_value = "./zdb-index")]
    pub index: PathBuf,
    /// TCP listen address.
    #[arg(long, default_value = "::")]
    pub listen: String,
    #[arg(long, default_value_t = 9900)]
    pub port: u16,
    /// Unix socket path; replaces TCP unless --dualnet.
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Listen on TCP and on --socket.
    #[arg(long)]
    pub dualnet: bool,
    /// Admin password (without it, every client is admin).
    #[arg(long)]
    pub admin: Option<String>,
    /// Default namespace gets the admin password; clients start read-only.
    #[arg(long)]
    pub protect: bool,
    /// Fixed runtime mode; without it namespaces choose (mixed mode).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Rotate data/index files when a data file would exceed this many bytes.
    #[arg(long, default_value_t = DEFAULT_DATASIZE)]
    pub datasize: u64,
    /// Maximum size of the default namespace (bytes, 0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub maxsize: u64,
    /// fsync data and index before acknowledging every write.
    #[arg(long)]
    pub sync: bool,
    /// fsync on a write when the last fsync is older than this many seconds.
    #[arg(long)]
    pub synctime: Option<u64>,
    /// TCP connections at once (0 = no limit).
    #[arg(long, default_value_t = Limits::default().max_clients)]
    pub max_clients: usize,
    /// TCP connections at once from one IPv4 address or IPv6 /64 (0 = no limit).
    #[arg(long, default_value_t = Limits::default().max_clients_per_peer)]
    pub max_clients_per_ip: usize,
    /// Seconds a request may take to arrive whole, and its reply to be taken (0 = no limit).
    #[arg(long, default_value_t = Limits::default().request_timeout.as_secs())]
    pub request_timeout: u64,
    /// Seconds a connection may stay without a request (0 = no limit).
    #[arg(long, default_value_t = Limits::default().idle_timeout.as_secs())]
    pub idle_timeout: u64,
    /// Bytes of request and reply buffers beyond each connection's base, all connections
    /// together (0 = no limit).
    #[arg(long, default_value_t = Limits::default().max_buffer_bytes)]
    pub max_buffer_bytes: usize,
    /// Debug logs.
    #[arg(long, short)]
    pub verbose: bool,
}

impl Args {
    pub fn into_config(self) -> Result<ServerConfig, ConfigError> {
        if !(MIN_DATASIZE..=MAX_DATASIZE).contains(&self.datasize) {
            return Err(ConfigError::Datasize(self.datasize));
        }
        if self.protect && self.admin.is_none() {
            return Err(ConfigError::ProtectWithoutAdmin);
        }
        if self.max_buffer_bytes != 0 && self.max_buffer_bytes < MIN_BUFFER_BUDGET {
            return Err(ConfigError::Budget(self.max_buffer_bytes));
        }
        let ip: IpAddr = self
            .listen
            .parse()
            .map_err(|_| ConfigError::Listen(self.listen.clone()))?;
        let durability = if self.sync {
            Durability::Sync
        } else if let Some(s) = self.synctime.filter(|s| *s > 0) {
            Durability::SyncTime(Duration::from_secs(s))
        } else {
            Durability::None
        };
        let mode = match self.mode {
            None => None,
            Some(ModeArg::User) => Some(Mode::User),
            Some(ModeArg::Seq) | Some(ModeArg::Direct) => Some(Mode::Seq),
        };
        let tcp = if self.socket.is_none() || self.dualnet {
            Some(SocketAddr::new(ip, self.port))
        } else {
            None
        };
        Ok(ServerConfig {
            settings: Settings {
                index_root: self.index,
                data_root: self.data,
                datasize: self.datasize,
                durability,
                mode,
                admin: self.admin.map(String::into_bytes),
                protect: self.protect,
                maxsize: self.maxsize,
            },
            tcp,
            unix: self.socket,
            limits: Limits {
                max_clients: self.max_clients,
                max_clients_per_peer: self.max_clients_per_ip,
                request_timeout: Duration::from_secs(self.request_timeout),
                idle_timeout: Duration::from_secs(self.idle_timeout),
                max_buffer_bytes: self.max_buffer_bytes,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServerConfig, ConfigError> {
        let mut v = vec!["zdb"];
        v.extend_from_slice(args);
        Args::try_parse_from(v).expect("flags parse").into_config()
    }

    #[test]
    fn defaults_like_zdb() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.tcp, Some("[::]:9900".parse().unwrap()));
        assert_eq!(c.unix, None);
        assert_eq!(c.settings.datasize, 256 * 1024 * 1024);
        assert_eq!(c.settings.durability, Durability::None);
        assert_eq!(c.settings.mode, None);
        assert_eq!(c.settings.index_root, PathBuf::from("./zdb-index"));
    }

    #[test]
    fn socket_replaces_tcp_unless_dualnet() {
        let c = parse(&["--socket", "/tmp/x.sock"]).unwrap();
        assert_eq!(c.tcp, None);
        let c = parse(&[
            "--socket",
            "/tmp/x.sock",
            "--dualnet",
            "--listen",
            "127.0.0.1",
        ])
        .unwrap();
        assert_eq!(c.tcp, Some("127.0.0.1:9900".parse().unwrap()));
    }

    #[test]
    fn modes_durability_and_limits() {
        assert_eq!(
            parse(&["--mode", "direct"]).unwrap().settings.mode,
            Some(Mode::Seq)
        );
        assert_eq!(
            parse(&["--mode", "user"]).unwrap().settings.mode,
            Some(Mode::User)
        );
        assert_eq!(
            parse(&["--sync"]).unwrap().settings.durability,
            Durability::Sync
        );
        assert_eq!(
            parse(&["--synctime", "10"]).unwrap().settings.durability,
            Durability::SyncTime(Duration::from_secs(10))
        );
        assert!(matches!(
            parse(&["--datasize", "32"]),
            Err(ConfigError::Datasize(32))
        ));
        assert!(matches!(
            parse(&["--datasize", &(8u64 << 30).to_string()]),
            Err(ConfigError::Datasize(_))
        ));
        assert!(matches!(
            parse(&["--protect"]),
            Err(ConfigError::ProtectWithoutAdmin)
        ));
        assert!(matches!(
            parse(&["--listen", "nope"]),
            Err(ConfigError::Listen(_))
        ));
        assert!(matches!(
            parse(&["--max-buffer-bytes", "1000"]),
            Err(ConfigError::Budget(1000))
        ));
        let l = parse(&["--max-clients-per-ip", "3", "--request-timeout", "0"])
            .unwrap()
            .limits;
        assert_eq!(l.max_clients_per_peer, 3);
        assert_eq!(l.request_timeout, Duration::ZERO);
        assert_eq!(parse(&[]).unwrap().limits, Limits::default());
        let c = parse(&["--admin", "pw", "--protect", "--maxsize", "99"]).unwrap();
        assert_eq!(c.settings.admin.as_deref(), Some(&b"pw"[..]));
        assert!(c.settings.protect);
        assert_eq!(c.settings.maxsize, 99);
    }
}
