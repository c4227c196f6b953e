//! zdb workloads: 0-db namespaces on the node's HDD capacity, as zos serves them.
//!
//! One zdb process (our `zdb`, 0-db compatible) serves every namespace. Its data lives in the
//! storaged volume [`VOLUME`] on an HDD pool, whose quota is the sum of the namespaces' sizes (so
//! storaged's HRU accounting stays true); the init supervises it (`/etc/zinit/zdb.yaml`, loaded
//! with the control socket's `monitor`), with an admin password kept in provisiond's store and
//! `--protect`. A workload is the namespace named after its workload id, with the workload's size
//! (`maxsize`), mode, password and public flag; pause and resume freeze it (read-only) and thaw
//! it; an update may grow it and change password and public, not its mode. The result carries
//! the namespace, the node's IPs and the port (zos's JSON shape).
//!
//! Owns the zdb service file and the namespaces; it talks to zdb over its unix socket and never
//! touches zdb's files.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gridtypes::types::{Zdb, ZdbResult, ZDB_MODE_SEQ};
use gridtypes::WorkloadId;
use serde_json::Value;
use zbus::Connection;
use zos_bus::storage::{kind, StorageError, StorageProxy};
use zos_bus::NetworkProxy;

use crate::provision::ProvisionError;

/// The storaged volume holding zdb's data and index.
pub const VOLUME: &str = "zdb";
/// Where zdb listens for clients.
pub const PORT: u16 = 9900;

/// Where the node's parts are (tests point them elsewhere).
#[derive(Debug, Clone)]
pub struct ZdbSetup {
    /// zdb's admin password (generated once, kept in the store).
    pub admin: String,
    /// The init's control socket.
    pub init_socket: PathBuf,
    /// The init's service directory.
    pub services: PathBuf,
    /// zdb's unix socket.
    pub socket: PathBuf,
}

impl ZdbSetup {
    pub fn node(admin: String) -> Self {
        ZdbSetup {
            admin,
            init_socket: PathBuf::from("/run/zinit.sock"),
            services: PathBuf::from("/etc/zinit"),
            socket: PathBuf::from("/run/zdb/zdb.sock"),
        }
    }
}

/// One zdb process and its namespaces.
#[derive(Clone)]
pub struct ZdbManager {
    bus: Connection,
    setup: ZdbSetup,
}

fn failed(what: impl std::fmt::Display) -> ProvisionError {
    ProvisionError::Storage(format!("zdb: {what}"))
}

impl ZdbManager {
    pub fn new(bus: Connection, setup: ZdbSetup) -> Self {
        ZdbManager { bus, setup }
    }

