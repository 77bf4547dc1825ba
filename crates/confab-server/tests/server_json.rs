//! HttpDNS: `GET /easemob/server.json` (PROTOCOL.md §2.5), pinned as whole documents.

mod common;

use common::{TestServer, APP_KEY};
use confab_server::config::DataCenterConfig;
use serde_json::{json, Value};

fn data_center(name: &str, rest: &str, websocket: &str) -> DataCenterConfig {
    DataCenterConfig {
        name: name.into(),
        rest: rest.into(),
        websocket: websocket.into(),
    }
}

/// The document around the given host lists.
fn document(rest: Value, msync: Value) -> Value {
    json!({
        "rest": {"hosts": rest},
        "msync-ws": {"hosts": msync},
        "msync-wx": {"hosts": msync},
        "enableReportLogs": "false",
        "reportInterval": "300000",
        "enableDataReport": "false",
        "uploadinparts_enable": "true",
    })
}

fn host(protocol: &str, domain: &str, ip: &str, port: &str) -> Value {
    json!({"protocol": protocol, "domain": domain, "ip": ip, "port": port})
}

async fn configured_server() -> TestServer {
    TestServer::start_with(|config| {
        config.data_centers = vec![
            data_center(
                "cn-east",
                "https://im.example.com",
                "wss://im.example.com/websocket",
            ),
            data_center("lab", "http://10.0.0.5:5280", "ws://10.0.0.5:5280"),
        ];
    })
    .await
}

#[tokio::test]
async fn configured_data_centers_for_an_app_key() {
    let server = configured_server().await;
    let expected = document(
        json!([
            host("https", "im.example.com", "", "443"),
            host("http", "10.0.0.5", "10.0.0.5", "5280"),
        ]),
        json!([
            host("https", "im.example.com", "", "443"),
            host("http", "10.0.0.5", "10.0.0.5", "5280"),
        ]),
    );
    for path in [
        // The web builds: URL-encoded, with the cache buster.
        "/easemob/server.json?app_key=org1%23app1&_v=1700000000000",
        // The mini-program build sends its query twice.
        "/easemob/server.json?app_key=org1%23app1&_v=1&app_key=org1%23app1",
        "/easemob/server.json?app_key=nobody%23here&app_key=org1%23app1",
        // A DNS host with a trailing slash; the path normaliser collapses it.
        "//easemob/server.json?app_key=org1%23app1",
        // No app at all: the hosts alone.
        "/easemob/server.json",
    ] {
        let (status, body) = server.get_with_host(path, "rs.easemob.com").await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body, expected, "{path}");
    }
}

#[tokio::test]
async fn an_app_id_lookup_names_the_app_key() {
    let server = configured_server().await;
    let path = format!(
        "/easemob/server.json?app_id={}&sdk_version=4.10.0&file_version=1&_v=1",
        server.app_id
    );
    let (status, body) = server.get_with_host(&path, "rs.easemob.com").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["app_key"], APP_KEY);
    assert_eq!(
        body["msync-wx"]["hosts"][0],
        host("https", "im.example.com", "", "443")
    );
}

#[tokio::test]
async fn unknown_apps_get_the_app_not_found_error() {
    let server = configured_server().await;
    for path in [
        "/easemob/server.json?app_key=nobody%23here",
        "/easemob/server.json?app_key=not-an-app-key",
        "/easemob/server.json?app_id=0123456789abcdef0123456789abcdef",
    ] {
        let (status, body) = server.get_with_host(path, "rs.easemob.com").await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(
            body["error"], "organization_application_not_found",
            "{path}"
        );
        assert_eq!(
            body["error_description"],
            "Could not find application for this org/app"
        );
    }
}

#[tokio::test]
async fn without_data_centers_the_request_names_the_host() {
    let server = TestServer::start_tls().await;
    let port = server.address.port();
    let path = "/easemob/server.json?app_key=org1%23app1";

    let (status, body) = server.get_with_host(path, "chat.test:5280").await;
    assert_eq!(status, 200, "{body}");
    let entry = host("http", "chat.test", "", "5280");
    assert_eq!(body, document(json!([entry]), json!([entry])));

    let (_, body) = server
        .get_with_host(path, &format!("127.0.0.1:{port}"))
        .await;
    let entry = host("http", "127.0.0.1", "127.0.0.1", &port.to_string());
    assert_eq!(body, document(json!([entry]), json!([entry])));

    // Over the TLS listener: https, and the scheme's default port when Host has none.
    let (status, body) = server.https_get_with_host(path, "im.example.com").await;
    assert_eq!(status, 200, "{body}");
    let entry = host("https", "im.example.com", "", "443");
    assert_eq!(body, document(json!([entry]), json!([entry])));
}
