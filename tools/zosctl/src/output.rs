//! All of zosctl's output: aligned tables and key/value blocks for people, JSON for scripts
//! (`--json`), progress lines and error messages. Commands build an [`Output`]; only this module
//! prints.

use std::io::Write;
use std::path::Path;

use gridtypes::{Capacity, Deployment, Workload, KIB};
use serde::Deserialize;
use serde_json::{json, Value};
use zos_chain::{Contract, ContractKind, ContractState, Farm, Node, Twin};

use crate::error::CliError;

const GIB: u64 = 1 << 30;

/// What a command produced: the same result for people and for scripts, and whether the command
/// failed after all (a deployment with workloads in error, signatures that do not verify): then
/// the result is printed and the error after it.
#[derive(Debug)]
pub struct Output {
    human: Human,
    json: Value,
    failure: Option<CliError>,
}

impl Output {
    /// The same output, ending the command with `err`.
    pub fn failed(self, err: CliError) -> Output {
        Output {
            failure: Some(err),
            ..self
        }
    }

    /// Why the command failed, if it did.
    pub fn failure(&self) -> Option<&CliError> {
        self.failure.as_ref()
    }
}

#[derive(Debug)]
enum Human {
    Table {
        headers: &'static [&'static str],
        rows: Vec<Vec<String>>,
        empty: String,
    },
    Fields(Vec<(&'static str, String)>),
    Message(String),
    /// Several blocks, one blank line apart.
    Blocks(Vec<Human>),
}

/// Writes a command's result on stdout (an error when stdout is gone, e.g. a closed pipe).
pub fn print(out: &Output, json: bool) -> std::io::Result<()> {
    let text = if json {
        let mut text = serde_json::to_string_pretty(&out.json).map_err(std::io::Error::other)?;
        text.push('\n');
        text
    } else {
        render(&out.human)
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// A progress line of a long command on stderr (stdout keeps the result).
pub fn progress(line: &str) {
    eprintln!("{line}");
}

/// Prints an error on stderr (`{"error": ...}` with --json).
pub fn print_error(err: &CliError, json: bool) {
    if json {
        eprintln!("{}", json!({ "error": zos_base::report(&err) }));
    } else {
        eprintln!("error: {err}", err = zos_base::Report(&err));
    }
}

fn render(human: &Human) -> String {
    match human {
        Human::Message(text) => format!("{text}\n"),
        Human::Blocks(blocks) => blocks.iter().map(render).collect::<Vec<_>>().join("\n"),
        Human::Fields(fields) => {
            let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            fields
                .iter()
                .map(|(k, v)| format!("{k:<width$}  {v}\n"))
                .collect()
        }
        Human::Table {
            headers,
            rows,
            empty,
        } => {
            if rows.is_empty() {
                return format!("{empty}\n");
            }
            let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
            for row in rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
                let text: Vec<String> = cells
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                format!("{}\n", text.join("  ").trim_end())
            };
            let mut out = line(&mut headers.iter().copied());
            for row in rows {
                out.push_str(&line(&mut row.iter().map(String::as_str)));
            }
            out
        }
    }
}

/// A one-line message with its JSON form.
pub fn message(text: String, json: Value) -> Output {
    Output {
        human: Human::Message(text),
        json,
        failure: None,
    }
}

pub fn twin(twin: &Twin) -> Output {
    let pk = twin.pk.as_ref().map(hex::encode);
    Output {
        human: Human::Fields(vec![
            ("twin", twin.id.to_string()),
            ("account", twin.account_id.to_string()),
            ("relay", twin.relay.clone().unwrap_or_else(|| "-".into())),
            ("pk", pk.clone().unwrap_or_else(|| "-".into())),
        ]),
        json: json!({
            "id": twin.id,
            "account": twin.account_id.to_string(),
            "relay": twin.relay,
            "pk": pk,
        }),
        failure: None,
    }
}

fn farm_json(farm: &Farm) -> Value {
    json!({
        "id": farm.id,
        "name": farm.name,
        "twin_id": farm.twin_id,
        "pricing_policy_id": farm.pricing_policy_id,
        "dedicated": farm.dedicated_farm,
        "public_ips": farm.public_ips.iter().map(|ip| json!({
            "ip": ip.ip,
            "gw": ip.gateway,
            "contract_id": ip.contract_id,
        })).collect::<Vec<_>>(),
    })
}

fn farm_ips(farm: &Farm) -> String {
    if farm.public_ips.is_empty() {
        return "-".into();
    }
    farm.public_ips
        .iter()
        .map(|ip| format!("{} via {}", ip.ip, ip.gateway))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn farm(farm: &Farm) -> Output {
    Output {
        human: Human::Fields(vec![
            ("farm", farm.id.to_string()),
            ("name", farm.name.clone()),
            ("twin", farm.twin_id.to_string()),
            ("public ips", farm_ips(farm)),
            ("dedicated", farm.dedicated_farm.to_string()),
        ]),
        json: farm_json(farm),
        failure: None,
    }
}

pub fn farms(farms: &[Farm]) -> Output {
    Output {
        human: Human::Table {
            headers: &["ID", "NAME", "TWIN", "PUBLIC IPS", "DEDICATED"],
            rows: farms
                .iter()
                .map(|f| {
                    vec![
                        f.id.to_string(),
                        f.name.clone(),
                        f.twin_id.to_string(),
                        farm_ips(f),
                        f.dedicated_farm.to_string(),
                    ]
                })
                .collect(),
            empty: "no farms: create one with `zosctl farm create NAME`".into(),
        },
        json: Value::Array(farms.iter().map(farm_json).collect()),
        failure: None,
    }
}

fn gib(bytes: u64) -> String {
    format!("{} GiB", bytes / GIB)
}

fn node_json(node: &Node) -> Value {
    json!({
        "id": node.id,
        "farm_id": node.farm_id,
        "twin_id": node.twin_id,
        "resources": {
            "cru": node.resources.cru,
            "mru": node.resources.mru,
            "sru": node.resources.sru,
            "hru": node.resources.hru,
        },
        "location": {
            "city": node.location.city,
            "country": node.location.country,
            "latitude": node.location.latitude,
            "longitude": node.location.longitude,
        },
        "interfaces": node.interfaces.iter().map(|i| json!({
            "name": i.name,
            "mac": i.mac,
            "ips": i.ips,
        })).collect::<Vec<_>>(),
        "public_config": node.public_config.as_ref().map(|pc| json!({
            "ip4": { "ip": pc.ip4.0, "gw": pc.ip4.1 },
            "ip6": pc.ip6.as_ref().map(|(ip, gw)| json!({ "ip": ip, "gw": gw })),
            "domain": pc.domain,
        })),
        "created": node.created,
        "farming_policy_id": node.farming_policy_id,
        "certified": node.certified,
        "secure_boot": node.secure_boot,
        "virtualized": node.virtualized,
        "serial_number": node.serial_number,
    })
}

pub fn nodes(nodes: &[Node], farm: Option<u32>) -> Output {
    let empty = match farm {
        Some(farm) => format!("no nodes in farm {farm}"),
        None => "no nodes registered".into(),
    };
    Output {
        human: Human::Table {
            headers: &["ID", "FARM", "TWIN", "CRU", "MRU", "SRU", "HRU", "LOCATION"],
            rows: nodes
                .iter()
                .map(|n| {
                    vec![
                        n.id.to_string(),
                        n.farm_id.to_string(),
                        n.twin_id.to_string(),
                        n.resources.cru.to_string(),
                        gib(n.resources.mru),
                        gib(n.resources.sru),
                        gib(n.resources.hru),
                        format!("{}, {}", n.location.city, n.location.country),
                    ]
                })
                .collect(),
            empty,
        },
        json: Value::Array(nodes.iter().map(node_json).collect()),
        failure: None,
    }
}

pub fn node(node: &Node) -> Output {
    let interfaces = node
        .interfaces
        .iter()
        .map(|i| format!("{} {} [{}]", i.name, i.mac, i.ips.join(" ")))
        .collect::<Vec<_>>()
        .join("; ");
    let public = node
        .public_config
        .as_ref()
        .map(|pc| format!("{} via {}", pc.ip4.0, pc.ip4.1))
        .unwrap_or_else(|| "-".into());
    Output {
        human: Human::Fields(vec![
            ("node", node.id.to_string()),
            ("farm", node.farm_id.to_string()),
            ("twin", node.twin_id.to_string()),
            ("cru", node.resources.cru.to_string()),
            ("mru", gib(node.resources.mru)),
            ("sru", gib(node.resources.sru)),
            ("hru", gib(node.resources.hru)),
            (
                "location",
                format!(
                    "{}, {} ({}, {})",
                    node.location.city,
                    node.location.country,
                    node.location.latitude,
                    node.location.longitude
                ),
            ),
            ("interfaces", interfaces),
            ("public config", public),
            ("certified", node.certified.to_string()),
            ("secure boot", node.secure_boot.to_string()),
            ("virtualized", node.virtualized.to_string()),
            (
                "serial",
                node.serial_number.clone().unwrap_or_else(|| "-".into()),
            ),
        ]),
        json: node_json(node),
        failure: None,
    }
}

/// A deployment hash as people wrote it: text when printable ASCII (zos puts the md5 hex digest
/// there), else 0x-hex.
fn hash_text(hash: &[u8; 32]) -> String {
    if hash.iter().all(|b| b.is_ascii_graphic()) {
        String::from_utf8_lossy(hash).into_owned()
    } else {
        format!("0x{}", hex::encode(hash))
    }
}

fn state_text(state: &ContractState) -> String {
    match state {
        ContractState::Created => "created".into(),
        ContractState::Deleted(cause) => format!("deleted ({cause:?})"),
        ContractState::GracePeriod(block) => format!("grace period since block {block}"),
    }
}

fn contract_json(c: &Contract) -> Value {
    let mut value = json!({
        "id": c.contract_id,
        "twin_id": c.twin_id,
        "state": state_text(&c.state),
        "solution_provider_id": c.solution_provider_id,
    });
    let kind = match &c.kind {
        ContractKind::Node {
            node_id,
            deployment_hash,
            deployment_data,
            public_ips,
            public_ips_list,
        } => json!({
            "type": "node",
            "node_id": node_id,
            "deployment_hash": hash_text(deployment_hash),
            "deployment_data": String::from_utf8_lossy(deployment_data),
            "public_ips": public_ips,
            "public_ips_list": public_ips_list.iter().map(|ip| json!({
                "ip": ip.ip, "gw": ip.gateway,
            })).collect::<Vec<_>>(),
        }),
        ContractKind::Name { name } => json!({ "type": "name", "name": name }),
        ContractKind::Rent { node_id } => json!({ "type": "rent", "node_id": node_id }),
    };
    if let (Value::Object(fields), Value::Object(extra)) = (&mut value, kind) {
        fields.extend(extra);
    }
    value
}

fn contract_row(c: &Contract) -> Vec<String> {
    let (kind, target, ips) = match &c.kind {
        ContractKind::Node {
            node_id,
            public_ips,
            ..
        } => ("node", format!("node {node_id}"), public_ips.to_string()),
        ContractKind::Name { name } => ("name", name.clone(), "-".into()),
        ContractKind::Rent { node_id } => ("rent", format!("node {node_id}"), "-".into()),
    };
    vec![
        c.contract_id.to_string(),
        c.twin_id.to_string(),
        kind.to_string(),
        target,
        ips,
        state_text(&c.state),
    ]
}

pub fn contract(c: &Contract) -> Output {
    let headers = ["contract", "twin", "type", "target", "public ips", "state"];
    let mut fields: Vec<(&'static str, String)> =
        headers.into_iter().zip(contract_row(c)).collect();
    if let ContractKind::Node {
        deployment_hash,
        deployment_data,
        ..
    } = &c.kind
    {
        fields.push(("hash", hash_text(deployment_hash)));
        fields.push((
            "data",
            String::from_utf8_lossy(deployment_data).into_owned(),
        ));
    }
    Output {
        human: Human::Fields(fields),
        json: contract_json(c),
        failure: None,
    }
}

pub fn contracts(contracts: &[Contract], empty: String) -> Output {
    Output {
        human: Human::Table {
            headers: &["ID", "TWIN", "TYPE", "TARGET", "PUBLIC IPS", "STATE"],
            rows: contracts.iter().map(contract_row).collect(),
            empty,
        },
        json: Value::Array(contracts.iter().map(contract_json).collect()),
        failure: None,
    }
}

pub fn balance(account: &str, free: u128) -> Output {
    Output {
        human: Human::Fields(vec![
            ("account", account.to_string()),
            ("free", free.to_string()),
        ]),
        // As a string: JSON numbers lose precision above 2^53 in most parsers.
        json: json!({ "account": account, "free": free.to_string() }),
        failure: None,
    }
}

/// Bytes in the largest 1024-based unit that keeps a whole number ("3 GiB", "1536 MiB").
fn bytes(n: u64) -> String {
    let mut value = n;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if value < KIB || !value.is_multiple_of(KIB) {
            return format!("{value} {unit}");
        }
        value /= KIB;
    }
    format!("{value} TiB")
}

/// What a workload's result says besides its state: the error message, else its data.
fn result_detail(wl: &Workload) -> String {
    if !wl.result.message.is_empty() {
        wl.result.message.clone()
    } else if wl.result.data.is_null() {
        "-".into()
    } else {
        wl.result.data.to_string()
    }
}

fn state_or_dash(wl: &Workload) -> String {
    match wl.result.state.as_str() {
        "" => "-".into(),
        state => state.into(),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    // Deployments and workloads are plain data: serializing them cannot fail.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A deployment on a node: its contract and each workload's result.
pub fn deployment(d: &Deployment) -> Output {
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".into()
        } else {
            s.to_string()
        }
    };
    Output {
        human: Human::Blocks(vec![
            Human::Fields(vec![
                ("contract", d.contract_id.to_string()),
                ("twin", d.twin_id.to_string()),
                ("version", d.version.to_string()),
                ("description", or_dash(&d.description)),
                ("metadata", or_dash(&d.metadata)),
            ]),
            Human::Table {
                headers: &["NAME", "TYPE", "STATE", "RESULT"],
                rows: d
                    .workloads
                    .iter()
                    .map(|w| {
                        vec![
                            w.name.clone(),
                            w.workload_type.to_string(),
                            state_or_dash(w),
                            result_detail(w),
                        ]
                    })
                    .collect(),
                empty: "no workloads".into(),
            },
        ]),
        json: to_json(d),
        failure: None,
    }
}

/// "2 ok, 1 error": how many workloads are in each state.
fn state_counts(d: &Deployment) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for wl in &d.workloads {
        let state = state_or_dash(wl);
        match counts.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => counts.push((state, 1)),
        }
    }
    counts
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The twin's deployments on a node.
pub fn deployments(deployments: &[Deployment]) -> Output {
    Output {
        human: Human::Table {
            headers: &["CONTRACT", "VERSION", "WORKLOADS", "DESCRIPTION"],
            rows: deployments
                .iter()
                .map(|d| {
                    vec![
                        d.contract_id.to_string(),
                        d.version.to_string(),
                        state_counts(d),
                        d.description.clone(),
                    ]
                })
                .collect(),
            empty: "no deployments of this twin on the node: create one with `zosctl deploy FILE`"
                .into(),
        },
        json: to_json(&deployments),
        failure: None,
    }
}

/// The result changes of a deployment's workloads, oldest first.
pub fn changes(contract: u64, changes: &[Workload]) -> Output {
    Output {
        human: Human::Table {
            headers: &["TIME", "NAME", "TYPE", "STATE", "RESULT"],
            rows: changes
                .iter()
                .map(|w| {
                    vec![
                        w.result.created.to_string(),
                        w.name.clone(),
                        w.workload_type.to_string(),
                        state_or_dash(w),
                        result_detail(w),
                    ]
                })
                .collect(),
            empty: format!("no changes of contract {contract}"),
        },
        json: to_json(&changes),
        failure: None,
    }
}

/// What `zos.statistics.get` answers: the node's capacity and how much of it is used.
#[derive(Debug, Deserialize)]
pub struct Statistics {
    pub total: Capacity,
    pub used: Capacity,
    pub system: Capacity,
    #[serde(default)]
    pub users: Users,
}

/// The users' share of a node.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Users {
    pub deployments: u64,
    pub workloads: u64,
    pub last_deployment_timestamp: i64,
}

/// A node's statistics; `raw` is what the node sent (the JSON output).
pub fn stats(node: u32, stats: &Statistics, raw: Value) -> Output {
    let caps = [&stats.total, &stats.used, &stats.system];
    let row = |name: &str, unit: fn(u64) -> String, field: fn(&Capacity) -> u64| {
        std::iter::once(name.to_string())
            .chain(caps.iter().map(|c| unit(field(c))))
            .collect()
    };
    let count = |n: u64| n.to_string();
    Output {
        human: Human::Blocks(vec![
            Human::Table {
                headers: &["RESOURCE", "TOTAL", "USED", "SYSTEM"],
                rows: vec![
                    row("cru", count, |c| c.cru),
                    row("mru", bytes, |c| c.mru),
                    row("sru", bytes, |c| c.sru),
                    row("hru", bytes, |c| c.hru),
                    row("ipv4u", count, |c| c.ipv4u),
                ],
                empty: String::new(),
            },
            Human::Fields(vec![
                ("node", node.to_string()),
                ("deployments", stats.users.deployments.to_string()),
                ("workloads", stats.users.workloads.to_string()),
                (
                    "last deployment",
                    stats.users.last_deployment_timestamp.to_string(),
                ),
            ]),
        ]),
        json: raw,
        failure: None,
    }
}

/// One requested signer of a deployment and what its signature is worth.
#[derive(Debug)]
pub struct SignerCheck {
    pub twin: u32,
    pub required: bool,
    pub weight: u64,
    pub signature_type: Option<String>,
    /// "valid", "invalid", "no signature" or why the key is unknown.
    pub status: String,
}

/// The signature check of a deployment file.
pub fn verification(
    file: &Path,
    hash: &str,
    d: &Deployment,
    checks: &[SignerCheck],
    verified: bool,
) -> Output {
    let requirement = &d.signature_requirement;
    let style = match requirement.signature_style.as_str() {
        "" => "default",
        style => style,
    };
    let signature_type = |c: &SignerCheck| match c.signature_type.as_deref() {
        None => "-".to_string(),
        Some("") => "ed25519".to_string(),
        Some(t) => t.to_string(),
    };
    Output {
        human: Human::Blocks(vec![
            Human::Fields(vec![
                ("file", file.display().to_string()),
                ("hash", hash.to_string()),
                ("owner", d.twin_id.to_string()),
                ("style", style.to_string()),
                ("weight required", requirement.weight_required.to_string()),
            ]),
            Human::Table {
                headers: &["TWIN", "REQUIRED", "WEIGHT", "TYPE", "SIGNATURE"],
                rows: checks
                    .iter()
                    .map(|c| {
                        vec![
                            c.twin.to_string(),
                            c.required.to_string(),
                            c.weight.to_string(),
                            signature_type(c),
                            c.status.clone(),
                        ]
                    })
                    .collect(),
                empty: "no signature requests".into(),
            },
            Human::Message(if verified {
                "requirement met".into()
            } else {
                "requirement NOT met".into()
            }),
        ]),
        json: json!({
            "file": file.display().to_string(),
            "hash": hash,
            "owner": d.twin_id,
            "signature_style": requirement.signature_style,
            "weight_required": requirement.weight_required,
            "signers": checks.iter().map(|c| json!({
                "twin_id": c.twin,
                "required": c.required,
                "weight": c.weight,
                "signature_type": c.signature_type.as_ref().map(|_| signature_type(c)),
                "status": c.status,
            })).collect::<Vec<_>>(),
            "verified": verified,
        }),
        failure: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_aligned_and_empty_tables_say_so() {
        let table = Human::Table {
            headers: &["ID", "NAME"],
            rows: vec![
                vec!["1".into(), "alpha".into()],
                vec!["12".into(), "b".into()],
            ],
            empty: "none".into(),
        };
        assert_eq!(render(&table), "ID  NAME\n1   alpha\n12  b\n");
        let empty = Human::Table {
            headers: &["ID"],
            rows: vec![],
            empty: "none".into(),
        };
        assert_eq!(render(&empty), "none\n");
    }

    #[test]
    fn blocks_are_a_blank_line_apart_and_sizes_keep_whole_units() {
        let blocks = Human::Blocks(vec![
            Human::Fields(vec![("a", "1".into())]),
            Human::Message("done".into()),
        ]);
        assert_eq!(render(&blocks), "a  1\n\ndone\n");
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(3 * GIB), "3 GiB");
        assert_eq!(bytes(3 * GIB / 2), "1536 MiB");
        assert_eq!(bytes(2048 * GIB), "2 TiB");
        assert_eq!(bytes(1000), "1000 B");
    }

    #[test]
    fn deployments_show_each_workload_result() {
        let mut d = Deployment {
            contract_id: 12,
            twin_id: 3,
            ..Default::default()
        };
        let mut ok = Workload {
            name: "data".into(),
            workload_type: gridtypes::WorkloadType::Volume,
            ..Default::default()
        };
        ok.result.state = gridtypes::ResultState::Ok;
        ok.result.data = json!({ "id": "3-12-data" });
        let mut failed = ok.clone();
        failed.name = "disk".into();
        failed.result.state = gridtypes::ResultState::Error;
        failed.result.message = "no space".into();
        d.workloads = vec![ok, failed];
        let text = render(&deployment(&d).human);
        assert!(text.contains("contract     12\n"), "{text}");
        assert!(
            text.contains("data  volume  ok     {\"id\":\"3-12-data\"}"),
            "{text}"
        );
        assert!(text.contains("disk  volume  error  no space"), "{text}");
        assert_eq!(state_counts(&d), "1 ok, 1 error");
    }

    #[test]
    fn hashes_print_as_text_or_hex() {
        let text = *b"0123456789abcdef0123456789abcdef";
        assert_eq!(hash_text(&text), "0123456789abcdef0123456789abcdef");
        let binary = [0u8; 32];
        assert_eq!(hash_text(&binary), format!("0x{}", "00".repeat(32)));
    }
}
