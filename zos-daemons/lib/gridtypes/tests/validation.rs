//! Every validation rule of zos's `Deployment.Valid` and the types' `Valid`.

mod common;

use common::{edit, full, full_json, wl, GIB};
use gridtypes::{DataError, Deployment, InvalidData, NameError, ValidationError, WorkloadType};
use serde_json::json;

/// An edit of a workload's data JSON.
type Edit = fn(&mut serde_json::Value);

fn invalid(dl: &Deployment) -> InvalidData {
    match dl.validate() {
        Err(ValidationError::Invalid { source, .. }) => source,
        other => panic!("expected invalid data, got {other:?}"),
    }
}

#[test]
fn the_full_deployment_is_valid() {
    full().validate().unwrap();
    full().validate_create().unwrap();
}

#[test]
fn workload_version_not_above_deployment() {
    let mut dl = full();
    dl.workloads[3].version = 1;
    let err = dl.validate().unwrap_err();
    assert!(matches!(
        err,
        ValidationError::WorkloadVersion {
            version: 1,
            deployment_version: 0,
            ..
        }
    ));
    assert!(err
        .to_string()
        .contains("cannot be higher than deployment version"));
    dl.version = 1;
    dl.validate().unwrap();
    assert_eq!(dl.validate_create(), Err(ValidationError::CreateVersion(1)));
}

