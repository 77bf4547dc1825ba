//! REST: success shapes the SDK reads and the exact error bodies for bad input
//! (status, `error`, `error_description`), pinned case by case.

mod common;

use common::{TestServer, APP, ORG};
use serde_json::{json, Value};

/// Asserts status, `error` and `error_description` of a failed request.
fn check(response: (u16, Value), status: u16, error: &str, description: &str) {
    let (got_status, body) = response;
    assert_eq!(got_status, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_description"], description, "{body}");
    assert!(
        body["timestamp"].is_u64() && body["duration"] == 0,
        "{body}"
    );
}

#[tokio::test]
async fn bodies_that_do_not_parse() {
    let server = TestServer::start().await;
    let token = server.app_token().await;
    for (path, bearer, body) in [
        (format!("/{ORG}/{APP}/token"), None, "{\"grant_type\": "),
        (format!("/{ORG}/{APP}/token"), None, "not json"),
        (
            format!("/{ORG}/{APP}/users"),
            Some(token.as_str()),
            "[{\"username\": 5}]",
        ),
        (
            format!("/{ORG}/{APP}/users/leo/password"),
            Some(token.as_str()),
            "{}",
        ),
    ] {
        let method = if path.ends_with("password") {
            "PUT"
        } else {
            "POST"
        };
        let (status, response) = server.http(method, &path, bearer, body).await;
        assert_eq!(status, 400, "{path} {response}");
        assert_eq!(response["error"], "json_parse");
        assert!(response["error_description"]
            .as_str()
            .is_some_and(|text| !text.is_empty()));
    }
}

#[tokio::test]
async fn password_grant() {
    let server = TestServer::start().await;
    let path = format!("/{ORG}/{APP}/token");
    let grant = |user: &str, password: &str| {
        json!({"grant_type": "password", "username": user, "password": password, "timestamp": 1})
            .to_string()
    };
    let (status, body) = server
        .http("POST", &path, None, &grant("Leo", "secret"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["username"], "leo");
    assert_eq!(body["expires_in"], 60 * 24 * 3600);
    let token = body["access_token"].as_str().unwrap();
    assert!(token.starts_with("007"));
    // The issued token is a login token for leo.
    let mut client = server.connect().await;
    let reply = client.provision(common::APP_KEY, "leo", token, "web").await;
    assert_eq!(reply.status.unwrap().error_code, Some(0));

    check(
        server
            .http("POST", &path, None, &grant("leo", "wrong"))
            .await,
        400,
        "invalid_grant",
        "invalid password",
    );
    check(
        server
            .http("POST", &path, None, &grant("ghost", "secret"))
            .await,
        404,
        "service_resource_not_found",
        "user not found",
    );
    // appId-only SDKs post to `///token`; a single-app deployment resolves it.
    let (status, _) = server
        .http("POST", "///token", None, &grant("leo", "secret"))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn tokens_are_checked_on_admin_routes() {
    let server = TestServer::start().await;
    let users = format!("/{ORG}/{APP}/users");
    let body = json!({"username": "zed", "password": "p"}).to_string();
    check(
        server.http("POST", &users, None, &body).await,
        401,
        "unauthorized",
        "Open registration doesn't allow, so register user need token",
    );
    check(
        server.http("POST", &users, Some("007garbage"), &body).await,
        401,
        "auth_bad_access_token",
        "Unable to authenticate due to corrupt access token",
    );
    let user_token = server.user_token("leo", 600);
    check(
        server.http("POST", &users, Some(&user_token), &body).await,
        401,
        "unauthorized",
        "Unable to authenticate (OAuth)",
    );
    let expired = confab_token::build_app_token(&server.app_id, &server.certificate, 1_000_000, 10);
    check(
        server.http("POST", &users, Some(&expired), &body).await,
        401,
        "unauthorized",
        "Unable to authenticate due to expired access token",
    );
    let wrong_secret = json!({"grant_type": "client_credentials", "client_id": server.client_id, "client_secret": "nope"});
    check(
        server
            .http(
                "POST",
                &format!("/{ORG}/{APP}/token"),
                None,
                &wrong_secret.to_string(),
            )
            .await,
        401,
        "invalid_client",
        "invalid client_id or client_secret",
    );
}

#[tokio::test]
async fn user_lifecycle() {
    let server = TestServer::start().await;
    let token = server.app_token().await;
    let users = format!("/{ORG}/{APP}/users");
    let batch = json!([{"username": "u1", "password": "p"}, {"username": "u2", "password": "p", "nickname": "Two"}]);
    let (status, body) = server
        .http("POST", &users, Some(&token), &batch.to_string())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["entities"].as_array().unwrap().len(), 2);
    assert_eq!(body["entities"][1]["nickname"], "Two");
    assert_eq!(
        (
            body["organization"].clone(),
            body["applicationName"].clone()
        ),
        (json!(ORG), json!(APP))
    );

    let duplicate = json!({"username": "U1", "password": "p"}).to_string();
    let (status, body) = server.http("POST", &users, Some(&token), &duplicate).await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("duplicate_unique_property_exists"))
    );
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("username be unique"));
    check(
        server
            .http(
                "POST",
                &users,
                Some(&token),
                &json!({"username": "a b", "password": "p"}).to_string(),
            )
            .await,
        400,
        "illegal_argument",
        "username [a b] is not legal",
    );

    let (status, body) = server
        .http("GET", &format!("{users}/u2"), Some(&token), "")
        .await;
    assert_eq!(
        (
            status,
            body["count"].clone(),
            body["entities"][0]["username"].clone()
        ),
        (200, json!(1), json!("u2"))
    );

    let password = json!({"newpassword": "fresh"}).to_string();
    let (status, _) = server
        .http(
            "PUT",
            &format!("{users}/u2/password"),
            Some(&token),
            &password,
        )
        .await;
    assert_eq!(status, 200);
    let grant =
        json!({"grant_type": "password", "username": "u2", "password": "fresh"}).to_string();
    assert_eq!(
        server
            .http("POST", &format!("/{ORG}/{APP}/token"), None, &grant)
            .await
            .0,
        200
    );

    let (status, body) = server
        .http("DELETE", &format!("{users}/u2"), Some(&token), "")
        .await;
    assert_eq!((status, body["action"].clone()), (200, json!("delete")));
    check(
        server
            .http("GET", &format!("{users}/u2"), Some(&token), "")
            .await,
        404,
        "service_resource_not_found",
        "user not found",
    );
    check(
        server
            .http(
                "GET",
                &format!("/{ORG}/{APP}/no/such/route"),
                Some(&token),
                "",
            )
            .await,
        404,
        "service_resource_not_found",
        "Service resource not found",
    );
}

