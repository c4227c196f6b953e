//! The node API's commands (zos's names and payloads), served over `zos-api`'s signed HTTP
//! transport: deployments go to the [`Engine`]; statistics, system, storage and network
//! questions are answered from the daemons that own them, over the bus. Twin keys for request
//! signatures come from the chain ([`ChainKeys`], cached with the engine's key cache).
//!
//! The API is served from provisiond's start, before the node is registered, so that a farmer
//! can ask an unregistered node why (`zos.system.status`: noded's registration state and its
//! reason in words); commands that need the engine answer "unavailable" with that reason until
//! [`Api::provision_with`] hands it over.
//!
//! Owns only the mapping from commands to calls and the JSON shapes of the answers.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use gridtypes::Deployment;
use serde::Deserialize;
use serde_json::{json, Value};
use zbus::Connection;
use zos_api::{ApiError, Caller, Handler, KeyError, KeyLookup};
use zos_bus::{NodeProxy, StorageProxy};

use crate::chain::{ChainView, CheckError};
use crate::engine::{Engine, EngineError};

/// The workload types this node provisions (`zos.system.node_features_get`).
pub const FEATURES: &[&str] = &["zmount", "volume", "zdb"];
/// How long networkd gets to answer.
const BUS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug)]
pub struct Api {
    /// Set once the node is registered (the engine serves that node's contracts).
    engine: OnceLock<Arc<Engine>>,
    bus: Connection,
}

impl Api {
    /// An API that answers the node's own questions now and deployments once
    /// [`Api::provision_with`] gives it the engine.
    pub fn new(bus: Connection) -> Self {
        Api {
            engine: OnceLock::new(),
            bus,
        }
    }

    /// An API with its engine from the start.
    pub fn with_engine(engine: Arc<Engine>, bus: Connection) -> Self {
        let api = Api::new(bus);
        api.provision_with(engine);
        api
    }

    /// Serves deployments with `engine` from now on (a second engine is ignored).
    pub fn provision_with(&self, engine: Arc<Engine>) {
        let _ = self.engine.set(engine);
    }
}

#[derive(Deserialize)]
struct ContractArg {
    contract_id: u64,
}

fn arg<T: serde::de::DeserializeOwned>(data: Value) -> Result<T, ApiError> {
    serde_json::from_value(data)
        .map_err(|e| ApiError::BadRequest(format!("invalid data: {e}", e = zos_base::Report(&e))))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::Internal(zos_base::report(&e)))
}

fn bus_error(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(format!("{what}: {e}"))
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let text = zos_base::report(&error);
        match error {
            EngineError::Invalid(_) | EngineError::Capacity(_) | EngineError::Exists(_) => {
                ApiError::BadRequest(text)
            }
            EngineError::Contract(CheckError::Chain(_)) | EngineError::Bus(_) => {
                ApiError::Unavailable(text)
            }
            EngineError::Contract(_) => ApiError::BadRequest(text),
            EngineError::Unauthorized(_) => ApiError::Unauthorized(text),
            EngineError::NotFound => ApiError::NotFound(text),
            EngineError::Store(_) => ApiError::Internal(text),
        }
    }
}

