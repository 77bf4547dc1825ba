//! The console and the REST admin routes underneath it, over real sockets: every console route
//! refuses without a session, writes need the CSRF token, wrong passwords are refused and
//! slowed, secrets appear only when revealed (never in pages, listings or logs), and the
//! hosted service's user-admin paths (list, deactivate, activate, disconnect, status, inherit)
//! and the group-admin paths of the Groups page (every group by cursor, members, mutes,
//! disband).

#![allow(clippy::unwrap_used)] // test helpers: a failed step should stop the test loudly

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{Received, TestServer, APP, APP_KEY, ORG};
use confab_proto::pb::{self, m_sync::Command};
use prost::Message as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN: &str = "root";
const PASSWORD: &str = "correct horse battery";

/// Everything every test in this binary logs, to check that no secret reaches a log.
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_writer(move || LogWriter(sink.clone()))
            .try_init();
        logs
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Response {
    status: u16,
    headers: String,
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One HTTP/1.1 request with the given extra header lines.
async fn request(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[String],
    body: &str,
) -> Response {
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    let extra: String = headers.iter().map(|line| format!("{line}\r\n")).collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.address,
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    Response {
        status: head[9..12].parse().unwrap(),
        headers: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

struct Session {
    cookie: String,
    csrf: String,
}

impl Session {
    fn headers(&self) -> Vec<String> {
        vec![
            format!("Cookie: {}", self.cookie),
            format!("X-CSRF-Token: {}", self.csrf),
            "Content-Type: application/json".into(),
        ]
    }
}

async fn start() -> TestServer {
    captured_logs();
    let server = TestServer::start().await;
    let config = confab_server::Config {
        data_dir: server.data_dir.path().to_owned(),
        ..confab_server::Config::default()
    };
    confab_server::create_admin(&config, ADMIN, PASSWORD.into())
        .await
        .unwrap();
    server
}

async fn sign_in(server: &TestServer, password: &str) -> Response {
    request(
        server,
        "POST",
        "/console/api/login",
        &["Content-Type: application/json".into()],
        &json!({"username": ADMIN, "password": password}).to_string(),
    )
    .await
}

async fn signed_in(server: &TestServer) -> Session {
    let response = sign_in(server, PASSWORD).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let set_cookie = response
        .headers
        .lines()
        .find(|line| line.starts_with("set-cookie:"))
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("httponly"), "{set_cookie}");
    assert!(set_cookie.contains("samesite=strict"), "{set_cookie}");
    assert!(set_cookie.contains("path=/console"), "{set_cookie}");
    let cookie = set_cookie
        .trim_start_matches("set-cookie:")
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    Session {
        cookie,
        csrf: response.json()["csrf"].as_str().unwrap().to_owned(),
    }
}

const PAGES: &[&str] = &[
    "/console/",
    "/console/apps/org1/app1",
    "/console/apps/org1/app1/users",
    "/console/apps/org1/app1/groups",
    "/console/apps/org1/app1/tokens",
];

const API_GETS: &[&str] = &[
    "/console/api/apps",
    "/console/api/apps/org1/app1",
    "/console/api/apps/org1/app1/overview",
    "/console/api/apps/org1/app1/chart.svg",
    "/console/api/anything/else",
];

const API_POSTS: &[&str] = &[
    "/console/api/logout",
    "/console/api/apps",
    "/console/api/apps/org1/app1/credentials",
    "/console/api/apps/org1/app1/certificate/rotate",
    "/console/api/apps/org1/app1/client-secret/rotate",
    "/console/api/apps/org1/app1/app-token",
    "/console/api/apps/org1/app1/settings",
];

#[tokio::test]
async fn every_console_route_refuses_without_a_session() {
    let server = start().await;
    for cookie in [None, Some("Cookie: confab_console=forged")] {
        let headers: Vec<String> = cookie.into_iter().map(str::to_owned).collect();
        for page in PAGES {
            let response = request(&server, "GET", page, &headers, "").await;
            assert_eq!(response.status, 303, "{page}");
            assert!(
                response.headers.contains("location: /console/login"),
                "{page}"
            );
            assert!(response.body.is_empty(), "{page}");
        }
        for path in API_GETS {
            let response = request(&server, "GET", path, &headers, "").await;
            assert_eq!(response.status, 401, "{path}: {}", response.body);
            assert_eq!(response.json()["error"], "not_signed_in", "{path}");
        }
        let mut post_headers = headers.clone();
        post_headers.push("Content-Type: application/json".into());
        post_headers.push("X-CSRF-Token: guess".into());
        for path in API_POSTS {
            let response = request(&server, "POST", path, &post_headers, "{}").await;
            assert_eq!(response.status, 401, "{path}: {}", response.body);
        }
    }
    // The sign-in page, its assets and the session probe are public.
    assert_eq!(
        request(&server, "GET", "/console/login", &[], "")
            .await
            .status,
        200
    );
    let script = request(&server, "GET", "/console/assets/console.js", &[], "").await;
    assert_eq!(script.status, 200);
    let probe = request(&server, "GET", "/console/api/session", &[], "").await;
    assert_eq!(probe.status, 401);
}

#[tokio::test]
async fn posts_without_the_csrf_token_are_refused() {
    let server = start().await;
    let session = signed_in(&server).await;
    let body = json!({"org": "csrf", "name": "app"}).to_string();
    let cookie_only = vec![
        format!("Cookie: {}", session.cookie),
        "Content-Type: application/json".to_owned(),
    ];
    for path in API_POSTS {
        let response = request(&server, "POST", path, &cookie_only, &body).await;
        assert_eq!(response.status, 403, "{path}: {}", response.body);
        assert_eq!(response.json()["error"], "bad_csrf");
    }
    let mut wrong = cookie_only.clone();
    wrong.push("X-CSRF-Token: 0000".into());
    let response = request(&server, "POST", "/console/api/apps", &wrong, &body).await;
    assert_eq!(response.status, 403);
    // Right token, but from another site.
    let mut foreign = session.headers();
    foreign.push("Origin: http://evil.example".into());
    let response = request(&server, "POST", "/console/api/apps", &foreign, &body).await;
    assert_eq!(response.status, 403);
    assert_eq!(response.json()["error"], "foreign_origin");
    // A form post (not JSON) is refused even with the token.
    let mut form = vec![
        format!("Cookie: {}", session.cookie),
        format!("X-CSRF-Token: {}", session.csrf),
    ];
    form.push("Content-Type: application/x-www-form-urlencoded".into());
    let response = request(&server, "POST", "/console/api/apps", &form, "org=a&name=b").await;
    assert_eq!(response.status, 400);
    // And with everything right, it works; nothing was created before.
    let response = request(
        &server,
        "POST",
        "/console/api/apps",
        &session.headers(),
        &body,
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()["appKey"], "csrf#app");
    let apps = request(&server, "GET", "/console/api/apps", &session.headers(), "").await;
    assert_eq!(apps.json()["apps"].as_array().unwrap().len(), 2);
    // Signing out ends the session.
    let out = request(
        &server,
        "POST",
        "/console/api/logout",
        &session.headers(),
        "{}",
    )
    .await;
    assert_eq!(out.status, 200);
    assert!(out.headers.contains("max-age=0"));
    let after = request(&server, "GET", "/console/api/apps", &session.headers(), "").await;
    assert_eq!(after.status, 401);
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_repeated_failures_slowed() {
    let server = start().await;
    for _ in 0..confab_server::Config::default().auth.failures_before_lock {
        let response = sign_in(&server, "wrong").await;
        assert_eq!(response.status, 401, "{}", response.body);
        assert_eq!(response.json()["error"], "bad_credentials");
        assert!(!response.headers.contains("set-cookie"));
    }
    // Locked for a while now, even with the right password.
    let response = sign_in(&server, PASSWORD).await;
    assert_eq!(response.status, 429, "{}", response.body);
    assert!(response.headers.contains("retry-after:"));
    // Only that account is locked for this address: another username is still answered.
    let unknown = request(
        &server,
        "POST",
        "/console/api/login",
        &["Content-Type: application/json".into()],
        &json!({"username": "nobody", "password": "x"}).to_string(),
    )
    .await;
    assert_eq!(unknown.status, 401, "{}", unknown.body);
}

#[tokio::test]
async fn failed_sign_ins_from_one_address_lock_that_address() {
    let server = start().await;
    let server = &server;
    let attempt = |username: String| async move {
        let body = json!({"username": username, "password": "guess"}).to_string();
        let headers = ["Content-Type: application/json".to_owned()];
        request(server, "POST", "/console/api/login", &headers, &body).await
    };
    // One wrong password each for many usernames: no username is locked, the address is.
    let address_failures = confab_server::Config::default()
        .auth
        .address_failures_before_lock;
    for n in 0..address_failures {
        let response = attempt(format!("guess{n}")).await;
        assert_eq!(response.status, 401, "{}", response.body);
    }
    let response = attempt("dave".to_owned()).await;
    assert_eq!(response.status, 429, "{}", response.body);
    assert!(response.headers.contains("retry-after:"));
}

#[tokio::test]
async fn secrets_appear_only_when_revealed() {
    let server = start().await;
    let session = signed_in(&server).await;
    let headers = session.headers();
    let secrets = [server.certificate.clone(), server.client_secret.clone()];
    let mut seen = String::new();
    for path in PAGES.iter().chain(API_GETS) {
        seen.push_str(&request(&server, "GET", path, &headers, "").await.body);
    }
    for asset in ["console.js", "console.css"] {
        let path = format!("/console/assets/{asset}");
        seen.push_str(&request(&server, "GET", &path, &headers, "").await.body);
    }
    let created = request(
        &server,
        "POST",
        "/console/api/apps",
        &headers,
        &json!({"org": "more", "name": "app"}).to_string(),
    )
    .await;
    seen.push_str(&created.body);
    let token = request(
        &server,
        "POST",
        "/console/api/apps/org1/app1/app-token",
        &headers,
        "{}",
    )
    .await;
    assert_eq!(token.status, 200);
    let users = server
        .http(
            "GET",
            &format!("/{ORG}/{APP}/users"),
            token.json()["access_token"].as_str(),
            "",
        )
        .await;
    seen.push_str(&users.1.to_string());
    for secret in &secrets {
        assert!(
            !seen.contains(secret.as_str()),
            "a secret leaked into a page or listing"
        );
    }
    let app = request(&server, "GET", "/console/api/apps/org1/app1", &headers, "").await;
    assert_eq!(app.json()["appKey"], APP_KEY);
    assert_eq!(
        app.json()["websocketUrl"],
        format!("ws://{}/websocket", server.address)
    );

    let revealed = request(
        &server,
        "POST",
        "/console/api/apps/org1/app1/credentials",
        &headers,
        "{}",
    )
    .await;
    assert_eq!(revealed.status, 200);
    assert_eq!(revealed.json()["appCertificate"], server.certificate);
    assert_eq!(revealed.json()["clientSecret"], server.client_secret);

    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned();
    assert!(
        logs.contains("credentials revealed"),
        "the reveal itself is logged"
    );
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the log");
    }
}

/// The setup token `confab serve` logged for this server.
async fn setup_token(server: &TestServer) -> String {
    let marker = format!("http://{}/console/setup?token=", server.address);
    for _ in 0..100 {
        let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned();
        if let Some((_, rest)) = logs.split_once(&marker) {
            return rest.chars().take_while(char::is_ascii_hexdigit).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no setup link logged for {}", server.address);
}

/// Issue 15, defect 10: five simultaneous setups with the one link create one administrator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setup_link_creates_one_admin_under_concurrency() {
    captured_logs();
    let server = Arc::new(TestServer::start().await);
    let token = setup_token(&server).await;
    let setups: Vec<_> = (0..5)
        .map(|index| {
            let (server, token) = (server.clone(), token.clone());
            tokio::spawn(async move {
                request(
                    &server,
                    "POST",
                    "/console/api/setup",
                    &["Content-Type: application/json".into()],
                    &json!({"token": token, "username": format!("admin{index}"), "password": PASSWORD})
                        .to_string(),
                )
                .await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for setup in setups {
        let response = setup.await.unwrap();
        statuses.push(response.status);
        if response.status != 200 {
            assert_eq!(
                response.json()["error"],
                "bad_setup_token",
                "{}",
                response.body
            );
        }
    }
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        1,
        "{statuses:?}"
    );
    // Exactly one of the five can sign in.
    let mut admins = 0;
    for index in 0..5 {
        let response = request(
            &server,
            "POST",
            "/console/api/login",
            &["Content-Type: application/json".into()],
            &json!({"username": format!("admin{index}"), "password": PASSWORD}).to_string(),
        )
        .await;
        if response.status == 200 {
            admins += 1;
        }
    }
    assert_eq!(admins, 1);
}

#[tokio::test]
async fn a_rotated_certificate_keeps_working_for_its_grace_period() {
    let server = start().await;
    let session = signed_in(&server).await;
    let old_token = server.user_token("leo", 3600);
    let rotate = |grace: u64| {
        let headers = session.headers();
        let server = &server;
        async move {
            let response = request(
                server,
                "POST",
                "/console/api/apps/org1/app1/certificate/rotate",
                &headers,
                &json!({"grace_secs": grace}).to_string(),
            )
            .await;
            assert_eq!(response.status, 200, "{}", response.body);
            assert!(!response.body.contains(&server.certificate));
        }
    };
    rotate(3600).await;
    let mut client = server.connect().await;
    let reply = client.provision(APP_KEY, "leo", &old_token, "web").await;
    assert_eq!(
        reply.status.unwrap().error_code,
        Some(0),
        "old certificate within its grace"
    );
    // A second rotation without grace: the original certificate is no longer kept at all.
    rotate(0).await;
    let mut client = server.connect().await;
    let reply = client.provision(APP_KEY, "leo", &old_token, "web2").await;
    assert_eq!(
        reply.status.unwrap().error_code,
        Some(1),
        "old certificate after its grace"
    );
    // Tokens the server issues now are signed with the new primary and work.
    let app_token = request(
        &server,
        "POST",
        "/console/api/apps/org1/app1/app-token",
        &session.headers(),
        "{}",
    )
    .await;
    let (status, _) = server
        .http(
            "GET",
            &format!("/{ORG}/{APP}/users"),
            app_token.json()["access_token"].as_str(),
            "",
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_contacts_only_app_refuses_messages_to_non_contacts() {
    let server = start().await;
    let session = signed_in(&server).await;
    let settings = |body: Value| {
        let headers = session.headers();
        let server = &server;
        async move {
            request(
                server,
                "POST",
                "/console/api/apps/org1/app1/settings",
                &headers,
                &body.to_string(),
            )
            .await
        }
    };
    for garbage in [
        json!({"contactsOnly": "yes"}),
        json!({}),
        json!({"contactsOnly": true, "pushOnly": true}),
    ] {
        let response = settings(garbage.clone()).await;
        assert_eq!(response.status, 400, "{garbage}: {}", response.body);
    }
    let response = settings(json!({"contactsOnly": true})).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()["settings"], json!({"contactsOnly": true}));

    let mut leo = server.login("leo", "web").await;
    let refused = leo.send_text(1, "roy", "leo", "hello?").await;
    let status = refused.status.unwrap();
    assert_eq!(
        (status.error_code, status.reason.as_deref()),
        (Some(1), Some("nonroster"))
    );
    // Contacts (made by the REST admin API) write to each other.
    let token = server.app_token().await;
    let (status, body) = server
        .http(
            "POST",
            &format!("/{ORG}/{APP}/users/leo/contacts/users/roy"),
            Some(&token),
            "",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = leo.send_text(2, "roy", "leo", "hello, contact").await;
    assert_eq!(sent.status.unwrap().error_code, Some(0));
    let mut amy = server.login("amy", "web").await;
    let refused = amy.send_text(3, "roy", "amy", "and me?").await;
    assert_eq!(refused.status.unwrap().reason.as_deref(), Some("nonroster"));

    let response = settings(json!({"contactsOnly": false})).await;
    assert_eq!(response.json()["settings"], json!({"contactsOnly": false}));
    let sent = amy.send_text(4, "roy", "amy", "anyone may write now").await;
    assert_eq!(sent.status.unwrap().error_code, Some(0));
}

#[tokio::test]
async fn rest_admin_routes_list_ban_disconnect_and_report_status() {
    let server = start().await;
    let token = server.app_token().await;
    let get = |path: String| {
        let token = token.clone();
        let server = &server;
        async move { server.http("GET", &path, Some(&token), "").await }
    };

    // Paging with cursor: amy, leo | roy.
    let (status, first) = get(format!("/{ORG}/{APP}/users?limit=2")).await;
    assert_eq!(status, 200, "{first}");
    let names = |body: &Value| -> Vec<String> {
        body["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|user| user["username"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&first), vec!["amy", "leo"]);
    assert_eq!(first["count"], 2);
    let cursor = first["cursor"].as_str().unwrap().to_owned();
    let (_, second) = get(format!("/{ORG}/{APP}/users?limit=2&cursor={cursor}")).await;
    assert_eq!(names(&second), vec!["roy"]);
    assert!(second.get("cursor").is_none());
    let (_, searched) = get(format!("/{ORG}/{APP}/users?q=ro")).await;
    assert_eq!(names(&searched), vec!["roy"]);
    // Without an app token: refused.
    let user_token = server.user_token("leo", 3600);
    let (status, _) = server
        .http("GET", &format!("/{ORG}/{APP}/users"), Some(&user_token), "")
        .await;
    assert_eq!(status, 401);

    // Status and forced disconnect.
    let mut leo = server.login("leo", "web").await;
    let (_, status_body) = get(format!("/{ORG}/{APP}/users/leo/status")).await;
    assert_eq!(status_body["data"], json!({"leo": "online"}));
    let (status, batch) = server
        .http(
            "POST",
            &format!("/{ORG}/{APP}/users/batch/status"),
            Some(&token),
            &json!({"usernames": ["leo", "roy"]}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(
        batch["data"],
        json!([{"leo": "online"}, {"roy": "offline"}])
    );
    let (status, disconnected) = get(format!("/{ORG}/{APP}/users/leo/disconnect")).await;
    assert_eq!(status, 200);
    assert_eq!(disconnected["data"]["result"], true);
    expect_kick(&mut leo).await;

    // Deactivate: kicked, then logins and grants refused; activate lifts it.
    let mut leo = server.login("leo", "web").await;
    let (status, deactivated) = server
        .http(
            "POST",
            &format!("/{ORG}/{APP}/users/leo/deactivate"),
            Some(&token),
            "",
        )
        .await;
    assert_eq!(status, 200, "{deactivated}");
    assert_eq!(deactivated["action"], "Deactivate user");
    assert_eq!(deactivated["entities"][0]["activated"], false);
    expect_kick(&mut leo).await;
    let mut client = server.connect().await;
    let reply = client
        .provision(APP_KEY, "leo", &server.user_token("leo", 3600), "web")
        .await;
    let refused = reply.status.unwrap();
    assert_eq!(refused.error_code, Some(1));
    assert_eq!(
        refused.reason.as_deref(),
        Some("Sorry, user is deactivated")
    );
    let (status, grant) = server
        .http(
            "POST",
            &format!("/{ORG}/{APP}/token"),
            None,
            &json!({"grant_type": "password", "username": "leo", "password": "secret"}).to_string(),
        )
        .await;
    assert_eq!(
        (status, grant["error_description"].as_str()),
        (401, Some("user not activated"))
    );
    let (status, _) = server
        .http(
            "POST",
            &format!("/{ORG}/{APP}/users/leo/activate"),
            Some(&token),
            "",
        )
        .await;
    assert_eq!(status, 200);
    server.login("leo", "web").await;

    // inherit: a user token for the holder of an app token.
    let (status, inherited) = server
        .http(
            "POST",
            &format!("/{ORG}/{APP}/token"),
            Some(&token),
            &json!({"grant_type": "inherit", "username": "roy", "ttl": 600}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{inherited}");
    assert_eq!(inherited["expires_in"], 600);
    let mut roy = server.connect().await;
    let reply = roy
        .provision(
            APP_KEY,
            "roy",
            inherited["access_token"].as_str().unwrap(),
            "web",
        )
        .await;
    assert_eq!(reply.status.unwrap().error_code, Some(0));
    let (status, _) = server
        .http(
            "POST",
            &format!("/{ORG}/{APP}/token"),
            None,
            &json!({"grant_type": "inherit", "username": "roy"}).to_string(),
        )
        .await;
    assert_eq!(status, 401, "inherit needs an app token");
}

/// The STATISTIC meta of an administrator's kick (217, no reconnect), then the close.
async fn expect_kick<S>(client: &mut common::Client<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let kick: pb::CommSyncDl = client.expect(Command::Sync).await;
    let body = pb::StatisticsBody::decode(kick.metas[0].payload.clone().unwrap()).unwrap();
    assert_eq!(
        body.operation,
        Some(pb::statistics_body::Operation::UserKickedByOtherDevice as i32)
    );
    assert!(matches!(client.receive().await, Received::Closed(_)));
}

/// The Groups page's calls, with the app token the console hands the page: every group of the
/// app (private too) by id cursor, a group's members and mutes, and disband, which the members
/// hear; and what each refuses.
#[tokio::test]
async fn the_groups_page_lists_every_group_by_cursor_and_disbands() {
    let server = start().await;
    let session = signed_in(&server).await;
    let token = request(
        &server,
        "POST",
        "/console/api/apps/org1/app1/app-token",
        &session.headers(),
        "{}",
    )
    .await
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let call = |method: &'static str, path: String, body: Value| {
        let token = token.clone();
        let server = &server;
        async move {
            let body = if body.is_null() {
                String::new()
            } else {
                body.to_string()
            };
            server.http(method, &path, Some(&token), &body).await
        }
    };
    let list = |query: &'static str| {
        call(
            "GET",
            format!("/{ORG}/{APP}/chatgroups{query}"),
            Value::Null,
        )
    };

    // Leo's three groups: public with Roy and Amy, private with Roy, private alone.
    let mut ids = Vec::new();
    for (name, public, members) in [
        ("Public <b>one</b>", true, json!(["roy", "amy"])),
        ("Private", false, json!(["roy"])),
        ("Alone", false, json!([])),
    ] {
        let (status, created) = call(
            "POST",
            format!("/{ORG}/{APP}/chatgroups"),
            json!({"owner": "leo", "groupname": name, "public": public, "members": members}),
        )
        .await;
        assert_eq!(status, 200, "{created}");
        ids.push(created["data"]["groupid"].as_str().unwrap().to_owned());
    }

    // Two a page: the first two by id with a cursor, then the last without.
    let (status, first) = list("?limit=2").await;
    assert_eq!(status, 200, "{first}");
    let rows = first["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(first["count"], 2);
    assert_eq!(first["cursor"], ids[1].as_str());
    assert_eq!(rows[0]["groupid"], ids[0].as_str());
    assert_eq!(rows[0]["groupname"], "Public <b>one</b>");
    assert_eq!(rows[0]["owner"], "org1#app1_leo");
    assert_eq!(rows[0]["affiliations"], 3);
    assert_eq!(rows[0]["type"], "group");
    assert_eq!(rows[0]["public"], true);
    assert!(rows[0]["created"].as_u64().unwrap() > 0);
    assert!(rows[0]["last_modified"].as_u64().unwrap() > 0);
    assert_eq!(rows[1]["public"], false, "private groups are listed too");
    assert_eq!(rows[1]["affiliations"], 2);
    let cursor = first["cursor"].as_str().unwrap();
    let (status, second) = call(
        "GET",
        format!("/{ORG}/{APP}/chatgroups?limit=2&cursor={cursor}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["groupid"], ids[2].as_str());
    assert_eq!(second["data"][0]["affiliations"], 1);
    assert!(second.get("cursor").is_none(), "{second}");
    // A page exactly as long as what is left has no cursor either; so has the default page.
    for query in ["?limit=3", "", "?limit=5000&cursor="] {
        let (status, whole) = list(query).await;
        assert_eq!(status, 200, "{query}: {whole}");
        assert_eq!(whole["data"].as_array().unwrap().len(), 3, "{query}");
        assert!(whole.get("cursor").is_none(), "{query}: {whole}");
    }

    // Refused: a cursor or limit this server never gives, no token, a user's token.
    for query in ["?cursor=abc", "?cursor=-1", "?limit=0", "?limit=ten"] {
        let (status, refused) = list(query).await;
        assert_eq!(status, 400, "{query}: {refused}");
        assert_eq!(refused["error"], "illegal_argument", "{query}");
    }
    let path = format!("/{ORG}/{APP}/chatgroups");
    let (status, _) = server.http("GET", &path, None, "").await;
    assert_eq!(status, 401);
    let leo_token = server.user_token("leo", 3600);
    let (status, _) = server.http("GET", &path, Some(&leo_token), "").await;
    assert_eq!(status, 401, "the whole list is the app's");

    // Members of the first group: the owner first, each with the time they joined; Roy muted.
    let group = &ids[0];
    let (status, muted) = call(
        "POST",
        format!("/{ORG}/{APP}/chatgroups/{group}/mute"),
        json!({"usernames": ["roy"], "mute_duration": 60000}),
    )
    .await;
    assert_eq!(status, 200, "{muted}");
    let (status, members) = call(
        "GET",
        format!("/{ORG}/{APP}/chatgroups/{group}/users?limit=100&joined_time=true"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{members}");
    let rows = members["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["owner"], "leo");
    assert!(rows
        .iter()
        .all(|row| row["joined_time"].as_u64().unwrap() > 0));
    assert!(members.get("cursor").is_none());
    let (_, mutes) = call(
        "GET",
        format!("/{ORG}/{APP}/chatgroups/{group}/mute"),
        Value::Null,
    )
    .await;
    assert_eq!(mutes["data"][0]["user"], "roy");
    assert!(mutes["data"][0]["expire"].as_i64().unwrap() > 0);

    // An unknown group: not found, for the members and for disband.
    for (method, path) in [
        (
            "GET",
            format!("/{ORG}/{APP}/chatgroups/99999/users?limit=100"),
        ),
        ("GET", format!("/{ORG}/{APP}/chatgroups/99999/mute")),
        ("DELETE", format!("/{ORG}/{APP}/chatgroups/99999")),
        ("DELETE", format!("/{ORG}/{APP}/chatgroups/not-a-group")),
    ] {
        let (status, refused) = call(method, path.clone(), Value::Null).await;
        assert_eq!(status, 404, "{method} {path}: {refused}");
        assert_eq!(refused["error_description"], "do not find this group");
    }

    // Disband, with Roy online: he hears `destroy`; the group is gone from the list.
    let mut roy = server.login("roy", "web").await;
    let (status, disbanded) = call(
        "DELETE",
        format!("/{ORG}/{APP}/chatgroups/{group}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{disbanded}");
    assert_eq!(disbanded["data"]["success"], true);
    expect_group_destroyed(&mut roy, group).await;
    let (_, after) = list("").await;
    let left: Vec<&str> = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["groupid"].as_str().unwrap())
        .collect();
    assert_eq!(left, [ids[1].as_str(), ids[2].as_str()]);
    let (status, _) = call(
        "GET",
        format!("/{ORG}/{APP}/chatgroups/{group}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
}

/// Reads frames until a MUC `DESTROY` of `group` arrives, pulling each queue a NOTICE names.
async fn expect_group_destroyed<S>(client: &mut common::Client<S>, group: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let Received::Frame { command, payload } = client.receive().await else {
            panic!("closed before the group's destroy event");
        };
        if command == Command::Notice as i32 {
            let notice = pb::CommNotice::decode(payload).unwrap();
            let pull = pb::CommSyncUl {
                queue: notice.queue,
                ..Default::default()
            };
            client.send_frame(Command::Sync, pull.encode_to_vec()).await;
        } else if command == Command::Sync as i32 {
            let page = pb::CommSyncDl::decode(payload).unwrap();
            let destroyed = page.metas.iter().any(|meta| {
                meta.ns == Some(pb::meta::NameSpace::Muc as i32)
                    && pb::MucBody::decode(meta.payload.clone().unwrap_or_default()).is_ok_and(
                        |body| {
                            body.operation == Some(pb::muc_body::Operation::Destroy as i32)
                                && body.muc_id.and_then(|id| id.name).as_deref() == Some(group)
                        },
                    )
            });
            if destroyed {
                return;
            }
        }
    }
}
