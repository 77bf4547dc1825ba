//! A user's devices: `GET …/users/{user}/resources` (the SDK's `getSelfIdsOnOtherPlatform`),
//! forcing one device (`DELETE …/disconnect/{resource}`) or all of them (`GET …/disconnect`)
//! offline with the 217 kick, and the new login's `setLoginInfoCustomExt` handed to the device
//! it kicks off its resource. Every route with garbage input, answered with the exact JSON.

mod common;

use std::time::Duration;

use common::{Client, Received, TestServer, APP, APP_KEY, ORG, WAIT};
use confab_proto::pb::{self, m_sync::Command};
use prost::Message as _;
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

/// What a device's PROVISION says about it.
struct DeviceLogin<'a> {
    resource: &'a str,
    uuid: Option<&'a str>,
    name: Option<&'a str>,
    /// `setLoginInfoCustomExt`.
    ext: Option<&'a str>,
}

impl<'a> DeviceLogin<'a> {
    fn on(resource: &'a str) -> DeviceLogin<'a> {
        DeviceLogin {
            resource,
            uuid: None,
            name: None,
            ext: None,
        }
    }
}

/// Logs `user` in as the SDK does, with the device fields of `device`.
#[allow(clippy::unwrap_used)] // test helper
async fn login(server: &TestServer, user: &str, device: DeviceLogin<'_>) -> Client {
    let token = server.user_token(user, 3600);
    let fields = pb::Provision {
        resource: Some(device.resource.into()),
        device_uuid: device.uuid.map(Into::into),
        device_name: device.name.map(Into::into),
        reason: device.ext.map(Into::into),
        ..Default::default()
    };
    let mut client = server.connect().await;
    let reply = client.provision_as(APP_KEY, user, &token, fields).await;
    assert_eq!(reply.status.unwrap().error_code, Some(0), "login of {user}");
    client
}

/// Waits for the kick frame, returns its `StatisticsBody`, and checks the socket closes.
#[allow(clippy::unwrap_used)] // test helper
async fn kicked(client: &mut Client) -> pb::StatisticsBody {
    let kick: pb::CommSyncDl = client.expect(Command::Sync).await;
    let body = pb::StatisticsBody::decode(kick.metas[0].payload.clone().unwrap()).unwrap();
    assert!(matches!(client.receive().await, Received::Closed(_)));
    body
}

async fn resources(server: &TestServer, user: &str, token: &str) -> (u16, Value) {
    server
        .http(
            "GET",
            &format!("/{ORG}/{APP}/users/{user}/resources"),
            Some(token),
            "",
        )
        .await
}

/// The `res` of each listed device, waiting (with a deadline) until they are `expected`:
/// a closed socket leaves the registry when the server notices.
#[allow(clippy::unwrap_used)] // test helper
async fn wait_for_resources(server: &TestServer, user: &str, token: &str, expected: &[&str]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = resources(server, user, token).await;
        assert_eq!(status, 200, "{body}");
        let listed: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|device| device["res"].as_str().unwrap())
            .collect();
        if listed == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {listed:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn resources_lists_the_live_devices_of_the_user() {
    let server = TestServer::start().await;
    let leo_token = server.user_token("leo", 600);
    let (status, body) = resources(&server, "leo", &leo_token).await;
    assert_eq!((status, body["data"].clone()), (200, json!([])), "{body}");

    let _web = login(&server, "leo", DeviceLogin::on("webim_web_1")).await;
    let phone = login(
        &server,
        "leo",
        DeviceLogin {
            uuid: Some("2a54-uuid"),
            name: Some("HUAWEI-P60"),
            ..DeviceLogin::on("android_77")
        },
    )
    .await;
    let _roy = login(&server, "roy", DeviceLogin::on("webim_web_9")).await;
    // The user's own token (the SDK's call), oldest login first.
    let (status, body) = resources(&server, "Leo", &leo_token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!([
            {"res": "webim_web_1"},
            {"res": "android_77", "device_uuid": "2a54-uuid", "device_name": "HUAWEI-P60"},
        ])
    );
    assert_eq!(
        (
            body["action"].clone(),
            body["path"].clone(),
            body["uri"].clone(),
            body["organization"].clone(),
            body["applicationName"].clone(),
            body["entities"].clone(),
            body["duration"].clone(),
        ),
        (
            json!("get"),
            json!("/users/leo/resources"),
            json!(format!("/{ORG}/{APP}/users/leo/resources")),
            json!(ORG),
            json!(APP),
            json!([]),
            json!(0)
        )
    );
    assert!(body["application"].is_string() && body["timestamp"].is_u64());
    // An app token reads anyone's.
    let app_token = server.app_token().await;
    let (status, body) = resources(&server, "roy", &app_token).await;
    assert_eq!(
        (status, body["data"].clone()),
        (200, json!([{"res": "webim_web_9"}]))
    );
    // A device gone is no longer listed.
    drop(phone);
    wait_for_resources(&server, "leo", &leo_token, &["webim_web_1"]).await;
}

#[tokio::test]
async fn resources_refuses_garbage() {
    let server = TestServer::start().await;
    let app_token = server.app_token().await;
    let roy_token = server.user_token("roy", 600);
    let path = |user: &str| format!("/{ORG}/{APP}/users/{user}/resources");
    check(
        server.http("GET", &path("leo"), None, "").await,
        401,
        "unauthorized",
        "Unable to authenticate due to expired access token",
    );
    check(
        server
            .http("GET", &path("leo"), Some("007garbage"), "")
            .await,
        401,
        "auth_bad_access_token",
        "Unable to authenticate due to corrupt access token",
    );
    // Another user's token.
    check(
        resources(&server, "leo", &roy_token).await,
        401,
        "unauthorized",
        "Unable to authenticate (OAuth)",
    );
    check(
        resources(&server, "ghost", &app_token).await,
        404,
        "service_resource_not_found",
        "user not found",
    );
    check(
        resources(&server, "no%20such", &app_token).await,
        404,
        "service_resource_not_found",
        "user not found",
    );
    check(
        server
            .http(
                "GET",
                &format!("/{ORG}/nope/users/leo/resources"),
                Some(&app_token),
                "",
            )
            .await,
        404,
        "organization_application_not_found",
        "Could not find application for this org/app",
    );
}

#[tokio::test]
async fn disconnecting_one_device_kicks_only_it_with_217() {
    let server = TestServer::start().await;
    let app_token = server.app_token().await;
    let mut web = login(&server, "leo", DeviceLogin::on("webim_web_1")).await;
    let mut phone = login(&server, "leo", DeviceLogin::on("android_77")).await;
    let mut roy = login(&server, "roy", DeviceLogin::on("webim_web_1")).await;
    let disconnect = |resource: &str| format!("/{ORG}/{APP}/users/leo/disconnect/{resource}");

    let (status, body) = server
        .http("DELETE", &disconnect("webim_web_1"), Some(&app_token), "")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["action"].clone(),
            body["data"].clone(),
            body["uri"].clone(),
            body["entities"].clone(),
            body["duration"].clone()
        ),
        (
            json!("delete"),
            json!({"result": true}),
            json!(format!("/{ORG}/{APP}/users/leo/disconnect/webim_web_1")),
            json!([]),
            json!(0)
        )
    );
    let statistic = kicked(&mut web).await;
    assert_eq!(statistic.operation, Some(4), "USER_KICKED_BY_OTHER_DEVICE");
    assert_eq!(statistic.reason, None);
    // The other device, and the other user on the same resource name, stay.
    assert_eq!(phone.unread().await.status.unwrap().error_code, Some(0));
    assert_eq!(roy.unread().await.status.unwrap().error_code, Some(0));
    let leo_token = server.user_token("leo", 600);
    wait_for_resources(&server, "leo", &leo_token, &["android_77"]).await;