#[tokio::test]
async fn token_expiry_endpoint_for_renew_token() {
    let server = TestServer::start().await;
    let token = server.user_token("leo", 900);
    let (status, body) = server
        .http(
            "GET",
            &format!("//{ORG}/{APP}/sdk/users/leo/token/expires"),
            Some(&token),
            "",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let expire = body["expire_timestamp"].as_u64().unwrap();
    let now = confab_core::now_ms();
    assert!(expire > now + 890_000 && expire <= now + 900_000);
    check(
        server
            .http(
                "GET",
                &format!("/{ORG}/{APP}/sdk/users/roy/token/expires"),
                Some(&token),
                "",
            )
            .await,
        401,
        "unauthorized",
        "Unable to authenticate (OAuth)",
    );
}

#[tokio::test]
async fn browsers_may_call_the_api_cross_origin() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let mut stream = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    let preflight = format!(
        "OPTIONS /{ORG}/{APP}/token HTTP/1.1\r\nHost: test\r\nOrigin: http://app.example\r\n\
         Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type,authorization\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(preflight.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let lower = response.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200"), "{response}");
    assert!(
        lower.contains("access-control-allow-origin: http://app.example"),
        "{response}"
    );
    assert!(
        lower.contains("access-control-allow-headers: content-type,authorization"),
        "{response}"
    );
}