#[test]
fn bad_names() {
    for (name, want) in [
        ("", NameError::Empty),
        ("a23456789012345678901234567890123456x", NameError::TooLong),
        ("my-vm", NameError::InvalidCharacter),
        ("vm 1", NameError::InvalidCharacter),
        ("ygg", NameError::Reserved("ygg".into())),
    ] {
        let mut dl = full();
        dl.workloads[3].name = name.to_string();
        match dl.validate() {
            Err(ValidationError::InvalidName { source, .. }) => assert_eq!(source, want, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn duplicate_names() {
    let mut dl = full();
    dl.workloads[4].name = "data".into();
    assert_eq!(
        dl.validate(),
        Err(ValidationError::DuplicateName("data".into()))
    );
    assert_eq!(
        dl.validate().unwrap_err().to_string(),
        "multiple workloads with the same name 'data'"
    );
}

#[test]
fn unknown_type_missing_and_bad_data() {
    let mut v = full_json();
    v["workloads"]
        .as_array_mut()
        .unwrap()
        .push(wl("c", "container", json!({})));
    let dl: Deployment = serde_json::from_value(v).unwrap();
    let err = dl.validate().unwrap_err();
    assert_eq!(
        err,
        ValidationError::Data {
            name: "c".into(),
            source: DataError::UnknownType("container".into())
        }
    );
    assert_eq!(
        zos_base::report(&err),
        "workload 'c': invalid reservation type 'container'"
    );
    // challenge fails the same way
    assert!(dl
        .challenge()
        .unwrap_err()
        .to_string()
        .contains("invalid reservation type"));

    let dl = edit("data", |d| *d = json!(null));
    assert!(matches!(
        dl.validate(),
        Err(ValidationError::Data {
            source: DataError::Missing(_),
            ..
        })
    ));
    let dl = edit("data", |d| d["size"] = json!(-1));
    assert!(matches!(
        dl.validate(),
        Err(ValidationError::Data {
            source: DataError::Decode { .. },
            ..
        })
    ));
    let dl = edit("vm", |d| d["compute_capacity"]["cpu"] = json!(256));
    assert!(matches!(dl.validate(), Err(ValidationError::Data { .. })));
    let dl = edit("net1", |d| d["subnet"] = json!("10.20.2.0"));
    assert!(matches!(dl.validate(), Err(ValidationError::Data { .. })));
}

#[test]
fn storage_rules() {
    assert_eq!(
        invalid(&edit("data", |d| d["size"] = json!(0))),
        InvalidData::InvalidSize
    );
    assert_eq!(
        invalid(&edit("vol", |d| d["size"] = json!(0))),
        InvalidData::InvalidSize
    );
    assert_eq!(
        invalid(&edit("db", |d| d["size"] = json!(0))),
        InvalidData::InvalidSize
    );
    assert_eq!(
        invalid(&edit("db", |d| d["mode"] = json!("fast"))),
        InvalidData::InvalidZdbMode("fast".into())
    );
    edit("db", |d| d["mode"] = json!("seq")).validate().unwrap();
}

#[test]
fn ip_rules() {
    assert_eq!(
        invalid(&edit("pip", |d| *d = json!({"v4": false, "v6": false}))),
        InvalidData::NoIpSelected
    );
    edit("pip", |d| *d = json!({"v6": true}))
        .validate()
        .unwrap();
}

#[test]
fn network_rules() {
    let cases: Vec<(Edit, InvalidData)> = vec![
        (|d| d["ip_range"] = json!(""), InvalidData::EmptyIpRange),
        (|d| d["subnet"] = json!(""), InvalidData::EmptySubnet),
        (
            |d| d["wireguard_private_key"] = json!(""),
            InvalidData::EmptyWireguardKey,
        ),
        (
            |d| d["peers"][0]["subnet"] = json!(""),
            InvalidData::PeerEmptySubnet,
        ),
        (
            |d| d["peers"][0]["allowed_ips"] = json!([]),
            InvalidData::PeerNoAllowedIps,
        ),
        (
            |d| d["peers"][0]["wireguard_public_key"] = json!(""),
            InvalidData::PeerEmptyPublicKey,
        ),
        (
            |d| d["mycelium"] = json!({"hex_key": "00ff", "peers": []}),
            InvalidData::MyceliumKeyLength(2),
        ),
        (
            |d| {
                d["mycelium"] = json!({"hex_key": "11".repeat(32), "peers": ["tcp://1.2.3.4:9651"]})
            },
            InvalidData::MyceliumPeers,
        ),
    ];
    for (f, want) in cases {
        assert_eq!(invalid(&edit("net1", f)), want);
    }
    edit("net1", |d| {
        d["mycelium"] = json!({"hex_key": "11".repeat(32), "peers": null})
    })
    .validate()
    .unwrap();
    edit("net1", |d| d["peers"] = json!(null))
        .validate()
        .unwrap();
}

#[test]
fn zmachine_rules() {
    let cases: Vec<(Edit, InvalidData)> = vec![
        (
            |d| d["network"]["interfaces"] = json!([]),
            InvalidData::InterfaceCount(0),
        ),
        (
            |d| d["network"]["interfaces"] = json!([{"network": "net1", "ip": "10.20.2.5"}, {"network": "n2", "ip": "10.1.1.2"}]),
            InvalidData::InterfaceCount(2),
        ),
        (
            |d| d["network"]["interfaces"][0]["ip"] = json!(""),
            InvalidData::InvalidInterfaceIp,
        ),
        (
            |d| d["compute_capacity"]["cpu"] = json!(0),
            InvalidData::NoCpu,
        ),
        (
            |d| d["compute_capacity"]["memory"] = json!(249 * 1024 * 1024),
            InvalidData::MemoryTooSmall,
        ),
        (
            |d| d["size"] = json!(GIB),
            InvalidData::DiskTooSmall(2 * GIB),
        ),
        (
            |d| d["network"]["public_ip"] = json!("nope"),
            InvalidData::PublicIpNotFound("nope".into()),
        ),
        (
            |d| d["network"]["public_ip"] = json!("bad-name"),
            InvalidData::PublicIpNotFound("bad-name".into()),
        ),
        (
            |d| d["network"]["public_ip"] = json!("data"),
            InvalidData::NotPublicIp("data".into()),
        ),
        (
            |d| d["network"]["interfaces"][0]["network"] = json!("ygg"),
            InvalidData::ReservedNetwork("ygg".into()),
        ),
        (
            |d| d["network"]["interfaces"][0]["network"] = json!("pub"),
            InvalidData::ReservedNetwork("pub".into()),
        ),
        (
            |d| d["network"]["interfaces"][0]["network"] = json!("mycelium"),
            InvalidData::ReservedNetwork("mycelium".into()),
        ),
        (
            |d| d["network"]["mycelium"] = json!({"Network": "net1", "hex_seed": "0011"}),
            InvalidData::MyceliumSeedLength(2),
        ),
    ];
    for (f, want) in cases {
        assert_eq!(invalid(&edit("vm", f)), want);
    }
    // the legacy ipv4 type is a valid public ip too; size 0 means the minimum
    edit("vm", |d| d["network"]["public_ip"] = json!("old4"))
        .validate()
        .unwrap();
    edit("vm", |d| d["network"]["public_ip"] = json!(""))
        .validate()
        .unwrap();
    edit("vm", |d| d["size"] = json!(2 * GIB))
        .validate()
        .unwrap();
    edit("vm", |d| {
        d["network"]["mycelium"] = json!({"Network": "net1", "hex_seed": "aabbccddeeff"})
    })
    .validate()
    .unwrap();
}

#[test]
fn public_ip_used_by_two_vms() {
    let mut v = full_json();
    v["workloads"]
        .as_array_mut()
        .unwrap()
        .push(wl("vm2", "zmachine", common::vm_data()));
    let dl: Deployment = serde_json::from_value(v).unwrap();
    assert_eq!(invalid(&dl), InvalidData::PublicIpShared("pip".into()));
}

#[test]
fn gateway_rules() {
    assert_eq!(
        invalid(&edit("gw1", |d| d["name"] = json!("my.app"))),
        InvalidData::InvalidGatewayName("my.app".into())
    );
    assert_eq!(
        invalid(&edit("gw1", |d| d["backends"] = json!([]))),
        InvalidData::NoBackends
    );
    assert!(matches!(
        invalid(&edit("gw1", |d| d["backends"] = json!(["https://10.0.0.1"]))),
        InvalidData::InvalidBackend { .. }
    ));
    assert!(matches!(
        invalid(&edit("gw1", |d| d["backends"] = json!(["http://127.0.0.1:80"]))),
        InvalidData::InvalidBackend { .. }
    ));
    assert!(matches!(
        invalid(&edit("gw2", |d| d["backends"] = json!(["http://10.0.0.1"]))),
        InvalidData::InvalidBackend { .. }
    ));
    assert_eq!(
        invalid(&edit("gw2", |d| d["fqdn"] = json!("localhost"))),
        InvalidData::InvalidFqdn("localhost".into())
    );
    edit("gw1", |d| d["network"] = json!("net1"))
        .validate()
        .unwrap();
}

#[test]
fn qsfs_and_zlogs_rules() {
    assert_eq!(
        invalid(&edit("qs", |d| d["config"]["minimal_shards"] = json!(5))),
        InvalidData::QsfsShards
    );
    assert_eq!(
        invalid(&edit("logs", |d| d["zmachine"] = json!("db"))),
        InvalidData::ZMachineNotFound("db".into())
    );
    assert_eq!(
        invalid(&edit("logs", |d| d["zmachine"] = json!("ghost"))),
        InvalidData::ZMachineNotFound("ghost".into())
    );
    assert_eq!(
        invalid(&edit("logs", |d| d["output"] = json!("http://10.0.0.1"))),
        InvalidData::InvalidOutputScheme("http".into())
    );
    assert!(matches!(
        invalid(&edit("logs", |d| d["output"] = json!("redis://host:port"))),
        InvalidData::InvalidOutputUrl(_)
    ));
    for ok in [
        "ws://10.0.0.1:80/x",
        "wss://logs.example.com",
        "redis://10.0.0.1",
    ] {
        edit("logs", |d| d["output"] = json!(ok))
            .validate()
            .unwrap();
    }
}

#[test]
fn types_are_all_exercised() {
    let dl = full();
    for t in WorkloadType::ALL {
        assert!(dl.by_type(&t).count() >= 1, "{t}");
    }
}
