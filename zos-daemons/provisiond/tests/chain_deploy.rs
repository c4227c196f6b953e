//! provisiond's engine on the real path: the real TFChain runtime (LocalChain, chopsticks from
//! `make deps`), a real storaged (in-process, pools on loop devices: root), noded's real bus
//! service submitting consumption reports with the node's key, on a private busd. A user twin
//! creates node contracts and deploys volumes and zmounts, then updates, pauses and resumes
//! them; bad requests change nothing;
//! consumption reaches the chain; a restart provisions again without changes; cancelling the
//! contract removes everything. A second test does the same for zdb namespaces on two HDD
//! pools, with zdb processes under our init. A third runs the grace period as the chain does:
//! the owner runs out of funds, billing starts the grace period, the node pauses; funds come
//! back, billing ends it, the node resumes.

use std::time::{Duration, Instant};

use gridtypes::{Deployment, ResultState, Workload, WorkloadType, GIB, TIB};
use provisiond::chain::CheckError;
use provisiond::engine::{Engine, EngineError};
use provisiond::store::JobKind;
use zos_bus::StorageProxy;
use zos_testkit::deployments::{contract, deployment, hash_bytes, volume, zdb, zmount};
use zos_testkit::twins::register_node;
use zos_testkit::{funded_twin, LocalNode};

const WAIT: Duration = Duration::from_secs(90);

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
    zos_testkit::logs::init("provisiond=info,noded=info,zos_chain=warn");
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

/// A user's namespace on a zdb, through a redis client on loopback.
fn zdb_session<T>(
    port: u64,
    namespace: &str,
    password: Option<&str>,
    f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut con = client.get_connection()?;
    let mut select = redis::cmd("SELECT");
    select.arg(namespace);
    if let Some(pw) = password {
        select.arg(pw);
    }
    select.query::<()>(&mut con)?;
    f(&mut con)
}

/// zdb's error line, which the client splits into a code and a detail.
fn zdb_error(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => e.to_string(),
    }
}

fn zdb_result(d: &Deployment, name: &str) -> gridtypes::types::ZdbResult {
    let w = d.get(name).expect("zdb workload");
    serde_json::from_value(w.result.data.clone()).expect("zdb result")
}

/// The zdb volumes (one per HDD pool in use): name → (pool, size).
async fn zdb_volumes(storage: &StorageProxy<'_>) -> Vec<(String, String, u64)> {
    storage
        .volumes()
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.name.starts_with("zdb-"))
        .map(|v| (v.name, v.pool, v.size))
        .collect()
}

