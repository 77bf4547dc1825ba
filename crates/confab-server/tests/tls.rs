//! TLS in `confab serve`: msync over wss and REST over https against a throwaway CA, clients
//! that fail the handshake, graceful shutdown of both listeners, and certificate startup errors.

mod common;

use std::time::Duration;

use common::{TestPki, TestServer, APP, ORG, WAIT};
use confab_proto::pb::{m_sync::Command, CommNotice};
use confab_server::{config::TlsConfig, Config, Listeners};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn msync_over_wss_and_rest_over_https() {
    let server = TestServer::start_tls().await;
    // REST: the SDK's password login, over https.
    let (status, body) = server
        .https(
            "POST",
            &format!("/{ORG}/{APP}/token"),
            None,
            &json!({"grant_type": "password", "username": "leo", "password": "secret"}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().unwrap().starts_with("007"));

    let mut roy = server.login_tls("roy", "web").await;
    let mut leo = server.login_tls("leo", "web").await;
    let ack = leo
        .send_text(1, "roy", "leo", "Hi, how are you doing?")
        .await;
    assert_eq!(ack.status.unwrap().error_code, Some(0));
    assert!(ack.server_id.is_some());
    let notice: CommNotice = roy.expect(Command::Notice).await;
    assert_eq!(notice.queue.unwrap().name.as_deref(), Some("leo"));
    assert_eq!(roy.drain("leo").await, ["Hi, how are you doing?"]);

    // The plain listener serves the same routes.
    let (status, _) = server.get_with_host("/easemob/server.json", "x").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn failed_handshakes_do_not_disturb_the_server() {
    let server = TestServer::start_tls().await;
    let mut witness = server.login_tls("roy", "web").await;

    // A client that trusts another CA refuses the certificate.
    let stranger = TestPki::generate().connector();
    let error = server.tls_connect(&stranger).await.unwrap_err();
    assert!(
        error.to_string().to_lowercase().contains("certificate"),
        "{error}"
    );
    // Plain HTTP on the TLS port, and a client that goes silent mid-handshake.
    let mut plain = TcpStream::connect(server.tls_address.unwrap())
        .await
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = Vec::new();
    let _ = tokio::time::timeout(WAIT, plain.read_to_end(&mut buffer))
        .await
        .unwrap();
    let _silent = TcpStream::connect(server.tls_address.unwrap())
        .await
        .unwrap();

    // Everyone else is still served: the open session, new TLS clients, plain HTTP.
    let mut leo = server.login_tls("leo", "web").await;
    let ack = leo.send_text(7, "roy", "leo", "still here").await;
    assert_eq!(ack.status.unwrap().error_code, Some(0));
    let _: CommNotice = witness.expect(Command::Notice).await;
    let (status, _) = server.https("GET", "/easemob/server.json", None, "").await;
    assert_eq!(status, 200);
    let (status, _) = server.http("GET", "/easemob/server.json", None, "").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn shutdown_closes_both_listeners_and_their_sessions() {
    let mut server = TestServer::start_tls().await;
    let mut over_tls = server.login_tls("leo", "web").await;
    let mut plain = server.login("roy", "web").await;
    let (http, https) = (server.address, server.tls_address.unwrap());
    server.shutdown().await;
    for received in [over_tls.receive().await, plain.receive().await] {
        assert!(
            matches!(received, common::Received::Closed(Some(1001) | None)),
            "{received:?}"
        );
    }
    for address in [http, https] {
        assert!(TcpStream::connect(address).await.is_err(), "{address}");
    }
}

#[tokio::test]
async fn restart_keeps_tls() {
    let mut server = TestServer::start_tls().await;
    server.restart().await;
    let mut leo = server.login_tls("leo", "web").await;
    assert!(leo.unread().await.status.is_some());
}

/// Runs the server with `tls` and returns its startup error.
#[allow(clippy::unwrap_used)] // test support
async fn startup_error(tls: TlsConfig) -> String {
    let data_dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: data_dir.path().to_owned(),
        tls: Some(tls),
        ..Config::default()
    };
    let listeners = Listeners {
        http: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        tls: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
    };
    let result = tokio::time::timeout(
        WAIT,
        confab_server::run(
            config,
            listeners,
            |_| panic!("must not become ready"),
            std::future::pending(),
        ),
    )
    .await
    .unwrap();
    result.unwrap_err().to_string()
}

#[tokio::test]
async fn bad_certificates_are_startup_errors() {
    let pki = TestPki::generate();
    let other = TestPki::generate();
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");

    let with = |cert_file: &std::path::Path, key_file: &std::path::Path| TlsConfig {
        cert_file: cert_file.to_owned(),
        key_file: key_file.to_owned(),
        ..pki.tls_config()
    };
    let cases = [
        (
            with(&missing, &pki.key_file),
            "cannot read TLS certificate file",
        ),
        (with(&garbage, &pki.key_file), "holds no PEM certificate"),
        (with(&pki.cert_file, &missing), "cannot read TLS key file"),
        (with(&pki.cert_file, &garbage), "holds no PEM private key"),
        // The key of another certificate.
        (with(&pki.cert_file, &other.key_file), "with key"),
        // A certificate where the key should be.
        (
            with(&pki.cert_file, &pki.cert_file),
            "holds no PEM private key",
        ),
    ];
    for (tls, expected) in cases {
        let label = format!("{} / {}", tls.cert_file.display(), tls.key_file.display());
        let message = startup_error(tls).await;
        assert!(message.contains(expected), "{label}: {message}");
    }
}

#[tokio::test]
async fn a_tls_listener_needs_tls_config() {
    let data_dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: data_dir.path().to_owned(),
        ..Config::default()
    };
    let listeners = Listeners {
        http: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        tls: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
    };
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        confab_server::run(config, listeners, |_| {}, std::future::pending()),
    )
    .await
    .unwrap();
    assert!(result.unwrap_err().to_string().contains("[tls]"));
}
