//! provisiond's engine on the real path: the real TFChain runtime (LocalChain, chopsticks from
//! `make deps`), a real storaged (in-process, pools on loop devices: root), noded's real bus
//! service submitting consumption reports with the node's key, on a private busd. A user twin
//! creates node contracts and deploys volumes and zmounts, then updates, pauses and resumes
//! them; bad requests change nothing;
//! consumption reaches the chain; a restart provisions again without changes; cancelling the
//! contract removes everything.

use std::time::{Duration, Instant};

use gridtypes::{Deployment, ResultState, Workload, WorkloadType, GIB, TIB};
use provisiond::chain::CheckError;
use provisiond::engine::{Engine, EngineError};
use provisiond::store::JobKind;
use provisiond::testing::{
    contract, deployment, funded_twin, hash_bytes, register_node, volume, zmount, LocalNode,
};
use zos_bus::StorageProxy;

const WAIT: Duration = Duration::from_secs(90);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "provisiond=info,noded=info,zos_chain=warn".into()),
        )
        .with_test_writer()
        .try_init();
}

async fn wait_states(engine: &Engine, twin: u32, contract: u64, want: ResultState) -> Deployment {
    let start = Instant::now();
    loop {
        let d = engine.get(twin, contract).await.expect("get");
        if d.workloads.iter().all(|w| w.result.state == want) {
            return d;
        }
        assert!(start.elapsed() < WAIT, "workloads not {want:?}: {d:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_from_contract_to_volumes_and_back() {
    init_tracing();
    // The node's daemons on a private bus: storaged with a 16 GiB SSD pool, noded's service
    // (registered) reporting with the node's key; the real chain.
    let node = LocalNode::start(16 * GIB).await;
    let (chain, node_id) = (node.chain.clone(), node.node_id);
    let user = funded_twin(&chain, 9).await;
    let other = funded_twin(&chain, 10).await;
    let conn = node.connect().await;
    let storage = StorageProxy::new(&conn).await.unwrap();
    let (engine, tasks) = node.engine().await;

    // ---- bad requests: each refused, nothing created ----
    let mut unknown = deployment(user.id, vec![volume("a", GIB)]);
    unknown.workloads[0].workload_type = WorkloadType::Other("teleporter".into());
    let err = engine.deploy(user.id, unknown).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Invalid(ref m) if m.contains("teleporter")),
        "{err}"
    );

    let badname = deployment(user.id, vec![volume("../etc", GIB)]);
    assert!(matches!(
        engine.deploy(user.id, badname).await,
        Err(EngineError::Invalid(_))
    ));

    let twice = deployment(user.id, vec![volume("a", GIB), zmount("a", GIB)]);
    assert!(matches!(
        engine.deploy(user.id, twice).await,
        Err(EngineError::Invalid(_))
    ));

    let mut good = deployment(user.id, vec![volume("data", GIB), zmount("disk", 2 * GIB)]);
    contract(&chain, &user, node_id, &mut good, &user.key).await;
    let err = engine.deploy(other.id, good.clone()).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Unauthorized(_)),
        "caller is not the twin: {err}"
    );

    let mut forged = good.clone();
    forged.signature_requirement.signatures.clear();
    forged.sign_ed25519(user.id, &other.key).unwrap();
    let err = engine.deploy(user.id, forged).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Unauthorized(ref m) if m.contains("signature")),
        "{err}"
    );

    let mut unsigned = good.clone();
    unsigned.signature_requirement.signatures.clear();
    assert!(matches!(
        engine.deploy(user.id, unsigned).await,
        Err(EngineError::Unauthorized(_))
    ));

    let mut changed = good.clone();
    changed.workloads[0] = volume("data", 2 * GIB);
    changed.signature_requirement.signatures.clear();
    changed.sign_ed25519(user.id, &user.key).unwrap();
    let err = engine.deploy(user.id, changed).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Contract(CheckError::HashMismatch { .. })),
        "{err}"
    );

    let mut theirs = deployment(user.id, vec![volume("x", GIB)]);
    theirs.contract_id = chain
        .create_node_contract(&other.signer, node_id, hash_bytes(&theirs), b"", 0, None)
        .await
        .unwrap();
    theirs.sign_ed25519(user.id, &user.key).unwrap();
    let err = engine.deploy(user.id, theirs).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Contract(CheckError::OtherTwin { .. })),
        "{err}"
    );

    let elsewhere = register_node(&chain, &funded_twin(&chain, 11).await, node.farm_id).await;
    let mut theirs_node = deployment(user.id, vec![volume("y", GIB)]);
    contract(&chain, &user, elsewhere, &mut theirs_node, &user.key).await;
    let err = engine.deploy(user.id, theirs_node).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Contract(CheckError::OtherNode { .. })),
        "{err}"
    );

    let mut huge = deployment(user.id, vec![volume("big", TIB)]);
    contract(&chain, &user, node_id, &mut huge, &user.key).await;
    let err = engine.deploy(user.id, huge).await.unwrap_err();
    assert!(matches!(err, EngineError::Capacity(_)), "{err}");

    assert!(engine.list(user.id).await.unwrap().is_empty());
    assert!(storage.volumes().await.unwrap().is_empty());
    assert!(storage.vdisks().await.unwrap().is_empty());

    // ---- a good deployment, through the node API (signed HTTP, keys from the chain) ----
    let url = node.serve_api(engine.clone()).await;
    let client = zos_api::Client::new(&url, user.signer.clone(), user.id).unwrap();
    let impostor = zos_api::Client::new(&url, other.signer.clone(), user.id).unwrap();
    let refused = impostor
        .call::<serde_json::Value>("zos.deployment.deploy", &good)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, zos_api::ClientError::Api { status: 401, .. }),
        "{refused}"
    );
    client
        .call::<serde_json::Value>("zos.deployment.deploy", &good)
        .await
        .expect("deploy");
    let again = client
        .call::<serde_json::Value>("zos.deployment.deploy", &good)
        .await
        .unwrap_err();
    assert!(again.to_string().contains("exists"), "{again}");
    let deployed = wait_states(&engine, user.id, good.contract_id, ResultState::Ok).await;
    let fetched: Deployment = client
        .call(
            "zos.deployment.get",
            serde_json::json!({ "contract_id": good.contract_id }),
        )
        .await
        .expect("get");
    assert_eq!(fetched, deployed);
    let features: Vec<String> = client
        .call("zos.system.node_features_get", serde_json::Value::Null)
        .await
        .unwrap();
    assert!(features.contains(&"volume".to_string()));
    let pools: serde_json::Value = client
        .call("zos.storage.pools", serde_json::Value::Null)
        .await
        .unwrap();
    assert_eq!(pools[0]["type"], "ssd", "{pools}");
    let stats: serde_json::Value = client
        .call("zos.statistics.get", serde_json::Value::Null)
        .await
        .unwrap();
    assert_eq!(stats["users"]["deployments"], 1, "{stats}");
    assert_eq!(
        stats["used"]["sru"].as_u64().unwrap(),
        3 * GIB + stats["system"]["sru"].as_u64().unwrap(),
        "{stats}"
    );
    let deleted = client
        .call::<serde_json::Value>(
            "zos.deployment.delete",
            serde_json::json!({ "contract_id": good.contract_id }),
        )
        .await
        .unwrap_err();
    assert!(
        deleted.to_string().contains("cancel your contract"),
        "{deleted}"
    );
    let volume_name = format!("{}-{}-data", user.id, good.contract_id);
    let volumes = storage.volumes().await.unwrap();
    assert_eq!(volumes.len(), 1);
    assert_eq!(
        (volumes[0].name.as_str(), volumes[0].size),
        (volume_name.as_str(), GIB)
    );
    assert_eq!(storage.vdisks().await.unwrap()[0].size, 2 * GIB);
    assert_eq!(
        deployed.get("data").unwrap().result.data,
        serde_json::json!({ "id": volume_name })
    );
    assert!(
        engine.get(other.id, good.contract_id).await.is_err(),
        "another twin reads it"
    );

    // Consumption reaches the chain (reported by noded with the node's key).
    let start = Instant::now();
    loop {
        let used = chain.contract_resources(good.contract_id).await.unwrap();
        if used.map(|u| u.sru) == Some(3 * GIB) {
            break;
        }
        assert!(start.elapsed() < WAIT, "consumption not on chain: {used:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Billing follows the report: exactly what the runtime bills for the reported capacity
    // leaves what the owner can spend (locked by the runtime until distributed; billed by
    // //Alice, so no fee is taken from the owner).
    let alice = zos_chain::Signer::sr25519_from_uri("//Alice").unwrap();
    let owner = user.signer.account_id();
    let start = Instant::now();
    let (paid, billed) = loop {
        let before = chain.spendable_balance(&owner).await.unwrap();
        let billed = chain
            .bill_contract_for_block(&alice, good.contract_id)
            .await
            .expect("bill");
        let after = chain.spendable_balance(&owner).await.unwrap();
        if let Some(amount) = billed.filter(|a| *a > 0) {
            break (before - after, amount);
        }
        assert!(start.elapsed() < WAIT, "nothing billed");
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    assert_eq!(paid, billed, "the owner paid what the runtime billed");

    // An update: version 1 grows the volume and adds one; a version that skips one is refused.
    let mut next = good.clone();
    next.version = 1;
    next.workloads = vec![
        Workload {
            version: 1,
            ..volume("data", 2 * GIB)
        },
        zmount("disk", 2 * GIB),
        Workload {
            version: 1,
            ..volume("logs", GIB)
        },
    ];
    let mut skipped = next.clone();
    skipped.version = 3;
    for w in &mut skipped.workloads {
        if w.version == 1 {
            w.version = 3;
        }
    }
    skipped.sign_ed25519(user.id, &user.key).unwrap();
    let err = engine.update(user.id, skipped).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Invalid(ref m) if m.contains("version")),
        "{err}"
    );
    chain
        .update_node_contract(&user.signer, good.contract_id, hash_bytes(&next), b"")
        .await
        .expect("contract update");
    next.signature_requirement.signatures.clear();
    next.sign_ed25519(user.id, &user.key).unwrap();
    client
        .call::<serde_json::Value>("zos.deployment.update", &next)
        .await
        .expect("update");
    let start = Instant::now();
    let updated = loop {
        let d = engine.get(user.id, good.contract_id).await.unwrap();
        if d.version == 1
            && d.workloads
                .iter()
                .all(|w| w.result.state == ResultState::Ok)
        {
            break d;
        }
        assert!(start.elapsed() < WAIT, "update not applied: {d:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(updated.workloads.len(), 3);
    let sizes: Vec<(String, u64)> = storage
        .volumes()
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.name, v.size))
        .collect();
    assert_eq!(
        sizes,
        vec![
            (volume_name.clone(), 2 * GIB),
            (format!("{}-{}-logs", user.id, good.contract_id), GIB)
        ]
    );
    let good = updated;

    // Grace period (the owner ran out of funds) and its end, as the chain events ask: paused
    // workloads keep their data and still count as used; then they run again.
    engine
        .enqueue(good.contract_id, JobKind::Pause)
        .await
        .expect("pause");
    wait_states(&engine, user.id, good.contract_id, ResultState::Paused).await;
    assert_eq!(storage.volumes().await.unwrap().len(), 2);
    engine
        .enqueue(good.contract_id, JobKind::Resume)
        .await
        .expect("resume");
    let good = wait_states(&engine, user.id, good.contract_id, ResultState::Ok).await;

    // A restart provisions again, idempotently: no new result.
    let changes = engine
        .changes(user.id, good.contract_id)
        .await
        .unwrap()
        .len();
    assert_eq!(
        changes,
        4 + 2 + 3 + 3,
        "init and ok of two workloads, the two updated ones, three paused, three resumed"
    );
    for t in tasks {
        t.abort();
    }
    drop(engine);
    let (engine, _tasks) = node.engine().await;
    assert_eq!(engine.requeue_active().await.unwrap(), 1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_states(&engine, user.id, good.contract_id, ResultState::Ok).await;
    assert_eq!(
        engine
            .changes(user.id, good.contract_id)
            .await
            .unwrap()
            .len(),
        changes
    );

    // Cancelling the contract removes everything.
    chain
        .cancel_contract(&user.signer, good.contract_id)
        .await
        .expect("cancel");
    let gone = wait_states(&engine, user.id, good.contract_id, ResultState::Deleted).await;
    assert!(gone
        .workloads
        .iter()
        .all(|w| w.result.message.contains("canceled")));
    assert!(storage.volumes().await.unwrap().is_empty());
    assert!(storage.vdisks().await.unwrap().is_empty());
    assert!(engine.list(user.id).await.unwrap().is_empty());
}
