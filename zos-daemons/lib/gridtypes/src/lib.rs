//! gridtypes: the grid's deployment types, compatible with ThreeFold zos (`pkg/gridtypes`).
//!
//! Owns the JSON shape of deployments, workloads, signature requirements and results (exact field
//! names), every workload type's data (zmachine, zmount, volume, network, zdb, ip, ipv4,
//! gateway-name-proxy, gateway-fqdn-proxy, qsfs, zlogs), the challenge text and its MD5 hash
//! (what the contract stores and twins sign), signature verification (ed25519 and sr25519, both
//! signature styles, weights), structural validation, name rules and ids, the version-to-version
//! diff of an update, and the capacity each workload consumes.
//!
//! Pure data and rules: it never talks to the chain, the bus or the host, and never reads the
//! clock. Twin keys come from a caller-provided [`KeyLookup`].

mod capacity;
mod deployment;
mod json;
mod name;
pub mod net;
mod result;
mod signature;
mod timestamp;
pub mod types;
mod upgrade;
mod workload;

pub use capacity::{Capacity, GIB, KIB, MIB, TIB};
pub use deployment::{
    ChallengeError, Deployment, Signature, SignatureRequest, SignatureRequirement, ValidationError,
    SIGNATURE_STYLE_DEFAULT, SIGNATURE_STYLE_POLKA, SIGNATURE_TYPE_ED25519, SIGNATURE_TYPE_SR25519,
};
pub use name::{
    network_id, validate_name, DeploymentId, NameError, WorkloadId, MAX_NAME_LEN, RESERVED_NAMES,
};
pub use result::{ResultError, ResultState, WorkloadResult};
pub use signature::{verify_ed25519, verify_sr25519, KeyLookup, VerifyError, SR25519_CONTEXT};
pub use timestamp::Timestamp;
pub use types::{InvalidData, WorkloadData};
pub use upgrade::{check_updatable, sort_ops, OpKind, UpgradeError, UpgradeOp};
pub use workload::{DataError, Workload, WorkloadType};
