//! zos's `Deployment.Upgrade` rules and the engine's update checks.

mod common;

use gridtypes::{
    check_updatable, sort_ops, Deployment, OpKind, ResultState, Timestamp, UpgradeError,
    WorkloadResult, WorkloadType,
};
use serde_json::json;

fn deployed() -> Deployment {
    let mut d = common::full();
    for wl in &mut d.workloads {
        wl.result = WorkloadResult::ok(Timestamp(1_700_000_000), json!({"id": wl.name}));
    }
    d
}

fn next(d: &Deployment) -> Deployment {
    let mut n = d.clone();
    n.version += 1;
    for wl in &mut n.workloads {
        wl.result = WorkloadResult::default();
    }
    n
}

fn kinds(ops: &[gridtypes::UpgradeOp]) -> Vec<(OpKind, String)> {
    ops.iter().map(|o| (o.kind, o.name.clone())).collect()
}

#[test]
fn nothing_changed_is_no_op_and_keeps_results() {
    let old = deployed();
    let mut new = next(&old);
    let ops = old.upgrade(&mut new).unwrap();
    assert!(ops.is_empty());
    for (a, b) in old.workloads.iter().zip(&new.workloads) {
        assert_eq!(a.result, b.result);
    }
}

#[test]
fn add_update_remove() {
    let old = deployed();
    let mut new = next(&old);
    new.workloads.retain(|w| w.name != "vol");
    let d = new.get_mut("data").unwrap();
    d.version = 1;
    d.data = json!({"size": 20 * common::GIB});
    let mut extra = new.get("db").unwrap().clone();
    extra.name = "db2".into();
    extra.version = 1;
    new.workloads.push(extra);

    let mut ops = old.upgrade(&mut new).unwrap();
    assert_eq!(
        kinds(&ops),
        vec![
            (OpKind::Update, "data".into()),
            (OpKind::Add, "db2".into()),
            (OpKind::Remove, "vol".into()),
        ]
    );
    assert_eq!(ops[0].id.to_string(), "41-1207-data");
    check_updatable(&ops, WorkloadType::can_update).unwrap();
    sort_ops(&mut ops);
    assert_eq!(ops[0].kind, OpKind::Remove);
    assert_eq!(
        kinds(&ops)[1..],
        [(OpKind::Update, "data".into()), (OpKind::Add, "db2".into())]
    );
    // updated workloads keep their old result until the engine writes a new one
    assert_eq!(new.get("data").unwrap().result.state, ResultState::Ok);
    assert!(new.get("db2").unwrap().result.is_nil());
}

#[test]
fn version_rules() {
    let old = deployed();
    for v in [0, 2, 7] {
        let mut new = next(&old);
        new.version = v;
        for w in &mut new.workloads {
            w.version = 0;
        }
        assert_eq!(
            old.upgrade(&mut new),
            Err(UpgradeError::Version {
                expected: 1,
                got: v
            })
        );
    }
    // a new workload must carry the new version
    let mut new = next(&old);
    let mut extra = new.get("db").unwrap().clone();
    extra.name = "late".into();
    new.workloads.push(extra);
    assert_eq!(
        old.upgrade(&mut new),
        Err(UpgradeError::NewWorkloadVersion {
            name: "late".into(),
            expected: 1
        })
    );
    // and no workload may be above the deployment
    let mut new = next(&old);
    new.workloads[0].version = 2;
    assert!(matches!(
        old.upgrade(&mut new),
        Err(UpgradeError::Invalid(_))
    ));
}

#[test]
fn ids_and_types_cannot_change() {
    let old = deployed();
    let mut new = next(&old);
    new.twin_id = 42;
    assert_eq!(old.upgrade(&mut new), Err(UpgradeError::IdChanged));
    let mut new = next(&old);
    new.contract_id = 1;
    assert_eq!(old.upgrade(&mut new), Err(UpgradeError::IdChanged));
    let mut new = next(&old);
    let w = new.get_mut("vol").unwrap();
    w.workload_type = WorkloadType::ZMount;
    assert_eq!(
        old.upgrade(&mut new),
        Err(UpgradeError::TypeChanged("vol".into()))
    );
}

#[test]
fn non_updatable_types_reject_the_update() {
    let old = deployed();
    for name in ["vm", "pip", "old4", "gw1", "gw2", "logs"] {
        let mut new = next(&old);
        new.get_mut(name).unwrap().version = 1;
        let ops = old.upgrade(&mut new).unwrap();
        assert_eq!(ops.len(), 1);
        let err = check_updatable(&ops, WorkloadType::can_update).unwrap_err();
        assert!(matches!(err, UpgradeError::NotUpdatable { .. }), "{name}");
        assert!(err.to_string().contains("does not support upgrade"));
    }
    for name in ["data", "vol", "db", "net1", "qs"] {
        let mut new = next(&old);
        new.get_mut(name).unwrap().version = 1;
        let ops = old.upgrade(&mut new).unwrap();
        check_updatable(&ops, WorkloadType::can_update).unwrap();
    }
    // removing a non-updatable workload is fine
    let mut new = next(&old);
    new.workloads.retain(|w| w.name != "logs");
    let ops = old.upgrade(&mut new).unwrap();
    check_updatable(&ops, WorkloadType::can_update).unwrap();
}

#[test]
fn capacity_counts_only_running_workloads() {
    let mut d = deployed();
    let all = d.used_capacity().unwrap();
    // 2 cpu (vm) + 1 (qsfs)
    assert_eq!(all.cru, 3);
    assert_eq!(all.ipv4u, 2);
    assert_eq!(all.hru, common::GIB);
    d.get_mut("vm").unwrap().result.state = ResultState::Paused;
    assert_eq!(d.used_capacity().unwrap(), all);
    d.get_mut("vm").unwrap().result.state = ResultState::Error;
    assert_eq!(d.used_capacity().unwrap().cru, 1);
    assert!(d.is_active());
    d.set_error("contract hash does not match deployment hash");
    assert!(!d.is_active());
    assert_eq!(
        d.workloads[0].result.message,
        "contract hash does not match deployment hash"
    );
}
