//! What provisiond asks TFChain (through the one chain client, `zos-chain`): the public keys of
//! the twins that sign a deployment (cached, as zos does, for [`KEY_TTL`]), the contract a
//! deployment claims, and the node's active contracts. Read-only: extrinsics (consumption
//! reports) are signed by noded, which owns the node's key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gridtypes::Deployment;
use zos_chain::{Chain, ContractKind, ContractState};

/// How long a twin's key is trusted before it is read again.
pub const KEY_TTL: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("the chain is not reachable")]
    Chain(#[from] zos_chain::Error),
    #[error("twin {0} does not exist on the chain")]
    NoTwin(u32),
    #[error("contract {0} does not exist on the chain")]
    NoContract(u64),
    #[error("contract {0} is not a node contract")]
    NotNodeContract(u64),
    #[error("contract {contract} is for node {node}, not this node ({ours})")]
    OtherNode { contract: u64, node: u32, ours: u32 },
    #[error("contract {contract} belongs to twin {owner}, not to twin {twin}")]
    OtherTwin {
        contract: u64,
        owner: u32,
        twin: u32,
    },
    #[error("contract {0} is deleted")]
    Deleted(u64),
    #[error("contract hash does not match deployment hash (contract has {on_chain}, deployment hashes to {ours})")]
    HashMismatch { on_chain: String, ours: String },
    #[error("{0}")]
    Deployment(String),
}

/// Twin id → public key, and when it was read.
type KeyCache = HashMap<u32, (Vec<u8>, Instant)>;

/// Clones share the key cache (the engine and the node API's signature checks use one).
#[derive(Debug, Clone)]
pub struct ChainView {
    chain: Chain,
    keys: Arc<Mutex<KeyCache>>,
}

impl ChainView {
    pub fn new(chain: Chain) -> Self {
        ChainView {
            chain,
            keys: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The public keys of `twins` (the account id of each twin is its public key).
    pub async fn twin_keys(&self, twins: &[u32]) -> Result<HashMap<u32, Vec<u8>>, CheckError> {
        let mut found = HashMap::new();
        for &twin in twins {
            let cached = self
                .keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&twin)
                .filter(|(_, at)| at.elapsed() < KEY_TTL)
                .map(|(k, _)| k.clone());
            let key = match cached {
                Some(k) => k,
                None => {
                    let t = self
                        .chain
                        .twin(twin)
                        .await?
                        .ok_or(CheckError::NoTwin(twin))?;
                    let key = AsRef::<[u8]>::as_ref(&t.account_id).to_vec();
                    self.keys
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(twin, (key.clone(), Instant::now()));
                    key
                }
            };
            found.insert(twin, key);
        }
        Ok(found)
    }

    /// zos's contract check: the contract exists, is not deleted, is a node contract for
    /// `node_id`, belongs to the deployment's twin, and stores the deployment's hash.
    pub async fn check_contract(&self, d: &Deployment, node_id: u32) -> Result<(), CheckError> {
        let contract = self
            .chain
            .contract(d.contract_id)
            .await?
            .ok_or(CheckError::NoContract(d.contract_id))?;
        if matches!(contract.state, ContractState::Deleted(_)) {
            return Err(CheckError::Deleted(d.contract_id));
        }
        let ContractKind::Node {
            node_id: node,
            deployment_hash,
            ..
        } = &contract.kind
        else {
            return Err(CheckError::NotNodeContract(d.contract_id));
        };
        if *node != node_id {
            return Err(CheckError::OtherNode {
                contract: d.contract_id,
                node: *node,
                ours: node_id,
            });
        }
        if contract.twin_id != d.twin_id {
            return Err(CheckError::OtherTwin {
                contract: d.contract_id,
                owner: contract.twin_id,
                twin: d.twin_id,
            });
        }
        let ours = d
            .challenge_hash_hex()
            .map_err(|e| CheckError::Deployment(zos_base::report(&e)))?;
        let on_chain = String::from_utf8_lossy(deployment_hash).into_owned();
        if on_chain != ours {
            return Err(CheckError::HashMismatch { on_chain, ours });
        }
        Ok(())
    }

    /// Whether the contract is in its grace period (its owner ran out of funds).
    pub async fn in_grace_period(&self, contract_id: u64) -> Result<bool, CheckError> {
        Ok(matches!(
            self.chain.contract(contract_id).await?.map(|c| c.state),
            Some(ContractState::GracePeriod(_))
        ))
    }

    /// The node's active contracts.
    pub async fn node_contracts(&self, node_id: u32) -> Result<Vec<u64>, CheckError> {
        Ok(self.chain.node_contracts(node_id).await?)
    }
}