    // A resource with no session of the user: nothing to do, `result: false`.
    for resource in ["webim_web_1", "never_seen", "a%20b"] {
        let (status, body) = server
            .http("DELETE", &disconnect(resource), Some(&app_token), "")
            .await;
        assert_eq!(
            (status, body["data"].clone()),
            (200, json!({"result": false})),
            "{resource}: {body}"
        );
    }
    assert_eq!(phone.unread().await.status.unwrap().error_code, Some(0));
}

#[tokio::test]
async fn disconnecting_one_device_refuses_garbage() {
    let server = TestServer::start().await;
    let app_token = server.app_token().await;
    let mut web = login(&server, "leo", DeviceLogin::on("webim_web_1")).await;
    let path = |user: &str| format!("/{ORG}/{APP}/users/{user}/disconnect/webim_web_1");
    check(
        server.http("DELETE", &path("leo"), None, "").await,
        401,
        "unauthorized",
        "Unable to authenticate due to expired access token",
    );
    check(
        server
            .http("DELETE", &path("leo"), Some("007garbage"), "")
            .await,
        401,
        "auth_bad_access_token",
        "Unable to authenticate due to corrupt access token",
    );
    // A user token, even the user's own: app tokens only.
    for user in ["leo", "roy"] {
        let token = server.user_token(user, 600);
        check(
            server.http("DELETE", &path("leo"), Some(&token), "").await,
            401,
            "unauthorized",
            "Unable to authenticate (OAuth)",
        );
    }
    check(
        server
            .http("DELETE", &path("ghost"), Some(&app_token), "")
            .await,
        404,
        "service_resource_not_found",
        "user not found",
    );
    // Nothing of it reached the session.
    assert_eq!(web.unread().await.status.unwrap().error_code, Some(0));
}

