//! Deployments as a grid client builds them: workloads, the owner's signature, the hash a node
//! contract stores, and the contract itself on the local chain.

use ed25519_dalek::SigningKey;
use gridtypes::types::{Volume, ZMount, Zdb};
use gridtypes::{Deployment, Workload, WorkloadData};
use zos_chain::Chain;

use crate::twins::Twin;

/// A deployment of `twin` signed by it alone.
pub fn deployment(twin: u32, workloads: Vec<Workload>) -> Deployment {
    Deployment::signed_by_owner(twin, workloads)
}

pub fn volume(name: &str, size: u64) -> Workload {
    Workload::new(name, &WorkloadData::Volume(Volume { size }))
}

pub fn zmount(name: &str, size: u64) -> Workload {
    Workload::new(name, &WorkloadData::ZMount(ZMount { size }))
}

/// A zdb namespace workload; `mode` is `user` or `seq`.
pub fn zdb(name: &str, size: u64, mode: &str, password: &str, public: bool) -> Workload {
    Workload::new(
        name,
        &WorkloadData::Zdb(Zdb {
            size,
            mode: mode.into(),
            password: password.into(),
            public,
        }),
    )
}

/// The 32 bytes a node contract stores for `d`: its MD5 hex.
pub fn hash_bytes(d: &Deployment) -> [u8; 32] {
    let hash = d.challenge_hash_hex().expect("hash");
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(hash.as_bytes());
    bytes
}

/// Creates `owner`'s node contract for `d` on `node` and signs `d` with `signer_key`.
pub async fn contract(
    chain: &Chain,
    owner: &Twin,
    node: u32,
    d: &mut Deployment,
    signer_key: &SigningKey,
) {
    d.contract_id = chain
        .create_node_contract(&owner.signer, node, hash_bytes(d), b"", 0, None)
        .await
        .expect("contract");
    d.signature_requirement.signatures.clear();
    d.sign_ed25519(d.twin_id, signer_key).expect("sign");
}
