//! A workload: version, name, type, raw data, metadata and result (zos `gridtypes/workload.go`).
//!
//! Owns the workload JSON shape, the type names (with which types are sharable, updatable and
//! their install order) and decoding `data` into [`WorkloadData`]. It must not validate
//! cross-workload rules (that is `deployment`).

use std::fmt::{self, Write};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{validate_name, Capacity, NameError, WorkloadData, WorkloadResult};

/// A workload's data cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("invalid reservation type '{0}'")]
    UnknownType(String),
    #[error("workload of type '{0}' has no data")]
    Missing(String),
    #[error("failed to load data of type '{workload_type}': {reason}")]
    Decode {
        workload_type: String,
        reason: String,
    },
}

/// The workload types a full zos node serves. `Other` keeps an unknown name so that a deployment
/// still decodes and validation can say which type is unknown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadType {
    ZMount,
    Volume,
    Network,
    Zdb,
    ZMachine,
    Ipv4,
    Ip,
    GatewayNameProxy,
    GatewayFqdnProxy,
    Qsfs,
    ZLogs,
    Other(String),
}

impl Default for WorkloadType {
    fn default() -> Self {
        WorkloadType::Other(String::new())
    }
}

impl WorkloadType {
    /// Every known type.
    pub const ALL: [WorkloadType; 11] = [
        WorkloadType::ZMount,
        WorkloadType::Volume,
        WorkloadType::Network,
        WorkloadType::Zdb,
        WorkloadType::ZMachine,
        WorkloadType::Ipv4,
        WorkloadType::Ip,
        WorkloadType::GatewayNameProxy,
        WorkloadType::GatewayFqdnProxy,
        WorkloadType::Qsfs,
        WorkloadType::ZLogs,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            WorkloadType::ZMount => "zmount",
            WorkloadType::Volume => "volume",
            WorkloadType::Network => "network",
            WorkloadType::Zdb => "zdb",
            WorkloadType::ZMachine => "zmachine",
            WorkloadType::Ipv4 => "ipv4",
            WorkloadType::Ip => "ip",
            WorkloadType::GatewayNameProxy => "gateway-name-proxy",
            WorkloadType::GatewayFqdnProxy => "gateway-fqdn-proxy",
            WorkloadType::Qsfs => "qsfs",
            WorkloadType::ZLogs => "zlogs",
            WorkloadType::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> Self {
        WorkloadType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .unwrap_or_else(|| WorkloadType::Other(s.to_string()))
    }

    pub fn is_known(&self) -> bool {
        !matches!(self, WorkloadType::Other(_))
    }

    /// Sharable types are global per twin: one name across all the twin's deployments, usable
    /// from the twin's other deployments (zos `RegisterSharableType`: `network`).
    pub fn is_sharable(&self) -> bool {
        matches!(self, WorkloadType::Network)
    }

    /// Types whose zos manager implements `Update` (zmount, volume, zdb, network, qsfs). An
    /// update op on any other type makes zos reject the whole deployment update.
    pub fn can_update(&self) -> bool {
        matches!(
            self,
            WorkloadType::ZMount
                | WorkloadType::Volume
                | WorkloadType::Zdb
                | WorkloadType::Network
                | WorkloadType::Qsfs
        )
    }

    /// Position in zos's install order (zmount, volume, qsfs, network, ipv4, ip, zmachine, zlogs,
    /// then the rest); removal runs in reverse.
    pub fn install_rank(&self) -> u8 {
        match self {
            WorkloadType::ZMount => 0,
            WorkloadType::Volume => 1,
            WorkloadType::Qsfs => 2,
            WorkloadType::Network => 3,
            WorkloadType::Ipv4 => 4,
            WorkloadType::Ip => 5,
            WorkloadType::ZMachine => 6,
            WorkloadType::ZLogs => 7,
            WorkloadType::Zdb => 8,
            WorkloadType::GatewayNameProxy => 9,
            WorkloadType::GatewayFqdnProxy => 10,
            WorkloadType::Other(_) => 11,
        }
    }
}

impl fmt::Display for WorkloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for WorkloadType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WorkloadType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        Ok(WorkloadType::parse(s.as_deref().unwrap_or("")))
    }
}

