//! One zdb process: the storaged volume it serves from (one per HDD pool), its settings file,
//! its init service, and an admin session over its unix socket.
//!
//! The volume `zdb-<pool>` holds zdb's `data/` and `index/` and, beside them, [`SETTINGS`]: the
//! port and admin password of this process (mode 0600). Keeping them with the data makes a
//! volume self-describing: after a reboot, or a crash between creating the volume and starting
//! zdb, the same port and password are found again. The init runs zdb from the service file
//! `<volume>.yaml` (written here, loaded with `monitor`) and restarts it if it dies.
//!
//! Never touches zdb's own files; only zdb does.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use zos_init_control::{AsyncClient, ClientError, ControlError, Request};

use super::{failed, ZdbSetup};
use crate::provision::ProvisionError;

/// The prefix of the volume (and service) names of zdb processes: `zdb-<pool>`.
pub const VOLUME_PREFIX: &str = "zdb-";
/// The settings file in the volume's root.
pub const SETTINGS: &str = "zdb-settings.json";

/// How long zdb gets to answer PING after the init starts it.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the init gets to stop it before we give up removing it.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// What a zdb process needs that is not in its volume's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub port: u16,
    pub admin: String,
}

/// A zdb process and its volume.
#[derive(Debug, Clone)]
pub struct Instance {
    /// The volume's name, also the init service's name.
    pub volume: String,
    pub pool: String,
    /// The volume's directory.
    pub path: PathBuf,
    pub settings: Settings,
}

impl Instance {
    /// The volume name of `pool`'s zdb.
    pub fn volume_of(pool: &str) -> String {
        format!("{VOLUME_PREFIX}{pool}")
    }

    /// Reads the settings in `path`, or makes them (a free port, a new password) and keeps them.
    pub fn open(
        volume: String,
        pool: String,
        path: PathBuf,
        ports_taken: &[u16],
        first_port: u16,
    ) -> Result<Instance, ProvisionError> {
        let file = path.join(SETTINGS);
        let settings = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| failed(format!("{}: {e}", file.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let port = (first_port..=u16::MAX)
                    .find(|p| !ports_taken.contains(p))
                    .ok_or_else(|| failed("no port left for another zdb"))?;
                let settings = Settings {
                    port,
                    admin: new_password().map_err(failed)?,
                };
                let text = serde_json::to_vec(&settings).map_err(failed)?;
                write_atomic(&file, &text, 0o600).map_err(failed)?;
                settings
            }
            Err(e) => return Err(failed(format!("{}: {e}", file.display()))),
        };
        Ok(Instance {
            volume,
            pool,
            path,
            settings,
        })
    }

    pub fn socket(&self, setup: &ZdbSetup) -> PathBuf {
        setup.run_dir.join(format!("{}.sock", self.volume))
    }

