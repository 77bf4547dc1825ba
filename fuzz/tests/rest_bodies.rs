//! REST bodies through a real server (`confab_server::run` on loopback): every route that
//! takes a body gets the seeds of `corpus/rest/` mutated, and random bytes, under each content
//! type the SDKs send. Whatever arrives, the answer is 200 or the Easemob JSON error shape
//! (`{error, error_description, timestamp, duration}`), never a 5xx, and the server keeps
//! answering.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test loudly

#[path = "../../crates/confab-server/tests/common/mod.rs"]
mod common;

use std::sync::OnceLock;

use common::{exchange, TestServer};
use confab_fuzz::{config, corpus, inputs};
use proptest::prelude::*;
use serde_json::Value;
use tokio::runtime::Runtime;

/// Who a route's bearer token speaks for.
#[derive(Debug, Clone, Copy)]
enum Bearer {
    None,
    App,
    User,
}

const ROUTES: &[(&str, &str, Bearer)] = &[
    ("POST", "/org1/app1/token", Bearer::None),
    ("POST", "/org1/app1/users", Bearer::App),
    ("POST", "/org1/app1/users", Bearer::None),
    ("PUT", "/org1/app1/users/amy/password", Bearer::User),
    ("PUT", "/org1/app1/users/amy/password", Bearer::App),
    ("POST", "/org1/app1/users/batch/status", Bearer::App),
    ("POST", "/org1/app1/messages/users", Bearer::App),
    ("POST", "/org1/app1/messages/users/import", Bearer::App),
    ("POST", "/org1/app1/messages/msg_recall", Bearer::App),
    ("POST", "/org1/app1/users/leo/messageroaming", Bearer::User),
    ("POST", "/org1/app1/reaction/user/leo", Bearer::User),
    ("DELETE", "/org1/app1/reaction/user/leo", Bearer::User),
    (
        "POST",
        "/org1/app1/sdk/user/leo/user_channel/pin",
        Bearer::User,
    ),
    (
        "POST",
        "/org1/app1/sdk/user/leo/user_channel/top",
        Bearer::User,
    ),
    (
        "POST",
        "/org1/app1/sdk/user/leo/user_channels/mark",
        Bearer::User,
    ),
    (
        "DELETE",
        "/org1/app1/sdk/user/leo/user_channels/mark",
        Bearer::User,
    ),
    ("DELETE", "/org1/app1/user/leo/user_channel", Bearer::User),
    (
        "DELETE",
        "/org1/app1/sdk/message/roaming/chat/user/leo",
        Bearer::User,
    ),
    (
        "DELETE",
        "/org1/app1/sdk/message/roaming/chat/user/leo/time",
        Bearer::User,
    ),
    ("POST", "/org1/app1/sdk/chatfiles/part-upload", Bearer::User),
    (
        "POST",
        "/org1/app1/sdk/chatfiles/part-upload/00000000-0000-0000-0000-000000000000",
        Bearer::User,
    ),
    ("POST", "/org1/app1/chatfiles", Bearer::User),
];

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("text/plain"),
    Some("multipart/form-data; boundary=fuzzboundary"),
    None,
];

struct Target {
    runtime: Runtime,
    server: TestServer,
    app_token: String,
    user_token: String,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (server, app_token) = runtime.block_on(async {
            let server = TestServer::start().await;
            let app_token = server.app_token().await;
            (server, app_token)
        });
        let user_token = server.user_token("leo", 3600);
        Target {
            runtime,
            server,
            app_token,
            user_token,
        }
    })
}

/// One request: the status and the body.
async fn request(
    target: &Target,
    (method, path, bearer): (&str, &str, Bearer),
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    match bearer {
        Bearer::None => {}
        Bearer::App => head.push_str(&format!("Authorization: Bearer {}\r\n", target.app_token)),
        Bearer::User => head.push_str(&format!("Authorization: Bearer {}\r\n", target.user_token)),
    }
    let reply = exchange(&target.server, &head, body).await;
    (reply.status, reply.body)
}