#[async_trait]
impl Handler for Api {
    async fn handle(&self, caller: Caller, command: &str, data: Value) -> Result<Value, ApiError> {
        let twin = caller.twin_id;
        match command {
            "zos.deployment.deploy" => {
                let d: Deployment = arg(data)?;
                self.engine().await?.deploy(twin, d).await?;
                Ok(Value::Null)
            }
            "zos.deployment.update" => {
                let d: Deployment = arg(data)?;
                self.engine().await?.update(twin, d).await?;
                Ok(Value::Null)
            }
            "zos.deployment.get" => {
                let a: ContractArg = arg(data)?;
                to_json(&self.engine().await?.get(twin, a.contract_id).await?)
            }
            "zos.deployment.list" => to_json(&self.engine().await?.list(twin).await?),
            "zos.deployment.changes" => {
                let a: ContractArg = arg(data)?;
                to_json(&self.engine().await?.changes(twin, a.contract_id).await?)
            }
            "zos.deployment.delete" => Err(ApiError::BadRequest(
                "deletion over the api is disabled, please cancel your contract instead".into(),
            )),
            "zos.statistics.get" => self.statistics().await,
            "zos.system.status" => {
                let registration = self.registration().await?;
                Ok(json!({
                    "registration": registration,
                    "serving_deployments": self.engine.get().is_some(),
                }))
            }
            "zos.system.version" => {
                let version = self
                    .node()
                    .await?
                    .version()
                    .await
                    .map_err(|e| bus_error("noded", e))?;
                Ok(json!({ "zos": version, "zinit": version }))
            }
            "zos.system.dmi" => to_json(
                &self
                    .node()
                    .await?
                    .dmi()
                    .await
                    .map_err(|e| bus_error("noded", e))?,
            ),
            "zos.system.hypervisor" => {
                let dmi = self
                    .node()
                    .await?
                    .dmi()
                    .await
                    .map_err(|e| bus_error("noded", e))?;
                Ok(json!(hypervisor(
                    &dmi.system.manufacturer,
                    &dmi.system.product
                )))
            }
            "zos.system.node_features_get" => Ok(json!(FEATURES)),
            "zos.storage.pools" => {
                let pools = StorageProxy::new(&self.bus)
                    .await
                    .map_err(|e| bus_error("storaged", e))?
                    .pools()
                    .await
                    .map_err(|e| bus_error("storaged", e))?;
                Ok(Value::Array(
                    pools
                        .iter()
                        .map(|p| json!({ "name": p.name, "type": p.kind, "size": p.size, "used": p.allocated }))
                        .collect(),
                ))
            }
            "zos.network.interfaces" => {
                let status = zos_bus::network::status_if_up(&self.bus, BUS_TIMEOUT)
                    .await
                    .ok_or_else(|| bus_error("networkd", "not running"))?;
                Ok(json!({ status.bridge.as_str(): status.ips() }))
            }
            other => Err(ApiError::unknown_command(other)),
        }
    }
}

impl Api {
    async fn node(&self) -> Result<NodeProxy<'static>, ApiError> {
        NodeProxy::new(&self.bus)
            .await
            .map_err(|e| bus_error("noded", e))
    }

    async fn registration(&self) -> Result<zos_bus::RegistrationStatus, ApiError> {
        self.node()
            .await?
            .registration()
            .await
            .map_err(|e| bus_error("noded", e))
    }

    /// The engine, or why there is none yet: the node is not registered (noded's words).
    async fn engine(&self) -> Result<&Arc<Engine>, ApiError> {
        if let Some(engine) = self.engine.get() {
            return Ok(engine);
        }
        let why = match self.registration().await {
            Ok(r) if !r.error.is_empty() => format!("{}: {}", r.state, r.error),
            Ok(r) => r.state,
            Err(_) => "noded does not answer".into(),
        };
        Err(ApiError::NotReady(format!(
            "this node does not serve deployments until it is registered (registration {why})"
        )))
    }

    /// zos's statistics (see [`crate::capacity`]).
    async fn statistics(&self) -> Result<Value, ApiError> {
        let engine = self.engine().await?;
        let active = engine.active().await?;
        let stats = engine
            .capacity()
            .statistics(&active)
            .await
            .map_err(|e| ApiError::Unavailable(zos_base::report(&e)))?;
        to_json(&stats)
    }
}

/// What `virt-what` would say for the common hypervisors, from the DMI system section; empty
/// on bare metal.
fn hypervisor(manufacturer: &str, product: &str) -> &'static str {
    let text = format!("{manufacturer} {product}").to_ascii_lowercase();
    if text.contains("qemu") || text.contains("kvm") {
        "kvm"
    } else if text.contains("vmware") {
        "vmware"
    } else if text.contains("virtualbox") {
        "virtualbox"
    } else if text.contains("microsoft") {
        "hyperv"
    } else {
        ""
    }
}

/// Twin keys for request signatures, from the chain (cached in the chain view, which the
/// engine shares).
#[derive(Debug)]
pub struct ChainKeys {
    chain: ChainView,
}

impl ChainKeys {
    pub fn new(chain: ChainView) -> Self {
        ChainKeys { chain }
    }
}

#[async_trait]
impl KeyLookup for ChainKeys {
    async fn public_key(&self, twin_id: u32) -> Result<Option<[u8; 32]>, KeyError> {
        match self.chain.twin_keys(&[twin_id]).await {
            Ok(keys) => Ok(keys
                .get(&twin_id)
                .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())),
            Err(CheckError::NoTwin(_)) => Ok(None),
            Err(error) => Err(KeyError {
                twin_id,
                reason: zos_base::report(&error),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypervisors_by_dmi() {
        assert_eq!(hypervisor("QEMU", "Standard PC (Q35 + ICH9, 2009)"), "kvm");
        assert_eq!(hypervisor("Dell Inc.", "PowerEdge R720"), "");
    }
}
