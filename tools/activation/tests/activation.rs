//! The activation service in-process, over real HTTP on loopback. The funding test runs against the
//! REAL TFChain runtime (`LocalChain`, needs `make deps`: npm ci in chain/); the error tests need
//! no chain.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use zos_activation::{Config, ACTIVATION_PATH};
use zos_chain::{Chain, Signer};
use zos_testkit::fresh_ed25519;
use zos_testkit::LocalChain;

const AMOUNT: u128 = 1_000_000_000_000;

/// A running service; aborted on Drop.
struct Service {
    addr: SocketAddr,
    task: JoinHandle<Result<(), zos_activation::Error>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(chain_url: &str) -> Service {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let config = Config {
        chain_url: chain_url.to_string(),
        funder: Signer::sr25519_from_uri("//Alice").expect("dev key"),
        amount: AMOUNT,
    };
    let task = tokio::spawn(zos_activation::serve(listener, config));
    Service { addr, task }
}

/// One HTTP/1.1 request; returns (status, body as JSON).
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connect to the service");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        response
    })
    .await
    .expect("request thread");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    let (_, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no body in {response:?}"));
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("body {body:?}: {e}"));
    (status, json)
}

fn activation_body(account: &str) -> String {
    format!(r#"{{"substrateAccountID": "{account}", "kycSignature": "", "data": {{}}}}"#)
}

#[tokio::test]
async fn local_chain_funds_a_fresh_account_once_even_under_concurrency() {
    let local = LocalChain::start().await.expect("start local chain");
    let chain = Chain::connect(&local.url()).await.expect("connect");
    let service = start(&local.url()).await;

    // A fresh ed25519 node account: no funds, then exactly AMOUNT.
    let node = fresh_ed25519();
    let address = node.account_id().to_string();
    assert_eq!(
        chain
            .free_balance(&node.account_id())
            .await
            .expect("balance"),
        0
    );
    let (status, reply) = request(
        service.addr,
        "POST",
        ACTIVATION_PATH,
        &activation_body(&address),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["account"], address.as_str());
    assert_eq!(reply["funded"], true);
    assert_eq!(reply["balance"].as_u64(), Some(AMOUNT as u64));
    assert_eq!(
        chain
            .free_balance(&node.account_id())
            .await
            .expect("balance"),
        AMOUNT
    );

    // Asked again: already funded, nothing transferred.
    let (status, reply) = request(
        service.addr,
        "POST",
        ACTIVATION_PATH,
        &activation_body(&address),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["funded"], false);
    assert_eq!(reply["balance"].as_u64(), Some(AMOUNT as u64));
    assert_eq!(
        chain
            .free_balance(&node.account_id())
            .await
            .expect("balance"),
        AMOUNT
    );

    // Three concurrent requests for another fresh account: funded exactly once.
    let other = fresh_ed25519();
    let address = other.account_id().to_string();
    let body = activation_body(&address);
    let (a, b, c) = tokio::join!(
        request(service.addr, "POST", ACTIVATION_PATH, &body),
        request(service.addr, "POST", ACTIVATION_PATH, &body),
        request(service.addr, "POST", ACTIVATION_PATH, &body),
    );
    let replies = [a, b, c];
    assert!(
        replies.iter().all(|(status, _)| *status == 200),
        "{replies:?}"
    );
    let funded = replies.iter().filter(|(_, r)| r["funded"] == true).count();
    assert_eq!(funded, 1, "{replies:?}");
    assert_eq!(
        chain
            .free_balance(&other.account_id())
            .await
            .expect("balance"),
        AMOUNT
    );

    // The chain goes away under a running service: 502 with the chain's error.
    let mut local = local;
    local.stop();
    let third = fresh_ed25519().account_id().to_string();
    let (status, reply) = request(
        service.addr,
        "POST",
        ACTIVATION_PATH,
        &activation_body(&third),
    )
    .await;
    assert_eq!(status, 502, "{reply}");
    assert!(
        reply["error"].as_str().unwrap_or("").contains("chain"),
        "{reply}"
    );
}

#[tokio::test]
async fn malformed_requests_get_400_and_wrong_routes_404_405() {
    // No chain is needed to refuse these; the URL points at a closed port.
    let service = start("ws://127.0.0.1:9").await;
    for body in [
        "not json",
        r#"{"account": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}"#,
        r#"{"substrateAccountID": "not-an-address"}"#,
    ] {
        let (status, reply) = request(service.addr, "POST", ACTIVATION_PATH, body).await;
        assert_eq!(status, 400, "{body}: {reply}");
        let message = reply["error"].as_str().unwrap_or("");
        assert!(message.starts_with("bad request: "), "{reply}");
        assert!(message.contains("substrateAccountID"), "{reply}");
    }
    let (status, _) = request(service.addr, "POST", "/other", "{}").await;
    assert_eq!(status, 404);
    let (status, reply) = request(service.addr, "GET", ACTIVATION_PATH, "").await;
    assert_eq!(status, 405, "{reply}");
}

#[tokio::test]
async fn unreachable_chain_gives_502_with_the_reason() {
    // A loopback port with nothing listening (bound, then released).
    let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let service = start(&format!("ws://127.0.0.1:{port}")).await;
    let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    let (status, reply) = request(
        service.addr,
        "POST",
        ACTIVATION_PATH,
        &activation_body(alice),
    )
    .await;
    assert_eq!(status, 502, "{reply}");
    let message = reply["error"].as_str().unwrap_or("");
    assert!(
        message.contains("cannot connect to chain at ws://127.0.0.1:"),
        "{reply}"
    );
}
