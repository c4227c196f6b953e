//! Reading the output of the node's zinit-compatible CLI (`zos-init list`, `zos-init status NAME`),
//! as typed into the debug shell.
//!
//! Owns only parsing; tolerant of zinit's YAML-ish text (`name: Running`, `pid: 123`) and of JSON
//! (`"pid": 123,`), so it keeps working if the CLI's rendering changes between those two.

/// The state `zos-init list` reports for `service` (`Running`, `Blocked`, `Error(...)`, ...).
pub fn listed_state(list: &str, service: &str) -> Option<String> {
    list.lines().find_map(|line| {
        let (name, state) = line.split_once(':')?;
        (name.trim().trim_matches('"') == service).then(|| {
            state
                .trim()
                .trim_matches(|c| c == '"' || c == ',')
                .to_string()
        })
    })
}

/// The pid in `zos-init status NAME` output.
pub fn status_pid(status: &str) -> Option<u32> {
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        if key.trim().trim_matches('"') != "pid" {
            return None;
        }
        value.trim().trim_end_matches(',').parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_and_status() {
        let list = "busd: Running\nnoded: Spawned\nnetworkd: Error(Exited(Pid(12), 1))\n";
        assert_eq!(listed_state(list, "busd").as_deref(), Some("Running"));
        assert_eq!(listed_state(list, "noded").as_deref(), Some("Spawned"));
        assert_eq!(
            listed_state(list, "networkd").as_deref(),
            Some("Error(Exited(Pid(12), 1))")
        );
        assert_eq!(listed_state(list, "bus"), None);
        assert_eq!(
            listed_state("{\n  \"busd\": \"Running\",\n}", "busd").as_deref(),
            Some("Running")
        );
        assert_eq!(
            status_pid("name: noded\npid: 123\nstate: Running\n"),
            Some(123)
        );
        assert_eq!(status_pid("{\n  \"pid\": 77,\n}"), Some(77));
        assert_eq!(status_pid("name: noded\n"), None);
    }
}