    async fn storage(&self) -> Result<StorageProxy<'static>, ProvisionError> {
        StorageProxy::new(&self.bus).await.map_err(failed)
    }

    /// Creates the namespace (or finds it), growing the volume by its size.
    pub async fn install(&self, id: &WorkloadId, z: &Zdb) -> Result<Value, ProvisionError> {
        let name = id.to_string();
        let (path, fresh) = self.volume(z.size).await?;
        self.ensure_running(&path).await?;
        if !self.exists(&name).await? {
            if !fresh {
                self.grow(z.size as i64).await?;
            }
            let mut commands = vec![
                vec!["NSNEW".into(), name.clone()],
                nsset(&name, "maxsize", z.size.to_string()),
                nsset(&name, "public", flag(z.public)),
            ];
            if z.mode == ZDB_MODE_SEQ {
                commands.push(nsset(&name, "mode", "seq"));
            }
            if !z.password.is_empty() {
                commands.push(nsset(&name, "password", z.password.clone()));
            }
            self.admin(commands).await?;
        }
        self.result(&name).await
    }

    /// Applies a new size (grow only), password and public flag; the mode cannot change.
    pub async fn update(&self, id: &WorkloadId, z: &Zdb) -> Result<Value, ProvisionError> {
        let name = id.to_string();
        let info = self
            .info(&name)
            .await?
            .ok_or_else(|| failed(format!("namespace {name} is gone")))?;
        let size = field(&info, "data_limits_bytes").unwrap_or(0);
        let seq = info.contains("mode: sequential");
        if (z.mode == ZDB_MODE_SEQ) != seq {
            return Err(ProvisionError::Refused(
                "the mode of a zdb namespace cannot change".into(),
            ));
        }
        if z.size < size {
            return Err(ProvisionError::Refused(format!(
                "a zdb namespace cannot shrink (from {size} to {} bytes)",
                z.size
            )));
        }
        self.grow((z.size - size) as i64).await?;
        let password = if z.password.is_empty() {
            "*".to_string()
        } else {
            z.password.clone()
        };
        self.admin(vec![
            nsset(&name, "maxsize", z.size.to_string()),
            nsset(&name, "public", flag(z.public)),
            nsset(&name, "password", password),
        ])
        .await?;
        self.result(&name).await
    }

    /// Freezes (pause) or thaws the namespace.
    pub async fn pause(&self, id: &WorkloadId, paused: bool) -> Result<(), ProvisionError> {
        self.admin(vec![nsset(&id.to_string(), "freeze", flag(paused))])
            .await
            .map(|_| ())
    }

    /// Deletes the namespace and its data, shrinking the volume by its size.
    pub async fn remove(&self, id: &WorkloadId) -> Result<(), ProvisionError> {
        let name = id.to_string();
        let path = match self.storage().await?.volume_usage(VOLUME).await {
            Ok(v) => PathBuf::from(v.path),
            // No zdb volume: no namespace was ever made.
            Err(StorageError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        self.ensure_running(&path).await?;
        let Some(info) = self.info(&name).await? else {
            return Ok(());
        };
        self.admin(vec![vec!["NSDEL".into(), name]]).await?;
        let size = field(&info, "data_limits_bytes").unwrap_or(0);
        // Not below what is used; a shrink that storaged refuses leaves the quota larger.
        if let Err(error) = self.grow(-(size as i64)).await {
            tracing::warn!(%error, "zdb volume not shrunk");
        }
        Ok(())
    }

    /// The zdb volume's path, created with `size` if missing (then `true`).
    async fn volume(&self, size: u64) -> Result<(PathBuf, bool), ProvisionError> {
        let storage = self.storage().await?;
        match storage.volume_usage(VOLUME).await {
            Ok(v) => Ok((PathBuf::from(v.path), false)),
            Err(StorageError::NotFound(_)) => {
                let v = storage.create_volume(VOLUME, size, kind::HDD).await?;
                Ok((PathBuf::from(v.path), true))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn grow(&self, by: i64) -> Result<(), ProvisionError> {
        let storage = self.storage().await?;
        let v = storage.volume_usage(VOLUME).await?;
        let size = (v.size as i64 + by).max(v.used as i64).max(1) as u64;
        storage.resize_volume(VOLUME, size).await?;
        Ok(())
    }

    /// Makes the init run zdb over the volume (service file + `monitor`), then waits for it.
    async fn ensure_running(&self, volume: &Path) -> Result<(), ProvisionError> {
        if ping(&self.setup.socket).is_ok() {
            return Ok(());
        }
        let service = self.setup.services.join("zdb.yaml");
        let text = format!(
            "# 0-db namespaces of zdb workloads (written by provisiond).\n\
             exec: /sbin/zdb --data {data} --index {index} --listen 0.0.0.0 --port {PORT} --socket {socket} --dualnet --admin {admin} --protect\n\
             after:\n  - storaged\n",
            data = volume.join("data").display(),
            index = volume.join("index").display(),
            socket = self.setup.socket.display(),
            admin = self.setup.admin,
        );
        if let Some(dir) = self.setup.socket.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        if std::fs::read_to_string(&service).ok().as_deref() != Some(text.as_str()) {
            write_atomic(&service, &text).map_err(failed)?;
        }
        match init_command(&self.setup.init_socket, "monitor zdb") {
            Ok(()) => {}
            Err(e) if e.contains("already monitored") => {
                init_command(&self.setup.init_socket, "start zdb")
                    .or_else(|e| {
                        if e.contains("running") {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })
                    .map_err(failed)?;
            }
            Err(e) => return Err(failed(e)),
        }
        let start = Instant::now();
        while ping(&self.setup.socket).is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                return Err(failed("zdb did not start within 20 s"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::info!(volume = %volume.display(), "zdb running");
        Ok(())
    }

    async fn exists(&self, name: &str) -> Result<bool, ProvisionError> {
        Ok(self.info(name).await?.is_some())
    }

    async fn info(&self, name: &str) -> Result<Option<String>, ProvisionError> {
        if !self.setup.socket.exists() {
            return Ok(None);
        }
        match self
            .admin(vec![vec!["NSINFO".into(), name.to_string()]])
            .await
        {
            Ok(mut replies) => Ok(replies.pop()),
            Err(ProvisionError::Refused(m)) if m.contains("Namespace not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Runs `commands` after AUTH as admin; each reply as text.
    async fn admin(&self, commands: Vec<Vec<String>>) -> Result<Vec<String>, ProvisionError> {
        let socket = self.setup.socket.clone();
        let admin = self.setup.admin.clone();
        tokio::task::spawn_blocking(move || -> Result<Vec<String>, ProvisionError> {
            let client =
                redis::Client::open(format!("unix://{}", socket.display())).map_err(failed)?;
            let mut con = client.get_connection().map_err(failed)?;
            let _: () = redis::cmd("AUTH")
                .arg(&admin)
                .query(&mut con)
                .map_err(failed)?;
            let mut out = Vec::new();
            for c in commands {
                let mut cmd = redis::cmd(&c[0]);
                for a in &c[1..] {
                    cmd.arg(a);
                }
                match cmd.query::<redis::Value>(&mut con) {
                    Ok(v) => out.push(text(&v)),
                    Err(e)
                        if e.kind() == redis::ErrorKind::ResponseError || e.detail().is_some() =>
                    {
                        // The client splits zdb's error line into a "code" (its first word)
                        // and a detail; put the line back together.
                        let line = match (e.code(), e.detail()) {
                            (Some(code), Some(detail)) => format!("{code} {detail}"),
                            _ => e.to_string(),
                        };
                        return Err(ProvisionError::Refused(format!("zdb {}: {line}", c[0])));
                    }
                    Err(e) => return Err(failed(e)),
                }
            }
            Ok(out)
        })
        .await
        .map_err(failed)?
    }

    /// zos's result: the namespace, the node's IPs, the port.
    async fn result(&self, name: &str) -> Result<Value, ProvisionError> {
        let ips = match NetworkProxy::new(&self.bus).await {
            Ok(p) => p
                .status()
                .await
                .map(|s| {
                    s.addresses
                        .iter()
                        .map(|a| a.split('/').next().unwrap_or(a).to_string())
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        serde_json::to_value(ZdbResult {
            namespace: name.to_string(),
            ips,
            port: u64::from(PORT),
        })
        .map_err(failed)
    }
}

/// `NSSET <namespace> <property> <value>`.
fn nsset(namespace: &str, property: &str, value: impl Into<String>) -> Vec<String> {
    vec![
        "NSSET".into(),
        namespace.to_string(),
        property.into(),
        value.into(),
    ]
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_string()
}

fn text(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Okay => "OK".into(),
        redis::Value::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// A numeric `key: value` line of NSINFO.
fn field(info: &str, key: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(": ")?.trim().parse().ok())
}

/// PING over the unix socket (zdb is up).
fn ping(socket: &Path) -> std::io::Result<()> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf)?;
    if buf[..n].starts_with(b"+PONG") {
        Ok(())
    } else {
        Err(std::io::Error::other("no PONG"))
    }
}

/// One line to the init's control socket; its JSON answer's body on error.
fn init_command(socket: &Path, line: &str) -> Result<(), String> {
    let mut s = UnixStream::connect(socket)
        .map_err(|e| format!("init control socket {}: {e}", socket.display()))?;
    s.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).map_err(|e| e.to_string())?;
    let v: Value =
        serde_json::from_str(&reply).map_err(|e| format!("init answered {reply:?}: {e}"))?;
    if v["state"] == "ok" {
        Ok(())
    } else {
        Err(v["body"].as_str().unwrap_or(&reply).to_string())
    }
}

fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
