//! The node API in-process over real HTTP on loopback: the real server, the real client and a
//! map-backed key lookup. Requests the client cannot make (bad signatures, replays, huge bodies)
//! are written by hand on a raw TCP connection. No chain, no root.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use zos_api::wire::{
    body_hash, signing_message, HEADER_NONCE, HEADER_SIGNATURE, HEADER_SIGNATURE_TYPE,
    HEADER_TIMESTAMP, HEADER_TWIN_ID,
};
use zos_api::{ApiError, Caller, Client, ClientError, Handler, KeyLookup, ServerConfig};
use zos_chain::Signer;

const ED_TWIN: u32 = 11;
const SR_TWIN: u32 = 22;
const MAX_BODY: usize = 1024 * 1024;

fn ed_signer() -> Signer {
    Signer::ed25519_from_seed(&[5u8; 32])
}

fn sr_signer() -> Signer {
    Signer::sr25519_from_uri("//Alice").expect("dev uri")
}

/// Answers a few zos commands and records every call it gets.
#[derive(Default)]
struct TestHandler {
    calls: Mutex<Vec<(u32, String, Value)>>,
}

impl TestHandler {
    fn calls(&self) -> usize {
        self.calls.lock().expect("lock").len()
    }
}

#[async_trait]
impl Handler for TestHandler {
    async fn handle(&self, caller: Caller, command: &str, data: Value) -> Result<Value, ApiError> {
        self.calls
            .lock()
            .expect("lock")
            .push((caller.twin_id, command.to_string(), data.clone()));
        match command {
            "zos.system.version" => Ok(json!({"zos": "test", "zinit": "test"})),
            "zos.deployment.get" => Ok(json!({"twin_id": caller.twin_id, "request": data})),
            "zos.deployment.delete" => Err(ApiError::BadRequest(
                "deletion over the api is disabled, please cancel your contract instead".into(),
            )),
            "zos.statistics.get" => Err(ApiError::Internal("statistics unavailable".into())),
            "zos.slow" => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(json!(caller.twin_id))
            }
            _ => Err(ApiError::unknown_command(command)),
        }
    }
}

/// A running node API; stopped on Drop.
struct Node {
    addr: SocketAddr,
    handler: Arc<TestHandler>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

impl Node {
    async fn start() -> Node {
        Node::start_with(ServerConfig {
            max_body: MAX_BODY,
            ..ServerConfig::default()
        })
        .await
    }

    async fn start_with(config: ServerConfig) -> Node {
        let keys: HashMap<u32, [u8; 32]> = HashMap::from([
            (ED_TWIN, ed_signer().public_key()),
            (SR_TWIN, sr_signer().public_key()),
        ]);
        Node::start_keys(config, Arc::new(keys)).await
    }

