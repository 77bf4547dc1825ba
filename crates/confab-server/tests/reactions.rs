//! Reactions and pinned messages over REST: the other party gets a `NOTIFY` meta (`reaction`,
//! `conv`) in its queue; bad input gets the exact JSON error bodies.

mod common;

use common::{TestServer, APP, ORG};
use confab_proto::pb::{self, m_sync::Command};
use serde_json::{json, Value};

#[tokio::test]
async fn a_reaction_reaches_the_other_party_as_a_notify_meta() {
    let server = TestServer::start().await;
    let mut leo = server.login("leo", "web").await;
    let ack = leo.send_text(1, "roy", "leo", "react to me").await;
    let id = ack.server_id.unwrap().to_string();
    let roy_token = server.user_token("roy", 600);
    let (status, body) = server
        .http(
            "POST",
            &format!("/{ORG}/{APP}/reaction/user/roy"),
            Some(&roy_token),
            &json!({"msgId": id, "message": "emoji_1"}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let notice: pb::CommNotice = leo.expect(Command::Notice).await;
    assert_eq!(notice.queue.unwrap().name.as_deref(), Some("roy"));
    let metas = leo.pull("roy", None).await.metas;
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].ns, Some(pb::meta::NameSpace::Notify as i32));
    let notify: Value = serde_json::from_slice(metas[0].payload.as_ref().unwrap()).unwrap();
    assert_eq!(notify["type"], "reaction");
    assert_eq!(
        notify["data"][0]["reactions"],
        json!([{"reaction": "emoji_1", "count": 1, "userCount": 1, "userList": ["roy"],
                "isAddedBySelf": false, "op": [{"operator": "roy", "reactionType": "create"}]}])
    );
}

#[tokio::test]
async fn bad_reaction_requests() {
    let server = TestServer::start().await;
    let mut leo = server.login("leo", "web").await;
    let ack = leo.send_text(1, "roy", "leo", "private").await;
    let id = ack.server_id.unwrap().to_string();
    let amy = server.user_token("amy", 600);
    let roy = server.user_token("roy", 600);
    let path = |user: &str| format!("/{ORG}/{APP}/reaction/user/{user}");
    let long = "x".repeat(129);
    let cases: Vec<(&str, String, &str, String, u16, &str)> = vec![
        (
            "POST",
            path("amy"),
            amy.as_str(),
            json!({"msgId": id, "message": "emoji_1"}).to_string(),
            400,
            "message {id} does not exist",
        ),
        (
            "POST",
            path("roy"),
            roy.as_str(),
            json!({"msgId": "abc", "message": "emoji_1"}).to_string(),
            400,
            "invalid message id abc",
        ),
        (
            "POST",
            path("roy"),
            roy.as_str(),
            json!({"msgId": id, "message": long}).to_string(),
            400,
            "reaction must be 1 to 128 characters",
        ),
        (
            "POST",
            path("roy"),
            amy.as_str(),
            json!({"msgId": id, "message": "emoji_1"}).to_string(),
            401,
            "Unable to authenticate (OAuth)",
        ),
        (
            "POST",
            format!("/{ORG}/{APP}/sdk/user/amy/user_channel/pin"),
            amy.as_str(),
            json!({"to": "leo", "type": "chat", "pin_msg_id": id}).to_string(),
            400,
            "message {id} does not exist",
        ),
        (
            "POST",
            format!("/{ORG}/{APP}/sdk/user/roy/user_channel/pin"),
            roy.as_str(),
            json!({"to": "leo", "type": "chat", "pin_msg_id": "x1"}).to_string(),
            400,
            "invalid message id x1",
        ),
        (
            "GET",
            format!("/{ORG}/{APP}/sdk/user/roy/user_channel/pin?to=leo&type=chat&cursor=z"),
            roy.as_str(),
            String::new(),
            400,
            "invalid cursor",
        ),
        (
            "GET",
            format!(
                "{}/detail?msgId={id}&message=emoji_1&currentPage=x",
                path("roy")
            ),
            roy.as_str(),
            String::new(),
            400,
            "invalid cursor",
        ),
    ];
    for (method, path, token, body, status, description) in cases {
        let description = description.replace("{id}", &id);
        let (got_status, response) = server.http(method, &path, Some(token), &body).await;
        assert_eq!(got_status, status, "{path}: {response}");
        assert_eq!(
            response["error_description"], description,
            "{path}: {response}"
        );
    }
}
