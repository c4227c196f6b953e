//! `zosctl deploy` end to end, needs root and the local chain (`make deps`): the real zosctl
//! binary against a node's daemons in-process, as provisiond's `chain_deploy` test sets them up:
//! the real TFChain runtime (LocalChain), storaged with a pool on a loop device, noded's bus
//! service, provisiond's engine and its node API on a loopback port. A user twin deploys a
//! description file, reads it back (get, list, changes), asks the node for statistics, and
//! cancels; a deployment the node refuses gets its contract canceled.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridtypes::GIB;
use provisiond::api::{Api, ChainKeys};
use provisiond::chain::ChainView;
use provisiond::engine::Engine;
use provisiond::events;
use provisiond::store::Store;
use storaged::testing::Env;
use tokio::sync::watch;
use zos_bus::node::registration;
use zos_bus::testing::PrivateBus;
use zos_bus::RegistrationStatus;
use zos_chain::{Chain, ContractState, LocalChain, Location, NodeInput, Resources, Signer};

const TFT: u128 = 10_000_000;
const USER: &str = "//Charlie";

/// A node in a farm of //Alice, registered on the chain with an ed25519 key like noded does.
async fn register_node(chain: &Chain) -> (u32, Signer) {
    let alice = Signer::sr25519_from_uri("//Alice").expect("dev key");
    chain.ensure_twin(&alice).await.expect("alice twin");
    let farm = chain
        .create_farm(&alice, "zosctl-deploy-farm", &[])
        .await
        .expect("farm");
    let node_key = Signer::ed25519_from_seed(&[3u8; 32]);
    chain
        .transfer_keep_alive(&alice, &node_key.account_id(), 1_000 * TFT)
        .await
        .expect("fund node");
    chain.ensure_twin(&node_key).await.expect("node twin");
    let input = NodeInput {
        resources: Resources {
            hru: 0,
            // The runtime's minimum; the node's daemons offer 16 GiB.
            sru: 200 * GIB,
            cru: 4,
            mru: 8 * GIB,
        },
        location: Location {
            city: "Unknown".into(),
            country: "Unknown".into(),
            latitude: "0".into(),
            longitude: "0".into(),
        },
        interfaces: vec![],
        secure_boot: false,
        virtualized: true,
        serial_number: None,
    };
    let id = chain
        .create_node(&node_key, farm, &input)
        .await
        .expect("node");
    (id, node_key)
}

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
    let mut local = LocalChain::start().await.expect("local chain (make deps)");
    let chain = Chain::connect(&local.url()).await.expect("connect");
    LocalChain::fund_billing_accounts(&chain)
        .await
        .expect("billing accounts");
    let (node_id, node_key) = register_node(&chain).await;
    let alice = Signer::sr25519_from_uri("//Alice").expect("dev key");
    let user = Signer::sr25519_from_uri(USER).expect("dev key");
    chain
        .transfer_keep_alive(&alice, &user.account_id(), 1_000 * TFT)
        .await
        .expect("fund the user");

    // The node's daemons on a private bus, as in provisiond's chain_deploy test.
    let bus = PrivateBus::start().expect("private bus (make deps)");
    let mut env = Env::new();
    env.add_disk(16 * GIB, false);
    let _storaged = env.serve(bus.address()).await;
    let (_status, status_rx) = watch::channel(RegistrationStatus {
        state: registration::REGISTERED.into(),
        node_id,
        ..Default::default()
    });
    let noded_conn = zos_bus::connect_to(bus.address()).await.expect("bus");
    noded::service::serve(
        &noded_conn,
        noded::service::NodeService::new(
            String::new(),
            zos_bus::Capacity {
                cru: 4,
                mru: 8 * GIB,
                sru: 16 * GIB,
                hru: 0,
            },
            Default::default(),
            "/sys".into(),
            status_rx,
            Some(Arc::new(noded::consumption::ContractReporter::new(
                local.url(),
                node_key,
            ))),
        ),
    )
    .await
    .expect("noded service");
    let conn = zos_bus::connect_to(bus.address()).await.expect("bus");
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::new(
        Store::open(&dir.path().join("provisiond.sqlite")).expect("store"),
        ChainView::new(chain.clone()),
        conn.clone(),
        node_id,
    );
    tokio::spawn(engine.clone().run());
    tokio::spawn(events::follow(engine.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let node_url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(zos_api::serve(
        listener,
        zos_api::ServerConfig::default(),
        Arc::new(ChainKeys::new(engine.clone())),
        Arc::new(Api::new(engine.clone(), conn.clone())),
        std::future::pending(),
    ));
    let (c, n) = (local.url(), node_url.clone());
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
    local.stop();
}
