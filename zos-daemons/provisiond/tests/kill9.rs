//! The provisiond binary killed with SIGKILL at random points of deploy, update and cancel, 50
//! rounds, on the real path: the real TFChain runtime (LocalChain), storaged on loop devices
//! (an SSD and an HDD pool), zdb under our init, noded's service reporting consumption, a
//! private busd; requests through the node API as a grid client sends them.
//!
//! Each round starts one request (deploy a volume + zmount + zdb namespace; update: grow the
//! namespace and add or remove a volume; cancel the contract on chain), kills provisiond by pid
//! after a random delay (seeded: the seed is printed, `KILL9_SEED=N` replays it), starts it
//! again and checks: a request answered before the kill is not lost; a client resending an
//! unanswered request gets it applied once; then the store, the chain's contracts and what
//! exists on the node (volumes, vdisks, zdb namespaces, init services) agree, with no orphan and
//! no workload without its record, the change history ends with each workload's result, and
//! the consumption on chain right after the restart is the stored deployment's.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use gridtypes::{Deployment, ResultState, Workload, GIB};
use zos_bus::StorageProxy;
use zos_testkit::deployments::{contract, deployment, hash_bytes, volume, zdb, zmount};
use zos_testkit::{funded_twin, LocalNode};

const ROUNDS: usize = 50;
const MIB: u64 = 1 << 20;
const WAIT: Duration = Duration::from_secs(60);
const MAX_DELAY_MS: u64 = 900;
const MAX_ACTIVE: usize = 3;

/// splitmix64: small, seeded, replayable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn client(p: &zos_testkit::Provisiond, user: &zos_testkit::Twin) -> zos_api::Client {
    zos_api::Client::new(&p.url, user.signer.clone(), user.id).expect("client")
}

async fn get(c: &zos_api::Client, contract: u64) -> Option<Deployment> {
    c.call(
        "zos.deployment.get",
        serde_json::json!({ "contract_id": contract }),
    )
    .await
    .ok()
}

