//! One zdb process: the storaged volume it serves from (one per HDD pool), its settings file,
//! its init service, and its admin client (zdb's own, one kept connection over the unix
//! socket).
//!
//! The volume `zdb-<pool>` holds zdb's `data/` and `index/` and, beside them, [`SETTINGS`]: the
//! port and admin password of this process (mode 0600). Keeping them with the data makes a
//! volume self-describing: after a reboot, or a crash between creating the volume and starting
//! zdb, the same port and password are found again. The init runs zdb from the service file
//! `<volume>.yaml` (written here, loaded with `monitor`) and restarts it if it dies.
//!
//! Never touches zdb's own files; only zdb does.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use zdb::admin::AdminClient;
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
    /// The admin session (clones share its connection).
    pub admin: AdminClient,
}

impl Instance {
    /// The volume name of `pool`'s zdb.
    pub fn volume_of(pool: &str) -> String {
        format!("{VOLUME_PREFIX}{pool}")
    }

    /// Reads the settings in `path`, or makes them (a free port, a new password) and keeps them.
    /// `admin` gives the client for a socket and password (the manager keeps one per zdb).
    pub fn open(
        volume: String,
        pool: String,
        path: PathBuf,
        ports_taken: &[u16],
        setup: &ZdbSetup,
        admin: impl FnOnce(PathBuf, &str) -> AdminClient,
    ) -> Result<Instance, ProvisionError> {
        let file = path.join(SETTINGS);
        let settings = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                failed(format!("{}: {e}", file.display(), e = zos_base::Report(&e)))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let port = (setup.first_port..=u16::MAX)
                    .find(|p| !ports_taken.contains(p))
                    .ok_or_else(|| failed("no port left for another zdb"))?;
                let settings = Settings {
                    port,
                    admin: new_password().map_err(failed)?,
                };
                let text = serde_json::to_vec(&settings).map_err(failed)?;
                zos_base::write_atomic(&file, &text, 0o600).map_err(failed)?;
                settings
            }
            Err(e) => {
                return Err(failed(format!(
                    "{}: {e}",
                    file.display(),
                    e = zos_base::Report(&e)
                )))
            }
        };
        let admin = admin(socket_of(setup, &volume), &settings.admin);
        Ok(Instance {
            volume,
            pool,
            path,
            settings,
            admin,
        })
    }

    /// Makes the init run this zdb (service file + `monitor`), then waits until it answers.
    pub async fn ensure_running(&self, setup: &ZdbSetup) -> Result<(), ProvisionError> {
        if self.admin.ping().await.is_ok() {
            return Ok(());
        }
        let socket = self.admin.socket();
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
            zos_base::write_atomic(&service, text.as_bytes(), 0o600).map_err(failed)?;
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
        while self.admin.ping().await.is_err() {
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

    /// The users' namespaces (all but `default`) with their sizes (`maxsize`), bytes.
    pub async fn namespaces(&self) -> Result<Vec<(String, u64)>, ProvisionError> {
        let mut out = Vec::new();
        for name in self.admin.list().await.map_err(failed)? {
            if name == "default" {
                continue;
            }
            if let Some(info) = self.admin.info(&name).await.map_err(failed)? {
                out.push((name, info.data_limits_bytes));
            }
        }
        Ok(out)
    }
}

/// Where the zdb of `volume` listens for the node.
fn socket_of(setup: &ZdbSetup, volume: &str) -> PathBuf {
    setup.run_dir.join(format!("{volume}.sock"))
}

/// 16 random bytes, hex.
fn new_password() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut bytes)
        .map_err(std::io::Error::other)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