/// zdb workloads on a node with two HDD pools: one zdb process per pool in use, each on its
/// own port with its own admin password; namespaces reached with a redis client; pause
/// freezes, resume thaws; an update grows and changes the password, a shrink is refused; the
/// init restarts a killed zdb; a restart of provisiond finds everything; the zdb whose last
/// namespace goes is stopped and its volume freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zdb_namespaces_one_process_per_hdd_pool() {
    zos_testkit::logs::init("provisiond=info,noded=info,zos_chain=warn");
    const MIB: u64 = 1 << 20;
    let node = LocalNode::with_hdds(8 * GIB, &[3 * GIB, 3 * GIB]).await;
    let (chain, node_id) = (node.chain.clone(), node.node_id);
    let user = funded_twin(&chain, 11).await;
    let conn = node.connect().await;
    let storage = StorageProxy::new(&conn).await.unwrap();
    let (engine, tasks) = node.engine().await;

    // Two 2 GiB namespaces cannot share a 3 GiB pool: two zdbs, two ports.
    let mut first = deployment(
        user.id,
        vec![
            zdb("a", 2 * GIB, "user", "pw-a", false),
            zdb("b", 2 * GIB, "seq", "", true),
        ],
    );
    contract(&chain, &user, node_id, &mut first, &user.key).await;
    engine.deploy(user.id, first.clone()).await.expect("deploy");
    let first = wait_states(&engine, user.id, first.contract_id, ResultState::Ok).await;
    let (a, b) = (zdb_result(&first, "a"), zdb_result(&first, "b"));
    assert_eq!(a.namespace, format!("{}-{}-a", user.id, first.contract_id));
    assert_ne!(a.port, b.port, "one zdb per pool");
    let volumes = zdb_volumes(&storage).await;
    assert_eq!(volumes.len(), 2, "{volumes:?}");
    assert_ne!(volumes[0].1, volumes[1].1, "on two pools: {volumes:?}");
    assert!(volumes.iter().all(|v| v.2 == 2 * GIB), "{volumes:?}");
    for (name, _, _) in &volumes {
        let settings = storage.volume_usage(name).await.unwrap().path + "/zdb-settings.json";
        let mode = std::fs::metadata(&settings)
            .expect("settings")
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    // The namespaces from outside: private with its password, public sequential.
    zdb_session(a.port, &a.namespace, Some("pw-a"), |con| {
        redis::cmd("SET")
            .arg("key")
            .arg("value-a")
            .query::<()>(con)?;
        let v: Vec<u8> = redis::cmd("GET").arg("key").query(con)?;
        assert_eq!(v, b"value-a");
        Ok(())
    })
    .expect("namespace a");
    let wrong = zdb_session(a.port, &a.namespace, Some("nope"), |_| Ok(()));
    assert!(wrong.is_err(), "a wrong password is refused");
    let id: Vec<u8> = zdb_session(b.port, &b.namespace, None, |con| {
        redis::cmd("SET").arg("").arg("sequential").query(con)
    })
    .expect("namespace b");
    assert_eq!(id, 0u64.to_le_bytes(), "seq mode hands out ids");

    // A small namespace joins a running zdb; one that fits no single pool (though the HDDs
    // together have room) fails alone.
    let mut second = deployment(
        user.id,
        vec![
            zdb("c", 512 * MIB, "user", "", true),
            zdb("d", 1280 * MIB, "user", "", true),
        ],
    );
    contract(&chain, &user, node_id, &mut second, &user.key).await;
    engine
        .deploy(user.id, second.clone())
        .await
        .expect("deploy");
    let start = Instant::now();
    let second = loop {
        let d = engine.get(user.id, second.contract_id).await.unwrap();
        if d.workloads
            .iter()
            .all(|w| w.result.state != ResultState::Init)
        {
            break d;
        }
        assert!(start.elapsed() < WAIT, "{d:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let c = zdb_result(&second, "c");
    assert!(c.port == a.port || c.port == b.port, "no third zdb: {c:?}");
    let d = second.get("d").unwrap();
    assert_eq!(d.result.state, ResultState::Error, "{d:?}");
    assert!(
        d.result.message.contains("no HDD pool"),
        "{}",
        d.result.message
    );
    let volumes = zdb_volumes(&storage).await;
    assert_eq!(volumes.len(), 2, "{volumes:?}");
    let sizes: u64 = volumes.iter().map(|v| v.2).sum();
    assert_eq!(
        sizes,
        4 * GIB + 512 * MIB,
        "quotas are the namespaces' sizes"
    );

    // Pause freezes a namespace, resume thaws it.
    engine
        .enqueue(first.contract_id, JobKind::Pause)
        .await
        .unwrap();
    wait_states(&engine, user.id, first.contract_id, ResultState::Paused).await;
    let frozen = zdb_session(a.port, &a.namespace, Some("pw-a"), |con| {
        redis::cmd("SET")
            .arg("key")
            .arg("while paused")
            .query::<()>(con)
    })
    .expect_err("a paused namespace takes no writes");
    assert!(zdb_error(&frozen).contains("frozen"), "{frozen}");
    engine
        .enqueue(first.contract_id, JobKind::Resume)
        .await
        .unwrap();
    wait_states(&engine, user.id, first.contract_id, ResultState::Ok).await;
    zdb_session(a.port, &a.namespace, Some("pw-a"), |con| {
        redis::cmd("SET")
            .arg("key2")
            .arg("after resume")
            .query::<()>(con)
    })
    .expect("writes after resume");

    // An update grows a by 256 MiB and changes its password.
    let update = |mut next: Deployment| {
        let (chain, user, engine) = (&chain, &user, &engine);
        async move {
            chain
                .update_node_contract(&user.signer, next.contract_id, hash_bytes(&next), b"")
                .await
                .expect("contract update");
            next.signature_requirement.signatures.clear();
            next.sign_ed25519(user.id, &user.key).unwrap();
            engine.update(user.id, next.clone()).await.expect("update");
            let start = Instant::now();
            loop {
                let d = engine.get(user.id, next.contract_id).await.unwrap();
                if d.version == next.version {
                    break d;
                }
                assert!(start.elapsed() < WAIT, "update not applied: {d:#?}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    let mut next = first.clone();
    next.version = 1;
    next.workloads[0] = Workload {
        version: 1,
        ..zdb("a", 2 * GIB + 256 * MIB, "user", "pw-a2", false)
    };
    let grown = update(next).await;
    assert_eq!(grown.get("a").unwrap().result.state, ResultState::Ok);
    let volumes = zdb_volumes(&storage).await;
    let sizes: u64 = volumes.iter().map(|v| v.2).sum();
    assert_eq!(sizes, 4 * GIB + 768 * MIB, "{volumes:?}");
    assert!(zdb_session(a.port, &a.namespace, Some("pw-a"), |_| Ok(())).is_err());
    zdb_session(a.port, &a.namespace, Some("pw-a2"), |_| Ok(())).expect("new password");

    // A shrink (of b) is refused: b stays as it was (zos's `unchanged`, with the reason),
    // keeps its size and data, and is still billed for it.
    let mut next = grown.clone();
    next.version = 2;
    next.workloads[1] = Workload {
        version: 2,
        ..zdb("b", GIB, "seq", "", true)
    };
    let shrunk = update(next).await;
    let w = shrunk.get("b").unwrap();
    assert_eq!(w.result.state, ResultState::Unchanged, "{w:?}");
    assert!(
        w.result.message.contains("cannot shrink"),
        "{}",
        w.result.message
    );
    assert_eq!(w.version, 0, "the stored definition is the one that runs");
    assert_eq!(
        w,
        &Workload {
            result: w.result.clone(),
            ..first.get("b").unwrap().clone()
        }
    );
    let volumes = zdb_volumes(&storage).await;
    assert_eq!(
        volumes.iter().map(|v| v.2).sum::<u64>(),
        4 * GIB + 768 * MIB
    );
    let start = Instant::now();
    loop {
        let used = chain.contract_resources(first.contract_id).await.unwrap();
        if used.map(|u| u.hru) == Some(4 * GIB + 256 * MIB) {
            break;
        }
        assert!(start.elapsed() < WAIT, "a and b not billed: {used:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The init restarts a zdb killed with SIGKILL; what it acknowledged is there.
    let service = volumes
        .iter()
        .find(|v| {
            let path = node.zdb.services.join(format!("{}.yaml", v.0));
            std::fs::read_to_string(path)
                .map(|t| t.contains(&format!("--port {}", a.port)))
                .unwrap_or(false)
        })
        .expect("a's zdb service")
        .0
        .clone();
    let pid = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let c = String::from_utf8_lossy(&c);
                    c.contains(&node.zdb.run_dir.display().to_string())
                        && c.contains(&format!("{service}.sock"))
                })
                .unwrap_or(false)
        })
        .expect("a's zdb process");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let start = Instant::now();
    let value: Vec<u8> = loop {
        match zdb_session(a.port, &a.namespace, Some("pw-a2"), |con| {
            redis::cmd("GET").arg("key2").query(con)
        }) {
            Ok(v) => break v,
            Err(e) => assert!(start.elapsed() < WAIT, "zdb not back: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(value, b"after resume");

    // A job cut short after NSNEW leaves a namespace with 0-db's defaults (public, no
    // password, no size limit): re-provisioning puts the workload's settings back.
    let settings: provisiond::provision::zdb::Settings = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(&storage.volume_usage(&service).await.unwrap().path)
                .join(provisiond::provision::zdb::SETTINGS),
        )
        .unwrap(),
    )
    .unwrap();
    let admin = redis::Client::open(format!(
        "unix://{}",
        node.zdb.run_dir.join(format!("{service}.sock")).display()
    ))
    .unwrap();
    let mut admin = admin.get_connection().unwrap();
    redis::cmd("AUTH")
        .arg(&settings.admin)
        .query::<()>(&mut admin)
        .unwrap();
    for (property, value) in [("password", "*"), ("public", "1"), ("maxsize", "0")] {
        redis::cmd("NSSET")
            .arg(&a.namespace)
            .arg(property)
            .arg(value)
            .query::<()>(&mut admin)
            .unwrap();
    }
    zdb_session(a.port, &a.namespace, None, |_| Ok(())).expect("opened by the tampering");

    // A restart of provisiond provisions again: same ports, no new change.
    let changes = engine
        .changes(user.id, first.contract_id)
        .await
        .unwrap()
        .len();
    for t in tasks {
        t.abort();
    }
    drop(engine);
    let (engine, _tasks) = node.engine().await;
    assert_eq!(engine.requeue_active().await.unwrap(), 2);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = engine.get(user.id, first.contract_id).await.unwrap();
    assert_eq!(zdb_result(&again, "a").port, a.port);
    let start = Instant::now();
    while zdb_session(a.port, &a.namespace, None, |_| Ok(())).is_ok() {
        assert!(start.elapsed() < WAIT, "namespace a stays open");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    zdb_session(a.port, &a.namespace, Some("pw-a2"), |_| Ok(())).expect("its password again");
    assert_eq!(
        engine
            .changes(user.id, first.contract_id)
            .await
            .unwrap()
            .len(),
        changes
    );

    // Cancelling the first contract leaves c's zdb alone (its quota now c's size) and stops
    // the other one, whose volume goes.
    chain
        .cancel_contract(&user.signer, first.contract_id)
        .await
        .expect("cancel");
    wait_states(&engine, user.id, first.contract_id, ResultState::Deleted).await;
    let volumes = zdb_volumes(&storage).await;
    assert_eq!(volumes.len(), 1, "{volumes:?}");
    assert_eq!(volumes[0].2, 512 * MIB);
    let gone = if c.port == a.port { b.port } else { a.port };
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", gone as u16)).is_err(),
        "the empty zdb still listens"
    );
    zdb_session(c.port, &c.namespace, None, |con| {
        redis::cmd("PING").query::<()>(con)
    })
    .expect("c still served");

    chain
        .cancel_contract(&user.signer, second.contract_id)
        .await
        .expect("cancel");
    let start = Instant::now();
    while !zdb_volumes(&storage).await.is_empty() {
        assert!(start.elapsed() < WAIT, "the last zdb volume stays");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let services: Vec<_> = std::fs::read_dir(&node.zdb.services)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(services.is_empty(), "{services:?}");
}

/// The grace period as the chain runs it: the owner of a contract spends everything, the
/// runtime's billing finds the funds short and puts the contract in its grace period
/// (`ContractGracePeriodStarted`); the node pauses its workloads (the zdb namespace is frozen,
/// its data and the volume stay); funds come back, billing ends the grace period
/// (`ContractGracePeriodEnded`) and the workloads run again. Offchain workers do not run on the
/// local chain, so the test bills (`bill_contract_for_block`, as the workers would).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_period_pauses_until_funds_come_back() {
    zos_testkit::logs::init("provisiond=info,noded=info,zos_chain=warn");
    const MIB: u64 = 1 << 20;
    let node = LocalNode::with_hdds(8 * GIB, &[2 * GIB]).await;
    let (chain, node_id) = (node.chain.clone(), node.node_id);
    let user = funded_twin(&chain, 12).await;
    let (engine, _tasks) = node.engine().await;
    let alice = zos_chain::Signer::sr25519_from_uri("//Alice").unwrap();

    let mut d = deployment(
        user.id,
        vec![volume("data", GIB), zdb("z", 64 * MIB, "user", "pw", false)],
    );
    contract(&chain, &user, node_id, &mut d, &user.key).await;
    engine.deploy(user.id, d.clone()).await.expect("deploy");
    let d = wait_states(&engine, user.id, d.contract_id, ResultState::Ok).await;
    let z = zdb_result(&d, "z");
    zdb_session(z.port, &z.namespace, Some("pw"), |con| {
        redis::cmd("SET").arg("kept").arg("before").query::<()>(con)
    })
    .expect("write");
    // Billing needs the consumption on chain.
    let start = Instant::now();
    while chain
        .contract_resources(d.contract_id)
        .await
        .unwrap()
        .is_none_or(|u| u.sru != GIB)
    {
        assert!(start.elapsed() < WAIT, "consumption not on chain");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Bills until the contract is in `want` on chain; the bills it took.
    let bill_until = |want: fn(&zos_chain::ContractState) -> bool| {
        let (chain, alice) = (chain.clone(), alice.clone());
        async move {
            let start = Instant::now();
            let mut bills = 0;
            loop {
                let state = chain
                    .contract(d.contract_id)
                    .await
                    .unwrap()
                    .expect("contract")
                    .state;
                if want(&state) {
                    return bills;
                }
                assert!(start.elapsed() < WAIT, "contract stays {state:?}");
                chain
                    .bill_contract_for_block(&alice, d.contract_id)
                    .await
                    .expect("bill");
                bills += 1;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };

    // The owner spends everything: the next bill finds the funds short.
    chain
        .transfer_all(&user.signer, &alice.account_id(), true)
        .await
        .expect("transfer all");
    let bills = bill_until(|s| matches!(s, zos_chain::ContractState::GracePeriod(_))).await;
    eprintln!("grace period after {bills} bill(s)");
    wait_states(&engine, user.id, d.contract_id, ResultState::Paused).await;
    let frozen = zdb_session(z.port, &z.namespace, Some("pw"), |con| {
        redis::cmd("SET").arg("kept").arg("during").query::<()>(con)
    })
    .expect_err("a namespace in grace takes no writes");
    assert!(zdb_error(&frozen).contains("frozen"), "{frozen}");
    let conn = node.connect().await;
    let storage = StorageProxy::new(&conn).await.unwrap();
    assert!(
        storage
            .volumes()
            .await
            .unwrap()
            .iter()
            .any(|v| v.name == format!("{}-{}-data", user.id, d.contract_id)),
        "the volume stays in grace"
    );

    // Funds come back: billing ends the grace period, the workloads run again.
    chain
        .transfer_keep_alive(&alice, &user.signer.account_id(), 100 * zos_testkit::TFT)
        .await
        .expect("refund");
    let bills = bill_until(|s| matches!(s, zos_chain::ContractState::Created)).await;
    eprintln!("grace period ended after {bills} bill(s)");
    wait_states(&engine, user.id, d.contract_id, ResultState::Ok).await;
    let kept: Vec<u8> = zdb_session(z.port, &z.namespace, Some("pw"), |con| {
        redis::cmd("GET").arg("kept").query(con)
    })
    .expect("read after the grace period");
    assert_eq!(kept, b"before", "the data outlives the grace period");
    zdb_session(z.port, &z.namespace, Some("pw"), |con| {
        redis::cmd("SET").arg("kept").arg("after").query::<()>(con)
    })
    .expect("writes after the grace period");
}
