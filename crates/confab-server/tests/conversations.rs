//! Server-side conversations over REST: the list with unread counts and the last message in the
//! REST-JSON form, pin, marks, one-way removal, deletion; bad input with the exact JSON errors.

mod common;

use common::{TestServer, APP, ORG};
use serde_json::{json, Value};

fn path(rest: &str) -> String {
    format!("/{ORG}/{APP}{rest}")
}

#[tokio::test]
async fn the_list_shows_unread_counts_and_the_last_message() {
    let server = TestServer::start().await;
    let mut leo = server.login("leo", "web").await;
    let first = leo.send_text(1, "roy", "leo", "one").await;
    let ack = leo.send_text(2, "roy", "leo", "two").await;
    let roy_token = server.user_token("roy", 600);
    let list = |query: &'static str| {
        let token = roy_token.clone();
        let server = &server;
        async move {
            let (status, body) = server
                .http(
                    "GET",
                    &path(&format!("/sdk/user/roy/user_channels/list?{query}")),
                    Some(&token),
                    "",
                )
                .await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let body = list("limit=20&cursor=&need_mark=true").await;
    let info = &body["data"]["channel_infos"][0];
    let server_id = ack.server_id.unwrap();
    assert_eq!(
        (
            &info["session_to"],
            &info["session_type"],
            &info["unread_num"],
            &info["is_top"]
        ),
        (&json!("leo"), &json!("chat"), &json!(2), &json!(false))
    );
    assert_eq!(info["meta"]["id"], server_id.to_string());
    let payload: Value = serde_json::from_str(info["meta"]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        payload,
        json!({"from": "leo", "to": "roy", "type": "chat",
               "bodies": [{"type": "txt", "msg": "two"}], "ext": {}})
    );
    assert_eq!(body["data"]["cursor"], "");

    // Pin, mark, and the pinned / marked lists.
    let (status, pinned) = server
        .http(
            "POST",
            &path("/sdk/user/roy/user_channel/top?resource=web"),
            Some(&roy_token),
            &json!({"type": "chat", "to": "leo"}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{pinned}");
    assert_eq!(pinned["data"]["is_top"], true);
    let (status, marked) = server
        .http(
            "POST",
            &path("/sdk/user/roy/user_channels/mark?resource=web"),
            Some(&roy_token),
            &json!({"mark": "mark_2", "targets": [{"to": "leo", "type": "chat"}]}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{marked}");
    let body = list("limit=20&is_top=true").await;
    assert_eq!(body["data"]["channel_infos"][0]["marks"], json!(["mark_2"]));
    assert_eq!(body["data"]["channel_infos"][0]["is_top"], true);

    // One-way removal of both messages, then the conversation is deleted.
    let ids = format!("{},{}", first.server_id.unwrap(), server_id);
    let (status, body) = server
        .http(
            "DELETE",
            &path(&format!(
                "/sdk/message/roaming/chat/user/roy?userId=leo&msgIdList={ids}&resource=web"
            )),
            Some(&roy_token),
            "",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // With its whole history removed the conversation has no last message: it leaves the list.
    let body = list("limit=20").await;
    assert_eq!(body["data"]["channel_infos"], json!([]));
    let (status, body) = server
        .http(
            "DELETE",
            &path("/user/roy/user_channel?resource=web"),
            Some(&roy_token),
            &json!({"channel": "leo", "type": "chat", "delete_roam": true}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let body = list("limit=20").await;
    assert_eq!(body["data"]["channel_infos"], json!([]));
}

#[tokio::test]
async fn bad_conversation_requests() {
    let server = TestServer::start().await;
    let leo = server.user_token("leo", 600);
    let roy = server.user_token("roy", 600);
    let cases: Vec<(&str, String, &str, &str, u16, &str, &str)> = vec![
        (
            "GET",
            path("/sdk/user/leo/user_channels/list?cursor=zzz"),
            leo.as_str(),
            "",
            400,
            "illegal_argument",
            "invalid cursor",
        ),
        (
            "GET",
            path("/sdk/user/leo/user_channels/list?limit=ten"),
            leo.as_str(),
            "",
            400,
            "illegal_argument",
            "invalid limit ten",
        ),
        (
            "GET",
            path("/sdk/user/leo/user_channels/list"),
            roy.as_str(),
            "",
            401,
            "unauthorized",
            "Unable to authenticate (OAuth)",
        ),
        (
            "POST",
            path("/sdk/user/leo/user_channels/mark"),
            leo.as_str(),
            "{\"mark\": \"mark_20\", \"targets\": []}",
            400,
            "illegal_argument",
            "invalid mark mark_20",
        ),
        (
            "POST",
            path("/sdk/user/leo/user_channel/top"),
            leo.as_str(),
            "{\"type\": \"groupChat\", \"to\": \"g1\"}",
            400,
            "illegal_argument",
            "invalid conversation g1",
        ),
        (
            "DELETE",
            path("/sdk/message/roaming/chat/user/leo?userId=roy&msgIdList=abc"),
            leo.as_str(),
            "",
            400,
            "illegal_argument",
            "invalid message id abc",
        ),
        (
            "DELETE",
            path("/sdk/message/roaming/chat/user/leo/time?userId=roy&delTime=soon"),
            leo.as_str(),
            "",
            400,
            "illegal_argument",
            "invalid delTime soon",
        ),
        (
            "DELETE",
            path("/sdk/message/roaming/group/user/leo?groupId=g1&msgIdList=1"),
            leo.as_str(),
            "",
            400,
            "illegal_argument",
            "invalid conversation g1",
        ),
        (
            "DELETE",
            path("/sdk/message/roaming/group/user/leo/time?groupId=42&delTime=1"),
            leo.as_str(),
            "",
            404,
            "resource_not_found",
            "do not find this group",
        ),
        (
            "DELETE",
            path("/sdk/message/roaming/room/user/leo?userId=roy&msgIdList=1"),
            leo.as_str(),
            "",
            400,
            "illegal_argument",
            "invalid conversation type room",
        ),
        (
            "DELETE",
            path("/user/leo/user_channel"),
            leo.as_str(),
            "{\"channel\": 5}",
            400,
            "json_parse",
            "",
        ),
    ];
    for (method, path, token, body, status, error, description) in cases {
        let (got_status, response) = server.http(method, &path, Some(token), body).await;
        assert_eq!(got_status, status, "{path}: {response}");
        assert_eq!(response["error"], error, "{path}: {response}");
        if !description.is_empty() {
            assert_eq!(
                response["error_description"], description,
                "{path}: {response}"
            );
        }
    }
}
