//! The deployment: its JSON shape, challenge and MD5 hash, and structural validation
//! (zos `gridtypes/deployment.go`).
//!
//! Owns what a deployment is and when it is well-formed. Signature checks live in `signature`,
//! the version-to-version diff in `upgrade`; nothing here talks to the chain or the node.

use std::fmt::Write;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::{
    validate_name, Capacity, DataError, DeploymentId, InvalidData, NameError, ResultState,
    Timestamp, Workload, WorkloadId, WorkloadType,
};

/// Default signature style: the signature is over the 16 raw MD5 bytes.
pub const SIGNATURE_STYLE_DEFAULT: &str = "";
/// polka-wallet style: the signature is over `<Bytes>{md5 hex}</Bytes>`.
pub const SIGNATURE_STYLE_POLKA: &str = "polka-wallet";
pub const SIGNATURE_TYPE_ED25519: &str = "ed25519";
pub const SIGNATURE_TYPE_SR25519: &str = "sr25519";

/// A twin whose signature counts, with its weight.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SignatureRequest {
    pub twin_id: u32,
    pub required: bool,
    pub weight: u64,
}

/// A signature: hex of the signature bytes, `signature_type` `ed25519` (or empty) / `sr25519`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Signature {
    pub twin_id: u32,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub signature: String,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub signature_type: String,
}

/// Who must sign and how much weight is needed. Signatures are not part of the challenge.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SignatureRequirement {
    #[serde(deserialize_with = "crate::json::null_default")]
    pub requests: Vec<SignatureRequest>,
    pub weight_required: u64,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub signatures: Vec<Signature>,
    /// `""` or `"polka-wallet"`.
    #[serde(deserialize_with = "crate::json::null_default")]
    pub signature_style: String,
}

/// A deployment as grid clients send it and nodes store it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Deployment {
    /// 0 at creation, +1 on every update.
    pub version: u32,
    /// The owning twin (must be the sender).
    pub twin_id: u32,
    /// The node contract; not part of the challenge (it is created from the hash).
    pub contract_id: u64,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub metadata: String,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub description: String,
    /// Deprecated and unused, but hashed.
    pub expiration: Timestamp,
    pub signature_requirement: SignatureRequirement,
    #[serde(deserialize_with = "crate::json::null_default")]
    pub workloads: Vec<Workload>,
}

/// The challenge cannot be built because a workload's data does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("workload '{name}': {source}")]
pub struct ChallengeError {
    pub name: String,
    #[source]
    pub source: DataError,
}

/// Why a deployment is not well-formed (zos `Deployment.Valid`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("workload '{name}' version '{version}' cannot be higher than deployment version '{deployment_version}'")]
    WorkloadVersion {
        name: String,
        version: u32,
        deployment_version: u32,
    },
    #[error("name '{name}' is invalid")]
    InvalidName {
        name: String,
        #[source]
        source: NameError,
    },
    #[error("multiple workloads with the same name '{0}'")]
    DuplicateName(String),
    #[error("workload '{name}'")]
    Data {
        name: String,
        #[source]
        source: DataError,
    },
    #[error("workload '{name}' ({workload_type})")]
    Invalid {
        name: String,
        workload_type: WorkloadType,
        #[source]
        source: InvalidData,
    },
    #[error("expected version to be 0 on deployment creation, got {0}")]
    CreateVersion(u32),
}

