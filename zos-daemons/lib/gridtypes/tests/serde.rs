//! JSON shapes: round trips with zos's exact field names, Go-style leniency, malformed input.

mod common;

use gridtypes::types::*;
use gridtypes::{Deployment, Workload, WorkloadData, WorkloadResult};
use serde_json::{json, Value};

/// Serializes `data` as a workload and checks the exact JSON, then decodes it back.
fn roundtrip(data: WorkloadData, want: Value) {
    let wl = Workload::new("w", &data);
    assert_eq!(wl.data, want, "{}", wl.workload_type);
    assert_eq!(wl.data().unwrap(), data);
}

#[test]
fn every_type_has_zos_field_names() {
    roundtrip(WorkloadData::ZMount(ZMount { size: 5 }), json!({"size": 5}));
    roundtrip(WorkloadData::Volume(Volume { size: 6 }), json!({"size": 6}));
    roundtrip(
        WorkloadData::Zdb(Zdb {
            size: 1,
            mode: "seq".into(),
            password: "p".into(),
            public: true,
        }),
        json!({"size": 1, "mode": "seq", "password": "p", "public": true}),
    );
    roundtrip(WorkloadData::Ipv4(PublicIpv4 {}), json!({}));
    roundtrip(
        WorkloadData::Ip(PublicIp {
            v4: true,
            v6: false,
        }),
        json!({"v4": true, "v6": false}),
    );
    let net: Network = serde_json::from_value(json!({
        "ip_range": "10.1.0.0/16", "subnet": "10.1.2.0/24", "wireguard_private_key": "k",
        "wireguard_listen_port": 1, "peers": [{"subnet": "10.1.3.0/24", "wireguard_public_key": "p",
        "allowed_ips": ["10.1.3.0/24"], "endpoint": "1.2.3.4:1"}],
        "mycelium": {"hex_key": "ab", "peers": []}
    }))
    .unwrap();
    roundtrip(
        WorkloadData::Network(net),
        json!({"ip_range": "10.1.0.0/16", "subnet": "10.1.2.0/24", "wireguard_private_key": "k",
               "wireguard_listen_port": 1, "peers": [{"subnet": "10.1.3.0/24", "wireguard_public_key": "p",
               "allowed_ips": ["10.1.3.0/24"], "endpoint": "1.2.3.4:1"}],
               "mycelium": {"hex_key": "ab", "peers": []}}),
    );
    let vm: ZMachine = serde_json::from_value(json!({
        "flist": "f", "network": {"public_ip": "ip", "planetary": true,
        "mycelium": {"Network": "n", "hex_seed": "010203040506"},
        "interfaces": [{"network": "n", "ip": "10.1.2.3"}]},
        "size": 1, "compute_capacity": {"cpu": 1, "memory": 2}, "mounts": [{"name": "d", "mountpoint": "/d"}],
        "entrypoint": "e", "env": {"K": "V"}, "corex": true, "gpu": ["0000:28:00.0/1002/731f"]
    }))
    .unwrap();
    roundtrip(
        WorkloadData::ZMachine(vm),
        json!({"flist": "f", "network": {"public_ip": "ip", "planetary": true,
               "mycelium": {"Network": "n", "hex_seed": "010203040506"},
               "interfaces": [{"network": "n", "ip": "10.1.2.3"}]},
               "size": 1, "compute_capacity": {"cpu": 1, "memory": 2}, "mounts": [{"name": "d", "mountpoint": "/d"}],
               "entrypoint": "e", "env": {"K": "V"}, "corex": true, "gpu": ["0000:28:00.0/1002/731f"]}),
    );
    roundtrip(
        WorkloadData::GatewayNameProxy(GatewayNameProxy {
            base: GatewayBase {
                tls_passthrough: false,
                backends: vec!["http://1.2.3.4".into()],
                network: None,
            },
            name: "n".into(),
        }),
        json!({"tls_passthrough": false, "backends": ["http://1.2.3.4"], "name": "n"}),
    );
    roundtrip(
        WorkloadData::GatewayFqdnProxy(GatewayFqdnProxy {
            base: GatewayBase {
                tls_passthrough: true,
                backends: vec!["1.2.3.4:1".into()],
                network: Some("net".into()),
            },
            fqdn: "a.bc".into(),
        }),
        json!({"tls_passthrough": true, "backends": ["1.2.3.4:1"], "network": "net", "fqdn": "a.bc"}),
    );
    let qsfs_json = json!({"cache": 1, "config": {"minimal_shards": 1, "expected_shards": 2,
        "redundant_groups": 3, "redundant_nodes": 4, "max_zdb_data_dir_size": 5,
        "encryption": {"algorithm": "AES", "key": "00ff"},
        "meta": {"type": "zdb", "config": {"prefix": "p", "encryption": {"algorithm": "AES", "key": "01"},
                 "backends": [{"address": "a", "namespace": "n", "password": "w"}]}},
        "groups": [{"backends": [{"address": "a", "namespace": "n", "password": "w"}]}],
        "compression": {"algorithm": "snappy"}}});
    roundtrip(
        WorkloadData::Qsfs(serde_json::from_value(qsfs_json.clone()).unwrap()),
        qsfs_json,
    );
    roundtrip(
        WorkloadData::ZLogs(ZLogs {
            zmachine: "vm".into(),
            output: "ws://1.2.3.4".into(),
        }),
        json!({"zmachine": "vm", "output": "ws://1.2.3.4"}),
    );
}