#[tokio::test]
async fn presence_bad_input() {
    let server = TestServer::start().await;
    let leo = server.user_token("leo", 600);
    let roy = server.user_token("roy", 600);
    let base = format!("/{ORG}/{APP}/users/leo/presence");
    let call = |method: &'static str, path: String, token: &str, body: &str| {
        let (server, token, body) = (&server, token.to_owned(), body.to_owned());
        async move { server.http(method, &path, Some(&token), &body).await }
    };
    for (method, path, body) in [
        ("POST", base.clone(), "not json"),
        ("POST", base.clone(), "{\"usernames\": \"roy\"}"),
        // Unsubscribing takes a bare array of names.
        ("DELETE", base.clone(), "{\"usernames\": [\"roy\"]}"),
        ("POST", format!("{base}/600"), "[\"roy\"]"),
        ("POST", format!("{base}/web/1"), "{\"ext\": 5}"),
    ] {
        let (status, body) = call(method, path.clone(), &leo, body).await;
        assert_eq!(
            (status, body["error"].clone()),
            (400, json!("json_parse")),
            "{method} {path}: {body}"
        );
    }
    let users = json!({"usernames": ["roy"]}).to_string();
    check(
        call("POST", format!("{base}/soon"), &leo, &users).await,
        400,
        "illegal_argument",
        "expiry must be a number of seconds",
    );
    check(
        call("POST", format!("{base}/0"), &leo, &users).await,
        400,
        "illegal_argument",
        "expiry must be 1 to 2592000 seconds",
    );
    check(
        call(
            "POST",
            base.clone(),
            &leo,
            &json!({"usernames": []}).to_string(),
        )
        .await,
        400,
        "illegal_argument",
        "usernames is empty",
    );
    check(
        call(
            "POST",
            base.clone(),
            &leo,
            &json!({"usernames": ["nobody"]}).to_string(),
        )
        .await,
        404,
        "service_resource_not_found",
        "user not found",
    );
    // The description's limit, with the hosted text the SDK matches (trailing space included).
    check(
        call(
            "POST",
            format!("{base}/web/1"),
            &leo,
            &json!({"ext": "é".repeat(33)}).to_string(),
        )
        .await,
        400,
        "illegal_argument",
        "ext is too big ",
    );
    check(
        call(
            "GET",
            format!("{base}/sublist?pageNum=first&pageSize=10"),
            &leo,
            "",
        )
        .await,
        400,
        "illegal_argument",
        "pageNum must be a number",
    );
    check(
        call(
            "GET",
            format!("{base}/sublist?pageNum=1&pageSize=0"),
            &leo,
            "",
        )
        .await,
        400,
        "illegal_argument",
        "pageSize must be 1 to 500",
    );
    // Another user's token speaks only for that user.
    let (status, body) = call("POST", base.clone(), &roy, &users).await;
    assert!(status == 401 || status == 403, "{status} {body}");
    // And the well-formed calls answer the hosted shapes.
    let (status, body) = call("POST", format!("{base}/600"), &leo, &users).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"][0]["uid"], "roy");
    assert!(body["result"][0]["expiry"].is_string(), "{body}");
    let (status, body) = call(
        "GET",
        format!("{base}/sublist?pageNum=1&pageSize=10"),
        &leo,
        "",
    )
    .await;
    assert_eq!(
        (status, body["result"]["totalnum"].clone()),
        (200, json!("1")),
        "{body}"
    );
    let (status, body) = call("DELETE", base.clone(), &leo, "[\"roy\"]").await;
    assert_eq!((status, body), (200, json!({"result": "ok"})));
}