/// One workload of a deployment. `data` is kept as received; [`Workload::data`] decodes it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Workload {
    /// 0 at creation; set to the deployment's new version to update this workload.
    #[serde(default)]
    pub version: u32,
    #[serde(default, deserialize_with = "crate::json::null_default")]
    pub name: String,
    #[serde(rename = "type", default)]
    pub workload_type: WorkloadType,
    #[serde(default)]
    pub data: serde_json::Value,
    #[serde(default, deserialize_with = "crate::json::null_default")]
    pub metadata: String,
    #[serde(default, deserialize_with = "crate::json::null_default")]
    pub description: String,
    /// Set by the node; not part of the challenge.
    #[serde(default)]
    pub result: WorkloadResult,
}

impl Workload {
    /// A version-0 workload with no result.
    pub fn new(name: impl Into<String>, data: &WorkloadData) -> Self {
        Workload {
            version: 0,
            name: name.into(),
            workload_type: data.workload_type(),
            data: data.to_value(),
            ..Default::default()
        }
    }

    /// Decodes `data` as `type` says.
    pub fn data(&self) -> Result<WorkloadData, DataError> {
        WorkloadData::decode(&self.workload_type, &self.data)
    }

    /// Appends this workload's challenge: version, name, type, metadata, description, then the
    /// type's data (zos `Workload.Challenge`).
    pub fn challenge(&self, out: &mut String) -> Result<(), DataError> {
        let data = self.data()?;
        let _ = write!(
            out,
            "{}{}{}{}{}",
            self.version, self.name, self.workload_type, self.metadata, self.description
        );
        data.challenge(out);
        Ok(())
    }

    /// The capacity this workload consumes (whatever its state).
    pub fn capacity(&self) -> Result<Capacity, DataError> {
        Ok(self.data()?.capacity())
    }

    /// zos's `IsResult`: the workload has a result in `state`.
    pub fn is_result(&self, state: &crate::ResultState) -> bool {
        !self.result.is_nil() && self.result.state == *state
    }

    /// Checks the name only (see [`crate::Deployment::validate`] for the full rules).
    pub fn validate_name(&self) -> Result<(), NameError> {
        validate_name(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names() {
        for t in WorkloadType::ALL {
            assert_eq!(WorkloadType::parse(t.as_str()), t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<WorkloadType>(&json).unwrap(), t);
        }
        assert_eq!(
            WorkloadType::parse("container"),
            WorkloadType::Other("container".into())
        );
        assert!(WorkloadType::Network.is_sharable());
        assert!(!WorkloadType::ZMachine.can_update());
        assert!(WorkloadType::ZMount.install_rank() < WorkloadType::ZMachine.install_rank());
        assert!(WorkloadType::ZMachine.install_rank() < WorkloadType::ZLogs.install_rank());
    }

    #[test]
    fn unknown_type_is_a_clear_error() {
        let wl: Workload =
            serde_json::from_str(r#"{"name":"a","type":"container","data":{}}"#).unwrap();
        assert_eq!(
            wl.data().unwrap_err().to_string(),
            "invalid reservation type 'container'"
        );
        let wl: Workload = serde_json::from_str(r#"{"name":"a","type":"zmount"}"#).unwrap();
        assert_eq!(wl.data().unwrap_err(), DataError::Missing("zmount".into()));
        let wl: Workload =
            serde_json::from_str(r#"{"name":"a","type":"zmount","data":{"size":"big"}}"#).unwrap();
        assert!(matches!(wl.data(), Err(DataError::Decode { .. })));
    }
}
