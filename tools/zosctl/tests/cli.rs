//! zosctl end to end: the real binary against the REAL TFChain runtime (`LocalChain`, needs
//! `make deps`: npm ci in chain/). The error tests without a chain need nothing.

use std::net::Ipv4Addr;
use std::process::Output;

use rand_core::{OsRng, RngCore};
use zos_chain::{Chain, NodeInput, Resources, Signer};
use zos_testkit::LocalChain;

const GIB: u64 = 1 << 30;
const FUNDING: u128 = 1_000_000_000_000;
const HASH: &str = "9021d4dee05a661e2cb6838152c67f25";

/// Runs zosctl with `args` (no key or chain taken from the test's environment).
async fn zosctl(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_zosctl"))
        .args(args)
        .env_remove("TFCHAIN_URL")
        .env_remove("ZOSCTL_MNEMONIC")
        // The twins zosctl remembers go to the build's scratch space, not the user's ~/.config.
        .env(
            "XDG_CONFIG_HOME",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/zosctl-cli-config"),
        )
        .output()
        .await
        .expect("run zosctl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs zosctl and expects success; returns stdout.
async fn ok(args: &[&str]) -> String {
    let out = zosctl(args).await;
    assert!(
        out.status.success(),
        "zosctl {args:?} failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs zosctl with --json and parses stdout.
async fn ok_json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let stdout = ok(&all).await;
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("zosctl {args:?}: {e}: {stdout}"))
}

/// Runs zosctl and expects a failure; returns stderr.
async fn fails(args: &[&str]) -> String {
    let out = zosctl(args).await;
    assert!(
        !out.status.success(),
        "zosctl {args:?} succeeded:\n{}",
        text(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    text(&out.stderr)
}

fn node_input() -> NodeInput {
    zos_testkit::node_input(Resources {
        hru: 1024 * GIB,
        sru: 256 * GIB,
        cru: 4,
        mru: 8 * GIB,
    })
}

/// Registers a node with a fresh ed25519 key, like noded does (not through zosctl).
async fn register_node(chain: &Chain, farm_id: u32) -> u32 {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let node_key = Signer::ed25519_from_seed(&seed);
    let alice = Signer::sr25519_from_uri("//Alice").expect("dev key");
    chain
        .transfer_keep_alive(&alice, &node_key.account_id(), FUNDING)
        .await
        .expect("fund node key");
    chain
        .accept_tc(&node_key, "http://zos.tf/terms/v0.1", HASH)
        .await
        .expect("node accepts T&C");
    chain
        .create_twin(&node_key, None, None)
        .await
        .expect("node twin");
    chain
        .create_node(&node_key, farm_id, &node_input())
        .await
        .expect("create node")
}

#[tokio::test]
async fn local_chain_farmer_and_user_flows() {
    let local = LocalChain::start().await.expect("start local chain");
    let url = local.url();
    let chain = Chain::connect(&url).await.expect("connect");
    let c = url.as_str();

    // Twin: create, then show (by key and by id), human and JSON.
    let farmer = ["--chain", c, "--key", "//Bob"];
    let created = ok(&[&farmer[..], &["twin", "create", "--relay", "relay.local"]].concat()).await;
    assert!(created.contains("relay.local"), "{created}");
    let twin = ok_json(&[&farmer[..], &["twin", "show"]].concat()).await;
    let twin_id = twin["id"].as_u64().expect("twin id");
    assert_eq!(
        twin["account"],
        "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
    );
    assert_eq!(twin["relay"], "relay.local");
    let by_id = ok(&["--chain", c, "twin", "show", &twin_id.to_string()]).await;
    assert!(
        by_id.contains("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"),
        "{by_id}"
    );
    let again = fails(&[&farmer[..], &["twin", "create"]].concat()).await;
    assert!(
        again.contains(&format!("already has twin {twin_id}")),
        "{again}"
    );

    // Farm without a twin: says how to get one.
    let err = fails(&["--chain", c, "--key", "//Dave", "farm", "create", "nope"]).await;
    assert!(
        err.contains("this key has no twin: create one with `zosctl twin create`"),
        "{err}"
    );

    // Farm with a public IP, listed in a table and as JSON.
    let farm = ok_json(
        &[
            &farmer[..],
            &[
                "farm",
                "create",
                "bobsfarm",
                "--public-ip",
                "185.0.0.2/24",
                "--gw",
                "185.0.0.1",
            ],
        ]
        .concat(),
    )
    .await;
    let farm_id = farm["id"].as_u64().expect("farm id") as u32;
    assert_eq!(farm["public_ips"][0]["ip"], "185.0.0.2/24");
    let table = ok(&["--chain", c, "farm", "list"]).await;
    let header = table.lines().next().unwrap_or_default();
    assert!(header.starts_with("ID  NAME"), "{table}");
    let row = table
        .lines()
        .find(|l| l.contains("bobsfarm"))
        .unwrap_or_else(|| panic!("no bobsfarm row in\n{table}"));
    assert!(row.starts_with(&format!("{farm_id} ")), "{row}");
    assert!(row.contains("185.0.0.2/24 via 185.0.0.1"), "{row}");
    let farms = ok_json(&["--chain", c, "farm", "list"]).await;
    let listed = farms
        .as_array()
        .and_then(|a| a.iter().find(|f| f["name"] == "bobsfarm"))
        .unwrap_or_else(|| panic!("bobsfarm not in {farms}"));
    assert_eq!(listed["twin_id"].as_u64(), Some(twin_id));
    assert_eq!(listed["public_ips"][0]["gw"], "185.0.0.1");

    // The same name again: the pallet's error by name.
    let err = fails(&[&farmer[..], &["farm", "create", "bobsfarm"]].concat()).await;
    assert!(
        err.contains("the chain refused the call: TfgridModule.FarmExists"),
        "{err}"
    );
    assert!(err.contains("pick another NAME"), "{err}");

    // Nodes: an empty farm, a missing farm, a missing node.
    let farm_arg = farm_id.to_string();
    let empty = ok(&["--chain", c, "node", "list", "--farm", &farm_arg]).await;
    assert_eq!(empty.trim(), format!("no nodes in farm {farm_id}"));
    assert_eq!(
        ok_json(&["--chain", c, "node", "list", "--farm", &farm_arg]).await,
        serde_json::json!([])
    );
    let err = fails(&["--chain", c, "node", "list", "--farm", "77"]).await;
    assert!(
        err.contains("farm 77 does not exist: create it with `zosctl farm create NAME`"),
        "{err}"
    );
    let err = fails(&["--chain", c, "node", "show", "99"]).await;
    assert!(err.contains("node 99 does not exist"), "{err}");

    // A user: twin, then a contract on a missing node is refused before it reaches the chain.
    let user = ["--chain", c, "--key", "//Charlie"];
    ok(&[&user[..], &["twin", "create"]].concat()).await;
    let err = fails(
        &[
            &user[..],
            &[
                "contract",
                "create-node",
                "--node",
                "99",
                "--hash",
                HASH,
                "--data",
                "x",
            ],
        ]
        .concat(),
    )
    .await;
    assert!(err.contains("node 99 does not exist"), "{err}");

    // A registered node: show it, list it, then a contract's whole life through zosctl.
    let node_id = register_node(&chain, farm_id).await;
    let node_arg = node_id.to_string();
    let shown = ok_json(&["--chain", c, "node", "show", &node_arg]).await;
    assert_eq!(shown["farm_id"].as_u64(), Some(u64::from(farm_id)));
    assert_eq!(shown["resources"]["mru"].as_u64(), Some(8 * GIB));
    let human = ok(&["--chain", c, "node", "show", &node_arg]).await;
    assert!(human.contains("ssd            256.0 GiB\n"), "{human}");
    let listed = ok(&["--chain", c, "node", "list", "--farm", &farm_arg]).await;
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&format!("{node_id} "))),
        "{listed}"
    );

    let contract = ok_json(
        &[
            &user[..],
            &[
                "contract",
                "create-node",
                "--node",
                &node_arg,
                "--hash",
                HASH,
                "--data",
                "{\"name\":\"vm1\"}",
                "--public-ips",
                "1",
            ],
        ]
        .concat(),
    )
    .await;
    let contract_id = contract["id"].as_u64().expect("contract id");
    assert_eq!(contract["type"], "node");
    assert_eq!(contract["deployment_hash"], HASH);
    assert_eq!(contract["public_ips"].as_u64(), Some(1));
    assert_eq!(contract["public_ips_list"][0]["ip"], "185.0.0.2/24");

    let mine = ok_json(&[&user[..], &["contract", "list"]].concat()).await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1), "{mine}");
    assert_eq!(mine[0]["id"].as_u64(), Some(contract_id));
    let on_node = ok(&["--chain", c, "contract", "list", "--node", &node_arg]).await;
    assert!(
        on_node
            .lines()
            .any(|l| l.starts_with(&format!("{contract_id} "))),
        "{on_node}"
    );

    // Only the owner may cancel; the owner can.
    let err = fails(
        &[
            &farmer[..],
            &["contract", "cancel", &contract_id.to_string()],
        ]
        .concat(),
    )
    .await;
    assert!(err.contains("belongs to twin"), "{err}");
    let canceled =
        ok(&[&user[..], &["contract", "cancel", &contract_id.to_string()]].concat()).await;
    assert_eq!(canceled.trim(), format!("contract {contract_id} canceled"));
    let on_node = ok(&["--chain", c, "contract", "list", "--node", &node_arg]).await;
    assert_eq!(
        on_node.trim(),
        format!("no active contracts on node {node_id}")
    );
    let err = fails(&[&user[..], &["contract", "cancel", &contract_id.to_string()]].concat()).await;
    assert!(
        err.contains(&format!("contract {contract_id} does not exist")),
        "{err}"
    );
}

