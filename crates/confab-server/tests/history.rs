//! History roaming over REST (`POST …/users/{user}/messageroaming`): the metas served are the
//! ones the recipient pulled, byte for byte, in both directions and after a restart; bad input
//! gets the exact JSON error bodies.

mod common;

use base64::Engine;
use common::{TestServer, APP, ORG};
use confab_proto::pb;
use prost::Message;
use serde_json::{json, Value};

fn roaming_path(user: &str) -> String {
    format!("/{ORG}/{APP}/users/{user}/messageroaming")
}

/// One history request as `user`; returns the decoded metas, `next_key` and `is_last`.
async fn history(
    server: &TestServer,
    user: &str,
    body: Value,
) -> (Vec<pb::Meta>, Option<String>, bool) {
    let token = server.user_token(user, 600);
    let (status, response) = server
        .http("POST", &roaming_path(user), Some(&token), &body.to_string())
        .await;
    assert_eq!(status, 200, "{response}");
    let data = &response["data"];
    let metas = data["msgs"]
        .as_array()
        .expect("msgs is an array")
        .iter()
        .map(|msg| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(msg["msg"].as_str().expect("msg is a string"))
                .expect("msg is base64");
            pb::Meta::decode(&bytes[..]).expect("msg is a Meta")
        })
        .collect();
    (
        metas,
        data["next_key"].as_str().map(str::to_owned),
        data["is_last"].as_bool().expect("is_last is a bool"),
    )
}

fn ids(metas: &[pb::Meta]) -> Vec<u64> {
    metas
        .iter()
        .map(|meta| meta.id.expect("metas carry ids"))
        .collect()
}

#[tokio::test]
async fn history_is_what_the_recipient_pulled_both_ways_and_after_a_restart() {
    let mut server = TestServer::start().await;
    let mut leo = server.login("leo", "web").await;
    for (client_id, text) in [(1, "one"), (2, "two"), (3, "three")] {
        leo.send_text(client_id, "roy", "leo", text).await;
    }
    let mut roy = server.login("roy", "web").await;
    let pulled = roy.pull("leo", None).await.metas;
    assert_eq!(pulled.len(), 3);

    // Newest first, two per page, then the rest with the cursor.
    let query = |start: Value, positive: bool, n: u32| {
        json!({"queue": "leo@easemob.com", "start": start, "pull_number": n,
               "is_positive": positive, "msgType": "", "end": -1,
               "startTime": null, "endTime": null, "userId": null})
    };
    let (first, next_key, is_last) = history(&server, "roy", query(json!(-1), false, 2)).await;
    assert_eq!(ids(&first), [pulled[2].id.unwrap(), pulled[1].id.unwrap()]);
    assert!(!is_last);
    let (second, _, is_last) = history(&server, "roy", query(json!(next_key), false, 2)).await;
    assert_eq!(second, [pulled[0].clone()]);
    assert!(is_last);
    // Oldest first: the same metas as pulled, byte for byte.
    let (all, _, is_last) = history(&server, "roy", query(json!(-1), true, 20)).await;
    assert_eq!(all, pulled);
    assert!(is_last);
    // The sender sees the same messages under the recipient's name.
    let (leo_view, _, _) = history(
        &server,
        "leo",
        json!({"queue": "roy@easemob.com", "start": -1, "is_positive": true}),
    )
    .await;
    assert_eq!(leo_view, pulled);
    // Filters: sender, kind, time.
    let (from_roy, _, _) = history(
        &server,
        "roy",
        json!({"queue": "leo@easemob.com", "userId": "roy"}),
    )
    .await;
    assert!(from_roy.is_empty());
    let (images, _, _) = history(
        &server,
        "roy",
        json!({"queue": "leo@easemob.com", "msgType": "img"}),
    )
    .await;
    assert!(images.is_empty());
    let second_time = pulled[1].timestamp.unwrap();
    let (timed, _, _) = history(
        &server,
        "roy",
        json!({"queue": "leo@easemob.com", "is_positive": true,
               "startTime": second_time, "endTime": second_time}),
    )
    .await;
    assert!(timed.contains(&pulled[1]));
    assert!(timed.iter().all(|meta| meta.timestamp == Some(second_time)));

    drop((leo, roy));
    server.restart().await;
    let (after_restart, _, _) = history(&server, "roy", query(json!(-1), true, 20)).await;
    assert_eq!(after_restart, pulled);
}