fn is_error_shape(body: &[u8]) -> bool {
    let Ok(Value::Object(json)) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    json.get("error").is_some_and(Value::is_string)
        && json.get("error_description").is_some_and(Value::is_string)
        && json.get("timestamp").is_some_and(Value::is_number)
        && json.get("duration").is_some_and(Value::is_number)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_body_gets_200_or_the_json_error_shape(
        route in 0..ROUTES.len(),
        content_type in 0..CONTENT_TYPES.len(),
        body in inputs(corpus("rest"), 2048),
    ) {
        let target = target();
        let (status, answer) = target.runtime.block_on(request(
            target,
            ROUTES[route],
            CONTENT_TYPES[content_type],
            &body,
        ));
        let shown = String::from_utf8_lossy(&answer);
        prop_assert!(status < 500, "{:?} answered {status} {shown}", ROUTES[route]);
        prop_assert!(status == 200 || is_error_shape(&answer), "{:?} answered {status} {shown}", ROUTES[route]);
    }

    #[test]
    fn every_path_parameter_gets_the_json_error_shape(
        route in 0..PATH_ROUTES.len(),
        user in proptest::collection::vec(any::<u8>(), 1..24),
    ) {
        let target = target();
        // Every byte percent-encoded: invalid UTF-8, control characters, slashes and all.
        let user: String = user.iter().map(|byte| format!("%{byte:02X}")).collect();
        let (method, path, bearer) = PATH_ROUTES[route];
        let path = path.replace("{user}", &user);
        let (status, answer) = target.runtime.block_on(request(
            target,
            (method, &path, bearer),
            Some("application/json"),
            b"{}",
        ));
        let shown = String::from_utf8_lossy(&answer);
        prop_assert!(status < 500, "{method} {path} answered {status} {shown}");
        prop_assert!(status == 200 || is_error_shape(&answer), "{method} {path} answered {status} {shown}");
    }
}

/// Routes with a user in the path, GET ones included.
const PATH_ROUTES: &[(&str, &str, Bearer)] = &[
    ("GET", "/org1/app1/users/{user}", Bearer::App),
    ("DELETE", "/org1/app1/users/{user}", Bearer::App),
    ("PUT", "/org1/app1/users/{user}/password", Bearer::App),
    ("POST", "/org1/app1/users/{user}/deactivate", Bearer::App),
    ("POST", "/org1/app1/users/{user}/activate", Bearer::App),
    ("GET", "/org1/app1/users/{user}/disconnect", Bearer::App),
    ("GET", "/org1/app1/users/{user}/status", Bearer::App),
    ("GET", "/org1/app1/users/{user}/resources", Bearer::App),
    (
        "DELETE",
        "/org1/app1/users/{user}/disconnect/webim_web_1",
        Bearer::App,
    ),
    // The resource is the fuzzed segment here.
    (
        "DELETE",
        "/org1/app1/users/leo/disconnect/{user}",
        Bearer::App,
    ),
    (
        "POST",
        "/org1/app1/users/{user}/messageroaming",
        Bearer::User,
    ),
    ("GET", "/org1/app1/reaction/user/{user}", Bearer::User),
    (
        "GET",
        "/org1/app1/reaction/user/{user}/detail",
        Bearer::User,
    ),
    (
        "GET",
        "/org1/app1/sdk/user/{user}/user_channels/list",
        Bearer::User,
    ),
    (
        "GET",
        "/org1/app1/sdk/user/{user}/user_channel/pin",
        Bearer::User,
    ),
    (
        "POST",
        "/org1/app1/sdk/user/{user}/user_channel/top",
        Bearer::User,
    ),
    (
        "DELETE",
        "/org1/app1/user/{user}/user_channel",
        Bearer::User,
    ),
    (
        "DELETE",
        "/org1/app1/sdk/message/roaming/chat/user/{user}",
        Bearer::User,
    ),
    (
        "GET",
        "/org1/app1/sdk/users/{user}/token/expires",
        Bearer::User,
    ),
    ("GET", "/org1/app1/chatfiles/{user}", Bearer::User),
    ("GET", "/org1/app1/chatmessages/{user}", Bearer::App),
];
