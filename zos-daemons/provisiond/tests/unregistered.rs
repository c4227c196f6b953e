//! The provisiond binary on a node that is not registered (yet): its node API answers at once,
//! `zos.system.status` says why the node is not registered in noded's words, deployment
//! commands say they wait for the registration; once noded says registered, deployments are
//! served. Real path: the local TFChain (twin keys for the signatures), a private busd with
//! noded's service and storaged on a loop device.

use gridtypes::{Deployment, GIB};
use zos_bus::node::registration;
use zos_bus::RegistrationStatus;
use zos_testkit::{funded_twin, LocalNode};

const WHY: &str = "this node has 0 B of SSD (and 8 GiB of HDD); TFChain requires at least 100 GiB \
                   of SSD capacity: add an empty SSD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_node_says_why_and_serves_deployments_once_registered() {
    zos_testkit::logs::init("provisiond=warn");
    let node = LocalNode::start(8 * GIB).await;
    let farmer = funded_twin(&node.chain, 21).await;
    node.set_registration(RegistrationStatus {
        state: registration::FAILED.into(),
        farm_id: node.farm_id,
        error: WHY.into(),
        ..Default::default()
    });
    let mut p = node.provisiond_starting();
    let c = zos_api::Client::new(&p.url, farmer.signer.clone(), farmer.id).expect("client");

    let status: serde_json::Value = c
        .call("zos.system.status", serde_json::Value::Null)
        .await
        .expect("status");
    assert_eq!(status["registration"]["state"], "failed", "{status}");
    assert_eq!(status["registration"]["error"], WHY, "{status}");
    assert_eq!(status["serving_deployments"], false, "{status}");
    for command in ["zos.deployment.list", "zos.statistics.get"] {
        let error = c
            .call::<serde_json::Value>(command, serde_json::Value::Null)
            .await
            .expect_err(command)
            .to_string();
        assert!(
            error.contains(&format!(
                "this node does not serve deployments until it is registered (registration failed: {WHY})"
            )),
            "{command}: {error}"
        );
    }
    // The node's own questions do not wait.
    let features: Vec<String> = c
        .call("zos.system.node_features_get", serde_json::Value::Null)
        .await
        .expect("features");
    assert!(features.contains(&"zdb".to_string()), "{features:?}");

    node.set_registration(RegistrationStatus {
        state: registration::REGISTERED.into(),
        node_id: node.node_id,
        farm_id: node.farm_id,
        ..Default::default()
    });
    p.wait_serving();
    let status: serde_json::Value = c
        .call("zos.system.status", serde_json::Value::Null)
        .await
        .expect("status");
    assert_eq!(status["registration"]["node_id"], node.node_id, "{status}");
    assert_eq!(status["serving_deployments"], true, "{status}");
    let listed: Vec<Deployment> = c
        .call("zos.deployment.list", serde_json::Value::Null)
        .await
        .expect("list");
    assert!(listed.is_empty());
}
