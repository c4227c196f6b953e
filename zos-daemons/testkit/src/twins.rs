//! The accounts a test acts with: //Alice (the dev account that funds everyone and owns the test
//! farms), funded twins with ed25519 keys, and a node registered in a farm.

use ed25519_dalek::SigningKey;
use gridtypes::GIB;
use rand_core::{OsRng, RngCore};
use zos_chain::{Chain, Interface, Location, NodeInput, Resources, Signer};

/// One TFT in the chain's units.
pub const TFT: u128 = 10_000_000;

/// A twin with an ed25519 key (the signer for chain calls, the key for deployment signatures).
#[derive(Debug)]
pub struct Twin {
    pub id: u32,
    pub key: SigningKey,
    pub signer: Signer,
}

/// A twin of the ed25519 key `[seed; 32]`, funded by //Alice.
pub async fn funded_twin(chain: &Chain, seed: u8) -> Twin {
    let alice = alice();
    let key = SigningKey::from_bytes(&[seed; 32]);
    let signer = Signer::ed25519_from_seed(&[seed; 32]);
    chain
        .transfer_keep_alive(&alice, &signer.account_id(), 1_000 * TFT)
        .await
        .expect("fund twin");
    let id = chain.ensure_twin(&signer).await.expect("twin");
    Twin { id, key, signer }
}

/// A node as noded would describe it: `resources`, a NIC `zos` with QEMU's default MAC and
/// user-net address, in Ghent, virtualised.
pub fn node_input(resources: Resources) -> NodeInput {
    NodeInput {
        resources,
        location: Location {
            city: "Ghent".into(),
            country: "Belgium".into(),
            latitude: "51.05".into(),
            longitude: "3.71667".into(),
        },
        interfaces: vec![Interface {
            name: "zos".into(),
            mac: "52:54:00:12:34:56".into(),
            ips: vec!["10.0.2.15".into()],
        }],
        secure_boot: false,
        virtualized: true,
        serial_number: None,
    }
}

/// Registers `twin`'s node in `farm` (with the runtime's minimum capacity); its node id.
pub async fn register_node(chain: &Chain, twin: &Twin, farm: u32) -> u32 {
    let input = node_input(Resources {
        hru: 0,
        sru: 200 * GIB,
        cru: 4,
        mru: 8 * GIB,
    });
    chain
        .create_node(&twin.signer, farm, &input)
        .await
        .expect("node")
}

/// //Alice, the dev account.
pub fn alice() -> Signer {
    Signer::sr25519_from_uri("//Alice").expect("dev key")
}

/// A signer with a fresh random ed25519 key (an account nobody funded yet).
pub fn fresh_ed25519() -> Signer {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    Signer::ed25519_from_seed(&seed)
}
