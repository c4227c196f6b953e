//! `make bench-deploy`: provisiond's latency against the bare storaged call it makes, in one run
//! on the real path (LocalChain, storaged on a loop device, noded's service; root).
//!
//! 1. Baseline: `CreateVolume` + `DeleteVolume` of a 1 GiB volume straight on storaged's bus.
//! 2. provisiond: a one-volume deployment sent to the engine (signature check with the twin's key
//!    read from the chain, the contract read from the chain, capacity) until its workload is
//!    `ok`, then its removal; the contract is created beforehand (the user's step, not timed).
//! 3. 1000 deployments stored (as accepted requests), then a restart of the engine that provisions
//!    all of them again (the volumes exist already: the idempotent path a reboot takes).

use std::time::{Duration, Instant};

use gridtypes::{Deployment, ResultState, GIB, MIB};
use provisiond::engine::Engine;
use provisiond::store::{JobKind, Store};
use zos_bus::StorageProxy;
use zos_testkit::deployments::{contract, deployment, volume};
use zos_testkit::{funded_twin, LocalNode};

const SAMPLES: usize = 20;
const MANY: u64 = 1000;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn wait_state(engine: &Engine, twin: u32, contract: u64, want: ResultState) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = engine.get(twin, contract).await.expect("get");
        if d.workloads.iter().all(|w| w.result.state == want) {
            return;
        }
        assert!(Instant::now() < deadline, "not {want:?}: {d:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let node = LocalNode::start(64 * GIB).await;
    let chain = node.chain.clone();
    let user = funded_twin(&chain, 9).await;
    let conn = node.connect().await;
    let storage = StorageProxy::new(&conn).await.expect("storaged");

    // 1. The bare storaged call.
    let mut bare = Vec::new();
    for i in 0..SAMPLES {
        let name = format!("bare-{i}");
        let t = Instant::now();
        storage
            .create_volume(&name, GIB, "ssd")
            .await
            .expect("create");
        bare.push(t.elapsed());
        storage.delete_volume(&name).await.expect("delete");
    }
    let bare = median(bare);

    // 2. Through provisiond.
    let (engine, tasks) = node.engine().await;
    let mut deployments: Vec<Deployment> = Vec::new();
    for i in 0..SAMPLES {
        let mut d = deployment(user.id, vec![volume(&format!("v{i}"), GIB)]);
        contract(&chain, &user, node.node_id, &mut d, &user.key).await;
        deployments.push(d);
    }
    let mut engine_times = Vec::new();
    for d in &deployments {
        let t = Instant::now();
        engine.deploy(user.id, d.clone()).await.expect("deploy");
        wait_state(&engine, user.id, d.contract_id, ResultState::Ok).await;
        engine_times.push(t.elapsed());
        engine
            .enqueue(
                d.contract_id,
                JobKind::Deprovision {
                    reason: "benchmark".into(),
                },
            )
            .await
            .expect("remove");
        wait_state(&engine, user.id, d.contract_id, ResultState::Deleted).await;
    }
    let through = median(engine_times);
    for t in tasks {
        t.abort();
    }
    drop(engine);

    // 3. 1000 deployments stored, provisioned, then provisioned again after a restart.
    let mut store = Store::open(&node.state).expect("store");
    let t = Instant::now();
    for i in 0..MANY {
        let mut d = deployment(user.id, vec![volume("data", 16 * MIB)]);
        d.contract_id = 1_000_000 + i;
        store.create(&d).expect("store");
    }
    let stored = t.elapsed();
    drop(store);
    let wait_all_ok = |engine: std::sync::Arc<Engine>| async move {
        loop {
            let active = engine.active().await.expect("active");
            let ok = active
                .iter()
                .filter(|d| {
                    d.workloads
                        .iter()
                        .all(|w| w.result.state == ResultState::Ok)
                })
                .count();
            if ok as u64 >= MANY {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let t = Instant::now();
    let (engine, tasks) = node.engine().await;
    wait_all_ok(engine.clone()).await;
    let first = t.elapsed();
    for t in tasks {
        t.abort();
    }
    drop(engine);
    let t = Instant::now();
    let (engine, _tasks) = node.engine().await;
    let requeued = engine.requeue_active().await.expect("requeue");
    // Wait until the queue is drained: every requeued job has run.
    loop {
        let jobs_left = Store::open(&node.state)
            .expect("store")
            .next_job()
            .expect("jobs")
            .is_some();
        if !jobs_left {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = t.elapsed();

    println!("one-volume deployment, {SAMPLES} samples (medians):");
    println!(
        "  bare storaged CreateVolume:          {:>8.2} ms",
        bare.as_secs_f64() * 1e3
    );
    println!(
        "  provisiond request -> ok (chain read): {:>6.2} ms",
        through.as_secs_f64() * 1e3
    );
    println!(
        "  ratio provisiond/storaged:            {:>6.2}",
        through.as_secs_f64() / bare.as_secs_f64()
    );
    println!("{MANY} deployments:");
    println!(
        "  stored:                          {:>8.2} s",
        stored.as_secs_f64()
    );
    println!(
        "  first provisioning:              {:>8.2} s",
        first.as_secs_f64()
    );
    println!(
        "  re-provisioned after a restart:  {:>8.2} s ({requeued} deployments)",
        again.as_secs_f64()
    );
}
