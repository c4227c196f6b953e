//! The description file of `zosctl deploy`: which node, and the workloads with their zos data,
//! in YAML or JSON. Turns it into a `gridtypes::Deployment` owned by one twin (version 0, that
//! twin's signature required with weight 1) and validates it with gridtypes' rules.
//!
//! Reads only the file it is given; hashing, signing and sending are the caller's.

use std::path::Path;

use gridtypes::{Deployment, Workload, WorkloadType, GIB, KIB, MIB, TIB};
use serde::Deserialize;
use serde_json::Value;

use crate::error::CliError;

/// Data fields that may be written as a size with a binary unit ("1GiB", "512 MiB").
const SIZE_FIELDS: &[&str] = &["size", "memory"];

/// What a description file holds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Description {
    /// The node id the deployment goes to.
    pub node: u32,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub metadata: String,
    pub workloads: Vec<WorkloadSpec>,
}

/// One workload: its name, zos type and the type's data as zos defines it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub workload_type: String,
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub metadata: String,
}

/// Reads a description file: JSON when it ends in `.json`, YAML (which also reads JSON) else.
pub fn load(path: &Path) -> Result<Description, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad_file(path, format!("cannot read: {e}", e = zos_base::Report(&e))))?;
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    parse(&text, json).map_err(|reason| bad_file(path, reason))
}

/// The error for a file that cannot be used, naming it.
pub fn bad_file(path: &Path, reason: String) -> CliError {
    CliError::BadFile {
        path: path.display().to_string(),
        reason,
    }
}

fn parse(text: &str, json: bool) -> Result<Description, String> {
    let description: Description = if json {
        serde_json::from_str(text).map_err(|e| {
            format!(
                "not a deployment description (JSON): {e}",
                e = zos_base::Report(&e)
            )
        })?
    } else {
        serde_yaml::from_str(text).map_err(|e| {
            format!(
                "not a deployment description (YAML): {e}",
                e = zos_base::Report(&e)
            )
        })?
    };
    if description.workloads.is_empty() {
        return Err("no workloads: list them under `workloads:`".into());
    }
    Ok(description)
}

impl Description {
    /// The deployment `twin` sends: version 0, the twin's own signature required (weight 1),
    /// validated as a node validates a new deployment.
    pub fn deployment(&self, twin: u32) -> Result<Deployment, String> {
        let mut workloads = Vec::with_capacity(self.workloads.len());
        for spec in &self.workloads {
            let mut data = spec.data.clone();
            sizes_to_bytes(&mut data).map_err(|e| format!("workload '{}': {e}", spec.name))?;
            workloads.push(Workload {
                name: spec.name.clone(),
                workload_type: WorkloadType::parse(&spec.workload_type),
                data,
                description: spec.description.clone(),
                metadata: spec.metadata.clone(),
                ..Default::default()
            });
        }
        let deployment = Deployment {
            description: self.description.clone(),
            metadata: self.metadata.clone(),
            ..Deployment::signed_by_owner(twin, workloads)
        };
        deployment
            .validate_create()
            .map_err(|e| format!("invalid deployment: {e}", e = zos_base::Report(&e)))?;
        Ok(deployment)
    }
}

