//! Shared builders for the integration tests.
#![allow(dead_code)]

use gridtypes::Deployment;
use serde_json::{json, Value};

pub const GIB: u64 = 1024 * 1024 * 1024;

/// A workload JSON object as a client sends it.
pub fn wl(name: &str, ty: &str, data: Value) -> Value {
    json!({
        "version": 0, "name": name, "type": ty, "data": data,
        "metadata": "", "description": "",
        "result": {"created": 0, "state": "", "message": "", "data": null}
    })
}

pub fn network_data() -> Value {
    json!({
        "ip_range": "10.20.0.0/16", "subnet": "10.20.2.0/24",
        "wireguard_private_key": "yMnVQm8o1mULzyFTfnFH1wHfuLNydn5TSl84VbKKelM=",
        "wireguard_listen_port": 3011,
        "peers": [{"subnet": "10.20.3.0/24", "wireguard_public_key": "QZJB3h6lJU2/4U3ZbrnnJ2i4yT9T6yYmiS3oe3Cq7yo=",
                   "allowed_ips": ["10.20.3.0/24", "100.64.20.3/32"], "endpoint": "185.206.122.31:3011"}]
    })
}

pub fn vm_data() -> Value {
    json!({
        "flist": "https://hub.grid.tf/tf-official-apps/base:latest.flist",
        "network": {"public_ip": "pip", "planetary": true,
                    "interfaces": [{"network": "net1", "ip": "10.20.2.5"}]},
        "size": 0,
        "compute_capacity": {"cpu": 2, "memory": 4 * GIB},
        "mounts": [{"name": "data", "mountpoint": "/data"}],
        "entrypoint": "/sbin/zinit init",
        "env": {"A": "1"},
        "corex": false
    })
}

/// A valid deployment JSON with one workload of every type.
pub fn full_json() -> Value {
    json!({
        "version": 0, "twin_id": 41, "contract_id": 1207,
        "metadata": "", "description": "", "expiration": 0,
        "signature_requirement": {
            "requests": [{"twin_id": 41, "required": true, "weight": 1}],
            "weight_required": 1, "signatures": [], "signature_style": ""
        },
        "workloads": [
            wl("net1", "network", network_data()),
            wl("pip", "ip", json!({"v4": true, "v6": false})),
            wl("old4", "ipv4", json!({})),
            wl("data", "zmount", json!({"size": 10 * GIB})),
            wl("vol", "volume", json!({"size": GIB})),
            wl("db", "zdb", json!({"size": GIB, "mode": "user", "password": "x", "public": false})),
            wl("vm", "zmachine", vm_data()),
            wl("logs", "zlogs", json!({"zmachine": "vm", "output": "redis://10.0.0.1:6379"})),
            wl("gw1", "gateway-name-proxy", json!({"name": "app", "tls_passthrough": false, "backends": ["http://10.20.2.5:80"]})),
            wl("gw2", "gateway-fqdn-proxy", json!({"fqdn": "app.example.com", "tls_passthrough": true, "backends": ["10.20.2.5:443"]})),
            wl("qs", "qsfs", json!({"cache": GIB, "config": {
                "minimal_shards": 2, "expected_shards": 4, "redundant_groups": 0, "redundant_nodes": 0,
                "max_zdb_data_dir_size": 32,
                "encryption": {"algorithm": "AES", "key": "00112233"},
                "meta": {"type": "zdb", "config": {"prefix": "p", "encryption": {"algorithm": "AES", "key": "aa"},
                         "backends": [{"address": "[::1]:9900", "namespace": "n", "password": "p"}]}},
                "groups": [{"backends": []}],
                "compression": {"algorithm": "snappy"}}}))
        ]
    })
}

pub fn full() -> Deployment {
    serde_json::from_value(full_json()).expect("valid fixture")
}

/// Edits one workload's data with `f`.
pub fn edit(name: &str, f: impl FnOnce(&mut Value)) -> Deployment {
    let mut dl = full_json();
    if let Some(w) = dl["workloads"]
        .as_array_mut()
        .expect("workloads")
        .iter_mut()
        .find(|w| w["name"] == name)
    {
        f(&mut w["data"]);
    }
    serde_json::from_value(dl).expect("still decodes")
}
