//! `tf.zos.Node1` on the bus: the object noded serves at `/tf/zos/Node` under `tf.zos.Node`.
//!
//! Identity, capacity and DMI are measured once at start and served from memory; interfaces are
//! read live on every call; the registration status is the registrar's latest (a watch channel).
//! The contract (names, types) lives in `zos_bus::node`.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use zbus::Connection;
use zos_bus::node::{registration, ContractUsage};
use zos_bus::{node, Capacity, Dmi, Interface, RegistrationStatus};

use crate::capacity::interfaces;
use crate::consumption::ContractReporter;

/// The node's software version (this crate's version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The served object.
#[derive(Debug)]
pub struct NodeService {
    public_key: String,
    capacity: Capacity,
    dmi: Dmi,
    sys_root: PathBuf,
    registration: watch::Receiver<RegistrationStatus>,
    /// `None` when the node has no chain configuration (it never registers).
    reporter: Option<Arc<ContractReporter>>,
}

impl NodeService {
    pub fn new(
        public_key: String,
        capacity: Capacity,
        dmi: Dmi,
        sys_root: PathBuf,
        registration: watch::Receiver<RegistrationStatus>,
        reporter: Option<Arc<ContractReporter>>,
    ) -> Self {
        NodeService {
            public_key,
            capacity,
            dmi,
            sys_root,
            registration,
            reporter,
        }
    }
}

#[zbus::interface(name = "tf.zos.Node1")]
impl NodeService {
    /// The node's ed25519 public key, lowercase hex.
    fn public_key(&self) -> String {
        self.public_key.clone()
    }

    /// Total capacity, measured at start.
    fn capacity(&self) -> Capacity {
        self.capacity
    }

    /// DMI system and baseboard sections, read at start.
    fn dmi(&self) -> Dmi {
        self.dmi.clone()
    }

    /// The node's interfaces (not `lo`), read now.
    async fn interfaces(&self) -> zbus::fdo::Result<Vec<Interface>> {
        let sys_root = self.sys_root.clone();
        let read = tokio::task::spawn_blocking(move || interfaces::interfaces(&sys_root)).await;
        match read {
            Ok(Ok(list)) => Ok(list),
            Ok(Err(error)) => {
                tracing::warn!(%error, "Interfaces failed");
                Err(zbus::fdo::Error::Failed(zos_base::report(&error)))
            }
            Err(error) => Err(zbus::fdo::Error::Failed(format!(
                "reading interfaces did not finish: {error}",
                error = zos_base::Report(&error)
            ))),
        }
    }

    /// The node software version.
    fn version(&self) -> String {
        VERSION.to_string()
    }

    /// Where the node stands on TFChain (see `zos_bus::node::RegistrationStatus`).
    fn registration(&self) -> RegistrationStatus {
        self.registration.borrow().clone()
    }

    /// Submits the contracts' used capacity to TFChain, signed with the node's key.
    async fn report_contract_resources(
        &self,
        reports: Vec<ContractUsage>,
    ) -> zbus::fdo::Result<()> {
        let state = self.registration.borrow().state.clone();
        if state != registration::REGISTERED {
            return Err(zbus::fdo::Error::Failed(format!(
                "the node is not registered ({state}): nothing can be reported yet"
            )));
        }
        let Some(reporter) = self.reporter.clone() else {
            return Err(zbus::fdo::Error::Failed(
                "the node has no chain configuration".into(),
            ));
        };
        reporter.report(&reports).await.map_err(|error| {
            tracing::warn!(%error, "contract resources not reported");
            zbus::fdo::Error::Failed(error)
        })
    }
}

/// Serves `service` at `/tf/zos/Node`, then takes the name `tf.zos.Node` (in that order, so
/// whoever sees the name can call the object). Fails when another process owns the name.
pub async fn serve(conn: &Connection, service: NodeService) -> Result<(), zos_bus::ServeError> {
    zos_bus::serve(conn, node::PATH, node::NAME, service).await
}