    async fn start_keys(config: ServerConfig, keys: Arc<dyn KeyLookup>) -> Node {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let handler = Arc::new(TestHandler::default());
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(zos_api::serve(
            listener,
            config,
            keys,
            handler.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        Node {
            addr,
            handler,
            stop: Some(stop),
            task,
        }
    }

    fn client(&self, signer: Signer, twin: u32) -> Client {
        Client::new(&format!("http://{}", self.addr), signer, twin).expect("client")
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The five authentication headers for `body`, signed by `signer` as `twin`.
fn signed(signer: &Signer, twin: u32, timestamp: u64, nonce: &str, body: &[u8]) -> Headers {
    let message = signing_message("POST", "/api/v1", &body_hash(body), timestamp, nonce, twin);
    vec![
        (HEADER_TWIN_ID.into(), twin.to_string()),
        (HEADER_TIMESTAMP.into(), timestamp.to_string()),
        (HEADER_NONCE.into(), nonce.into()),
        (HEADER_SIGNATURE_TYPE.into(), signer.scheme().into()),
        (HEADER_SIGNATURE.into(), hex::encode(signer.sign(&message))),
    ]
}

type Headers = Vec<(String, String)>;

fn set(headers: &mut Headers, name: &str, value: String) {
    for (n, v) in headers.iter_mut() {
        if n == name {
            *v = value.clone();
        }
    }
}

/// Sends raw HTTP/1.1 bytes and reads the reply until the server closes: (status, JSON body).
async fn exchange(addr: SocketAddr, request: Vec<u8>) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may answer (and close) before the whole request is written: ignore write errors.
    let _ = stream.write_all(&request).await;
    read_reply(&mut stream).await
}

async fn read_reply(stream: &mut TcpStream) -> (u16, Value) {
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut reply))
        .await
        .expect("reply within 30 s")
        .expect("read reply");
    parse_reply(&reply)
}

fn parse_reply(reply: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(reply);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, body)
}

fn raw_request(method: &str, path: &str, headers: &Headers, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: node\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

async fn post(addr: SocketAddr, headers: &Headers, body: &[u8]) -> (u16, Value) {
    exchange(addr, raw_request("POST", "/api/v1", headers, body)).await
}

fn assert_refused(reply: &(u16, Value), status: u16, code: &str, needle: &str) {
    assert_eq!(reply.0, status, "{reply:?}");
    assert_eq!(reply.1["error"]["code"], code, "{reply:?}");
    let message = reply.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{needle:?} not in {reply:?}");
}

const VERSION: &[u8] = br#"{"command": "zos.system.version"}"#;

#[tokio::test]
async fn ed25519_and_sr25519_twins_call_commands() {
    let node = Node::start().await;
    let version: Value = node
        .client(ed_signer(), ED_TWIN)
        .call("zos.system.version", ())
        .await
        .expect("ed25519 call");
    assert_eq!(version, json!({"zos": "test", "zinit": "test"}));

    let reply: Value = node
        .client(sr_signer(), SR_TWIN)
        .call("zos.deployment.get", json!({"contract_id": 42}))
        .await
        .expect("sr25519 call");
    assert_eq!(
        reply,
        json!({"twin_id": SR_TWIN, "request": {"contract_id": 42}})
    );
    let calls = node.handler.calls.lock().expect("lock").clone();
    assert_eq!(
        calls,
        vec![
            (ED_TWIN, "zos.system.version".to_string(), Value::Null),
            (
                SR_TWIN,
                "zos.deployment.get".to_string(),
                json!({"contract_id": 42})
            ),
        ]
    );
}

#[tokio::test]
async fn replies_are_typed_and_raw_requests_with_the_documented_format_work() {
    #[derive(serde::Deserialize)]
    struct Version {
        zos: String,
        zinit: String,
    }
    let node = Node::start().await;
    let version: Version = node
        .client(ed_signer(), ED_TWIN)
        .call("zos.system.version", ())
        .await
        .expect("typed call");
    assert_eq!(
        (version.zos.as_str(), version.zinit.as_str()),
        ("test", "test")
    );

    let headers = signed(&sr_signer(), SR_TWIN, now(), "0011223344556677", VERSION);
    let reply = post(node.addr, &headers, VERSION).await;
    assert_eq!(
        reply,
        (200, json!({"data": {"zos": "test", "zinit": "test"}}))
    );
}

#[tokio::test]
async fn unknown_command_is_404() {
    let node = Node::start().await;
    let err = node
        .client(ed_signer(), ED_TWIN)
        .call::<Value>("zos.nope", ())
        .await
        .expect_err("unknown command");
    let ClientError::Api {
        status,
        code,
        message,
    } = err
    else {
        panic!("expected an API error, got {err}");
    };
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert_eq!(message, "unknown command \"zos.nope\"");
}

#[tokio::test]
async fn handler_errors_reach_the_caller() {
    let node = Node::start().await;
    let client = node.client(ed_signer(), ED_TWIN);
    let err = client
        .call::<Value>("zos.deployment.delete", json!({"contract_id": 1}))
        .await
        .expect_err("delete is disabled");
    assert!(
        matches!(&err, ClientError::Api { status: 400, code, message }
            if code == "bad_request" && message.contains("cancel your contract")),
        "{err}"
    );
    let err = client
        .call::<Value>("zos.statistics.get", ())
        .await
        .expect_err("handler fails");
    // the code reaches the caller; what failed inside stays in the node's log
    assert!(
        matches!(&err, ClientError::Api { status: 500, code, message }
            if code == "internal" && message.starts_with("the node failed to answer; reference ")),
        "{err}"
    );
}

#[tokio::test]
async fn a_bad_signature_is_401() {
    let node = Node::start().await;
    let mut headers = signed(&ed_signer(), ED_TWIN, now(), "a0a0a0a0a0a0a0a0", VERSION);
    let mut signature = hex::decode(&headers[4].1).expect("hex");
    signature[0] ^= 1;
    set(&mut headers, HEADER_SIGNATURE, hex::encode(signature));
    assert_refused(
        &post(node.addr, &headers, VERSION).await,
        401,
        "unauthorized",
        "bad ed25519 signature",
    );

    // A valid signature over another body.
    let headers = signed(&ed_signer(), ED_TWIN, now(), "a1a1a1a1a1a1a1a1", b"{}");
    assert_refused(
        &post(node.addr, &headers, VERSION).await,
        401,
        "unauthorized",
        "signature",
    );

    // A valid ed25519 signature announced as sr25519.
    let mut headers = signed(&ed_signer(), ED_TWIN, now(), "a2a2a2a2a2a2a2a2", VERSION);
    set(&mut headers, HEADER_SIGNATURE_TYPE, "sr25519".into());
    assert_refused(
        &post(node.addr, &headers, VERSION).await,
        401,
        "unauthorized",
        "bad sr25519 signature",
    );
    assert_eq!(node.handler.calls(), 0);
}

#[tokio::test]
async fn a_key_that_is_not_the_twins_is_401() {
    let node = Node::start().await;
    // The sr25519 key signing as the ed25519 twin.
    let err = node
        .client(sr_signer(), ED_TWIN)
        .call::<Value>("zos.system.version", ())
        .await
        .expect_err("wrong key");
    assert!(
        matches!(&err, ClientError::Api { status: 401, code, .. } if code == "unauthorized"),
        "{err}"
    );
    // A twin the node does not know.
    let err = node
        .client(ed_signer(), 999)
        .call::<Value>("zos.system.version", ())
        .await
        .expect_err("unknown twin");
    assert!(
        matches!(&err, ClientError::Api { status: 401, message, .. } if message == "unknown twin 999"),
        "{err}"
    );
    assert_eq!(node.handler.calls(), 0);
}

#[tokio::test]
async fn missing_or_malformed_headers_are_401() {
    let node = Node::start().await;
    let good = signed(&ed_signer(), ED_TWIN, now(), "b0b0b0b0b0b0b0b0", VERSION);
    for skip in 0..good.len() {
        let mut headers = good.clone();
        let (name, _) = headers.remove(skip);
        assert_refused(
            &post(node.addr, &headers, VERSION).await,
            401,
            "unauthorized",
            &format!("missing header {name}"),
        );
    }
    for (name, value) in [
        (HEADER_TWIN_ID, "eleven"),
        (HEADER_TIMESTAMP, "-5"),
        (HEADER_NONCE, "short"),
        (HEADER_SIGNATURE_TYPE, "rsa"),
        (HEADER_SIGNATURE, "00"),
    ] {
        let mut headers = good.clone();
        set(&mut headers, name, value.into());
        assert_refused(
            &post(node.addr, &headers, VERSION).await,
            401,
            "unauthorized",
            &format!("invalid header {name}"),
        );
    }
    assert_refused(
        &post(node.addr, &Vec::new(), VERSION).await,
        401,
        "unauthorized",
        "missing",
    );
    assert_eq!(node.handler.calls(), 0);
}

#[tokio::test]
async fn stale_and_future_timestamps_are_401() {
    let node = Node::start().await;
    for (timestamp, nonce) in [
        (now() - 3600, "c0c0c0c0c0c0c0c0"),
        (now() + 3600, "c1c1c1c1c1c1c1c1"),
        (0, "c2c2c2c2c2c2c2c2"),
        (u64::MAX, "c3c3c3c3c3c3c3c3"),
    ] {
        let headers = signed(&ed_signer(), ED_TWIN, timestamp, nonce, VERSION);
        assert_refused(
            &post(node.addr, &headers, VERSION).await,
            401,
            "unauthorized",
            "away from the node's clock",
        );
    }
    // Within the window either way is fine.
    for (timestamp, nonce) in [
        (now() - 30, "c4c4c4c4c4c4c4c4"),
        (now() + 30, "c5c5c5c5c5c5c5c5"),
    ] {
        let headers = signed(&ed_signer(), ED_TWIN, timestamp, nonce, VERSION);
        assert_eq!(post(node.addr, &headers, VERSION).await.0, 200);
    }
    assert_eq!(node.handler.calls(), 2);
}

#[tokio::test]
async fn a_replayed_request_is_401() {
    let node = Node::start().await;
    let headers = signed(&sr_signer(), SR_TWIN, now(), "d0d0d0d0d0d0d0d0", VERSION);
    let request = raw_request("POST", "/api/v1", &headers, VERSION);
    assert_eq!(exchange(node.addr, request.clone()).await.0, 200);
    assert_refused(
        &exchange(node.addr, request).await,
        401,
        "unauthorized",
        "nonce was already used",
    );
    assert_eq!(node.handler.calls(), 1);

    // The same nonce from another twin is another request.
    let headers = signed(&ed_signer(), ED_TWIN, now(), "d0d0d0d0d0d0d0d0", VERSION);
    assert_eq!(post(node.addr, &headers, VERSION).await.0, 200);
}

#[tokio::test]
async fn an_unauthenticated_request_does_not_burn_a_nonce() {
    let node = Node::start().await;
    let good = signed(&ed_signer(), ED_TWIN, now(), "e0e0e0e0e0e0e0e0", VERSION);
    let mut forged = good.clone();
    set(&mut forged, HEADER_SIGNATURE, "00".repeat(64));
    assert_eq!(post(node.addr, &forged, VERSION).await.0, 401);
    assert_eq!(post(node.addr, &good, VERSION).await.0, 200);
}

#[tokio::test]
async fn a_10_mb_body_is_413_before_it_is_sent() {
    let node = Node::start().await;
    let body = vec![b' '; 10 * 1024 * 1024];
    let headers = signed(&ed_signer(), ED_TWIN, now(), "f0f0f0f0f0f0f0f0", &body);
    // Only the headers and a first kilobyte are sent: the node must answer from Content-Length
    // alone, without waiting for (or holding) the rest.
    let mut request = raw_request("POST", "/api/v1", &headers, &[]);
    let head = String::from_utf8(request.clone()).expect("ascii");
    request = head
        .replace(
            "Content-Length: 0",
            &format!("Content-Length: {}", body.len()),
        )
        .into_bytes();
    request.extend_from_slice(&body[..1024]);
    let mut stream = TcpStream::connect(node.addr).await.expect("connect");
    stream.write_all(&request).await.expect("send head");
    assert_refused(
        &read_reply(&mut stream).await,
        413,
        "payload_too_large",
        &format!("at most {MAX_BODY} bytes"),
    );
    assert_eq!(node.handler.calls(), 0);
}

#[tokio::test]
async fn a_10_mb_chunked_body_is_413_once_past_the_limit() {
    let node = Node::start().await;
    let headers = signed(&ed_signer(), ED_TWIN, now(), "f1f1f1f1f1f1f1f1", b"");
    let mut head =
        "POST /api/v1 HTTP/1.1\r\nHost: node\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
            .to_string();
    for (name, value) in &headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let stream = TcpStream::connect(node.addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    // Streams up to 10 MiB in 64 KiB chunks until the node stops reading.
    let sender = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0usize;
        while sent < 10 * 1024 * 1024 {
            writer
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            writer.write_all(&chunk).await?;
            writer.write_all(b"\r\n").await?;
            sent += chunk.len();
        }
        writer.write_all(b"0\r\n\r\n").await?;
        Ok::<usize, std::io::Error>(sent)
    });
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut reply))
        .await
        .expect("reply within 30 s")
        .expect("read reply");
    assert_refused(&parse_reply(&reply), 413, "payload_too_large", "at most");
    sender.abort();
    assert_eq!(node.handler.calls(), 0);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let node = Node::start().await;
    for (body, nonce) in [
        (&b"{\"command\": "[..], "1010101010101010"),
        (b"not json", "1111111111111111"),
        (br#"{"data": {}}"#, "1212121212121212"),
        (br#"{"command": 5}"#, "1313131313131313"),
        (
            br#"{"command": "zos.system.version", "extra": 1}"#,
            "1414141414141414",
        ),
        (b"", "1515151515151515"),
    ] {
        let headers = signed(&ed_signer(), ED_TWIN, now(), nonce, body);
        assert_refused(
            &post(node.addr, &headers, body).await,
            400,
            "bad_request",
            "expected JSON",
        );
    }
    assert_eq!(node.handler.calls(), 0);
}

#[tokio::test]
async fn other_paths_and_methods_are_refused() {
    let node = Node::start().await;
    let headers = signed(&ed_signer(), ED_TWIN, now(), "2020202020202020", VERSION);
    for path in ["/", "/api/v2", "/api/v1/", "/api/v1?command=x"] {
        assert_refused(
            &exchange(node.addr, raw_request("POST", path, &headers, VERSION)).await,
            404,
            "not_found",
            "POST /api/v1 only",
        );
    }
    assert_refused(
        &exchange(node.addr, raw_request("GET", "/api/v1", &headers, VERSION)).await,
        405,
        "method_not_allowed",
        "GET",
    );
    assert_eq!(node.handler.calls(), 0);
}

#[tokio::test]
async fn concurrent_calls_are_served() {
    let node = Node::start().await;
    let ed = node.client(ed_signer(), ED_TWIN);
    let sr = node.client(sr_signer(), SR_TWIN);
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (client, twin) = if i % 2 == 0 {
            (ed.clone(), ED_TWIN)
        } else {
            (sr.clone(), SR_TWIN)
        };
        calls.spawn(async move { (twin, client.call::<u32>("zos.slow", ()).await) });
    }
    let mut served = 0;
    while let Some(joined) = calls.join_next().await {
        let (twin, answer) = joined.expect("task");
        assert_eq!(answer.expect("call"), twin);
        served += 1;
    }
    assert_eq!(served, 40);
    assert_eq!(node.handler.calls(), 40);
}

