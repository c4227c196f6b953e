//! Workload names and global ids (zos `gridtypes/id.go`, `zos/network.go NetworkID`).
//!
//! Owns the name rule (`^[a-zA-Z0-9_]+$`, 1..=36 bytes, `ygg` reserved), the id formats
//! `{twin}-{contract}` / `{twin}-{contract}-{name}` and the md5+base58 short names derived from
//! them (`Unique`, `NetworkID`). It must not know about workload types.

use std::fmt;

use md5::{Digest, Md5};

/// Longest workload name: cloud-hypervisor's virtio-fs tag limit.
pub const MAX_NAME_LEN: usize = 36;

/// Names that no workload may take.
pub const RESERVED_NAMES: &[&str] = &["ygg"];

/// Why a workload name is refused (zos's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name cannot be empty")]
    Empty,
    #[error("name cannot exceed 36 characters")]
    TooLong,
    #[error("unsupported character in workload name")]
    InvalidCharacter,
    #[error("invalid name '{0}' is reserved")]
    Reserved(String),
    #[error("invalid workload id '{0}', expected twin-contract-name")]
    InvalidId(String),
}

/// zos's `IsValidName`.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(NameError::InvalidCharacter);
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(NameError::Reserved(name.to_string()));
    }
    Ok(())
}

/// base58 (Bitcoin alphabet) of md5(input), cut to 13 characters.
fn short_hash(input: &str) -> String {
    let digest = Md5::digest(input.as_bytes());
    let mut b = bs58::encode(digest).into_string();
    b.truncate(13);
    b
}

/// `{twin}-{contract}`: a deployment's global id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeploymentId(String);

impl DeploymentId {
    pub fn new(twin: u32, contract: u64) -> Self {
        DeploymentId(format!("{twin}-{contract}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `twin/contract`.
    pub fn to_path(&self) -> String {
        self.0.replace('-', "/")
    }
}

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `{twin}-{contract}-{name}`: a workload's global id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadId {
    twin: u32,
    contract: u64,
    name: String,
}

impl WorkloadId {
    /// zos's `NewWorkloadID`: the name must be valid.
    pub fn new(twin: u32, contract: u64, name: &str) -> Result<Self, NameError> {
        validate_name(name)?;
        Ok(WorkloadId {
            twin,
            contract,
            name: name.to_string(),
        })
    }

    /// Parses `twin-contract-name` (the name is checked).
    pub fn parse(id: &str) -> Result<Self, NameError> {
        let bad = || NameError::InvalidId(id.to_string());
        let mut parts = id.splitn(3, '-');
        let twin = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let contract = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let name = parts.next().ok_or_else(bad)?;
        WorkloadId::new(twin, contract, name)
    }

    pub fn twin(&self) -> u32 {
        self.twin
    }

    pub fn contract(&self) -> u64 {
        self.contract
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn deployment(&self) -> DeploymentId {
        DeploymentId::new(self.twin, self.contract)
    }

    /// `twin/contract/name`.
    pub fn to_path(&self) -> String {
        self.to_string().replace('-', "/")
    }

    /// zos's `WorkloadID.Unique(n)`: base58(md5("{id}:{n}")) cut to 13 characters; used for
    /// on-host names (taps, devices).
    pub fn unique(&self, n: &str) -> String {
        short_hash(&format!("{self}:{n}"))
    }
}

impl fmt::Display for WorkloadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.twin, self.contract, self.name)
    }
}

/// zos's `NetworkID(twin, name)`: base58(md5("{twin}:{name}")) cut to 13 characters.
pub fn network_id(twin: u32, network: &str) -> String {
    short_hash(&format!("{twin}:{network}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("vm_1").is_ok());
        assert!(validate_name(&"a".repeat(36)).is_ok());
        assert_eq!(validate_name(""), Err(NameError::Empty));
        assert_eq!(validate_name(&"a".repeat(37)), Err(NameError::TooLong));
        for bad in ["a-b", "a b", "é", "a.b", "a/b", "a\n"] {
            assert_eq!(
                validate_name(bad),
                Err(NameError::InvalidCharacter),
                "{bad}"
            );
        }
        assert_eq!(
            validate_name("ygg"),
            Err(NameError::Reserved("ygg".to_string()))
        );
        // only the exact name is reserved
        assert!(validate_name("YGG").is_ok());
    }

    #[test]
    fn ids() {
        let id = WorkloadId::new(17, 4242, "vm").unwrap();
        assert_eq!(id.to_string(), "17-4242-vm");
        assert_eq!(id.to_path(), "17/4242/vm");
        assert_eq!(id.deployment().to_string(), "17-4242");
        assert_eq!(id.deployment().to_path(), "17/4242");
        assert_eq!(WorkloadId::parse("17-4242-vm").unwrap(), id);
        assert!(WorkloadId::parse("17-vm").is_err());
        assert!(WorkloadId::parse("17-1-a-b").is_err());
        assert!(WorkloadId::new(1, 1, "bad-name").is_err());
        assert!(id.unique("net").len() <= 13);
        assert_ne!(id.unique("net"), id.unique("ygg"));
    }
}