/// The next version of `d`: the namespace grows by 16 MiB, the volume `x` comes or goes.
fn next_version(d: &Deployment) -> Deployment {
    let mut next = d.clone();
    next.version += 1;
    let v = next.version;
    next.workloads.retain(|w| w.name != "x");
    let z = d.get("z").expect("z");
    let size = z.capacity().expect("capacity").hru + 16 * MIB;
    for w in &mut next.workloads {
        w.result = Default::default();
        if w.name == "z" {
            *w = Workload {
                version: v,
                ..zdb("z", size, "user", "pw", false)
            };
        }
    }
    if d.get("x").is_none() {
        next.workloads.push(Workload {
            version: v,
            ..volume("x", 128 * MIB)
        });
    }
    next
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisiond_killed_at_random_points() {
    zos_testkit::logs::init("provisiond=warn,zos_chain=warn");
    let seed = std::env::var("KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("kill9: seed {seed} (KILL9_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let node = LocalNode::with_hdds(8 * GIB, &[4 * GIB]).await;
    let (chain, node_id) = (node.chain.clone(), node.node_id);
    let user = funded_twin(&chain, 12).await;
    let conn = node.connect().await;
    let storage = StorageProxy::new(&conn).await.unwrap();
    let mut p = node.provisiond();
    let logs = |p: &zos_testkit::Provisiond| {
        let init = node.init.as_ref().map(|i| i.log_tail()).unwrap_or_default();
        format!("{}\n{init}", p.log_tail())
    };

    // What the client knows was asked for: active deployments (last version) and cancelled ones.
    let mut model: BTreeMap<u64, Deployment> = BTreeMap::new();
    let mut gone: BTreeSet<u64> = BTreeSet::new();
    let names = ["deploy", "update", "cancel"];
    let mut kills = [0u32; 3];
    let mut answered = [0u32; 3];
    let mut resent = 0u32;
    let mut worst_report = Duration::ZERO;
    let started = Instant::now();

    for round in 0..ROUNDS {
        let phase = match model.len() {
            0 => 0,
            n if n >= MAX_ACTIVE => 1 + (rng.next() % 2) as usize,
            _ => (rng.next() % 3) as usize,
        };
        let delay = Duration::from_millis(rng.next() % MAX_DELAY_MS);
        let c = client(&p, &user);
        // The request, in flight while the delay runs; `want` is what the client asks for.
        let (contract_id, want, task) = match phase {
            0 => {
                let mut d = deployment(
                    user.id,
                    vec![
                        volume("v", 256 * MIB),
                        zmount("m", 256 * MIB),
                        zdb("z", 64 * MIB, "user", "pw", false),
                    ],
                );
                // A node contract's hash is unique on the node.
                d.description = format!("kill9 round {round}");
                contract(&chain, &user, node_id, &mut d, &user.key).await;
                let (c, body) = (c.clone(), d.clone());
                let task = tokio::spawn(async move {
                    c.call::<serde_json::Value>("zos.deployment.deploy", &body)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                });
                (d.contract_id, Some(d), task)
            }
            1 => {
                let pick = (rng.next() % model.len() as u64) as usize;
                let old = model.values().nth(pick).unwrap().clone();
                let mut next = next_version(&old);
                chain
                    .update_node_contract(&user.signer, next.contract_id, hash_bytes(&next), b"")
                    .await
                    .expect("contract update");
                next.signature_requirement.signatures.clear();
                next.sign_ed25519(user.id, &user.key).unwrap();
                let (c, body) = (c.clone(), next.clone());
                let task = tokio::spawn(async move {
                    c.call::<serde_json::Value>("zos.deployment.update", &body)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                });
                (next.contract_id, Some(next), task)
            }
            _ => {
                let pick = (rng.next() % model.len() as u64) as usize;
                let id = *model.keys().nth(pick).unwrap();
                let (chain, signer) = (chain.clone(), user.signer.clone());
                let task = tokio::spawn(async move {
                    chain
                        .cancel_contract(&signer, id)
                        .await
                        .map_err(|e| e.to_string())
                });
                (id, None, task)
            }
        };
        tokio::time::sleep(delay).await;
        let done_before_kill = task.is_finished();
        p.kill9();
        kills[phase] += 1;
        let outcome = task.await.expect("request task");
        let accepted = done_before_kill && outcome.is_ok();
        if accepted {
            answered[phase] += 1;
        }
        if phase == 2 {
            // The chain's call is the client's; it completes whatever the node does.
            outcome.unwrap_or_else(|e| panic!("round {round}: cancel: {e}"));
        }

        let restarted = Instant::now();
        p = node.provisiond();
        let c = client(&p, &user);
        if accepted && phase < 2 {
            assert!(
                get(&c, contract_id).await.is_some(),
                "round {round} (seed {seed}): an accepted {} is lost",
                names[phase]
            );
        }
        // A client resends what was not answered; what the node had already taken is not
        // taken twice (deploy: "exists"; update: a second job of the same version is a no-op).
        if let (Some(want), false) = (&want, accepted) {
            let method = if phase == 0 { "deploy" } else { "update" };
            match c
                .call::<serde_json::Value>(&format!("zos.deployment.{method}"), want)
                .await
            {
                Ok(_) => resent += 1,
                Err(e) if phase == 0 && e.to_string().contains("exists") => {}
                Err(e) if phase == 1 => {
                    // Refused only because the first one was applied meanwhile.
                    let now = get(&c, contract_id).await.expect("deployment");
                    assert_eq!(now.version, want.version, "round {round}: update: {e}");
                }
                Err(e) => panic!("round {round} (seed {seed}): {method}: {e}"),
            }
        }
        match want {
            Some(d) => {
                model.insert(contract_id, d);
            }
            None => {
                model.remove(&contract_id);
                gone.insert(contract_id);
            }
        }

        // Converged: every active deployment at its version with every workload ok, every
        // cancelled one deleted.
        let deadline = Instant::now() + WAIT;
        let stored: BTreeMap<u64, Deployment> = loop {
            let mut ready = BTreeMap::new();
            let mut waiting = Vec::new();
            for (id, want) in &model {
                match get(&c, *id).await {
                    Some(d)
                        if d.version == want.version
                            && d.workloads.len() == want.workloads.len()
                            && d.workloads
                                .iter()
                                .all(|w| w.result.state == ResultState::Ok) =>
                    {
                        ready.insert(*id, d);
                    }
                    Some(d) => waiting.push(format!(
                        "{id} v{} (want v{}): {:?}",
                        d.version,
                        want.version,
                        d.workloads
                            .iter()
                            .map(|w| format!(
                                "{} {:?} {}",
                                w.name, w.result.state, w.result.message
                            ))
                            .collect::<Vec<_>>()
                    )),
                    None => waiting.push(format!("{id}: not on the node")),
                }
            }
            let mut deleted = true;
            for id in &gone {
                deleted &= get(&c, *id).await.is_some_and(|d| {
                    d.workloads
                        .iter()
                        .all(|w| w.result.state == ResultState::Deleted)
                });
            }
            if ready.len() == model.len() && deleted {
                break ready;
            }
            assert!(
                Instant::now() < deadline,
                "round {round} (seed {seed}, {} killed after {delay:?}): not converged: {waiting:?}\n{}",
                names[phase],
                logs(&p)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };

        // The store, the chain and the node agree.
        let listed: Vec<Deployment> = c
            .call("zos.deployment.list", serde_json::Value::Null)
            .await
            .expect("list");
        let listed: BTreeSet<u64> = listed.iter().map(|d| d.contract_id).collect();
        let want_ids: BTreeSet<u64> = model.keys().copied().collect();
        assert_eq!(listed, want_ids, "round {round} (seed {seed}): store");
        let on_chain: BTreeSet<u64> = chain
            .node_contracts(node_id)
            .await
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(on_chain, want_ids, "round {round} (seed {seed}): chain");
        let named = |kind: &str| -> BTreeSet<String> {
            stored
                .values()
                .flat_map(|d| {
                    d.workloads
                        .iter()
                        .filter(|w| w.workload_type.to_string() == kind)
                        .map(|w| format!("{}-{}-{}", d.twin_id, d.contract_id, w.name))
                })
                .collect()
        };
        let volumes = storage.volumes().await.unwrap();
        let user_volumes: BTreeSet<String> = volumes
            .iter()
            .map(|v| v.name.clone())
            .filter(|n| !n.starts_with("zdb-"))
            .collect();
        assert_eq!(
            user_volumes,
            named("volume"),
            "round {round} (seed {seed}): volumes"
        );
        let vdisks: BTreeSet<String> = storage
            .vdisks()
            .await
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(
            vdisks,
            named("zmount"),
            "round {round} (seed {seed}): vdisks"
        );
        let zdb_volumes: Vec<_> = volumes
            .iter()
            .filter(|v| v.name.starts_with("zdb-"))
            .collect();
        let services: BTreeSet<String> = std::fs::read_dir(&node.zdb.services)
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .replace(".yaml", "")
            })
            .collect();
        let mut namespaces = BTreeSet::new();
        for v in &zdb_volumes {
            let path = storage.volume_usage(&v.name).await.unwrap().path;
            let settings: provisiond::provision::zdb::Settings = serde_json::from_slice(
                &std::fs::read(
                    std::path::Path::new(&path).join(provisiond::provision::zdb::SETTINGS),
                )
                .unwrap(),
            )
            .unwrap();
            let admin = ::zdb::admin::AdminClient::new(
                node.zdb.run_dir.join(format!("{}.sock", v.name)),
                settings.admin,
            );
            let listed = admin.list().await.unwrap_or_else(|e| {
                panic!(
                    "round {round} (seed {seed}, {} killed after {delay:?}): zdb volume {} \
                     (services {services:?}, want namespaces {:?}): {e:?}\n{}",
                    names[phase],
                    v.name,
                    named("zdb"),
                    logs(&p)
                )
            });
            for ns in listed {
                assert!(
                    namespaces.insert(ns.clone()),
                    "round {round}: namespace {ns} twice"
                );
            }
        }
        namespaces.remove("default");
        assert_eq!(
            namespaces,
            named("zdb"),
            "round {round} (seed {seed}): namespaces"
        );
        let zdb_names: BTreeSet<String> = zdb_volumes.iter().map(|v| v.name.clone()).collect();
        assert_eq!(
            services, zdb_names,
            "round {round} (seed {seed}): init services"
        );
        assert_eq!(
            zdb_names.is_empty(),
            namespaces.is_empty(),
            "round {round} (seed {seed}): a zdb volume without namespaces"
        );
        for d in stored.values() {
            let changes: Vec<Workload> = c
                .call(
                    "zos.deployment.changes",
                    serde_json::json!({ "contract_id": d.contract_id }),
                )
                .await
                .expect("changes");
            for w in &d.workloads {
                let last = changes
                    .iter()
                    .rev()
                    .find(|c| c.name == w.name)
                    .unwrap_or_else(|| panic!("round {round}: {} has no record", w.name));
                assert_eq!(
                    (last.version, &last.result.state),
                    (w.version, &w.result.state),
                    "round {round} (seed {seed}): {} of {}: history",
                    w.name,
                    d.contract_id
                );
            }
            // Consumption on chain: the stored deployment's, soon after the restart.
            let used = d.used_capacity().unwrap();
            loop {
                let on_chain = chain.contract_resources(d.contract_id).await.unwrap();
                if on_chain.is_some_and(|r| r.sru == used.sru && r.hru == used.hru) {
                    break;
                }
                assert!(
                    restarted.elapsed() < WAIT,
                    "round {round} (seed {seed}): consumption of {}: {on_chain:?}, want {used:?}",
                    d.contract_id
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            worst_report = worst_report.max(restarted.elapsed());
        }
    }
    println!(
        "kill9: {ROUNDS} rounds in {:.1} s, seed {seed}; kills: deploy {}, update {}, cancel {}; \
         answered before the kill: deploy {}, update {}, cancel {}; resent by the client {resent}; \
         recoveries {ROUNDS}; consumption right after restart within {:.1} s; {} deployments \
         active, {} cancelled",
        started.elapsed().as_secs_f64(),
        kills[0],
        kills[1],
        kills[2],
        answered[0],
        answered[1],
        answered[2],
        worst_report.as_secs_f64(),
        model.len(),
        gone.len()
    );
}
