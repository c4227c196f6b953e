//! The admin client (`zdb::admin`) against the real server on a unix socket: every command the
//! node uses, typed NSINFO, refusals with zdb's words, a wrong password, and the kept
//! connection surviving a server restart.

mod common;
use common::*;
use zdb::admin::{AdminClient, AdminError, Property};
use zdb::format::Mode;

fn server(dir: &std::path::Path) -> TestServer {
    let socket = dir.join("zdb.sock");
    TestServer::start_with(|c| {
        c.settings.admin = Some(b"s3cret".to_vec());
        c.settings.protect = true;
        c.unix = Some(socket);
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_node_manages_namespaces_through_the_admin_client() {
    let sockets = tempfile::tempdir().unwrap();
    let mut s = server(sockets.path());
    let socket = sockets.path().join("zdb.sock");
    let rt = runtime();
    let admin = AdminClient::new(&socket, "s3cret");
    rt.block_on(async {
        admin.ping().await.unwrap();
        assert_eq!(admin.info("7-1-kv").await.unwrap(), None);
        admin.create("7-1-kv").await.unwrap();
        let refused = admin.create("7-1-kv").await.unwrap_err();
        assert!(
            matches!(&refused, AdminError::Refused { command, message }
                if command == "NSNEW" && message == "This namespace is not available"),
            "{refused:?}"
        );
        for p in [
            Property::MaxSize(1 << 30),
            Property::Public(false),
            Property::Password(Some("pw".into())),
            Property::Mode(Mode::Seq),
        ] {
            admin.set("7-1-kv", &p).await.unwrap();
        }
        let info = admin.info("7-1-kv").await.unwrap().unwrap();
        assert_eq!(info.name, "7-1-kv");
        assert_eq!(info.data_limits_bytes, 1 << 30);
        assert!(!info.public && info.password);
        assert_eq!(info.mode, Mode::Seq);
        assert_eq!(info.entries, 0);
        assert!(info.files.is_some(), "the admin sees the files");
        admin
            .set("7-1-kv", &Property::Password(None))
            .await
            .unwrap();
        assert!(!admin.info("7-1-kv").await.unwrap().unwrap().password);
        assert_eq!(admin.list().await.unwrap(), ["default", "7-1-kv"]);
    });

    // A client that writes into the namespace shows up in NSINFO.
    let mut c = s.client();
    ok(&mut c, &["SELECT", "7-1-kv"]);
    ok(&mut c, &["SET", "", "hello"]);
    rt.block_on(async {
        let info = admin.info("7-1-kv").await.unwrap().unwrap();
        assert_eq!(info.entries, 1);
        assert!(info.data_size_bytes >= 5);
    });

    // The kept connection dies with the server; the next call opens a new one.
    drop(c);
    s.restart();
    rt.block_on(async {
        assert_eq!(
            admin.info("7-1-kv").await.unwrap().unwrap().entries,
            1,
            "after a restart"
        );
        admin.delete("7-1-kv").await.unwrap();
        assert_eq!(admin.list().await.unwrap(), ["default"]);
        let wrong = AdminClient::new(&socket, "nope");
        let e = wrong.ping().await.unwrap_err();
        assert!(
            matches!(&e, AdminError::Refused { command, .. } if command == "AUTH"),
            "{e:?}"
        );
        let gone = AdminClient::new(sockets.path().join("none.sock"), "s3cret");
        assert!(matches!(gone.ping().await, Err(AdminError::Connect { .. })));
    });
}
