//! zosctl's offline deployment commands, the real binary on files: `deployment hash` and
//! `deployment verify --twin-key` on gridtypes' golden fixtures (deployments with known hashes
//! and signatures), tampered and malformed files, and the node commands' missing --node-url.
//! Needs no chain and no node.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde::Deserialize;

/// The fixtures: every workload type, ed25519 and sr25519, both signature styles, multisig.
const CASES: &[&str] = &["vm_full", "zdb", "gateways", "qsfs_multisig", "ipv4_update"];

#[derive(Deserialize)]
struct Key {
    public_key: String,
}

#[derive(Deserialize)]
struct Fixture {
    deployment: serde_json::Value,
    hash_hex: String,
    keys: HashMap<u32, Key>,
}

fn fixture(name: &str) -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../zos-daemons/lib/gridtypes/tests/golden")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("fixture json")
}

/// Writes `text` to `name` in `dir`.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

/// `--twin-key TWIN=HEX` for every key of the fixture.
fn key_args(f: &Fixture) -> Vec<String> {
    f.keys
        .iter()
        .flat_map(|(twin, key)| ["--twin-key".into(), format!("{twin}={}", key.public_key)])
        .collect()
}

/// Runs zosctl with nothing taken from the test's environment.
fn zosctl<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_zosctl"))
        .args(args)
        .env_remove("TFCHAIN_URL")
        .env_remove("ZOSCTL_MNEMONIC")
        .env_remove("ZOSCTL_NODE_URL")
        .output()
        .expect("run zosctl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    let out = zosctl(args);
    assert!(
        out.status.success(),
        "zosctl {args:?} failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs zosctl and expects exit code 1; returns (stdout, stderr).
fn fails<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> (String, String) {
    let out = zosctl(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "zosctl {args:?}:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

#[test]
fn hash_prints_the_contract_hash_of_each_fixture() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in CASES {
        let f = fixture(name);
        let file = write(
            dir.path(),
            &format!("{name}.json"),
            &f.deployment.to_string(),
        );
        let file = file.to_str().expect("utf-8 path");
        assert_eq!(
            ok(&["deployment", "hash", file]),
            format!("{}\n", f.hash_hex),
            "{name}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&ok(&["deployment", "hash", file, "--json"])).expect("json");
        assert_eq!(json["hash"], f.hash_hex.as_str(), "{name}");
    }
}

#[test]
fn verify_with_given_keys_accepts_the_fixtures_and_names_each_signer() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in CASES {
        let f = fixture(name);
        let file = write(dir.path(), "d.json", &f.deployment.to_string());
        let mut args: Vec<String> = vec!["deployment".into(), "verify".into()];
        args.push(file.display().to_string());
        args.extend(key_args(&f));
        let out = ok(&args);
        assert!(out.contains(&f.hash_hex), "{name}: {out}");
        assert!(out.ends_with("requirement met\n"), "{name}: {out}");
        for twin in f.keys.keys() {
            assert!(
                out.lines()
                    .any(|l| l.starts_with(&twin.to_string()) && l.ends_with("valid")),
                "{name}: twin {twin}: {out}"
            );
        }
        args.push("--json".into());
        let json: serde_json::Value = serde_json::from_str(&ok(&args)).expect("json");
        assert_eq!(json["verified"], true, "{name}");
        assert_eq!(json["hash"], f.hash_hex.as_str(), "{name}");
        assert_eq!(
            json["signers"].as_array().expect("signers").len(),
            f.keys.len(),
            "{name}"
        );
    }
}

#[test]
fn verify_fails_on_tampering_wrong_keys_and_missing_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = fixture("zdb");
    let path = |file: &Path| file.display().to_string();

    // Changed content: another hash, the signature no longer matches.
    let mut changed = f.deployment.clone();
    changed["description"] = "changed".into();
    let file = write(dir.path(), "changed.json", &changed.to_string());
    assert_ne!(ok(&["deployment", "hash", &path(&file)]).trim(), f.hash_hex);
    let mut args = vec!["deployment".to_string(), "verify".into(), path(&file)];
    args.extend(key_args(&f));
    let (out, err) = fails(&args);
    assert!(out.contains("invalid"), "{out}");
    assert!(out.ends_with("requirement NOT met\n"), "{out}");
    assert_eq!(
        err,
        format!(
            "error: {}: the signatures do not meet the requirement: failed to verify signature of twin '7'\n",
            path(&file)
        )
    );

    // Another key for twin 7.
    let file = write(dir.path(), "zdb.json", &f.deployment.to_string());
    let other = format!("7={}", "11".repeat(32));
    let (out, err) = fails(&["deployment", "verify", &path(&file), "--twin-key", &other]);
    assert!(out.contains("invalid"), "{out}");
    assert!(
        err.contains("failed to verify signature of twin '7'"),
        "{err}"
    );

    // No key for the twin: says how to give one.
    let multisig = fixture("qsfs_multisig");
    let file = write(dir.path(), "multi.json", &multisig.deployment.to_string());
    let only_300 = format!("300={}", multisig.keys[&300].public_key);
    let (out, err) = fails(&[
        "deployment",
        "verify",
        &path(&file),
        "--twin-key",
        &only_300,
    ]);
    assert!(
        out.contains("no key given: pass --twin-key 301=HEX"),
        "{out}"
    );
    assert!(err.contains("twin '301'"), "{err}");

    // A malformed --twin-key.
    let (_, err) = fails(&["deployment", "verify", &path(&file), "--twin-key", "301"]);
    assert!(err.contains("expected TWIN=HEX"), "{err}");

    // Without --twin-key the keys come from the chain: none here, and the error says so.
    let (_, err) = fails(&[
        "--chain",
        "ws://127.0.0.1:1",
        "deployment",
        "verify",
        &path(&file),
    ]);
    assert!(
        err.contains("cannot reach the chain at ws://127.0.0.1:1"),
        "{err}"
    );
}

#[test]
fn malformed_files_are_named_with_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.json");
    let not_json = write(dir.path(), "not.json", "node: 1\n");
    let array = write(dir.path(), "array.json", "[1, 2]");
    let mut bad_data = fixture("zdb").deployment;
    bad_data["workloads"][0]["data"]["size"] = "huge".into();
    let bad_data = write(dir.path(), "bad_data.json", &bad_data.to_string());
    for (file, needle) in [
        (&missing, "cannot read"),
        (&not_json, "not a deployment (JSON)"),
        (&array, "a deployment must be a JSON object"),
        (&bad_data, "cannot hash the deployment: workload 'ns1'"),
    ] {
        let file = file.display().to_string();
        let key = format!("7={}", "11".repeat(32));
        for args in [
            vec!["deployment", "hash", &file],
            vec!["deployment", "verify", &file, "--twin-key", &key],
        ] {
            let (_, err) = fails(&args);
            assert!(
                err.starts_with(&format!("error: {file}: ")) && err.contains(needle),
                "{args:?}: {err}"
            );
        }
    }

    // A deploy description: read before anything else.
    let desc = write(
        dir.path(),
        "bad.yaml",
        "node: 1\nworkloads:\n  - {name: a}\n",
    );
    let (_, err) = fails(&["deploy", &desc.display().to_string()]);
    assert!(
        err.starts_with(&format!("error: {}: ", desc.display()))
            && err.contains("missing field `type`"),
        "{err}"
    );
}

#[test]
fn node_commands_need_a_node_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let desc = write(
        dir.path(),
        "d.yaml",
        "node: 1\nworkloads:\n  - {name: a, type: volume, data: {size: 1GiB}}\n",
    );
    for args in [
        vec!["node", "stats", "1"],
        vec!["node", "status"],
        vec!["deployment", "list"],
        vec!["deployment", "get", "1"],
        vec!["deployment", "get", "--contract", "1"],
        vec!["deployment", "changes", "1"],
        vec!["deployment", "changes", "--contract", "1"],
        vec!["deploy", desc.to_str().expect("utf-8 path")],
    ] {
        let (_, err) = fails(&args);
        assert!(
            err.contains("no node API URL: pass --node-url http://HOST:2021"),
            "{args:?}: {err}"
        );
    }
}
