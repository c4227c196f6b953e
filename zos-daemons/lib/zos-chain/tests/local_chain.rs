//! Tests against the REAL TFChain runtime (pinned spec 144) run by chopsticks (`LocalChain`).
//! Needs `make deps` (npm ci in chain/, Node.js); fails with that message otherwise.

use std::time::Duration;

use zos_chain::{
    Chain, ContractKind, ContractResources, ContractState, Error, NodeEvent, NodeInput,
    NruConsumption, PublicIpInput, ReconnectPolicy, Resources, Signer,
};
use zos_testkit::LocalChain;
use zos_testkit::{alice, fresh_ed25519};

const GIB: u64 = 1 << 30;
/// 100 000 TFT (7 decimals): plenty for fees.
const FUNDING: u128 = 1_000_000_000_000;

async fn local_chain() -> (LocalChain, Chain) {
    zos_testkit::logs::init("zos_chain=info");
    let local = LocalChain::start().await.expect("start local chain");
    let chain = Chain::connect(&local.url()).await.expect("connect");
    (local, chain)
}

fn node_input(mru_gib: u64) -> NodeInput {
    NodeInput {
        serial_number: Some("SN-0001".into()),
        ..zos_testkit::node_input(Resources {
            hru: 2048 * GIB,
            sru: 512 * GIB,
            cru: 4,
            mru: mru_gib * GIB,
        })
    }
}

/// A funded ed25519 node key with accepted terms, a twin, and a node in `farm_id`.
async fn register_node(chain: &Chain, farm_id: u32) -> (Signer, u32, u32) {
    let node_key = fresh_ed25519();
    chain
        .transfer_keep_alive(&alice(), &node_key.account_id(), FUNDING)
        .await
        .expect("fund node account");
    chain
        .accept_tc(&node_key, zos_chain::TC_LINK, zos_chain::TC_HASH)
        .await
        .expect("node accepts T&C");
    let twin_id = chain
        .create_twin(&node_key, None, None)
        .await
        .expect("node twin");
    let node_id = chain
        .create_node(&node_key, farm_id, &node_input(8))
        .await
        .expect("create node");
    (node_key, twin_id, node_id)
}