#[tokio::test]
async fn the_client_times_out_and_reports_refused_connections() {
    // A listener that accepts and never answers.
    let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind loopback");
    let addr = silent.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let client = Client::new(&format!("http://{addr}"), ed_signer(), ED_TWIN)
        .expect("client")
        .with_timeout(Duration::from_millis(300));
    let err = client
        .call::<Value>("zos.system.version", ())
        .await
        .expect_err("no answer");
    assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
    hold.abort();

    // Nothing listens on a port just released.
    let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind loopback");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let client = Client::new(&format!("http://{addr}"), ed_signer(), ED_TWIN).expect("client");
    let err = client
        .call::<Value>("zos.system.version", ())
        .await
        .expect_err("refused");
    assert!(matches!(err, ClientError::Transport { .. }), "{err}");
}

#[tokio::test]
async fn the_server_stops_on_shutdown() {
    let mut node = Node::start().await;
    if let Some(stop) = node.stop.take() {
        stop.send(()).expect("server running");
    }
    tokio::time::timeout(Duration::from_secs(5), &mut node.task)
        .await
        .expect("stops within 5 s")
        .expect("no panic");
}

#[tokio::test]
async fn a_twin_past_its_share_of_the_replay_guard_gets_429() {
    let node = Node::start_with(ServerConfig {
        replay_capacity_per_twin: 3,
        ..ServerConfig::default()
    })
    .await;
    let busy = node.client(ed_signer(), ED_TWIN);
    for _ in 0..3 {
        busy.call::<Value>("zos.system.version", ())
            .await
            .expect("within the share");
    }
    let err = busy
        .call::<Value>("zos.system.version", ())
        .await
        .expect_err("past the share");
    assert!(
        matches!(&err, ClientError::Api { status: 429, code, .. } if code == "too_many_requests"),
        "{err}"
    );
    node.client(sr_signer(), SR_TWIN)
        .call::<Value>("zos.system.version", ())
        .await
        .expect("another twin is served");
    assert_eq!(node.handler.calls(), 4);
}

