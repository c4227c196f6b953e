//! `zlogs`: stream a zmachine's logs to a URL (zos `zos/zlogs.go`).

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::url::url_scheme;
use super::InvalidData;
use crate::{Capacity, Deployment, WorkloadType};

/// Output schemes zos accepts.
pub const LOG_SCHEMES: &[&str] = &["redis", "ws", "wss"];

/// `zlogs` data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ZLogs {
    /// Name of a `zmachine` workload of the same deployment.
    #[serde(deserialize_with = "crate::json::null_default")]
    pub zmachine: String,
    /// `redis://`, `ws://` or `wss://` URL.
    #[serde(deserialize_with = "crate::json::null_default")]
    pub output: String,
}

impl ZLogs {
    pub(crate) fn challenge(&self, out: &mut String) {
        let _ = write!(out, "{}{}", self.zmachine, self.output);
    }

    pub(crate) fn validate(&self, dl: &Deployment) -> Result<(), InvalidData> {
        let found = crate::validate_name(&self.zmachine).is_ok()
            && dl
                .get(&self.zmachine)
                .is_some_and(|wl| wl.workload_type == WorkloadType::ZMachine);
        if !found {
            return Err(InvalidData::ZMachineNotFound(self.zmachine.clone()));
        }
        let scheme = url_scheme(&self.output).map_err(InvalidData::InvalidOutputUrl)?;
        if !LOG_SCHEMES.contains(&scheme.as_str()) {
            return Err(InvalidData::InvalidOutputScheme(scheme));
        }
        Ok(())
    }

    /// Nothing.
    pub fn capacity(&self) -> Capacity {
        Capacity::default()
    }
}