#[tokio::test]
async fn local_chain_unfunded_key_is_told_to_get_funds_then_transfer_fixes_it() {
    let local = LocalChain::start().await.expect("start local chain");
    let c = local.url();
    let c = c.as_str();

    // A fresh sr25519 key from a seed file: no funds.
    let dir = tempfile::tempdir().expect("tempdir");
    let seed_file = dir.path().join("seed.hex");
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    std::fs::write(&seed_file, format!("0x{}\n", hex::encode(seed))).expect("write seed");
    let seed_path = seed_file.to_str().expect("utf-8 path");
    let account = ok_json(&["--chain", c, "--seed-file", seed_path, "balance"]).await;
    let address = account["account"].as_str().expect("address").to_string();
    assert_eq!(account["free"], "0");

    let err = fails(&["--chain", c, "--seed-file", seed_path, "twin", "create"]).await;
    assert!(
        err.contains(&format!("account {address} has no funds")),
        "{err}"
    );
    assert!(err.contains("zosctl --key //Alice transfer"), "{err}");

    ok(&[
        "--chain",
        c,
        "--key",
        "//Alice",
        "transfer",
        "--to",
        &address,
        "--amount",
        "1000000000000",
    ])
    .await;
    let balance = ok_json(&["--chain", c, "balance", &address]).await;
    assert_eq!(balance["free"], "1000000000000");
    let twin = ok_json(&["--chain", c, "--seed-file", seed_path, "twin", "create"]).await;
    assert_eq!(twin["account"], address.as_str());
}