// ---- hostile clients: each prints one `hostile <attack>:` line with its figures first ----

/// Counts lookups; knows twins 1000.. with seeds of their own, fails for twin 666 with a reason
/// naming an internal URL.
#[derive(Default)]
struct CountingKeys {
    calls: std::sync::atomic::AtomicUsize,
}

fn many_signer(twin: u32) -> Signer {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&twin.to_le_bytes());
    Signer::ed25519_from_seed(&seed)
}

#[async_trait]
impl KeyLookup for CountingKeys {
    async fn public_key(&self, twin_id: u32) -> Result<Option<[u8; 32]>, zos_api::KeyError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match twin_id {
            666 => Err(zos_api::KeyError {
                twin_id,
                reason: "wss://chain.internal.example:443 refused the connection".into(),
            }),
            t if (1000..2000).contains(&t) => Ok(Some(many_signer(t).public_key())),
            _ => Ok(None),
        }
    }
}

fn signed_version(twin: u32, nonce: &str) -> Headers {
    signed(&many_signer(twin), twin, now(), nonce, VERSION)
}

/// 300 requests naming one unknown twin and 300 naming 300 different ones: how many key
/// lookups (chain calls on a node) they cost.
#[tokio::test]
async fn unknown_twins_cost_few_lookups() {
    let keys = Arc::new(CountingKeys::default());
    let node = Node::start_keys(ServerConfig::default(), keys.clone()).await;
    let mut statuses = HashMap::new();
    for i in 0..300u32 {
        let reply = post(node.addr, &signed_version(5, &format!("{i:032x}")), VERSION).await;
        *statuses.entry(reply.0).or_insert(0) += 1;
    }
    let same = keys.calls.load(std::sync::atomic::Ordering::SeqCst);
    let started = std::time::Instant::now();
    for i in 0..300u32 {
        let reply = post(
            node.addr,
            &signed_version(10_000 + i, &format!("{i:032x}")),
            VERSION,
        )
        .await;
        *statuses.entry(reply.0).or_insert(0) += 1;
    }
    let distinct = keys.calls.load(std::sync::atomic::Ordering::SeqCst) - same;
    eprintln!(
        "hostile api-unknown-twins: {same} lookups for 300 requests of one unknown twin, {distinct} for 300 different unknown twins, statuses {statuses:?}"
    );
    assert_eq!(same, 1);
    // a burst of ten times the rate, then the rate
    let rate = f64::from(ServerConfig::default().key_lookups_per_second);
    let allowed = 10.0 * rate + rate * started.elapsed().as_secs_f64() + 1.0;
    assert!(
        distinct as f64 <= allowed,
        "{distinct} lookups, {allowed} allowed"
    );
    assert!(
        statuses.keys().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
}

/// 300 idle connections from one address: how many the server keeps; a caller from another
/// address is still served.
#[tokio::test]
async fn connections_from_one_peer_are_capped() {
    let node = Node::start().await;
    let mut conns = Vec::new();
    for _ in 0..300 {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 2], 0)))
            .expect("bind 127.0.0.2");
        if let Ok(c) = socket.connect(node.addr).await {
            conns.push(c);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut open = 0;
    for c in &mut conns {
        let mut b = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(20), c.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            _ => open += 1,
        }
    }
    let served = node
        .client(ed_signer(), ED_TWIN)
        .call::<Value>("zos.system.version", ())
        .await;
    eprintln!(
        "hostile api-connections: {open}/300 idle connections from one address kept, another caller served: {}",
        served.is_ok()
    );
    assert_eq!(open, ServerConfig::default().max_connections_per_peer);
    served.expect("another address is served");
}

