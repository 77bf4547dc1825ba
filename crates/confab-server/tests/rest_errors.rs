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
