//! What the node's init says about its services, read from `zos-init --json list|status NAME`
//! typed into the debug shell, with the init's own protocol types (`zos-init-control`).

use std::collections::BTreeMap;

pub use zos_init_control::ServiceStatus;

/// `zos-init --json list`: every service and its state (`Running`, `Blocked`, `Error(...)`).
pub fn services(json: &str) -> Result<BTreeMap<String, String>, serde_json::Error> {
    serde_json::from_str(json)
}

/// `zos-init --json status NAME`.
pub fn status(json: &str) -> Result<ServiceStatus, serde_json::Error> {
    serde_json::from_str(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_inits_replies() {
        let list = services(
            "{\n  \"busd\": \"Running\",\n  \"networkd\": \"Error(Exited(Pid(12), 1))\"\n}",
        )
        .unwrap();
        assert_eq!(list["busd"], "Running");
        assert_eq!(list["networkd"], "Error(Exited(Pid(12), 1))");
        let s = status(r#"{"name":"noded","pid":77,"state":"Running","target":"Up","after":{"storaged":"Running"}}"#).unwrap();
        assert_eq!((s.pid, s.after["storaged"].as_str()), (77, "Running"));
        assert!(status("name: noded").is_err());
    }
}