impl Deployment {
    /// Decodes a deployment from JSON bytes as a node receives it. Unlike plain
    /// `serde_json::from_slice` it refuses a top-level array (serde reads structs from arrays,
    /// Go does not).
    pub fn from_json(bytes: &[u8]) -> Result<Deployment, serde_json::Error> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(<serde_json::Error as serde::de::Error>::custom(
                "a deployment must be a JSON object",
            ));
        }
        serde_json::from_slice(bytes)
    }

    /// A new deployment (version 0) of `twin`, to be signed by that twin alone (one request of
    /// weight 1, weight 1 required), as grid clients make them.
    pub fn signed_by_owner(twin: u32, workloads: Vec<Workload>) -> Deployment {
        Deployment {
            twin_id: twin,
            workloads,
            signature_requirement: SignatureRequirement {
                requests: vec![SignatureRequest {
                    twin_id: twin,
                    required: false,
                    weight: 1,
                }],
                weight_required: 1,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// `{twin}-{contract}`.
    pub fn id(&self) -> DeploymentId {
        DeploymentId::new(self.twin_id, self.contract_id)
    }

    /// The global id of a workload of this deployment (fails on an invalid name).
    pub fn workload_id(&self, name: &str) -> Result<WorkloadId, NameError> {
        WorkloadId::new(self.twin_id, self.contract_id, name)
    }

    /// The workload called `name`.
    pub fn get(&self, name: &str) -> Option<&Workload> {
        self.workloads.iter().find(|w| w.name == name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Workload> {
        self.workloads.iter_mut().find(|w| w.name == name)
    }

    /// The workloads of one type, in deployment order.
    pub fn by_type<'a>(&'a self, ty: &'a WorkloadType) -> impl Iterator<Item = &'a Workload> + 'a {
        self.workloads
            .iter()
            .filter(move |w| w.workload_type == *ty)
    }

    /// zos's `IsActive`: some workload is neither deleted nor in error.
    pub fn is_active(&self) -> bool {
        self.workloads
            .iter()
            .any(|w| !matches!(w.result.state, ResultState::Deleted | ResultState::Error))
    }

    /// zos's `SetError`: every workload to `error` with `message` (time and data untouched).
    pub fn set_error(&mut self, message: &str) {
        for wl in &mut self.workloads {
            wl.result.state = ResultState::Error;
            wl.result.message = message.to_string();
        }
    }

    /// Capacity held by the workloads (`ok`, `paused`, `unchanged`): what is reported per contract.
    pub fn used_capacity(&self) -> Result<Capacity, ChallengeError> {
        let mut total = Capacity::default();
        for wl in self
            .workloads
            .iter()
            .filter(|w| w.result.state.holds_capacity())
        {
            total += wl.capacity().map_err(|source| ChallengeError {
                name: wl.name.clone(),
                source,
            })?;
        }
        Ok(total)
    }

    /// The challenge text (zos `Deployment.Challenge`): version, twin, metadata, description,
    /// expiration, each workload's challenge, then each signature request (twin, required,
    /// weight), weight_required and signature_style; Go `fmt` values with no separators.
    pub fn challenge(&self) -> Result<String, ChallengeError> {
        let mut out = String::new();
        let _ = write!(
            out,
            "{}{}{}{}{}",
            self.version, self.twin_id, self.metadata, self.description, self.expiration
        );
        for wl in &self.workloads {
            wl.challenge(&mut out).map_err(|source| ChallengeError {
                name: wl.name.clone(),
                source,
            })?;
        }
        let req = &self.signature_requirement;
        for r in &req.requests {
            let _ = write!(out, "{}{}{}", r.twin_id, r.required, r.weight);
        }
        let _ = write!(out, "{}{}", req.weight_required, req.signature_style);
        Ok(out)
    }

    /// MD5 of the challenge: what is signed and (as lowercase hex) what the contract stores.
    pub fn challenge_hash(&self) -> Result<[u8; 16], ChallengeError> {
        let challenge = self.challenge()?;
        Ok(Md5::digest(challenge.as_bytes()).into())
    }

    /// Lowercase hex of [`Deployment::challenge_hash`], as in the node contract's
    /// `deployment_hash`.
    pub fn challenge_hash_hex(&self) -> Result<String, ChallengeError> {
        Ok(hex::encode(self.challenge_hash()?))
    }

    /// zos's `Deployment.Valid`: per workload in order: version <= deployment version, valid and
    /// unique name, known type, data decodes and passes its type's rules.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut names = std::collections::HashSet::new();
        for wl in &self.workloads {
            if wl.version > self.version {
                return Err(ValidationError::WorkloadVersion {
                    name: wl.name.clone(),
                    version: wl.version,
                    deployment_version: self.version,
                });
            }
            validate_name(&wl.name).map_err(|source| ValidationError::InvalidName {
                name: wl.name.clone(),
                source,
            })?;
            if !names.insert(wl.name.as_str()) {
                return Err(ValidationError::DuplicateName(wl.name.clone()));
            }
            let data = wl.data().map_err(|source| ValidationError::Data {
                name: wl.name.clone(),
                source,
            })?;
            data.validate(self)
                .map_err(|source| ValidationError::Invalid {
                    name: wl.name.clone(),
                    workload_type: wl.workload_type.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// What a node checks on `deploy`: [`Deployment::validate`] and version 0.
    pub fn validate_create(&self) -> Result<(), ValidationError> {
        self.validate()?;
        if self.version != 0 {
            return Err(ValidationError::CreateVersion(self.version));
        }
        Ok(())
    }
}