/// Alice accepts terms, creates her twin and a farm; returns (twin, farm).
async fn alice_farm(chain: &Chain, name: &str) -> (u32, u32) {
    let alice = alice();
    chain
        .accept_tc(&alice, zos_chain::TC_LINK, zos_chain::TC_HASH)
        .await
        .expect("alice accepts T&C");
    let twin = chain
        .create_twin(&alice, None, None)
        .await
        .expect("alice twin");
    let farm = chain
        .create_farm(
            &alice,
            name,
            &[PublicIpInput {
                ip: "185.206.122.33/24".into(),
                gw: "185.206.122.1".into(),
            }],
        )
        .await
        .expect("create farm");
    (twin, farm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_chain_registration_flow() {
    let (_local, chain) = local_chain().await;
    let alice = alice();

    // Alice: twin and farm, read back.
    let (alice_twin, farm_id) = alice_farm(&chain, "farm_alice").await;
    let twin = chain
        .twin(alice_twin)
        .await
        .expect("read twin")
        .expect("twin exists");
    assert_eq!(twin.account_id, alice.account_id());
    assert_eq!(
        chain
            .twin_id_by_account(&alice.account_id())
            .await
            .expect("lookup"),
        Some(alice_twin)
    );
    let farm = chain
        .farm(farm_id)
        .await
        .expect("read farm")
        .expect("farm exists");
    assert_eq!(farm.name, "farm_alice");
    assert_eq!(farm.twin_id, alice_twin);
    assert_eq!(farm.public_ips.len(), 1);
    assert_eq!(farm.public_ips[0].ip, "185.206.122.33/24");
    assert_eq!(
        chain.farm_id_by_name("farm_alice").await.expect("by name"),
        Some(farm_id)
    );
    assert_eq!(
        chain
            .farm_id_by_name("no_such_farm")
            .await
            .expect("by name"),
        None
    );
    let farms = chain.farms().await.expect("list farms");
    assert!(farms.iter().any(|f| f.id == farm_id));

    // The node: a fresh ed25519 key funded by Alice.
    let (node_key, node_twin, node_id) = register_node(&chain, farm_id).await;
    // Funded by Alice, minus the fees of its three extrinsics.
    let balance = chain
        .free_balance(&node_key.account_id())
        .await
        .expect("balance");
    assert!(balance > 0 && balance < FUNDING, "balance {balance}");
    assert!(chain
        .has_accepted_tc(&node_key.account_id())
        .await
        .expect("tc"));
    let twin = chain
        .twin(node_twin)
        .await
        .expect("read")
        .expect("node twin exists");
    assert_eq!(twin.account_id.0, node_key.public_key());
    assert_eq!(
        chain.node_id_by_twin(node_twin).await.expect("lookup"),
        Some(node_id)
    );
    let node = chain
        .node(node_id)
        .await
        .expect("read node")
        .expect("node exists");
    assert_eq!(node.farm_id, farm_id);
    assert_eq!(node.twin_id, node_twin);
    assert_eq!(node.resources.mru, 8 * GIB);
    assert_eq!(node.resources.sru, 512 * GIB);
    assert_eq!(node.location.city, "Ghent");
    assert_eq!(node.interfaces[0].ips, vec!["10.0.2.15".to_string()]);
    assert_eq!(node.serial_number.as_deref(), Some("SN-0001"));
    assert!(node.virtualized);

    // Capacity changed: update, read back; the farm's node list has it.
    chain
        .update_node(&node_key, node_id, farm_id, &node_input(16))
        .await
        .expect("update node");
    let node = chain.node(node_id).await.expect("read").expect("exists");
    assert_eq!(node.resources.mru, 16 * GIB);
    let in_farm = chain.nodes(Some(farm_id)).await.expect("nodes of farm");
    assert_eq!(
        in_farm.iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![node_id]
    );
    assert_eq!(chain.nodes(None).await.expect("all nodes").len(), 1);

    // Uptime with the chain-time hint.
    chain.report_uptime(&node_key, 120).await.expect("uptime");

    // A pallet error is reported by name.
    let err = chain
        .create_node(&alice, 9999, &node_input(8))
        .await
        .expect_err("farm 9999 does not exist");
    assert!(
        matches!(&err, Error::Module { pallet, error, .. } if pallet == "TfgridModule" && error == "FarmNotExists"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "TfgridModule.FarmNotExists");

    // An unfunded key cannot pay fees.
    let poor = fresh_ed25519();
    let err = chain
        .accept_tc(&poor, zos_chain::TC_LINK, zos_chain::TC_HASH)
        .await
        .expect_err("unfunded account");
    assert!(matches!(err, Error::InsufficientFunds { .. }), "{err:?}");
    // ... and the client still works for others afterwards.
    assert!(chain.chain_time_ms().await.expect("time") > 0);

    // Several extrinsics from one signer in flight at once: all land.
    let dests: Vec<_> = (0..4).map(|_| fresh_ed25519().account_id()).collect();
    let (a, b, c, d) = tokio::join!(
        chain.transfer_keep_alive(&alice, &dests[0], FUNDING + 1),
        chain.transfer_keep_alive(&alice, &dests[1], FUNDING + 2),
        chain.transfer_allow_death(&alice, &dests[2], FUNDING + 3),
        chain.transfer_keep_alive(&alice, &dests[3], FUNDING + 4),
    );
    for (i, r) in [a, b, c, d].into_iter().enumerate() {
        r.unwrap_or_else(|e| panic!("transfer {i} failed: {e}"));
    }
    for (i, dest) in dests.iter().enumerate() {
        assert_eq!(
            chain.free_balance(dest).await.expect("balance"),
            FUNDING + 1 + i as u128
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_chain_contract_events_stream() {
    let (_local, chain) = local_chain().await;
    let (_, farm_id) = alice_farm(&chain, "farm_events").await;
    let (node_key, _node_twin, node_id) = register_node(&chain, farm_id).await;
    LocalChain::fund_billing_accounts(&chain)
        .await
        .expect("fund staking pool");

    let bob = Signer::sr25519_from_uri("//Bob").expect("dev key");
    chain
        .accept_tc(&bob, zos_chain::TC_LINK, zos_chain::TC_HASH)
        .await
        .expect("bob T&C");
    let bob_twin = chain.create_twin(&bob, None, None).await.expect("bob twin");

    let mut events = chain.subscribe_events(None).await.expect("subscribe");

    let hash = *b"0123456789abcdef0123456789abcdef";
    let contract_id = chain
        .create_node_contract(&bob, node_id, hash, b"{\"name\":\"vm1\"}", 0, None)
        .await
        .expect("create contract");
    let contract = chain
        .contract(contract_id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(contract.twin_id, bob_twin);
    assert_eq!(contract.state, ContractState::Created);
    assert!(
        matches!(&contract.kind, ContractKind::Node { node_id: n, deployment_hash, .. } if *n == node_id && *deployment_hash == hash)
    );
    assert_eq!(
        chain.node_contracts(node_id).await.expect("active"),
        vec![contract_id]
    );
    assert_eq!(
        chain.twin_contracts(bob_twin).await.expect("of twin").len(),
        1
    );

    let new_hash = *b"fedcba9876543210fedcba9876543210";
    chain
        .update_node_contract(&bob, contract_id, new_hash, b"{}")
        .await
        .expect("update contract");

    // The node reports what the contract uses; billing is triggered by hand (no offchain worker).
    chain
        .report_contract_resources(
            &node_key,
            &[ContractResources {
                contract_id,
                used: Resources {
                    hru: 0,
                    sru: 10 * GIB,
                    cru: 1,
                    mru: 2 * GIB,
                },
            }],
        )
        .await
        .expect("report resources");
    let now = chain.chain_time_ms().await.expect("time") / 1000;
    chain
        .add_nru_reports(
            &node_key,
            &[NruConsumption {
                contract_id,
                timestamp: now,
                window: 3600,
                nru: 1 << 20,
            }],
        )
        .await
        .expect("nru report");
    chain
        .bill_contract_for_block(&alice(), contract_id)
        .await
        .expect("bill");

    chain
        .cancel_contract(&bob, contract_id)
        .await
        .expect("cancel");
    assert!(chain
        .node_contracts(node_id)
        .await
        .expect("active")
        .is_empty());

    // The stream sees created, updated and canceled, in that order.
    let mut seen = Vec::new();
    let mut created_block = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !seen
        .iter()
        .any(|k| matches!(k, NodeEvent::NodeContractCanceled { .. }))
    {
        let ev = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("events within 60 s")
            .expect("stream open")
            .expect("decodable event");
        if let Some(kind) = ev.kind {
            if matches!(kind, NodeEvent::ContractCreated(_)) {
                created_block = Some(ev.block_number);
            }
            seen.push(kind);
        }
    }
    assert!(
        matches!(&seen[0], NodeEvent::ContractCreated(c) if c.contract_id == contract_id),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|k| matches!(k, NodeEvent::ContractUpdated(c) if c.contract_id == contract_id)),
        "{seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&NodeEvent::NodeContractCanceled {
            contract_id,
            node_id,
            twin_id: bob_twin
        })
    );

    // Resuming from a past block number replays it (missed blocks are fetched by number).
    let created_block = created_block.expect("created seen");
    let mut replay = chain
        .subscribe_events(Some(created_block))
        .await
        .expect("resubscribe");
    let first = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let ev = replay.next().await.expect("open").expect("decodable");
            if ev.kind.is_some() {
                return ev;
            }
        }
    })
    .await
    .expect("replayed event");
    assert_eq!(first.block_number, created_block);
    assert!(matches!(first.kind, Some(NodeEvent::ContractCreated(_))));
    assert_eq!(first.pallet, "SmartContractModule");
    assert_eq!(first.variant, "ContractCreated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_chain_reconnects_after_restart() {
    zos_testkit::logs::init("zos_chain=info");
    let mut local = LocalChain::start().await.expect("start local chain");
    let policy = ReconnectPolicy {
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
        give_up_after: Some(Duration::from_secs(3)),
    };
    let chain = Chain::connect_with(&local.url(), policy)
        .await
        .expect("connect");
    let alice = alice();
    chain
        .accept_tc(&alice, zos_chain::TC_LINK, zos_chain::TC_HASH)
        .await
        .expect("tc before");

    local.stop();
    let err = chain.chain_time_ms().await.expect_err("chain is down");
    assert!(err.is_connection(), "{err:?}");

    local.restart().await.expect("restart");
    // State is back at genesis (chopsticks keeps it in memory), and the client works again:
    // reads and a signed submission (nonces re-synced from the new chain).
    assert!(chain.chain_time_ms().await.expect("time after restart") > 0);
    chain
        .accept_tc(&alice, zos_chain::TC_LINK, zos_chain::TC_HASH)
        .await
        .expect("tc after");
    let twin = chain
        .create_twin(&alice, None, None)
        .await
        .expect("twin after");

    // chopsticks' dev RPCs go through the same connection.
    let before = chain.finalized_number().await.expect("head");
    chain
        .rpc_request("dev_newBlock", vec![serde_json::json!({ "count": 3 })])
        .await
        .expect("dev_newBlock");
    assert_eq!(chain.finalized_number().await.expect("head"), before + 3);
    assert_eq!(
        chain
            .twin_id_by_account(&alice.account_id())
            .await
            .expect("twin"),
        Some(twin)
    );
}

#[tokio::test]
async fn malformed_or_unreachable_url_gives_a_clear_error() {
    let err = Chain::connect("127.0.0.1:8040")
        .await
        .expect_err("no scheme");
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
    assert!(err.to_string().contains("ws://"), "{err}");

    // Nothing listens there (we bind and release a port): Connect error after the policy's budget.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let policy = ReconnectPolicy {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        give_up_after: Some(Duration::from_millis(600)),
    };
    let started = std::time::Instant::now();
    let err = Chain::connect_with(&format!("ws://127.0.0.1:{port}"), policy)
        .await
        .expect_err("nothing listens");
    assert!(
        matches!(err, Error::Connect { attempts, .. } if attempts >= 2),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