/// Replaces sizes written with a unit ("1GiB") in the [`SIZE_FIELDS`] by their bytes, at any
/// depth of a workload's data.
fn sizes_to_bytes(data: &mut Value) -> Result<(), String> {
    match data {
        Value::Object(fields) => {
            for (key, value) in fields.iter_mut() {
                match value {
                    Value::String(text) if SIZE_FIELDS.contains(&key.as_str()) => {
                        *value = Value::from(parse_size(text).map_err(|e| format!("{key}: {e}"))?);
                    }
                    _ => sizes_to_bytes(value)?,
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                sizes_to_bytes(item)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// "1073741824", "1GiB", "512 MiB", "2 TiB" (1024-based units, as zos counts) → bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("{text:?} is not a size: use bytes or a whole number of KiB, MiB, GiB or TiB (e.g. \"1GiB\")")
    };
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit = match unit.trim() {
        "" | "B" => 1,
        "KiB" => KIB,
        "MiB" => MIB,
        "GiB" => GIB,
        "TiB" => TIB,
        _ => return Err(bad()),
    };
    number.checked_mul(unit).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtypes::types::{Volume, ZMount};
    use gridtypes::{SignatureRequest, WorkloadData};

    const YAML: &str = "
node: 7
description: two disks
workloads:
  - name: data
    type: volume
    data: {size: 1GiB}
  - name: disk
    type: zmount
    data:
      size: 2147483648
    description: scratch
";

    #[test]
    fn yaml_and_json_describe_the_same_deployment() {
        let yaml = parse(YAML, false).expect("yaml");
        let json = parse(
            r#"{"node": 7, "description": "two disks", "workloads": [
                {"name": "data", "type": "volume", "data": {"size": "1 GiB"}},
                {"name": "disk", "type": "zmount", "data": {"size": 2147483648},
                 "description": "scratch"}]}"#,
            true,
        )
        .expect("json");
        assert_eq!(yaml.node, 7);
        let a = yaml.deployment(42).expect("valid");
        let b = json.deployment(42).expect("valid");
        assert_eq!(a, b);
        assert_eq!(a.twin_id, 42);
        assert_eq!(a.version, 0);
        assert_eq!(a.description, "two disks");
        let requirement = &a.signature_requirement;
        assert_eq!(
            requirement.requests,
            vec![SignatureRequest {
                twin_id: 42,
                required: false,
                weight: 1
            }]
        );
        assert_eq!(requirement.weight_required, 1);
        assert_eq!(
            a.get("data").expect("data").data().expect("decodes"),
            WorkloadData::Volume(Volume { size: GIB })
        );
        assert_eq!(
            a.get("disk").expect("disk").data().expect("decodes"),
            WorkloadData::ZMount(ZMount { size: 2 * GIB })
        );
        assert_eq!(a.get("disk").expect("disk").description, "scratch");
        // Built like gridtypes builds it: the same hash as Workload::new.
        let mut expected = a.clone();
        expected.workloads = vec![
            Workload::new("data", &WorkloadData::Volume(Volume { size: GIB })),
            Workload {
                description: "scratch".into(),
                ..Workload::new("disk", &WorkloadData::ZMount(ZMount { size: 2 * GIB }))
            },
        ];
        assert_eq!(
            a.challenge_hash_hex().expect("hash"),
            expected.challenge_hash_hex().expect("hash")
        );
    }

    #[test]
    fn a_zdb_namespace_as_the_readme_writes_it() {
        let d = parse(
            "node: 1\nworkloads:\n  - {name: kv, type: zdb, data: {size: 1GiB, mode: user, password: secret, public: false}}\n",
            false,
        )
        .expect("yaml");
        let d = d.deployment(42).expect("valid");
        assert_eq!(
            d.get("kv").expect("kv").data().expect("decodes"),
            WorkloadData::Zdb(gridtypes::types::Zdb {
                size: GIB,
                mode: "user".into(),
                password: "secret".into(),
                public: false,
            })
        );
    }

    #[test]
    fn malformed_descriptions_say_what_is_wrong() {
        for (text, json, needle) in [
            ("node: [1", false, "YAML"),
            ("{\"node\": 1,", true, "JSON"),
            ("workloads: []", false, "missing field `node`"),
            ("node: 1\nworkloads: []", false, "no workloads"),
            (
                "node: 1\nnodes: 2\nworkloads: []",
                false,
                "unknown field `nodes`",
            ),
            ("node: x\nworkloads: []", false, "node"),
        ] {
            let err = parse(text, json).expect_err(text);
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn invalid_workloads_are_refused_before_anything_is_sent() {
        for (workloads, needle) in [
            ("[{name: a, type: teleporter, data: {}}]", "teleporter"),
            ("[{name: a, type: volume, data: {size: 1GiB}}, {name: a, type: zmount, data: {size: 1GiB}}]", "same name 'a'"),
            ("[{name: 'a-b', type: volume, data: {size: 1GiB}}]", "name 'a-b' is invalid"),
            ("[{name: a, type: volume, data: {size: 1 GB}}]", "workload 'a': size: \"1 GB\" is not a size"),
            ("[{name: a, type: volume, data: {size: [1]}}]", "workload 'a'"),
        ] {
            let text = format!("node: 1\nworkloads: {workloads}");
            let err = parse(&text, false)
                .expect("parses")
                .deployment(1)
                .expect_err(workloads);
            assert!(err.contains(needle), "{workloads}: {err}");
        }
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("1073741824"), Ok(GIB));
        assert_eq!(parse_size("1GiB"), Ok(GIB));
        assert_eq!(parse_size(" 512 MiB "), Ok(512 * MIB));
        assert_eq!(parse_size("2TiB"), Ok(2 * TIB));
        assert_eq!(parse_size("3KiB"), Ok(3 * KIB));
        for bad in ["", "GiB", "1.5GiB", "1GB", "-1", "99999999999999TiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