/// 40 signed requests that declare a 1 MiB body, send half and stall: those past the body
/// budget (8 MiB here) are refused at once rather than held.
#[tokio::test]
async fn bodies_in_flight_are_capped() {
    let node = Node::start_keys(
        ServerConfig {
            max_body_bytes_in_flight: 8 * MAX_BODY,
            ..ServerConfig::default()
        },
        Arc::new(CountingKeys::default()),
    )
    .await;
    let body = vec![b' '; MAX_BODY];
    let mut streams = Vec::new();
    for i in 0..40u32 {
        let twin = 1000 + i;
        let headers = signed(&many_signer(twin), twin, now(), &format!("{i:032x}"), &body);
        let mut request = raw_request("POST", "/api/v1", &headers, &body);
        request.truncate(request.len() - MAX_BODY / 2);
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 3 + (i % 4) as u8], 0)))
            .expect("bind");
        let mut s = socket.connect(node.addr).await.expect("connect");
        s.write_all(&request).await.expect("send");
        streams.push(s);
    }
    let mut refused = 0;
    for s in &mut streams {
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(Duration::from_millis(500), s.read_to_end(&mut reply)).await;
        if !reply.is_empty() && parse_reply(&reply).0 == 503 {
            refused += 1;
        }
    }
    eprintln!("hostile api-bodies-in-flight: {refused}/40 half-sent 1 MiB bodies refused at once");
    assert!(refused >= 32, "{refused} refused");
    Client::new(&format!("http://{}", node.addr), many_signer(1999), 1999)
        .expect("client")
        .call::<Value>("zos.system.version", ())
        .await
        .expect("a small call is served");
}