#[tokio::test]
async fn unreachable_chain_and_bad_keys_fail_with_advice() {
    let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("ws://127.0.0.1:{port}");
    let err = fails(&["--chain", &url, "farm", "list"]).await;
    assert!(
        err.contains(&format!(
            "cannot reach the chain at {url}: is it running? (`make chain`)"
        )),
        "{err}"
    );
    assert!(
        err.contains("the chain was needed to list the farms"),
        "{err}"
    );
    let err = fails(&["--chain", &url, "--json", "node", "show", "1"]).await;
    let parsed: serde_json::Value = serde_json::from_str(err.trim()).expect("JSON error");
    assert!(
        parsed["error"]
            .as_str()
            .unwrap_or("")
            .contains("cannot reach the chain"),
        "{err}"
    );

    let err = fails(&[
        "--chain",
        &url,
        "--mnemonic",
        "these are not bip39 words at all",
        "twin",
        "create",
    ])
    .await;
    assert!(err.contains("invalid key: invalid mnemonic"), "{err}");
    let err = fails(&["--chain", &url, "twin", "create"]).await;
    assert!(err.contains("no key given: pass --key //Alice"), "{err}");
    let err = fails(&[
        "--chain",
        &url,
        "--key",
        "//Alice",
        "--key-type",
        "ed25519",
        "twin",
        "show",
    ])
    .await;
    assert!(
        err.contains("for an ed25519 key use --mnemonic or --seed-file"),
        "{err}"
    );
    let err = fails(&["--chain", "http://127.0.0.1:1", "farm", "list"]).await;
    assert!(err.contains("invalid chain URL"), "{err}");
}
