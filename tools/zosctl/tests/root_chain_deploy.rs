//! `zosctl deploy` end to end, needs root and the local chain (`make deps`): the real zosctl
//! binary against a node's daemons in-process, as provisiond's `chain_deploy` test sets them up:
//! the real TFChain runtime (LocalChain), storaged with a pool on a loop device, noded's bus
//! service, provisiond's engine and its node API on a loopback port. A user twin deploys a
//! description file, reads it back (get, list, changes), asks the node for statistics, and
//! cancels; a deployment the node refuses gets its contract canceled.

use std::path::Path;
use std::time::{Duration, Instant};

use gridtypes::GIB;
use zos_chain::{ContractState, Signer};
use zos_testkit::node::LocalNode;

const TFT: u128 = 10_000_000;
const USER: &str = "//Charlie";

/// Runs zosctl as the user against `chain` and the node API at `node`; returns (success,
/// stdout, stderr).
async fn zosctl(chain: &str, node: &str, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_zosctl"))
        .args(["--chain", chain, "--node-url", node, "--key", USER])
        .args(args)
        .env_remove("TFCHAIN_URL")
        .env_remove("ZOSCTL_MNEMONIC")
        .env_remove("ZOSCTL_NODE_URL")
        .output()
        .await
        .expect("run zosctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn ok_json(chain: &str, node: &str, args: &[&str]) -> serde_json::Value {
    let all = [args, &["--json"]].concat();
    let (ok, stdout, stderr) = zosctl(chain, node, &all).await;
    assert!(ok, "zosctl {args:?} failed:\n{stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("zosctl {args:?}: {e}: {stdout}"))
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
    // The node's daemons in-process, as in provisiond's chain_deploy test.
    let node = LocalNode::start(16 * GIB).await;
    let (chain, node_id) = (node.chain.clone(), node.node_id);
    let alice = Signer::sr25519_from_uri("//Alice").expect("dev key");
    let user = Signer::sr25519_from_uri(USER).expect("dev key");
    chain
        .transfer_keep_alive(&alice, &user.account_id(), 1_000 * TFT)
        .await
        .expect("fund the user");
    let (engine, _tasks) = node.engine().await;
    let node_url = node.serve_api(engine).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (c, n) = (node.local.url(), node_url.clone());
    let (c, n) = (c.as_str(), n.as_str());

    let (created, out, err) = zosctl(c, n, &["twin", "create"]).await;
    assert!(created, "{out}{err}");
    let twin = ok_json(c, n, &["twin", "show"]).await["id"]
        .as_u64()
        .expect("twin id");

    // Deploy: progress on stderr, the results on stdout.
    let desc = write(
        dir.path(),
        "disks.yaml",
        &format!(
            "node: {node_id}\ndescription: two disks\nworkloads:\n  \
             - {{name: data, type: volume, data: {{size: 1GiB}}}}\n  \
             - {{name: disk, type: zmount, data: {{size: 2147483648}}}}\n"
        ),
    );
    let (deployed, out, err) = zosctl(c, n, &["deploy", &desc]).await;
    assert!(deployed, "{out}{err}");
    assert!(err.contains("created on node"), "{err}");
    assert!(err.contains("data ok, disk ok"), "{err}");
    assert!(out.contains("two disks"), "{out}");
    let contract: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("contract"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("contract id in {out}"));
    let on_chain = chain
        .contract(contract)
        .await
        .expect("read contract")
        .expect("contract exists");
    assert_eq!(on_chain.twin_id as u64, twin);

    // Read it back.
    let got = ok_json(
        c,
        n,
        &["deployment", "get", "--contract", &contract.to_string()],
    )
    .await;
    assert_eq!(states(&got), ["ok", "ok"], "{got}");
    assert_eq!(
        got["workloads"][0]["result"]["data"]["id"],
        format!("{twin}-{contract}-data")
    );
    let list = ok_json(c, n, &["deployment", "list"]).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    // The deployment as the node holds it: its hash is the contract's, its signature verifies
    // with the twin's key from the chain.
    let file = write(dir.path(), "deployment.json", &got.to_string());
    let hash = ok_json(c, n, &["deployment", "hash", &file]).await;
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
    let verified = ok_json(c, n, &["deployment", "verify", &file]).await;
    assert_eq!(verified["verified"], true, "{verified}");
    assert_eq!(verified["signers"][0]["status"], "valid", "{verified}");
    let changes = ok_json(
        c,
        n,
        &["deployment", "changes", "--contract", &contract.to_string()],
    )
    .await;
    assert_eq!(
        changes.as_array().map(Vec::len),
        Some(4),
        "init and ok of two workloads: {changes}"
    );
    let stats = ok_json(c, n, &["node", "stats", &node_id.to_string()]).await;
    assert_eq!(stats["users"]["deployments"], 1, "{stats}");
    let (ok, table, err) = zosctl(c, n, &["node", "stats", &node_id.to_string()]).await;
    assert!(
        ok && table
            .lines()
            .any(|l| l.split_whitespace().take(3).eq(["sru", "16", "GiB"])),
        "{table}{err}"
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
    let (deployed, out, err) = zosctl(c, n, &["deploy", &huge]).await;
    assert!(!deployed, "{out}");
    assert!(err.contains("refused the request (bad_request)"), "{err}");
    assert!(err.contains("was canceled, so it is not billed"), "{err}");
    assert_eq!(
        active().await,
        before,
        "the refused deployment's contract is gone"
    );

    // Cancel: the node removes the workloads.
    let (canceled, out, err) = zosctl(c, n, &["contract", "cancel", &contract.to_string()]).await;
    assert!(canceled, "{out}{err}");
    let start = Instant::now();
    loop {
        let got = ok_json(
            c,
            n,
            &["deployment", "get", "--contract", &contract.to_string()],
        )
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
    let list = ok_json(c, n, &["deployment", "list"]).await;
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
}