#[tokio::test]
async fn bad_history_requests() {
    let server = TestServer::start().await;
    let leo_token = server.user_token("leo", 600);
    let roy_token = server.user_token("roy", 600);
    let valid = json!({"queue": "roy@easemob.com", "start": -1}).to_string();
    let cases: Vec<(Option<&str>, String, u16, &str, &str)> = vec![
        (
            Some(&leo_token),
            json!({"queue": "roy@easemob.com", "start": "not-a-cursor"}).to_string(),
            400,
            "illegal_argument",
            "invalid cursor",
        ),
        (
            Some(&leo_token),
            json!({"queue": "roy@easemob.com", "start": true}).to_string(),
            400,
            "illegal_argument",
            "invalid cursor",
        ),
        (
            Some(&leo_token),
            json!({"queue": "roy@easemob.com", "msgType": "txt,gif"}).to_string(),
            400,
            "illegal_argument",
            "unknown msgType gif",
        ),
        (
            Some(&leo_token),
            json!({"queue": "roy"}).to_string(),
            400,
            "illegal_argument",
            "invalid queue roy",
        ),
        (
            Some(&leo_token),
            json!({"queue": "g1@conference.easemob.com"}).to_string(),
            404,
            "resource_not_found",
            "do not find this group",
        ),
        (
            Some(&leo_token),
            json!({"queue": "4242@conference.easemob.com"}).to_string(),
            404,
            "resource_not_found",
            "do not find this group",
        ),
        (
            Some(&roy_token),
            valid.clone(),
            401,
            "unauthorized",
            "Unable to authenticate (OAuth)",
        ),
        (
            None,
            valid.clone(),
            401,
            "unauthorized",
            "Unable to authenticate due to expired access token",
        ),
    ];
    for (bearer, body, status, error, description) in cases {
        let (got_status, response) = server
            .http("POST", &roaming_path("leo"), bearer, &body)
            .await;
        assert_eq!(got_status, status, "{body}: {response}");
        assert_eq!(response["error"], error, "{body}: {response}");
        assert_eq!(
            response["error_description"], description,
            "{body}: {response}"
        );
    }
    for body in ["{\"queue\": ", "[]", "{}"] {
        let (status, response) = server
            .http("POST", &roaming_path("leo"), Some(&leo_token), body)
            .await;
        assert_eq!(status, 400, "{body}: {response}");
        assert_eq!(response["error"], "json_parse", "{body}: {response}");
    }
}

#[tokio::test]
async fn sending_as_a_user_over_rest() {
    let server = TestServer::start().await;
    let token = server.app_token().await;
    let send_path = format!("/{ORG}/{APP}/messages/users");
    let body = json!({"from": "leo", "to": ["roy"], "type": "txt", "body": {"msg": "hi"}});
    let (status, response) = server
        .http("POST", &send_path, Some(&token), &body.to_string())
        .await;
    assert_eq!(status, 200, "{response}");
    let id: u64 = response["data"]["roy"].as_str().unwrap().parse().unwrap();
    let mut roy = server.login("roy", "web").await;
    let pulled = roy.pull("leo", None).await.metas;
    assert_eq!(ids(&pulled), [id]);
    let message = pb::MessageBody::decode(pulled[0].payload.clone().unwrap()).unwrap();
    assert_eq!(
        (
            message.from.unwrap().name.as_deref(),
            message.to.unwrap().name.as_deref(),
            message.contents[0].text.as_deref()
        ),
        (Some("leo"), Some("roy"), Some("hi"))
    );
    let (history_view, _, _) = history(&server, "leo", json!({"queue": "roy@easemob.com"})).await;
    assert_eq!(history_view, pulled);

    let user_token = server.user_token("leo", 600);
    let cases: Vec<(Option<&str>, Value, u16, &str, &str)> = vec![
        (
            Some(&user_token),
            body.clone(),
            401,
            "unauthorized",
            "Unable to authenticate (OAuth)",
        ),
        (
            Some(&token),
            json!({"from": "leo", "to": ["nobody"], "type": "txt", "body": {"msg": "hi"}}),
            400,
            "illegal_argument",
            "recipient nobody does not exist",
        ),
        (
            Some(&token),
            json!({"from": "leo", "to": [], "type": "txt", "body": {"msg": "hi"}}),
            400,
            "illegal_argument",
            "to must name 1 to 600 users",
        ),
        (
            Some(&token),
            json!({"from": "leo", "to": ["roy"], "type": "txt", "body": {}}),
            400,
            "illegal_argument",
            "body.msg is required",
        ),
        (
            Some(&token),
            json!({"from": "leo", "to": ["roy"], "type": "gif", "body": {}}),
            400,
            "illegal_argument",
            "invalid message type gif",
        ),
    ];
    for (bearer, request, status, error, description) in cases {
        let (got_status, response) = server
            .http("POST", &send_path, bearer, &request.to_string())
            .await;
        assert_eq!(got_status, status, "{request}: {response}");
        assert_eq!(response["error"], error, "{request}: {response}");
        assert_eq!(
            response["error_description"], description,
            "{request}: {response}"
        );
    }
    let (status, response) = server
        .http("POST", &send_path, Some(&token), "{\"to\": \"roy\"}")
        .await;
    assert_eq!(
        (status, &response["error"]),
        (400, &json!("json_parse")),
        "{response}"
    );
}

