//! All of zosctl's output: aligned tables and key/value blocks for people, JSON for scripts
//! (`--json`), and error messages. Commands build an [`Output`]; only this module prints.

use std::io::Write;

use serde_json::{json, Value};
use zos_chain::{Contract, ContractKind, ContractState, Farm, Node, Twin};

use crate::error::CliError;

const GIB: u64 = 1 << 30;

/// What a command produced: the same result for people and for scripts.
#[derive(Debug)]
pub struct Output {
    human: Human,
    json: Value,
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

/// Prints an error on stderr (`{"error": ...}` with --json).
pub fn print_error(err: &CliError, json: bool) {
    if json {
        eprintln!("{}", json!({ "error": err.to_string() }));
    } else {
        eprintln!("error: {err}");
    }
}

fn render(human: &Human) -> String {
    match human {
        Human::Message(text) => format!("{text}\n"),
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
    fn hashes_print_as_text_or_hex() {
        let text = *b"0123456789abcdef0123456789abcdef";
        assert_eq!(hash_text(&text), "0123456789abcdef0123456789abcdef");
        let binary = [0u8; 32];
        assert_eq!(hash_text(&binary), format!("0x{}", "00".repeat(32)));
    }
}
