//! The HTTP listener under clients that stall or pile up connections: header and idle
//! timeouts, the body-rate floor, the per-address cap, a shutdown with a deadline, health and
//! readiness, and the per-app REST rate limit.

#![allow(clippy::unwrap_used)] // test helpers: a failed step should stop the test loudly

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, APP, ORG};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; returns what it sent, or panics after `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return received,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => panic!(
                "still open after {limit:?}; received {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
}

/// Status and JSON body of a raw HTTP/1.1 response.
fn parse_response(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn assert_error_shape(status: u16, body: &Value, expected_status: u16, error: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert!(
        body["timestamp"].is_u64() && body["duration"] == 0,
        "{body}"
    );
}

fn short_timeouts(config: &mut confab_server::Config) {
    config.http.header_read_timeout_secs = 1;
    config.http.keep_alive_timeout_secs = 1;
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_header_timeout() {
    let server = TestServer::start_with(short_timeouts).await;
    let mut silent = TcpStream::connect(server.address).await.unwrap();
    let started = Instant::now();
    let received = read_until_closed(&mut silent, Duration::from_secs(4)).await;
    assert!(received.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900));

    // Idle after a response: closed after the keep-alive timeout.
    let mut idle = TcpStream::connect(server.address).await.unwrap();
    idle.write_all(b"GET /readyz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let received = read_until_closed(&mut idle, Duration::from_secs(4)).await;
    assert!(received.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn a_header_trickler_is_cut() {
    let server = TestServer::start_with(short_timeouts).await;
    let mut trickler = TcpStream::connect(server.address).await.unwrap();
    let started = Instant::now();
    trickler
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    let mut closed = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if trickler.write_all(b"X-Slow: a\r\n").await.is_err() {
            closed = true;
            break;
        }
        let mut byte = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(1), trickler.read(&mut byte)).await
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickled head was not cut");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn body_tricklers_are_cut_with_408_in_the_json_shape() {
    let server = TestServer::start_with(|config| {
        config.http.body_min_bytes_per_window = 1024;
        config.http.body_rate_window_secs = 1;
    })
    .await;
    let token = server.app_token().await;
    for (path, content_type) in [
        (format!("/{ORG}/{APP}/users"), "application/json"),
        (
            format!("/{ORG}/{APP}/chatfiles"),
            "multipart/form-data; boundary=XyZ",
        ),
    ] {
        let mut trickler = TcpStream::connect(server.address).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: {content_type}\r\nContent-Length: 100000\r\n\r\n"
        );
        trickler.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let (mut reader, mut writer) = trickler.into_split();
        let trickle = tokio::spawn(async move {
            let start: &[u8] = if content_type.starts_with("multipart") {
                b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\n"
            } else {
                b"["
            };
            let _ = writer.write_all(start).await;
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if writer.write_all(b"aaaaaaaaaa").await.is_err() {
                    return;
                }
            }
        });
        let mut received = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut received))
            .await
            .expect("the body trickler was not cut")
            .ok();
        trickle.abort();
        let (status, body) = parse_response(&received);
        assert_error_shape(status, &body, 408, "request_timeout");
        assert!(started.elapsed() < Duration::from_secs(4), "{path}");
    }
}

#[tokio::test]
async fn connections_per_address_are_capped_websockets_included() {
    let server = TestServer::start_with(|config| {
        short_timeouts(config);
        config.http.max_connections_per_ip = 3;
    })
    .await;
    // A logged-in WebSocket holds a place, and outlives the HTTP timeouts.
    let mut leo = server.login("leo", "web").await;
    let _silent_one = TcpStream::connect(server.address).await.unwrap();
    let _silent_two = TcpStream::connect(server.address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut refused = TcpStream::connect(server.address).await.unwrap();
    refused
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .ok();
    let received = read_until_closed(&mut refused, Duration::from_secs(1)).await;
    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );

    // Once the silent ones are closed by the header timeout, REST works again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, body) = server.http("GET", "/readyz", None, "").await;
    assert_eq!(status, 200, "{body}");
    // The WebSocket is still served.
    let ack = leo.send_text(1, "roy", "leo", "still here").await;
    assert!(ack.server_id.is_some());
}

#[tokio::test]
async fn shutdown_ends_within_its_deadline_despite_stalled_requests() {
    let mut server = TestServer::start_with(|config| {
        config.http.shutdown_timeout_secs = 1;
        config.http.header_read_timeout_secs = 60;
        config.http.body_min_bytes_per_window = 1;
        config.http.body_rate_window_secs = 60;
    })
    .await;
    let token = server.app_token().await;
    let mut head_trickler = TcpStream::connect(server.address).await.unwrap();
    head_trickler
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    let mut body_trickler = TcpStream::connect(server.address).await.unwrap();
    let head = format!(
        "POST /{ORG}/{APP}/users HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{{"
    );
    body_trickler.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    server.shutdown().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    let closed = read_until_closed(&mut body_trickler, Duration::from_secs(1)).await;
    assert!(!closed.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn health_and_readiness() {
    let mut server = TestServer::start().await;
    let (status, body) = server.http("GET", "/healthz", None, "").await;
    assert_eq!((status, &body["status"]), (200, &"ok".into()), "{body}");
    let (status, body) = server.http("GET", "/readyz", None, "").await;
    assert_eq!((status, &body["status"]), (200, &"ok".into()), "{body}");

    // A request begun before shutdown is still answered: not ready.
    let mut open = TcpStream::connect(server.address).await.unwrap();
    open.write_all(b"GET /readyz HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    open.write_all(b"Host: test\r\n\r\n").await.unwrap();
    let (status, body) =
        parse_response(&read_until_closed(&mut open, Duration::from_secs(5)).await);
    assert_eq!(
        (status, &body["status"]),
        (503, &"draining".into()),
        "{body}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn rest_requests_are_limited_per_app_with_429() {
    // Starting the server takes a few requests of the burst (an app token, three users).
    let server = TestServer::start_with(|config| {
        config.http.rest_requests_per_sec = 1;
        config.http.rest_burst = 10;
    })
    .await;
    let token = server.app_token().await;
    let mut limited = None;
    for _ in 0..20 {
        let (status, body) = server
            .http("GET", &format!("/{ORG}/{APP}/users/leo"), Some(&token), "")
            .await;
        if status != 200 {
            limited = Some((status, body));
            break;
        }
    }
    let (status, body) = limited.expect("never limited");
    assert_error_shape(status, &body, 429, "too_many_requests");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("The request has reached the maximum limit"));
    // Another app has its own bucket; health checks have none.
    let (status, body) = server
        .http("GET", "/org2/app2/users/leo", Some(&token), "")
        .await;
    assert_ne!(status, 429, "{body}");
    let (status, _) = server.http("GET", "/healthz", None, "").await;
    assert_eq!(status, 200);
}
