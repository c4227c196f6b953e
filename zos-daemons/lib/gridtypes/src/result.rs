//! Workload results as the node reports them (zos `gridtypes/workload.go` `Result`).
//!
//! Owns the result states with their JSON strings and the result JSON shape
//! (`created`, `state`, `message`, `data`). It must not decide state transitions (the engine does).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Timestamp;

/// State of a workload result. `Unset` is the empty string a client sends before the node set any
/// result; `Other` keeps a state this crate does not know (Go accepts any string on decode).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub enum ResultState {
    #[default]
    Unset,
    /// First state of a workload in storage.
    Init,
    /// The action failed but did not break the previous state (previous data is kept).
    Unchanged,
    Error,
    Ok,
    Deleted,
    Paused,
    Other(String),
}

impl ResultState {
    pub fn as_str(&self) -> &str {
        match self {
            ResultState::Unset => "",
            ResultState::Init => "init",
            ResultState::Unchanged => "unchanged",
            ResultState::Error => "error",
            ResultState::Ok => "ok",
            ResultState::Deleted => "deleted",
            ResultState::Paused => "paused",
            ResultState::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "" => ResultState::Unset,
            "init" => ResultState::Init,
            "unchanged" => ResultState::Unchanged,
            "error" => ResultState::Error,
            "ok" => ResultState::Ok,
            "deleted" => ResultState::Deleted,
            "paused" => ResultState::Paused,
            other => ResultState::Other(other.to_string()),
        }
    }

    /// zos's `IsOkay`: the workload is up (`ok` or `paused`); its capacity counts as used.
    pub fn is_okay(&self) -> bool {
        matches!(self, ResultState::Ok | ResultState::Paused)
    }

    /// Whether the workload holds its capacity on the node: okay, or running as before a
    /// refused update (`unchanged`, whose stored definition is the one that runs).
    pub fn holds_capacity(&self) -> bool {
        self.is_okay() || *self == ResultState::Unchanged
    }

    /// One of the six states zos knows.
    pub fn is_known(&self) -> bool {
        !matches!(self, ResultState::Unset | ResultState::Other(_))
    }
}

impl fmt::Display for ResultState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ResultState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ResultState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        Ok(ResultState::parse(s.as_deref().unwrap_or("")))
    }
}

/// Why a result is not a valid node result (zos's `Result.Valid`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    #[error("created time must be set")]
    NoCreated,
    #[error("invalid result state")]
    InvalidState,
}

/// A workload's result. `message` carries the error text (Go field `Error`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WorkloadResult {
    #[serde(default)]
    pub created: Timestamp,
    #[serde(default)]
    pub state: ResultState,
    #[serde(default, deserialize_with = "crate::json::null_default")]
    pub message: String,
    /// Type-specific result data (see `types::*Result`), `null` when none.
    #[serde(default)]
    pub data: serde_json::Value,
}

impl WorkloadResult {
    /// A result in `state` at `created` with no data.
    pub fn new(state: ResultState, created: Timestamp) -> Self {
        WorkloadResult {
            created,
            state,
            ..Default::default()
        }
    }

    pub fn ok(created: Timestamp, data: serde_json::Value) -> Self {
        WorkloadResult {
            created,
            state: ResultState::Ok,
            message: String::new(),
            data,
        }
    }

    pub fn error(created: Timestamp, message: impl Into<String>) -> Self {
        WorkloadResult {
            created,
            state: ResultState::Error,
            message: message.into(),
            data: serde_json::Value::Null,
        }
    }

    /// zos's `IsNil`: no state, no time and no data (what a client sends).
    pub fn is_nil(&self) -> bool {
        self.state == ResultState::Unset && self.created.0 == 0 && self.data.is_null()
    }

    /// zos's `Valid`: a time and a known state.
    pub fn validate(&self) -> Result<(), ResultError> {
        if self.created.0 == 0 {
            return Err(ResultError::NoCreated);
        }
        if !self.state.is_known() {
            return Err(ResultError::InvalidState);
        }
        Ok(())
    }

    /// Decodes `data` into a result type, e.g. [`crate::types::ZMachineResult`].
    pub fn data_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_json() {
        for (state, text) in [
            (ResultState::Init, "\"init\""),
            (ResultState::Ok, "\"ok\""),
            (ResultState::Error, "\"error\""),
            (ResultState::Deleted, "\"deleted\""),
            (ResultState::Paused, "\"paused\""),
            (ResultState::Unchanged, "\"unchanged\""),
            (ResultState::Unset, "\"\""),
        ] {
            assert_eq!(serde_json::to_string(&state).unwrap(), text);
            assert_eq!(serde_json::from_str::<ResultState>(text).unwrap(), state);
        }
        assert!(ResultState::Ok.is_okay() && ResultState::Paused.is_okay());
        assert!(!ResultState::Error.is_okay() && !ResultState::Init.is_okay());
        assert!(ResultState::Unchanged.holds_capacity() && ResultState::Paused.holds_capacity());
        assert!(!ResultState::Error.holds_capacity() && !ResultState::Deleted.holds_capacity());
    }

    #[test]
    fn result_json() {
        let r = WorkloadResult::error(Timestamp(1700000000), "boom");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"created":1700000000,"state":"error","message":"boom","data":null})
        );
        let back: WorkloadResult = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        let empty: WorkloadResult = serde_json::from_str("{}").unwrap();
        assert!(empty.is_nil());
        assert_eq!(empty.validate(), Err(ResultError::NoCreated));
        let weird: WorkloadResult = serde_json::from_str(r#"{"created":1,"state":"x"}"#).unwrap();
        assert_eq!(weird.validate(), Err(ResultError::InvalidState));
        assert!(WorkloadResult::new(ResultState::Init, Timestamp(1))
            .validate()
            .is_ok());
    }
}
