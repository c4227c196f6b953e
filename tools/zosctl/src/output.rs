//! All of zosctl's output: aligned tables and key/value blocks for people, JSON for scripts
//! (`--json`), progress lines, warnings and error messages. Commands build an [`Output`]; only
//! this module prints. Sizes, times and states in tables and blocks are written by `figures`;
//! the JSON keeps the raw numbers.

use std::io::Write;
use std::path::Path;

use gridtypes::{Capacity, Deployment, Workload};
use serde::Deserialize;
use serde_json::{json, Value};
use zos_chain::{Contract, ContractKind, ContractState, Farm, Node, Twin};

use crate::error::CliError;
use crate::figures::{self, contract_state, size, sizes, time, time_ago, workload_state, yes_no};

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
        columns: Vec<Column>,
        rows: Vec<Vec<String>>,
        empty: String,
    },
    Fields(Vec<(&'static str, String)>),
    Message(String),
    /// Text printed as it is (a completion script).
    Raw(String),
    /// Bytes printed as they are (a file of a flist).
    Bytes(Vec<u8>),
    /// Several blocks, one blank line apart.
    Blocks(Vec<Human>),
}

/// A table column: its header and whether its cells line up on the right (figures: sizes and
/// counts, so the decimals line up) or on the left (words).
#[derive(Debug)]
struct Column {
    header: &'static str,
    right: bool,
}

const fn left(header: &'static str) -> Column {
    Column {
        header,
        right: false,
    }
}

const fn right(header: &'static str) -> Column {
    Column {
        header,
        right: true,
    }
}

/// Writes a command's result on stdout (an error when stdout is gone, e.g. a closed pipe).
pub fn print(out: &Output, json: bool) -> std::io::Result<()> {
    let text = match &out.human {
        _ if json => {
            let mut text =
                serde_json::to_string_pretty(&out.json).map_err(std::io::Error::other)?;
            text.push('\n');
            text.into_bytes()
        }
        Human::Bytes(bytes) => bytes.clone(),
        human => render(human).into_bytes(),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&text)?;
    stdout.flush()
}

/// A progress line of a long command on stderr (stdout keeps the result).
pub fn progress(line: &str) {
    eprintln!("{line}");
}

/// A warning on stderr: something went wrong that the command does not need (e.g. remembering
/// the key's twin).
pub fn warning(err: &dyn std::error::Error) {
    eprintln!("warning: {}", zos_base::Report(err));
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
        Human::Raw(text) => text.clone(),
        Human::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Human::Blocks(blocks) => blocks.iter().map(render).collect::<Vec<_>>().join("\n"),
        Human::Fields(fields) => {
            let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            fields
                .iter()
                .map(|(k, v)| format!("{k:<width$}  {v}\n"))
                .collect()
        }
        Human::Table {
            columns,
            rows,
            empty,
        } => {
            if rows.is_empty() {
                return format!("{empty}\n");
            }
            let mut widths: Vec<usize> = columns.iter().map(|c| c.header.len()).collect();
            for row in rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
                let text: Vec<String> = cells
                    .zip(columns.iter().zip(&widths))
                    .map(|(c, (col, w))| {
                        if col.right {
                            format!("{c:>w$}")
                        } else {
                            format!("{c:<w$}")
                        }
                    })
                    .collect();
                format!("{}\n", text.join("  ").trim_end())
            };
            let mut out = line(&mut columns.iter().map(|c| c.header));
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
            ("dedicated", yes_no(farm.dedicated_farm).into()),
        ]),
        json: farm_json(farm),
        failure: None,
    }
}

