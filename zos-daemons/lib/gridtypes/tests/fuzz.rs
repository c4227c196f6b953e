//! Bounded fuzz-like test: seeded random mutations of valid deployment JSON never panic while
//! parsing, validating, hashing, verifying, diffing or computing capacity.

mod common;

use std::collections::HashMap;

use gridtypes::{check_updatable, Deployment, WorkloadType};
use serde_json::{json, Value};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Value> {
    let mut out = vec![common::full_json()];
    for name in ["vm_full", "zdb", "gateways", "qsfs_multisig", "ipv4_update"] {
        let path = format!("{}/tests/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        out.push(f["deployment"].clone());
    }
    out
}

const TOKENS: &[&str] = &[
    "null",
    "0",
    "-1",
    "4294967296",
    "18446744073709551616",
    "1e309",
    "\"\"",
    "true",
    "[]",
    "{}",
    "\"ygg\"",
    "\"::ffff:1.2.3.4/96\"",
    "\"10.0.0.1/33\"",
    "\"zz\"",
    "\"zmachine\"",
    "\"qsfs\"",
    "\"2025-13-01T00:00:00Z\"",
    "\"http://[::1]:99999\"",
    "\"a.b\"",
    "255",
    "256",
    ",",
    ":",
    "\"",
];

fn random_value(rng: &mut Rng) -> Value {
    match rng.below(8) {
        0 => Value::Null,
        1 => json!(rng.next()),
        2 => json!(-(rng.below(1000) as i64)),
        3 => json!(rng.below(2) == 0),
        4 => json!(["10.0.0.1/24", ""]),
        5 => json!({"size": 0, "name": "x-y"}),
        6 => json!(TOKENS[rng.below(TOKENS.len())]),
        _ => json!("\u{0}é\u{ffff}"),
    }
}

/// Replaces a random node of the tree.
fn mutate_value(v: &mut Value, rng: &mut Rng, depth: usize) {
    let len = match v {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    };
    if len == 0 || depth > 6 || rng.below(4) == 0 {
        *v = random_value(rng);
        return;
    }
    let i = rng.below(len);
    match v {
        Value::Object(m) => {
            if rng.below(10) == 0 {
                let key = m.keys().nth(i).cloned().unwrap_or_default();
                m.remove(&key);
            } else if let Some(child) = m.values_mut().nth(i) {
                mutate_value(child, rng, depth + 1);
            }
        }
        Value::Array(a) => {
            if rng.below(10) == 0 {
                let dup = a[i].clone();
                a.push(dup);
            } else {
                mutate_value(&mut a[i], rng, depth + 1);
            }
        }
        _ => {}
    }
}

/// Byte-level edits of the serialized text.
fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut Rng) {
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len());
        match rng.below(5) {
            0 => bytes[at] ^= 1 << rng.below(8),
            1 => bytes.insert(at, rng.next() as u8),
            2 => {
                let end = (at + rng.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, t.iter().copied());
            }
            _ => {
                let end = (at + rng.below(32)).min(bytes.len());
                let chunk: Vec<u8> = bytes[at..end].to_vec();
                bytes.splice(at..at, chunk);
            }
        }
    }
}

fn exercise(bytes: &[u8], base: &Deployment) -> bool {
    let Ok(mut dl) = Deployment::from_json(bytes) else {
        return false;
    };
    let _ = dl.validate();
    let _ = dl.validate_create();
    let _ = dl.challenge_hash_hex();
    let _ = dl.used_capacity();
    let _ = dl.verify(&HashMap::<u32, [u8; 32]>::new());
    let _ = dl.verify(&|_twin: u32| -> Result<Vec<u8>, String> { Ok(vec![7; 31]) });
    for wl in &dl.workloads {
        let _ = wl.capacity();
        let _ = dl.workload_id(&wl.name).map(|id| id.unique("x"));
    }
    let _ = serde_json::to_vec(&dl);
    if let Ok(ops) = base.upgrade(&mut dl) {
        let _ = check_updatable(&ops, WorkloadType::can_update);
    }
    true
}

#[test]
fn mutations_never_panic() {
    let seeds = seeds();
    let base: Deployment = serde_json::from_value(common::full_json()).unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut parsed = 0;
    const ROUNDS: usize = 4000;
    for round in 0..ROUNDS {
        let mut v = seeds[round % seeds.len()].clone();
        let bytes = if round % 2 == 0 {
            for _ in 0..=rng.below(3) {
                mutate_value(&mut v, &mut rng, 0);
            }
            serde_json::to_vec(&v).unwrap()
        } else {
            let mut b = serde_json::to_vec(&v).unwrap();
            mutate_bytes(&mut b, &mut rng);
            b
        };
        if exercise(&bytes, &base) {
            parsed += 1;
        }
    }
    // the structural mutations keep many inputs parseable, so the later stages are exercised
    assert!(parsed > ROUNDS / 10, "only {parsed} of {ROUNDS} parsed");
}

/// Random short strings over an alphabet of separators, digits and multi-byte characters.
fn random_text(rng: &mut Rng) -> String {
    const PARTS: &[&str] = &[
        "1",
        "9",
        "0",
        ":",
        "::",
        ".",
        "/",
        "[",
        "]",
        "@",
        "%",
        "-",
        "+",
        "T",
        "Z",
        "é",
        "✓",
        "ff",
        "http://",
        "ws://",
        "redis:",
        "a",
        "_",
        " ",
        "\u{0}",
        "2025-01-01T00:00:00",
        ".5",
    ];
    (0..rng.below(12))
        .map(|_| PARTS[rng.below(PARTS.len())])
        .collect()
}

#[test]
fn string_parsers_never_panic() {
    let mut rng = Rng(0xfeed_0000_0000_0042);
    let base = common::full();
    for _ in 0..6_000 {
        let s = random_text(&mut rng);
        let _ = s.parse::<gridtypes::net::IpNet>().map(|n| n.to_string());
        let _ = s.parse::<gridtypes::net::GoIp>().map(|n| n.to_string());
        let _ = gridtypes::types::validate_backend(&s, rng.below(2) == 0);
        let _ = gridtypes::types::is_valid_fqdn(&s);
        let _ = gridtypes::validate_name(&s);
        let _ = gridtypes::WorkloadId::parse(&s);
        let _ = serde_json::from_value::<gridtypes::Timestamp>(json!(s));
        let mut dl = base.clone();
        if let Some(logs) = dl.get_mut("logs") {
            logs.data = json!({"zmachine": "vm", "output": s});
        }
        let _ = dl.validate();
    }
}
