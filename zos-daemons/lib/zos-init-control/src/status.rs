//! What the init sends back: the reply envelope and the body of `status`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The reply to every command but `log`: `{"state":"ok"|"error","body":...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub state: String,
    pub body: serde_json::Value,
}

impl Response {
    pub fn ok(body: serde_json::Value) -> Response {
        Response {
            state: "ok".into(),
            body,
        }
    }

    pub fn error(error: &crate::ControlError) -> Response {
        Response {
            state: "error".into(),
            body: zos_base::report(&error).into(),
        }
    }
}

/// The body of `status NAME`. States and targets are zinit's spellings (`Running`, `Blocked`,
/// `Error(Exited(Pid(12), 1))`, `Up`, `Down`); `pid` is 0 when no process runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    pub pid: i32,
    pub state: String,
    pub target: String,
    /// Each dependency and its state.
    #[serde(default)]
    pub after: BTreeMap<String, String>,
}

impl ServiceStatus {
    /// True while a process of the service exists.
    pub fn is_running(&self) -> bool {
        self.pid != 0
    }
}