pub fn farms(farms: &[Farm]) -> Output {
    Output {
        human: Human::Table {
            columns: vec![
                left("ID"),
                left("NAME"),
                left("TWIN"),
                left("PUBLIC IPS"),
                left("DEDICATED"),
            ],
            rows: farms
                .iter()
                .map(|f| {
                    vec![
                        f.id.to_string(),
                        f.name.clone(),
                        f.twin_id.to_string(),
                        farm_ips(f),
                        yes_no(f.dedicated_farm).into(),
                    ]
                })
                .collect(),
            empty: "no farms: create one with `zosctl farm create NAME`".into(),
        },
        json: Value::Array(farms.iter().map(farm_json).collect()),
        failure: None,
    }
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
    let column = |field: fn(&Node) -> u64| sizes(&nodes.iter().map(field).collect::<Vec<_>>());
    let (mru, sru, hru) = (
        column(|n| n.resources.mru),
        column(|n| n.resources.sru),
        column(|n| n.resources.hru),
    );
    Output {
        human: Human::Table {
            columns: vec![
                left("ID"),
                left("FARM"),
                left("TWIN"),
                right("CPU"),
                right("MEMORY"),
                right("SSD"),
                right("HDD"),
                left("LOCATION"),
                left("REGISTERED"),
            ],
            rows: nodes
                .iter()
                .zip(mru.into_iter().zip(sru).zip(hru))
                .map(|(n, ((mru, sru), hru))| {
                    vec![
                        n.id.to_string(),
                        n.farm_id.to_string(),
                        n.twin_id.to_string(),
                        n.resources.cru.to_string(),
                        mru,
                        sru,
                        hru,
                        format!("{}, {}", n.location.city, n.location.country),
                        chain_time(n.created, time),
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
            ("cpu", node.resources.cru.to_string()),
            ("memory", size(node.resources.mru)),
            ("ssd", size(node.resources.sru)),
            ("hdd", size(node.resources.hru)),
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
            ("registered", chain_time(node.created, time_ago)),
            ("certified", yes_no(node.certified).into()),
            ("secure boot", yes_no(node.secure_boot).into()),
            ("virtualized", yes_no(node.virtualized).into()),
            (
                "serial",
                node.serial_number.clone().unwrap_or_else(|| "-".into()),
            ),
        ]),
        json: node_json(node),
        failure: None,
    }
}

/// A time the chain keeps (unix seconds, unsigned) written by `format`; one past the range of
/// dates is shown as the number it is.
fn chain_time(seconds: u64, format: fn(i64) -> String) -> String {
    match i64::try_from(seconds) {
        Ok(seconds) => format(seconds),
        Err(_) => seconds.to_string(),
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

/// A contract's state for scripts, as earlier versions wrote it: "created", "deleted
/// (CanceledByUser)", "grace period since block N".
fn state_json(state: &ContractState) -> String {
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
        "state": state_json(&c.state),
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
        contract_state(&c.state),
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
            columns: vec![
                left("ID"),
                left("TWIN"),
                left("TYPE"),
                left("TARGET"),
                right("PUBLIC IPS"),
                left("STATE"),
            ],
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

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    // Deployments and workloads are plain data: serializing them cannot fail.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// When a workload's result last changed, "3 min ago" ("-" before the node set any).
fn since(wl: &Workload, now: i64) -> String {
    match wl.result.created.0 {
        0 => "-".into(),
        at => figures::ago(at, now),
    }
}

/// A deployment on a node: its contract and each workload's result.
pub fn deployment(d: &Deployment) -> Output {
    let now = figures::now();
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
                columns: vec![
                    left("NAME"),
                    left("TYPE"),
                    left("STATE"),
                    left("SINCE"),
                    left("RESULT"),
                ],
                rows: d
                    .workloads
                    .iter()
                    .map(|w| {
                        vec![
                            w.name.clone(),
                            w.workload_type.to_string(),
                            workload_state(&w.result.state).into(),
                            since(w, now),
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
        let state = workload_state(&wl.result.state);
        match counts.iter_mut().find(|(s, _)| s == state) {
            Some((_, n)) => *n += 1,
            None => counts.push((state.to_string(), 1)),
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
            columns: vec![
                left("CONTRACT"),
                left("VERSION"),
                left("WORKLOADS"),
                left("DESCRIPTION"),
            ],
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
            columns: vec![
                left("TIME"),
                left("NAME"),
                left("TYPE"),
                left("STATE"),
                left("RESULT"),
            ],
            rows: changes
                .iter()
                .map(|w| {
                    vec![
                        time(w.result.created.0),
                        w.name.clone(),
                        w.workload_type.to_string(),
                        workload_state(&w.result.state).into(),
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

/// What `zos.system.status` answers: noded's registration state and whether provisiond serves
/// deployments yet.
#[derive(Debug, Deserialize)]
pub struct NodeStatus {
    pub registration: Registration,
    pub serving_deployments: bool,
}

/// The node's registration as noded reports it (ids are 0 until known; `error` says why the
/// last attempt failed and what to do).
#[derive(Debug, Deserialize)]
pub struct Registration {
    pub state: String,
    pub node_id: u32,
    pub twin_id: u32,
    pub farm_id: u32,
    pub error: String,
}

pub fn node_status(status: &NodeStatus, raw: Value) -> Output {
    let r = &status.registration;
    let id = |n: u32| {
        if n == 0 {
            "-".to_string()
        } else {
            n.to_string()
        }
    };
    let mut fields = vec![
        ("registration", r.state.clone()),
        ("node", id(r.node_id)),
        ("farm", id(r.farm_id)),
        ("twin", id(r.twin_id)),
    ];
    if !r.error.is_empty() {
        fields.push(("why", r.error.clone()));
    }
    fields.push((
        "deployments",
        if status.serving_deployments {
            "served".into()
        } else {
            "not served until the node is registered".into()
        },
    ));
    Output {
        human: Human::Fields(fields),
        json: raw,
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

/// A node's statistics; `raw` is what the node sent (the JSON output). One row per figure
/// (total, used, of which the system's, free) and one column per resource, so that each column
/// has one unit.
pub fn stats(node: u32, stats: &Statistics, raw: Value) -> Output {
    let free = Capacity {
        cru: stats.total.cru.saturating_sub(stats.used.cru),
        mru: stats.total.mru.saturating_sub(stats.used.mru),
        sru: stats.total.sru.saturating_sub(stats.used.sru),
        hru: stats.total.hru.saturating_sub(stats.used.hru),
        ipv4u: stats.total.ipv4u.saturating_sub(stats.used.ipv4u),
    };
    let figures = [
        ("total", &stats.total),
        ("used", &stats.used),
        ("system", &stats.system),
        ("free", &free),
    ];
    let column = |field: fn(&Capacity) -> u64| {
        sizes(&figures.iter().map(|(_, c)| field(c)).collect::<Vec<_>>())
    };
    let (mru, sru, hru) = (column(|c| c.mru), column(|c| c.sru), column(|c| c.hru));
    let rows = figures
        .iter()
        .zip(mru.into_iter().zip(sru).zip(hru))
        .map(|((name, c), ((mru, sru), hru))| {
            vec![
                name.to_string(),
                c.cru.to_string(),
                mru,
                sru,
                hru,
                c.ipv4u.to_string(),
            ]
        })
        .collect();
    Output {
        human: Human::Blocks(vec![
            Human::Table {
                columns: vec![
                    left(""),
                    right("CPU"),
                    right("MEMORY"),
                    right("SSD"),
                    right("HDD"),
                    right("PUBLIC IPV4"),
                ],
                rows,
                empty: String::new(),
            },
            Human::Fields(vec![
                ("node", node.to_string()),
                ("deployments", stats.users.deployments.to_string()),
                ("workloads", stats.users.workloads.to_string()),
                (
                    "last deployment",
                    time_ago(stats.users.last_deployment_timestamp),
                ),
            ]),
        ]),
        json: raw,
        failure: None,
    }
}

/// One entry of `zosctl flist ls`.
#[derive(Debug)]
pub struct FlistEntry {
    pub path: String,
    pub entry: zos_flist::Entry,
}

/// `ls -l`'s mode string: type letter and permissions with setuid, setgid and sticky bits.
fn mode_string(mode: u32) -> String {
    let mut out = String::with_capacity(10);
    out.push(zos_flist::FileType::of_mode(mode).letter());
    let special = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (i, (bit, set, unset)) in special.iter().enumerate() {
        let shift = 6 - 3 * i;
        let bits = (mode >> shift) & 7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        out.push(match (mode & bit != 0, bits & 1 != 0) {
            (true, true) => *set,
            (true, false) => *unset,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    out
}

pub fn flist_entries(entries: &[FlistEntry]) -> Output {
    let target = |e: &zos_flist::Entry| {
        e.data
            .as_ref()
            .filter(|_| e.file_type() == zos_flist::FileType::Link)
            .map(|t| String::from_utf8_lossy(t).into_owned())
    };
    let sizes = sizes(&entries.iter().map(|e| e.entry.size).collect::<Vec<_>>());
    Output {
        human: Human::Table {
            columns: vec![
                left("MODE"),
                right("UID"),
                right("GID"),
                right("SIZE"),
                left("MODIFIED"),
                left("PATH"),
            ],
            rows: entries
                .iter()
                .zip(sizes)
                .map(|(e, size)| {
                    let mut path = e.path.clone();
                    if let Some(target) = target(&e.entry) {
                        path = format!("{path} -> {target}");
                    }
                    vec![
                        mode_string(e.entry.mode),
                        e.entry.uid.to_string(),
                        e.entry.gid.to_string(),
                        size,
                        time(e.entry.mtime),
                        path,
                    ]
                })
                .collect(),
            empty: "the flist is empty".into(),
        },
        json: Value::Array(
            entries
                .iter()
                .map(|e| {
                    json!({
                        "path": e.path,
                        "mode": e.entry.mode,
                        "type": mode_string(e.entry.mode)[..1],
                        "uid": e.entry.uid,
                        "gid": e.entry.gid,
                        "size": e.entry.size,
                        "rdev": e.entry.rdev,
                        "mtime": e.entry.mtime,
                        "ctime": e.entry.ctime,
                        "target": target(&e.entry),
                    })
                })
                .collect(),
        ),
        failure: None,
    }
}

pub fn flist_packed(out: &Path, stats: &zos_flist::PackStats, stores: &[String]) -> Output {
    Output {
        human: Human::Fields(vec![
            ("flist", out.display().to_string()),
            ("stores", stores.join(", ")),
            ("directories", stats.dirs.to_string()),
            ("files", stats.files.to_string()),
            ("hard links", stats.hard_links.to_string()),
            ("symlinks", stats.symlinks.to_string()),
            ("special files", stats.specials.to_string()),
            ("data", size(stats.bytes)),
            ("blocks", stats.blocks.to_string()),
            ("uploaded", stats.uploaded.to_string()),
        ]),
        json: json!({
            "flist": out.display().to_string(),
            "stores": stores,
            "dirs": stats.dirs,
            "files": stats.files,
            "hard_links": stats.hard_links,
            "symlinks": stats.symlinks,
            "specials": stats.specials,
            "bytes": stats.bytes,
            "blocks": stats.blocks,
            "uploaded": stats.uploaded,
        }),
        failure: None,
    }
}

/// A file of a flist: its bytes as they are (JSON: hex).
pub fn flist_file(path: &str, content: Vec<u8>) -> Output {
    Output {
        json: json!({ "path": path, "size": content.len(), "hex": hex::encode(&content) }),
        human: Human::Bytes(content),
        failure: None,
    }
}

/// A completion script for `shell`, generated from the command line's definition.
pub fn completions(shell: clap_complete::Shell) -> Output {
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut <crate::cli::Cli as clap::CommandFactory>::command(),
        "zosctl",
        &mut script,
    );
    let script = String::from_utf8_lossy(&script).into_owned();
    Output {
        human: Human::Raw(script.clone()),
        json: json!({ "shell": shell.to_string(), "script": script }),
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
                columns: vec![
                    left("TWIN"),
                    left("REQUIRED"),
                    right("WEIGHT"),
                    left("TYPE"),
                    left("SIGNATURE"),
                ],
                rows: checks
                    .iter()
                    .map(|c| {
                        vec![
                            c.twin.to_string(),
                            yes_no(c.required).into(),
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
    use gridtypes::{ResultState, Timestamp, WorkloadType, GIB, KIB};
    use zos_chain::{Location, Resources};

    use super::*;

    #[test]
    fn mode_strings_are_ls_ones() {
        assert_eq!(mode_string(0o40755), "drwxr-xr-x");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o102644), "-rw-r-Sr--");
        assert_eq!(mode_string(0o41777), "drwxrwxrwt");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        assert_eq!(mode_string(0o20620), "crw--w----");
        assert_eq!(mode_string(0o10600), "prw-------");
    }

    #[test]
    fn tables_are_aligned_and_empty_tables_say_so() {
        let table = Human::Table {
            columns: vec![left("ID"), left("NAME"), right("SIZE")],
            rows: vec![
                vec!["1".into(), "alpha".into(), "16.0 GiB".into()],
                vec!["12".into(), "b".into(), "2.9 GiB".into()],
            ],
            empty: "none".into(),
        };
        assert_eq!(
            render(&table),
            "ID  NAME       SIZE\n1   alpha  16.0 GiB\n12  b       2.9 GiB\n"
        );
        let empty = Human::Table {
            columns: vec![left("ID")],
            rows: vec![],
            empty: "none".into(),
        };
        assert_eq!(render(&empty), "none\n");
    }

    #[test]
    fn blocks_are_a_blank_line_apart() {
        let blocks = Human::Blocks(vec![
            Human::Fields(vec![("a", "1".into())]),
            Human::Message("done".into()),
        ]);
        assert_eq!(render(&blocks), "a  1\n\ndone\n");
    }

    #[test]
    fn statistics_have_one_unit_per_resource_and_a_readable_last_deployment() {
        // The node: 3043260 KiB of memory of which 2 GiB used, one 16 GiB SSD.
        let total = Capacity {
            cru: 2,
            mru: 3_043_260 * KIB,
            sru: 16 * GIB,
            hru: 0,
            ipv4u: 0,
        };
        let used = Capacity {
            mru: 2 * GIB,
            sru: 3 * GIB,
            ..Default::default()
        };
        let system = Capacity {
            mru: 2 * GIB,
            ..Default::default()
        };
        let last = figures::now() - 180;
        let stats_in = Statistics {
            total,
            used,
            system,
            users: Users {
                deployments: 1,
                workloads: 2,
                last_deployment_timestamp: last,
            },
        };
        let raw = json!({ "total": { "mru": 3_043_260 * KIB } });
        let out = stats(1, &stats_in, raw.clone());
        assert_eq!(out.json, raw, "--json keeps what the node sent");
        let text = render(&out.human);
        let table: Vec<&str> = text.lines().take(5).collect();
        assert_eq!(
            table,
            [
                "        CPU   MEMORY       SSD  HDD  PUBLIC IPV4",
                "total     2  2.9 GiB  16.0 GiB  0 B            0",
                "used      0  2.0 GiB   3.0 GiB  0 B            0",
                "system    0  2.0 GiB   0.0 GiB  0 B            0",
                "free      2  0.9 GiB  13.0 GiB  0 B            0",
            ],
            "{text}"
        );
        assert!(
            text.contains(&format!("last deployment  {} (3 min ago)\n", time(last))),
            "{text}"
        );
        let never = Statistics {
            users: Users::default(),
            ..stats_in
        };
        let text = render(&stats(1, &never, Value::Null).human);
        assert!(text.contains("last deployment  never\n"), "{text}");
    }

    fn node_of(id: u32, mru: u64, sru: u64) -> Node {
        Node {
            id,
            farm_id: 1,
            twin_id: id + 10,
            resources: Resources {
                cru: 4,
                mru,
                sru,
                hru: 0,
            },
            location: Location {
                city: "Ghent".into(),
                country: "Belgium".into(),
                latitude: "51.05".into(),
                longitude: "3.71667".into(),
            },
            public_config: None,
            created: 1_796_187_978,
            farming_policy_id: 1,
            interfaces: vec![],
            certified: false,
            secure_boot: false,
            virtualized: true,
            serial_number: None,
        }
    }

    #[test]
    fn node_lists_show_sizes_with_one_decimal_in_one_unit_per_column() {
        let nodes = [
            node_of(1, 3_043_260 * KIB, 500 * GIB),
            node_of(2, 8 * GIB, 2048 * GIB),
        ];
        let out = super::nodes(&nodes, None);
        assert_eq!(
            out.json[0]["resources"]["mru"],
            3_043_260 * KIB,
            "raw bytes"
        );
        let text = render(&out.human);
        let registered = time(1_796_187_978);
        assert_eq!(
            text,
            format!(
                "ID  FARM  TWIN  CPU   MEMORY      SSD  HDD  LOCATION        REGISTERED\n\
                 1   1     11      4  2.9 GiB  0.5 TiB  0 B  Ghent, Belgium  {registered}\n\
                 2   1     12      4  8.0 GiB  2.0 TiB  0 B  Ghent, Belgium  {registered}\n"
            )
        );
        let one = render(&node(&nodes[0]).human);
        assert!(one.contains("memory         2.9 GiB\n"), "{one}");
        assert!(one.contains("ssd            500.0 GiB\n"), "{one}");
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
            workload_type: WorkloadType::Volume,
            ..Default::default()
        };
        ok.result.state = ResultState::Ok;
        ok.result.created = Timestamp(figures::now() - 180);
        ok.result.data = json!({ "id": "3-12-data" });
        let mut failed = ok.clone();
        failed.name = "disk".into();
        failed.result.state = ResultState::Error;
        failed.result.message = "no space".into();
        let mut waiting = ok.clone();
        waiting.name = "later".into();
        waiting.result = Default::default();
        d.workloads = vec![ok, failed, waiting];
        let text = render(&deployment(&d).human);
        assert!(text.contains("contract     12\n"), "{text}");
        assert!(
            text.contains("data   volume  ok       3 min ago  {\"id\":\"3-12-data\"}"),
            "{text}"
        );
        assert!(
            text.contains("disk   volume  error    3 min ago  no space"),
            "{text}"
        );
        assert!(
            text.contains("later  volume  waiting  -          -"),
            "{text}"
        );
        assert_eq!(state_counts(&d), "1 ok, 1 error, 1 waiting");
    }

    #[test]
    fn hashes_print_as_text_or_hex() {
        let text = *b"0123456789abcdef0123456789abcdef";
        assert_eq!(hash_text(&text), "0123456789abcdef0123456789abcdef");
        let binary = [0u8; 32];
        assert_eq!(hash_text(&binary), format!("0x{}", "00".repeat(32)));
    }
}
