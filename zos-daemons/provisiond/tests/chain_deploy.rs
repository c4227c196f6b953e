//! provisiond's engine on the real path: the real TFChain runtime (LocalChain, chopsticks from
//! `make deps`), a real storaged (in-process, pools on loop devices: root), noded's real bus
//! service submitting consumption reports with the node's key, on a private busd. A user twin
//! creates node contracts and deploys volumes and zmounts, then updates them; bad requests change nothing;
//! consumption reaches the chain; a restart provisions again without changes; cancelling the
//! contract removes everything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use gridtypes::types::{Volume, ZMount};
use gridtypes::{Deployment, ResultState, Workload, WorkloadData, WorkloadType, GIB, TIB};
use provisiond::api::{Api, ChainKeys};
use provisiond::chain::{ChainView, CheckError};
use provisiond::engine::{Engine, EngineError};
use provisiond::events;
use provisiond::store::Store;
use storaged::testing::Env;
use tokio::sync::watch;
use zos_bus::node::registration;
use zos_bus::testing::PrivateBus;
use zos_bus::{RegistrationStatus, StorageProxy};
use zos_chain::{Chain, LocalChain, Location, NodeInput, Resources, Signer};

const TFT: u128 = 10_000_000;
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

/// A twin with an ed25519 key (the signer for chain calls, the key for deployment signatures).
struct Twin {
    id: u32,
    key: SigningKey,
    signer: Signer,
}

async fn funded_twin(chain: &Chain, seed: u8) -> Twin {
    let alice = Signer::sr25519_from_uri("//Alice").unwrap();
    let key = SigningKey::from_bytes(&[seed; 32]);
    let signer = Signer::ed25519_from_seed(&[seed; 32]);
    chain
        .transfer_keep_alive(&alice, &signer.account_id(), 1_000 * TFT)
        .await
        .expect("fund twin");
    let id = chain.ensure_twin(&signer).await.expect("twin");
    Twin { id, key, signer }
}

/// A node in a farm of //Alice, registered directly on the chain.
async fn node(chain: &Chain) -> (u32, Signer) {
    let alice = Signer::sr25519_from_uri("//Alice").unwrap();
    chain.ensure_twin(&alice).await.expect("alice twin");
    let farm = chain
        .create_farm(&alice, "provision-farm", &[])
        .await
        .expect("farm");
    let node = funded_twin(chain, 3).await;
    let input = NodeInput {
        resources: Resources {
            hru: 0,
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
        .create_node(&node.signer, farm, &input)
        .await
        .expect("node");
    (id, node.signer)
}

fn deployment(twin: u32, workloads: Vec<Workload>) -> Deployment {
    let mut d = Deployment {
        twin_id: twin,
        workloads,
        ..Default::default()
    };
    d.signature_requirement
        .requests
        .push(gridtypes::SignatureRequest {
            twin_id: twin,
            required: false,
            weight: 1,
        });
    d.signature_requirement.weight_required = 1;
    d
}

fn volume(name: &str, size: u64) -> Workload {
    Workload::new(name, &WorkloadData::Volume(Volume { size }))
}

fn zmount(name: &str, size: u64) -> Workload {
    Workload::new(name, &WorkloadData::ZMount(ZMount { size }))
}

/// Creates `owner`'s node contract for `d` (its hash as zos stores it) and signs `d` with
/// `signer_key`.
async fn contract(
    chain: &Chain,
    owner: &Twin,
    node: u32,
    d: &mut Deployment,
    signer_key: &SigningKey,
) {
    let hash = d.challenge_hash_hex().expect("hash");
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(hash.as_bytes());
    d.contract_id = chain
        .create_node_contract(&owner.signer, node, bytes, b"", 0, None)
        .await
        .expect("contract");
    d.signature_requirement.signatures.clear();
    d.sign_ed25519(d.twin_id, signer_key).expect("sign");
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
    let mut local = LocalChain::start().await.expect("local chain (make deps)");
    let chain = Chain::connect(&local.url()).await.expect("connect");
    LocalChain::fund_billing_accounts(&chain)
        .await
        .expect("billing accounts");
    let (node_id, node_signer) = node(&chain).await;
    let user = funded_twin(&chain, 9).await;
    let other = funded_twin(&chain, 10).await;

    // The node's daemons on a private bus: storaged with a 16 GiB SSD pool, noded's service
    // (registered as node_id) reporting with the node's key.
    let bus = PrivateBus::start().expect("private bus (make deps)");
    let mut env = Env::new();
    env.add_disk(16 * GIB, false);
    let _storaged = env.serve(bus.address()).await;
    let (_status, status_rx) = watch::channel(RegistrationStatus {
        state: registration::REGISTERED.into(),
        node_id,
        ..Default::default()
    });
    let noded_conn = zos_bus::connect_to(bus.address()).await.unwrap();
    let reporter = noded::consumption::ContractReporter::new(local.url(), node_signer);
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
            Some(Arc::new(reporter)),
        ),
    )
    .await
    .expect("noded service");

    let conn = zos_bus::connect_to(bus.address()).await.unwrap();
    let storage = StorageProxy::new(&conn).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("provisiond.sqlite");
    let start_engine = |conn: zbus::Connection| {
        let engine = Engine::new(
            Store::open(&state).expect("store"),
            ChainView::new(chain.clone()),
            conn,
            node_id,
            None,
        );
        let tasks = [
            tokio::spawn(engine.clone().run()),
            tokio::spawn(events::follow(engine.clone())),
        ];
        (engine, tasks)
    };
    let (engine, tasks) = start_engine(conn.clone());

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
    let hash = theirs.challenge_hash_hex().unwrap();
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(hash.as_bytes());
    theirs.contract_id = chain
        .create_node_contract(&other.signer, node_id, bytes, b"", 0, None)
        .await
        .unwrap();
    theirs.sign_ed25519(user.id, &user.key).unwrap();
    let err = engine.deploy(user.id, theirs).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Contract(CheckError::OtherTwin { .. })),
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(zos_api::serve(
        listener,
        zos_api::ServerConfig::default(),
        Arc::new(ChainKeys::new(engine.clone())),
        Arc::new(Api::new(engine.clone(), conn.clone())),
        std::future::pending(),
    ));
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
    let hash = next.challenge_hash_hex().unwrap();
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(hash.as_bytes());
    chain
        .update_node_contract(&user.signer, good.contract_id, bytes, b"")
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

    // A restart provisions again, idempotently: no new result.
    let changes = engine
        .changes(user.id, good.contract_id)
        .await
        .unwrap()
        .len();
    assert_eq!(
        changes,
        4 + 2,
        "init and ok of two workloads, then the two updated ones"
    );
    for t in tasks {
        t.abort();
    }
    drop(engine);
    let (engine, _tasks) = start_engine(conn.clone());
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
    local.stop();
}