#[tokio::test]
async fn exporting_an_hour_of_history() {
    use std::io::Read;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = TestServer::start().await;
    let mut leo = server.login("leo", "web").await;
    let ack = leo.send_text(1, "roy", "leo", "for the record").await;
    let token = server.app_token().await;
    let hour_ms = ack.timestamp.unwrap() / 3_600_000 * 3_600_000;
    let hour = {
        // YYYYMMDDHH of `hour_ms`, from the days since the epoch (civil_from_days).
        let days = (hour_ms / 86_400_000) as i64 + 719_468;
        let era = days.div_euclid(146_097);
        let day_of_era = days - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_index = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_index + 2) / 5 + 1;
        let month = if month_index < 10 {
            month_index + 3
        } else {
            month_index - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}{month:02}{day:02}{:02}",
            (hour_ms / 3_600_000) % 24
        )
    };
    let (status, body) = server
        .http(
            "GET",
            &format!("/{ORG}/{APP}/chatmessages/{hour}"),
            Some(&token),
            "",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let url = body["data"][0]["url"].as_str().unwrap();
    let download_path = format!("/{ORG}/{APP}/chatmessages/{hour}/download");
    assert!(url.ends_with(&download_path), "{url}");

    let mut stream = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    let request = format!(
        "GET {download_path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"));
    let mut lines = String::new();
    flate2::read::GzDecoder::new(&response[split + 4..])
        .read_to_string(&mut lines)
        .unwrap();
    let exported: Vec<Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        exported,
        [json!({
            "msg_id": ack.server_id.unwrap().to_string(),
            "timestamp": ack.timestamp.unwrap(),
            "direction": "outgoing",
            "from": "leo",
            "to": "roy",
            "chat_type": "chat",
            "payload": {"from": "leo", "to": "roy", "type": "chat",
                        "bodies": [{"type": "txt", "msg": "for the record"}], "ext": {}},
        })]
    );

    for (path, bearer, status, description) in [
        (
            format!("/{ORG}/{APP}/chatmessages/2023111424"),
            token.clone(),
            400,
            "invalid time 2023111424",
        ),
        (
            format!("/{ORG}/{APP}/chatmessages/latest/download"),
            token.clone(),
            400,
            "invalid time latest",
        ),
        (
            format!("/{ORG}/{APP}/chatmessages/{hour}"),
            server.user_token("leo", 600),
            401,
            "Unable to authenticate (OAuth)",
        ),
    ] {
        let (got_status, response) = server.http("GET", &path, Some(&bearer), "").await;
        assert_eq!(got_status, status, "{path}: {response}");
        assert_eq!(
            response["error_description"], description,
            "{path}: {response}"
        );
    }
}

#[tokio::test]
async fn importing_a_message_into_history() {
    let server = TestServer::start().await;
    let token = server.app_token().await;
    let import_path = format!("/{ORG}/{APP}/messages/users/import");
    let mut leo = server.login("leo", "web").await;
    let live = leo.send_text(1, "roy", "leo", "live").await;
    let old_ms = live.timestamp.unwrap() - 60_000;
    let body = json!({"from": "roy", "target": "leo", "type": "txt", "body": {"msg": "from the archive"},
                      "ext": {"k": 1}, "msg_timestamp": old_ms, "is_ack_read": true, "need_download": false});
    let (status, response) = server
        .http("POST", &import_path, Some(&token), &body.to_string())
        .await;
    assert_eq!(status, 200, "{response}");
    let id: u64 = response["data"]["msg_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(id >> 22, old_ms);
    // In both histories, before the live message; in no queue.
    let (leo_view, _, _) = history(
        &server,
        "leo",
        json!({"queue": "roy@easemob.com", "is_positive": true}),
    )
    .await;
    assert_eq!(ids(&leo_view), [id, live.server_id.unwrap()]);
    assert_eq!(leo_view[0].timestamp, Some(old_ms));
    let (roy_view, _, _) = history(&server, "roy", json!({"queue": "leo@easemob.com"})).await;
    assert_eq!(roy_view.len(), 2);
    assert!(leo.pull("roy", None).await.metas.is_empty());

    for (request, description) in [
        (
            json!({"from": "roy", "target": "leo", "type": "txt", "body": {"msg": "x"},
                   "msg_timestamp": live.timestamp.unwrap() + 3_600_000}),
            "msg_timestamp is in the future",
        ),
        (
            json!({"from": "roy", "target": "nobody", "type": "txt", "body": {"msg": "x"}}),
            "recipient nobody does not exist",
        ),
        (
            json!({"from": "roy", "target": "leo", "type": "gif", "body": {}}),
            "invalid message type gif",
        ),
    ] {
        let (status, response) = server
            .http("POST", &import_path, Some(&token), &request.to_string())
            .await;
        assert_eq!(status, 400, "{request}: {response}");
        assert_eq!(
            response["error_description"], description,
            "{request}: {response}"
        );
    }
}