    /// Makes the init run this zdb (service file + `monitor`), then waits until it answers.
    pub async fn ensure_running(&self, setup: &ZdbSetup) -> Result<(), ProvisionError> {
        let socket = self.socket(setup);
        if ping(&socket).is_ok() {
            return Ok(());
        }
        std::fs::create_dir_all(&setup.run_dir).map_err(failed)?;
        let service = setup.services.join(format!("{}.yaml", self.volume));
        let text = format!(
            "# 0-db namespaces of zdb workloads on pool {pool} (written by provisiond).\n\
             exec: {binary} --data {data} --index {index} --listen {listen} --port {port} --socket {socket} --dualnet --admin {admin} --protect\n",
            pool = self.pool,
            binary = setup.binary.display(),
            data = self.path.join("data").display(),
            index = self.path.join("index").display(),
            listen = setup.listen,
            port = self.settings.port,
            socket = socket.display(),
            admin = self.settings.admin,
        );
        if std::fs::read_to_string(&service).ok().as_deref() != Some(text.as_str()) {
            write_atomic(&service, text.as_bytes(), 0o600).map_err(failed)?;
        }
        let init = AsyncClient::new(&setup.init_socket);
        match init.call(&Request::Monitor(self.volume.clone())).await {
            Ok(_) => {}
            Err(ClientError::Refused(ControlError::AlreadyMonitored(_))) => {
                init.call(&Request::Start(self.volume.clone()))
                    .await
                    .map_err(failed)?;
            }
            Err(e) => return Err(failed(e)),
        }
        let start = Instant::now();
        while ping(&socket).is_err() {
            if start.elapsed() > START_TIMEOUT {
                return Err(failed(format!(
                    "{} did not start within {} s",
                    self.volume,
                    START_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::info!(pool = %self.pool, port = self.settings.port, "zdb running");
        Ok(())
    }

    /// Stops the process and drops its service (before its volume goes).
    pub async fn stop(&self, setup: &ZdbSetup) -> Result<(), ProvisionError> {
        let init = AsyncClient::new(&setup.init_socket);
        match init.call(&Request::Stop(self.volume.clone())).await {
            Err(ClientError::Refused(ControlError::UnknownService(_))) => {}
            Err(e) => return Err(failed(e)),
            Ok(_) => {
                let start = Instant::now();
                loop {
                    match init.call(&Request::Forget(self.volume.clone())).await {
                        Ok(_) => break,
                        Err(ClientError::Refused(ControlError::IsUp(_)))
                            if start.elapsed() < STOP_TIMEOUT =>
                        {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) => return Err(failed(e)),
                    }
                }
            }
        }
        match std::fs::remove_file(setup.services.join(format!("{}.yaml", self.volume))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(failed(e)),
            _ => Ok(()),
        }
    }

    /// Runs `f` on a connection authenticated as admin, off the async threads.
    async fn session<T: Send + 'static>(
        &self,
        setup: &ZdbSetup,
        f: impl FnOnce(&mut redis::Connection) -> Result<T, ProvisionError> + Send + 'static,
    ) -> Result<T, ProvisionError> {
        let socket = self.socket(setup);
        let admin = self.settings.admin.clone();
        tokio::task::spawn_blocking(move || {
            let client =
                redis::Client::open(format!("unix://{}", socket.display())).map_err(failed)?;
            let mut con = client.get_connection().map_err(failed)?;
            let _: () = redis::cmd("AUTH")
                .arg(&admin)
                .query(&mut con)
                .map_err(failed)?;
            f(&mut con)
        })
        .await
        .map_err(failed)?
    }

    /// Runs `commands` as admin; each reply as text. A reply that is an error line fails with
    /// [`ProvisionError::Refused`] carrying it.
    pub async fn admin(
        &self,
        setup: &ZdbSetup,
        commands: Vec<Vec<String>>,
    ) -> Result<Vec<String>, ProvisionError> {
        self.session(setup, move |con| {
            let mut out = Vec::new();
            for c in commands {
                let mut cmd = redis::cmd(&c[0]);
                for a in &c[1..] {
                    cmd.arg(a);
                }
                match cmd.query::<redis::Value>(con) {
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
    }

    /// NSINFO of `namespace`, `None` when this zdb has no such namespace.
    pub async fn info(
        &self,
        setup: &ZdbSetup,
        namespace: &str,
    ) -> Result<Option<String>, ProvisionError> {
        match self
            .admin(setup, vec![vec!["NSINFO".into(), namespace.to_string()]])
            .await
        {
            Ok(mut replies) => Ok(replies.pop()),
            Err(ProvisionError::Refused(m)) if m.contains("Namespace not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The users' namespaces (all but `default`) with their sizes (`maxsize`), bytes.
    pub async fn namespaces(&self, setup: &ZdbSetup) -> Result<Vec<(String, u64)>, ProvisionError> {
        let names: Vec<String> = self
            .session(setup, |con| redis::cmd("NSLIST").query(con).map_err(failed))
            .await?;
        let mut out = Vec::new();
        for name in names.into_iter().filter(|n| n != "default") {
            if let Some(info) = self.info(setup, &name).await? {
                out.push((name, field(&info, "data_limits_bytes").unwrap_or(0)));
            }
        }
        Ok(out)
    }
}

/// `NSSET <namespace> <property> <value>`.
pub fn nsset(namespace: &str, property: &str, value: impl Into<String>) -> Vec<String> {
    vec![
        "NSSET".into(),
        namespace.to_string(),
        property.into(),
        value.into(),
    ]
}

pub fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_string()
}

/// A numeric `key: value` line of NSINFO.
pub fn field(info: &str, key: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(": ")?.trim().parse().ok())
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

/// 16 random bytes, hex.
fn new_password() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut bytes)
        .map_err(std::io::Error::other)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
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

/// Writes `path` through a temporary file and a rename, with `mode`, synced.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