/// Every REST route, with `{…}` for its path parameters (crates/confab-rest/src/lib.rs).
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/{org}/{app}/chatfiles"),
    ("GET", "/{org}/{app}/chatfiles/{uuid}"),
    ("POST", "/{org}/{app}/sdk/chatfiles/part-upload"),
    ("PUT", "/{org}/{app}/sdk/chatfiles/part-upload/{uuid}"),
    ("POST", "/{org}/{app}/sdk/chatfiles/part-upload/{uuid}"),
    ("DELETE", "/{org}/{app}/sdk/chatfiles/part-upload/{uuid}"),
    ("POST", "/{org}/{app}/token"),
    ("POST", "/{org}/{app}/users"),
    ("GET", "/{org}/{app}/users"),
    ("POST", "/{org}/{app}/users/batch/status"),
    ("POST", "/{org}/{app}/users/{user}/deactivate"),
    ("POST", "/{org}/{app}/users/{user}/activate"),
    ("GET", "/{org}/{app}/users/{user}/disconnect"),
    ("GET", "/{org}/{app}/users/{user}/status"),
    ("GET", "/{org}/{app}/users/{user}/resources"),
    ("DELETE", "/{org}/{app}/users/{user}/disconnect/{resource}"),
    ("GET", "/{org}/{app}/users/{user}"),
    ("DELETE", "/{org}/{app}/users/{user}"),
    ("PUT", "/{org}/{app}/users/{user}/password"),
    ("GET", "/{org}/{app}/chatmessages/{hour}"),
    ("GET", "/{org}/{app}/chatmessages/{hour}/download"),
    ("GET", "/{org}/{app}/reaction/user/{user}"),
    ("POST", "/{org}/{app}/reaction/user/{user}"),
    ("DELETE", "/{org}/{app}/reaction/user/{user}"),
    ("GET", "/{org}/{app}/reaction/user/{user}/detail"),
    ("POST", "/{org}/{app}/messages/msg_recall"),
    ("POST", "/{org}/{app}/messages/users/import"),
    ("POST", "/{org}/{app}/messages/users"),
    ("POST", "/{org}/{app}/users/{user}/messageroaming"),
    ("GET", "/{org}/{app}/sdk/user/{user}/user_channels/list"),
    (
        "GET",
        "/{org}/{app}/sdk/user/{user}/user_channels/mark/search",
    ),
    ("GET", "/{org}/{app}/sdk/user/{user}/user_channel/pin"),
    ("POST", "/{org}/{app}/sdk/user/{user}/user_channel/pin"),
    ("DELETE", "/{org}/{app}/sdk/user/{user}/user_channel/pin"),
    ("POST", "/{org}/{app}/sdk/user/{user}/user_channel/top"),
    ("DELETE", "/{org}/{app}/sdk/user/{user}/user_channel/top"),
    ("POST", "/{org}/{app}/sdk/user/{user}/user_channels/mark"),
    ("DELETE", "/{org}/{app}/sdk/user/{user}/user_channels/mark"),
    ("DELETE", "/{org}/{app}/user/{user}/user_channel"),
    (
        "DELETE",
        "/{org}/{app}/sdk/message/roaming/chat/user/{user}",
    ),
    (
        "DELETE",
        "/{org}/{app}/sdk/message/roaming/chat/user/{user}/time",
    ),
    ("GET", "/{org}/{app}/sdk/users/{user}/token/expires"),
    ("POST", "/{org}/{app}/users/{user}/contacts/apply"),
    (
        "POST",
        "/{org}/{app}/users/{user}/contacts/{verb}/users/{from}",
    ),
    ("POST", "/{org}/{app}/users/{user}/contacts/users/{contact}"),
    ("PUT", "/{org}/{app}/users/{user}/contacts/users/{contact}"),
    (
        "DELETE",
        "/{org}/{app}/users/{user}/contacts/users/{contact}",
    ),
    ("GET", "/{org}/{app}/users/{user}/contacts/users"),
    ("GET", "/{org}/{app}/users/{user}/contacts"),
    ("POST", "/{org}/{app}/sdk/user/{user}/blocks"),
    ("DELETE", "/{org}/{app}/sdk/user/{user}/blocks"),
    ("GET", "/{org}/{app}/users/{user}/blocks/users"),
    ("POST", "/{org}/{app}/users/{user}/blocks/users"),
    ("DELETE", "/{org}/{app}/users/{user}/blocks/users/{blocked}"),
    ("PUT", "/{org}/{app}/metadata/user/{user}"),
    (
        "POST",
        "/{org}/{app}/user/{user}/moderation/report/message/{message}",
    ),
    ("POST", "/{org}/{app}/users/{user}/translate"),
    ("GET", "/{org}/{app}/users/{user}/notification"),
    ("GET", "/{org}/{app}/users/{user}/notification/language"),
    ("PUT", "/{org}/{app}/users/{user}/notification/{kind}/{id}"),
    ("POST", "/{org}/{app}/users/{user}/presence"),
    ("DELETE", "/{org}/{app}/users/{user}/presence"),
    ("GET", "/{org}/{app}/users/{user}/presence/sublist"),
    ("POST", "/{org}/{app}/users/{user}/presence/{expiry}"),
    (
        "POST",
        "/{org}/{app}/users/{user}/presence/{resource}/{status}",
    ),
];