#[tokio::test]
async fn disconnecting_a_user_kicks_every_device_with_217() {
    let server = TestServer::start().await;
    let app_token = server.app_token().await;
    let mut web = login(&server, "leo", DeviceLogin::on("webim_web_1")).await;
    let mut phone = login(&server, "leo", DeviceLogin::on("android_77")).await;
    let mut roy = login(&server, "roy", DeviceLogin::on("webim_web_2")).await;
    let path = |user: &str| format!("/{ORG}/{APP}/users/{user}/disconnect");
    let (status, body) = server.http("GET", &path("leo"), Some(&app_token), "").await;
    assert_eq!(
        (status, body["action"].clone(), body["data"].clone()),
        (200, json!("get"), json!({"result": true})),
        "{body}"
    );
    for client in [&mut web, &mut phone] {
        assert_eq!(kicked(client).await.operation, Some(4));
    }
    assert_eq!(roy.unread().await.status.unwrap().error_code, Some(0));
    wait_for_resources(&server, "leo", &app_token, &[]).await;

    // Garbage.
    let leo_token = server.user_token("leo", 600);
    check(
        server.http("GET", &path("leo"), Some(&leo_token), "").await,
        401,
        "unauthorized",
        "Unable to authenticate (OAuth)",
    );
    check(
        server.http("GET", &path("leo"), None, "").await,
        401,
        "unauthorized",
        "Unable to authenticate due to expired access token",
    );
    check(
        server
            .http("GET", &path("ghost"), Some(&app_token), "")
            .await,
        404,
        "service_resource_not_found",
        "user not found",
    );
}

#[tokio::test]
async fn a_login_on_the_same_resource_hands_its_ext_to_the_device_it_kicks() {
    let server = TestServer::start().await;
    let mut first = login(
        &server,
        "leo",
        DeviceLogin {
            ext: Some("first device"),
            ..DeviceLogin::on("webim_web_1")
        },
    )
    .await;
    let mut second = login(
        &server,
        "leo",
        DeviceLogin {
            ext: Some("{\"from\":\"the second device\"}"),
            ..DeviceLogin::on("webim_web_1")
        },
    )
    .await;
    let statistic = kicked(&mut first).await;
    assert_eq!(statistic.operation, Some(2), "USER_LOGIN_ANOTHER_DEVICE");
    assert_eq!(
        statistic.reason.as_deref(),
        Some("{\"from\":\"the second device\"}")
    );
    // A login without an ext kicks with none.
    let _third = login(&server, "leo", DeviceLogin::on("webim_web_1")).await;
    let statistic = kicked(&mut second).await;
    assert_eq!((statistic.operation, statistic.reason), (Some(2), None));
}
