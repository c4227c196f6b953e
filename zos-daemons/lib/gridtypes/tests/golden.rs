//! Golden tests: fixtures written by the independent generator `golden/generate.js` (challenge
//! derived by hand from zos's Go sources; keys and signatures from @polkadot/util-crypto).

use std::collections::HashMap;
use std::path::PathBuf;

use gridtypes::{network_id, Capacity, Deployment, VerifyError, WorkloadId};
use serde::Deserialize;

#[derive(Deserialize)]
struct Key {
    #[serde(rename = "type")]
    key_type: String,
    public_key: String,
}

#[derive(Deserialize)]
struct Fixture {
    deployment: serde_json::Value,
    challenge: String,
    hash_hex: String,
    signing_message_hex: String,
    keys: HashMap<u32, Key>,
    capacity: HashMap<String, Capacity>,
}

const CASES: &[&str] = &["vm_full", "zdb", "gateways", "qsfs_multisig", "ipv4_update"];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn load(name: &str) -> Fixture {
    let text = std::fs::read_to_string(dir().join(format!("{name}.json"))).expect("fixture");
    serde_json::from_str(&text).expect("fixture json")
}

fn keys(f: &Fixture) -> HashMap<u32, Vec<u8>> {
    f.keys
        .iter()
        .map(|(twin, k)| (*twin, hex::decode(&k.public_key).expect("hex key")))
        .collect()
}

#[test]
fn every_type_is_covered() {
    let mut types = std::collections::BTreeSet::new();
    for name in CASES {
        let dl: Deployment = serde_json::from_value(load(name).deployment).unwrap();
        types.extend(dl.workloads.iter().map(|w| w.workload_type.clone()));
    }
    assert_eq!(types.len(), gridtypes::WorkloadType::ALL.len(), "{types:?}");
    let mut styles = std::collections::BTreeSet::new();
    for name in CASES {
        let f = load(name);
        styles.extend(f.keys.values().map(|k| k.key_type.clone()));
    }
    assert_eq!(styles.len(), 2);
}

#[test]
fn challenge_and_hash_match() {
    for name in CASES {
        let f = load(name);
        let dl: Deployment = serde_json::from_value(f.deployment.clone()).unwrap();
        assert_eq!(dl.challenge().unwrap(), f.challenge, "{name}: challenge");
        assert_eq!(dl.challenge_hash_hex().unwrap(), f.hash_hex, "{name}: hash");
        assert_eq!(
            hex::encode(dl.signing_message().unwrap()),
            f.signing_message_hex,
            "{name}: signing message"
        );
        dl.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn signatures_verify() {
    for name in CASES {
        let f = load(name);
        let dl: Deployment = serde_json::from_value(f.deployment.clone()).unwrap();
        dl.verify(&keys(&f))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // the closure form of the key lookup
        let map = keys(&f);
        let lookup = |twin: u32| map.get(&twin).cloned().ok_or_else(|| "unknown".to_string());
        dl.verify(&lookup).unwrap();
    }
}

#[test]
fn tampered_deployments_are_rejected() {
    for name in CASES {
        let f = load(name);
        let keys = keys(&f);
        let dl: Deployment = serde_json::from_value(f.deployment.clone()).unwrap();

        // content change: another hash, the signatures no longer match
        let mut changed = dl.clone();
        changed.description.push('!');
        assert_ne!(changed.challenge_hash_hex().unwrap(), f.hash_hex);
        assert!(
            matches!(changed.verify(&keys), Err(VerifyError::BadSignature(_))),
            "{name}"
        );

        // one flipped bit in a signature
        let mut flipped = dl.clone();
        let sig = &mut flipped.signature_requirement.signatures[0].signature;
        let mut bytes = hex::decode(&*sig).unwrap();
        bytes[10] ^= 0x01;
        *sig = hex::encode(bytes);
        assert!(
            matches!(flipped.verify(&keys), Err(VerifyError::BadSignature(_))),
            "{name}"
        );

        // the wrong scheme for the key
        let mut scheme = dl.clone();
        let ty = &mut scheme.signature_requirement.signatures[0].signature_type;
        *ty = if ty == "sr25519" {
            "ed25519".into()
        } else {
            "sr25519".into()
        };
        assert!(scheme.verify(&keys).is_err(), "{name}");

        // contract id is not hashed
        let mut contract = dl.clone();
        contract.contract_id += 1;
        assert_eq!(contract.challenge_hash_hex().unwrap(), f.hash_hex);
        contract.verify(&keys).unwrap();
    }
}

#[test]
fn capacity_matches() {
    for name in CASES {
        let f = load(name);
        let dl: Deployment = serde_json::from_value(f.deployment.clone()).unwrap();
        for wl in &dl.workloads {
            assert_eq!(
                wl.capacity().unwrap(),
                f.capacity[&wl.name],
                "{name}/{}",
                wl.name
            );
        }
    }
}

#[test]
fn short_names_match() {
    #[derive(Deserialize)]
    struct Net {
        twin: u32,
        name: String,
        expected: String,
    }
    #[derive(Deserialize)]
    struct Uniq {
        id: String,
        n: String,
        expected: String,
    }
    #[derive(Deserialize)]
    struct Ids {
        network_id: Vec<Net>,
        unique: Vec<Uniq>,
    }
    let ids: Ids =
        serde_json::from_str(&std::fs::read_to_string(dir().join("ids.json")).unwrap()).unwrap();
    for n in ids.network_id {
        assert_eq!(network_id(n.twin, &n.name), n.expected);
    }
    for u in ids.unique {
        assert_eq!(WorkloadId::parse(&u.id).unwrap().unique(&u.n), u.expected);
    }
}

#[test]
fn grid_client_crosscheck_agrees() {
    // Written by golden/crosscheck/crosscheck.js with ThreeFold's TypeScript grid client.
    let text = std::fs::read_to_string(dir().join("crosscheck.json")).expect("crosscheck.json");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    for name in CASES {
        let entry = &report["fixtures"][name];
        assert_eq!(entry["matches"], true, "{name}");
        let dl: Deployment = serde_json::from_value(load(name).deployment).unwrap();
        assert_eq!(
            entry["hash_hex"].as_str().unwrap(),
            dl.challenge_hash_hex().unwrap(),
            "{name}"
        );
    }
}