#[test]
fn result_data_field_names() {
    let zdb = ZdbResult {
        namespace: "41-1-db".into(),
        ips: vec!["10.0.0.1".into()],
        port: 9900,
    };
    assert_eq!(
        serde_json::to_value(&zdb).unwrap(),
        json!({"Namespace": "41-1-db", "IPs": ["10.0.0.1"], "Port": 9900})
    );
    assert_eq!(
        serde_json::to_value(ZMountResult { id: "x".into() }).unwrap(),
        json!({"volume_id": "x"})
    );
    assert_eq!(
        serde_json::to_value(VolumeResult { id: "x".into() }).unwrap(),
        json!({"id": "x"})
    );
    assert_eq!(
        serde_json::to_value(GatewayProxyResult { fqdn: "a.b".into() }).unwrap(),
        json!({"fqdn": "a.b"})
    );
    assert_eq!(
        serde_json::to_value(GatewayFqdnResult {}).unwrap(),
        json!({})
    );
    assert_eq!(
        serde_json::to_value(QsfsResult {
            path: "/p".into(),
            metrics_endpoint: "http://m".into()
        })
        .unwrap(),
        json!({"path": "/p", "metrics_endpoint": "http://m"})
    );
    let ip: PublicIpResult =
        serde_json::from_value(json!({"ip": "185.1.2.3/24", "ip6": "", "gateway": "185.1.2.1"}))
            .unwrap();
    assert_eq!(
        serde_json::to_value(&ip).unwrap(),
        json!({"ip": "185.1.2.3/24", "ip6": "", "gateway": "185.1.2.1"})
    );
    let r = WorkloadResult::ok(gridtypes::Timestamp(5), serde_json::to_value(&zdb).unwrap());
    assert_eq!(r.data_as::<ZdbResult>().unwrap(), zdb);
}

#[test]
fn deployment_roundtrip_is_exact() {
    let v = common::full_json();
    let dl: Deployment = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(serde_json::to_value(&dl).unwrap(), v);
    for name in ["vm_full", "zdb", "gateways", "qsfs_multisig", "ipv4_update"] {
        let path = format!("{}/tests/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let dl: Deployment = serde_json::from_value(f["deployment"].clone()).unwrap();
        assert_eq!(
            serde_json::to_value(&dl).unwrap(),
            f["deployment"],
            "{name}"
        );
    }
}

#[test]
fn go_style_nulls_missing_and_unknown_fields() {
    let dl: Deployment = serde_json::from_value(json!({
        "twin_id": 1, "workloads": null, "extra": 1,
        "signature_requirement": {"requests": null, "signatures": null}
    }))
    .unwrap();
    assert!(dl.workloads.is_empty() && dl.signature_requirement.requests.is_empty());
    assert_eq!(dl.challenge().unwrap(), "0100");

    let dl = common::edit("vm", |d| {
        d["mounts"] = json!(null);
        d["env"] = json!(null);
        d["gpu"] = json!(null);
        d["unknown"] = json!([1, 2]);
        d["network"]["mycelium"] = json!({"network": "net1", "hex_seed": "aabbccddeeff"});
    });
    dl.validate().unwrap();
    let WorkloadData::ZMachine(vm) = dl.get("vm").unwrap().data().unwrap() else {
        panic!()
    };
    // zos's key is "Network"; the lowercase spelling is read too
    assert_eq!(vm.network.mycelium.unwrap().network, "net1");

    // timestamps: integer or RFC 3339
    let dl: Deployment =
        serde_json::from_value(json!({"expiration": "2025-01-01T00:00:00Z"})).unwrap();
    assert_eq!(dl.expiration.0, 1_735_689_600);
}

#[test]
fn malformed_json_is_an_error() {
    let bad: &[&[u8]] = &[
        b"",
        b"{",
        b"[]",
        b"null",
        b"42",
        b"{\"version\": -1}",
        b"{\"version\": 4294967296}",
        b"{\"twin_id\": \"1\"}",
        b"{\"contract_id\": 1.5}",
        b"{\"workloads\": {}}",
        b"{\"workloads\": [1]}",
        b"{\"workloads\": [{\"type\": 5}]}",
        b"{\"expiration\": \"tomorrow\"}",
        b"{\"signature_requirement\": {\"weight_required\": -1}}",
        b"{\"description\": \"\\ud800\"}",
        b"{\"description\": \"\xff\"}",
        b"{\"version\": 1, \"version\": 2}",
    ];
    for input in bad {
        assert!(
            Deployment::from_json(input).is_err(),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
    // deep nesting stops at serde_json's recursion limit instead of overflowing the stack
    let deep = format!(
        "{{\"workloads\": [{{\"data\": {}1{}}}]}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(Deployment::from_json(deep.as_bytes()).is_err());
    assert!(Deployment::from_json(b"  {}").is_ok());
}