/// 50 twins use all their share of a replay guard of 50 x 20: a 51st twin and one of the 50
/// with a fresh request are still served.
#[tokio::test]
async fn fifty_twins_cannot_lock_everyone_out_of_the_replay_guard() {
    let node = Node::start_keys(
        ServerConfig {
            replay_capacity: 1000,
            replay_capacity_per_twin: 20,
            ..ServerConfig::default()
        },
        Arc::new(CountingKeys::default()),
    )
    .await;
    let mut tasks = Vec::new();
    for t in 0..50u32 {
        let client = Client::new(
            &format!("http://{}", node.addr),
            many_signer(1000 + t),
            1000 + t,
        )
        .expect("client");
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                client
                    .call::<Value>("zos.system.version", ())
                    .await
                    .expect("within the share");
            }
        }));
    }
    for t in tasks {
        t.await.expect("no panic");
    }
    let newcomer = Client::new(&format!("http://{}", node.addr), many_signer(1999), 1999)
        .expect("client")
        .call::<Value>("zos.system.version", ())
        .await;
    let sr = node
        .client(ed_signer(), ED_TWIN)
        .call::<Value>("zos.system.version", ())
        .await;
    eprintln!(
        "hostile api-replay-fill: after 50 twins x 20 requests, a new twin: {}",
        match &newcomer {
            Ok(_) => "served".to_string(),
            Err(e) => e.to_string(),
        }
    );
    newcomer.expect("a new twin is served");
    let _ = sr;
}

/// A failing key lookup (its reason names an internal URL) and a failing handler: the caller
/// gets a generic message, never the details.
#[tokio::test]
async fn internal_errors_say_nothing_about_the_node() {
    let node = Node::start_keys(ServerConfig::default(), Arc::new(CountingKeys::default())).await;
    let lookup = post(node.addr, &signed_version(666, &"ab".repeat(16)), VERSION).await;
    let handler_node = Node::start().await;
    let handler = handler_node
        .client(ed_signer(), ED_TWIN)
        .call::<Value>("zos.statistics.get", ())
        .await
        .expect_err("the handler fails");
    eprintln!(
        "hostile api-error-details: key lookup failure -> {} {}, handler failure -> {handler}",
        lookup.0, lookup.1
    );
    let text = lookup.1.to_string();
    assert!(
        !text.contains("wss://") && !text.contains("internal.example"),
        "{text}"
    );
    assert!(
        !handler.to_string().contains("statistics unavailable"),
        "{handler}"
    );
}