/// The path with every parameter filled in validly except `broken`, which gets `%FF`.
fn fill(template: &str, broken: Option<&str>) -> String {
    template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if Some(name) == broken => "%FF".to_owned(),
                Some("org") => ORG.to_owned(),
                Some("app") => APP.to_owned(),
                Some("uuid") => "00000000-0000-0000-0000-000000000000".to_owned(),
                Some("hour") => "2020010100".to_owned(),
                Some(_) => "leo".to_owned(),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn assert_json_error(method: &str, path: &str, status: u16, body: &Value) {
    assert!(
        (400..500).contains(&status),
        "{method} {path}: {status} {body}"
    );
    assert!(
        body["error"].is_string()
            && body["error_description"].is_string()
            && body["timestamp"].is_u64()
            && body["duration"] == 0,
        "{method} {path}: {status} {body}"
    );
}

#[tokio::test]
async fn every_route_answers_bad_path_parameters_in_the_json_shape() {
    let server = TestServer::start().await;
    let token = server.app_token().await;
    let mut checked = 0;
    for (method, template) in ROUTES {
        let parameters: Vec<&str> = template
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for parameter in parameters {
            let path = fill(template, Some(parameter));
            let (status, body) = server.http(method, &path, Some(&token), "{}").await;
            assert_json_error(method, &path, status, &body);
            if parameter == "user" {
                assert_eq!(status, 400, "{method} {path}: {body}");
                assert_eq!(body["error"], "illegal_argument", "{method} {path}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 90, "{checked}");
    // A query that does not decode, too.
    let path = format!("/{ORG}/{APP}/users?limit=%FF&cursor=%FF");
    let (status, body) = server.http("GET", &path, Some(&token), "").await;
    assert!(
        status == 200 || body["error"].is_string(),
        "{status} {body}"
    );
}

#[tokio::test]
async fn every_route_answers_oversized_bodies_in_the_json_shape() {
    let server = TestServer::start().await;
    let token = server.app_token().await;
    // Past axum's 2 MB default, within the upload routes' 10 MB.
    let oversized = format!("\"{}\"", "a".repeat(2 * 1024 * 1024 + 100));
    let mut too_large = 0;
    for (method, template) in ROUTES {
        if *method == "GET" {
            continue;
        }
        let path = fill(template, None);
        let (status, body) = server.http(method, &path, Some(&token), &oversized).await;
        if status == 200 {
            // A route that takes no body (or streams it with its own limit) ignores it.
            assert!(body.is_object(), "{method} {path}: {body}");
            continue;
        }
        assert_json_error(method, &path, status, &body);
        // Some routes refuse the request before they read the body; those that read it say 413.
        let description = body["error_description"].as_str().unwrap_or_default();
        if description.contains("length limit") {
            assert_eq!(status, 413, "{method} {path}: {body}");
            assert_eq!(body["error"], "request_entity_too_large", "{method} {path}");
            too_large += 1;
        }
    }
    assert!(too_large >= 10, "{too_large}");
}
