//! `zosctl deploy` end to end, needs root and the local chain (`make deps`): the real zosctl
//! binary against a node's daemons in-process, as provisiond's `chain_deploy` test sets them up:
//! the real TFChain runtime (LocalChain), storaged with a pool on a loop device, noded's bus
//! service, provisiond's engine and its node API on a loopback port. A user twin deploys a
//! description file, reads it back (get, list, changes), asks the node for statistics, and
//! cancels; a deployment the node refuses gets its contract canceled. Then, with the chain
//! process stopped, the node reads still work with the twin zosctl remembered (or `--twin`),
//! and what needs the chain says which step needed it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gridtypes::GIB;
use zos_chain::{ContractState, Signer};
use zos_testkit::node::LocalNode;

const TFT: u128 = 10_000_000;
const USER: &str = "//Charlie";

/// zosctl as the user against one chain and one node API, with its own config directory (where
/// it remembers the user's twin).
#[derive(Clone)]
struct Zosctl {
    chain: String,
    node: String,
    config: PathBuf,
}

impl Zosctl {
    /// Runs zosctl with `args`; returns (success, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_zosctl"))
            .args([
                "--chain",
                &self.chain,
                "--node-url",
                &self.node,
                "--key",
                USER,
            ])
            .args(args)
            .env_remove("TFCHAIN_URL")
            .env_remove("ZOSCTL_MNEMONIC")
            .env_remove("ZOSCTL_NODE_URL")
            .env("XDG_CONFIG_HOME", &self.config)
            .output()
            .await
            .expect("run zosctl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn ok_json(&self, args: &[&str]) -> serde_json::Value {
        let all = [args, &["--json"]].concat();
        let (ok, stdout, stderr) = self.run(&all).await;
        assert!(ok, "zosctl {args:?} failed:\n{stdout}{stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("zosctl {args:?}: {e}: {stdout}"))
    }

    /// Runs zosctl, expects it to fail; its stderr.
    async fn fails(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.run(args).await;
        assert!(!ok, "zosctl {args:?} succeeded:\n{stdout}");
        stderr
    }
}

/// The in-process node with a funded user who made a twin through zosctl; the engine's tasks
/// run until the handles drop.
async fn node_and_user(
    config: &Path,
) -> (LocalNode, Zosctl, u64, Vec<tokio::task::JoinHandle<()>>) {
    // The node's daemons in-process, as in provisiond's chain_deploy test.
    let node = LocalNode::start(16 * GIB).await;
    let alice = Signer::sr25519_from_uri("//Alice").expect("dev key");
    let user = Signer::sr25519_from_uri(USER).expect("dev key");
    node.chain
        .transfer_keep_alive(&alice, &user.account_id(), 1_000 * TFT)
        .await
        .expect("fund the user");
    let (engine, tasks) = node.engine().await;
    let zosctl = Zosctl {
        chain: node.local.url(),
        node: node.serve_api(engine).await,
        config: config.to_path_buf(),
    };
    let (created, out, err) = zosctl.run(&["twin", "create"]).await;
    assert!(created, "{out}{err}");
    let twin = zosctl.ok_json(&["twin", "show"]).await["id"]
        .as_u64()
        .expect("twin id");
    (node, zosctl, twin, tasks)
}

/// Deploys the description `text` (written in `dir`); the contract id zosctl printed, its
/// stdout and its stderr.
async fn deploy(zosctl: &Zosctl, dir: &Path, text: &str) -> (u64, String, String) {
    let desc = write(dir, "disks.yaml", text);
    let (deployed, out, err) = zosctl.run(&["deploy", &desc]).await;
    assert!(deployed, "{out}{err}");
    assert!(err.contains("created on node"), "{err}");
    let contract = out
        .lines()
        .find_map(|l| l.strip_prefix("contract"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("contract id in {out}"));
    (contract, out, err)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write description");
    path.display().to_string()
}

fn states(deployment: &serde_json::Value) -> Vec<String> {
    deployment["workloads"]
        .as_array()
        .expect("workloads")
        .iter()
        .map(|w| w["result"]["state"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_local_chain_deploy_get_list_changes_stats_and_cancel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, z, twin, _tasks) = node_and_user(&dir.path().join("config")).await;
    let (chain, node_id) = (node.chain.clone(), node.node_id);

    // Deploy: progress on stderr, the results on stdout.
    let (contract, out, err) = deploy(
        &z,
        dir.path(),
        &format!(
            "node: {node_id}\ndescription: two disks\nworkloads:\n  \
             - {{name: data, type: volume, data: {{size: 1GiB}}}}\n  \
             - {{name: disk, type: zmount, data: {{size: 2147483648}}}}\n"
        ),
    )
    .await;
    assert!(err.contains("data ok, disk ok"), "{err}");
    assert!(out.contains("two disks"), "{out}");
    let on_chain = chain
        .contract(contract)
        .await
        .expect("read contract")
        .expect("contract exists");
    assert_eq!(on_chain.twin_id as u64, twin);

    // Read it back.
    let got = z
        .ok_json(&["deployment", "get", &contract.to_string()])
        .await;
    assert_eq!(states(&got), ["ok", "ok"], "{got}");
    assert_eq!(
        got["workloads"][0]["result"]["data"]["id"],
        format!("{twin}-{contract}-data")
    );
    let list = z.ok_json(&["deployment", "list"]).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    // The deployment as the node holds it: its hash is the contract's, its signature verifies
    // with the twin's key from the chain.
    let file = write(dir.path(), "deployment.json", &got.to_string());
    let hash = z.ok_json(&["deployment", "hash", &file]).await;
    let zos_chain::ContractKind::Node {
        deployment_hash, ..
    } = &on_chain.kind
    else {
        panic!("not a node contract: {on_chain:?}");
    };
    assert_eq!(
        hash["hash"].as_str().map(str::as_bytes),
        Some(&deployment_hash[..])
    );
    let verified = z.ok_json(&["deployment", "verify", &file]).await;
    assert_eq!(verified["verified"], true, "{verified}");
    assert_eq!(verified["signers"][0]["status"], "valid", "{verified}");
    let changes = z
        .ok_json(&["deployment", "changes", "--contract", &contract.to_string()])
        .await;
    assert_eq!(
        changes.as_array().map(Vec::len),
        Some(4),
        "init and ok of two workloads: {changes}"
    );
    let stats = z.ok_json(&["node", "stats", &node_id.to_string()]).await;
    assert_eq!(stats["users"]["deployments"], 1, "{stats}");
    let (ok, table, err) = z.run(&["node", "stats", &node_id.to_string()]).await;
    // One column per resource: the SSD's 16 GiB beside the 8 GiB of memory, one decimal each.
    assert!(
        ok && table.lines().any(|l| l
            .split_whitespace()
            .eq(["total", "4", "8.0", "GiB", "16.0", "GiB", "0", "B", "0"])),
        "{table}{err}"
    );
    let status = z.ok_json(&["node", "status"]).await;
    assert_eq!(status["registration"]["state"], "registered", "{status}");
    assert_eq!(status["registration"]["node_id"], node_id, "{status}");
    assert_eq!(status["serving_deployments"], true, "{status}");
    let (ok, text, err) = z.run(&["node", "status"]).await;
    assert!(
        ok && text.contains("deployments") && text.contains("served"),
        "{text}{err}"
    );

    // A deployment the node refuses (more than the pool): its contract is canceled at once.
    let huge = write(
        dir.path(),
        "huge.yaml",
        &format!(
            "node: {node_id}\nworkloads:\n  - {{name: big, type: volume, data: {{size: 1TiB}}}}\n"
        ),
    );
    let active = || async {
        chain
            .twin_contracts(twin as u32)
            .await
            .expect("contracts")
            .into_iter()
            .filter(|c| c.state == ContractState::Created)
            .count()
    };
    let before = active().await;
    let (deployed, out, err) = z.run(&["deploy", &huge]).await;
    assert!(!deployed, "{out}");
    assert!(err.contains("refused the request (bad_request)"), "{err}");
    assert!(err.contains("was canceled, so it is not billed"), "{err}");
    assert_eq!(
        active().await,
        before,
        "the refused deployment's contract is gone"
    );

    // Cancel: the node removes the workloads.
    let (canceled, out, err) = z.run(&["contract", "cancel", &contract.to_string()]).await;
    assert!(canceled, "{out}{err}");
    let start = Instant::now();
    loop {
        let got = z
            .ok_json(&["deployment", "get", "--contract", &contract.to_string()])
            .await;
        if states(&got).iter().all(|s| s == "deleted") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "not deleted: {got}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let list = z.ok_json(&["deployment", "list"]).await;
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_local_chain_stopped_node_reads_use_the_remembered_twin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config");
    let (mut node, z, twin, _tasks) = node_and_user(&config).await;
    let node_id = node.node_id.to_string();
    let (contract, _, _) = deploy(
        &z,
        dir.path(),
        &format!(
            "node: {node_id}\nworkloads:\n  - {{name: data, type: volume, data: {{size: 1GiB}}}}\n"
        ),
    )
    .await;
    let contract = contract.to_string();
    // `twin create` and `twin show` remembered the twin, by chain and account.
    let known: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(config.join("zosctl/twins.json")).expect("remembered twins"),
    )
    .expect("JSON");
    let account = Signer::sr25519_from_uri(USER)
        .expect("dev key")
        .account_id()
        .to_string();
    assert_eq!(known["twins"][&z.chain][&account], twin, "{known}");

    // A remembered twin that is not the key's (as after a chain started again from genesis):
    // the node refuses it, so zosctl asks the chain once and remembers the right one.
    let stale = Zosctl {
        config: dir.path().join("stale-config"),
        ..z.clone()
    };
    let alice_twin = 1;
    assert_ne!(twin, alice_twin);
    std::fs::create_dir_all(stale.config.join("zosctl")).expect("config dir");
    std::fs::write(
        stale.config.join("zosctl/twins.json"),
        serde_json::json!({ "twins": { &z.chain: { &account: alice_twin } } }).to_string(),
    )
    .expect("write a stale twin");
    let got = stale.ok_json(&["deployment", "get", &contract]).await;
    assert_eq!(got["twin_id"], twin, "{got}");
    let known: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stale.config.join("zosctl/twins.json")).expect("read"),
    )
    .expect("JSON");
    assert_eq!(known["twins"][&z.chain][&account], twin, "{known}");

    // The chain process this test started, killed (by its pid, through LocalChain).
    node.local.stop();
    let gone = z.fails(&["twin", "show"]).await;
    assert!(gone.contains("cannot reach the chain"), "{gone}");

    // The node still answers, asked as the remembered twin.
    let got = z.ok_json(&["deployment", "get", &contract]).await;
    assert_eq!(states(&got), ["ok"], "{got}");
    assert_eq!(got["twin_id"], twin, "{got}");
    let (ok, table, err) = z.run(&["deployment", "get", &contract]).await;
    assert!(ok, "{err}");
    assert!(table.contains("NAME  TYPE    STATE  SINCE"), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("data  volume  ok")),
        "{table}"
    );
    let list = z.ok_json(&["deployment", "list"]).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let changes = z.ok_json(&["deployment", "changes", &contract]).await;
    assert_eq!(changes.as_array().map(Vec::len), Some(2), "{changes}");
    let stats = z.ok_json(&["node", "stats", &node_id]).await;
    assert_eq!(stats["users"]["deployments"], 1, "{stats}");

    // Nothing remembered: `--twin` does it, and without it the error names the step.
    let fresh = Zosctl {
        config: dir.path().join("fresh-config"),
        ..z.clone()
    };
    let twin_arg = twin.to_string();
    let got = fresh
        .ok_json(&[
            "deployment",
            "get",
            "--contract",
            &contract,
            "--twin",
            &twin_arg,
        ])
        .await;
    assert_eq!(states(&got), ["ok"], "{got}");
    let err = fresh.fails(&["deployment", "get", &contract]).await;
    assert!(
        err.contains(&format!("cannot reach the chain at {}", z.chain)),
        "{err}"
    );
    assert!(
        err.contains("the chain was needed to look up this key's twin for the node request (pass --twin ID to skip it"),
        "{err}"
    );
    // What truly needs the chain says so too.
    let err = z.fails(&["contract", "cancel", &contract]).await;
    assert!(
        err.contains(&format!(
            "the chain was needed to cancel contract {contract}"
        )),
        "{err}"
    );
    let err = z
        .fails(&[
            "deployment",
            "verify",
            &write(dir.path(), "d.json", &got.to_string()),
        ])
        .await;
    assert!(
        err.contains("the chain was needed to read the signers' keys"),
        "{err}"
    );
}
