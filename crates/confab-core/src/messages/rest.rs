//! Server-side sending (`POST /{org}/{app}/messages/users`): a message in the REST form
//! (`{type, body, ext}`) becomes the `MessageBody` an SDK would have sent, and goes through the
//! same `submit` path, so recipients get it over msync exactly like an SDK message. Recall over
//! REST goes the same way; imports go into history only, under ids of their own time.

use std::sync::Arc;

use confab_proto::{
    pb::{self, key_value::ValueType, message_body::content::Type as ContentType, meta::NameSpace},
    CONFERENCE_DOMAIN, USER_DOMAIN,
};
use prost::Message;
use rand::RngCore;
use serde_json::Value;

use crate::{
    app::App,
    bus::RoomPriority,
    ids::{LogId, MessageId, RoomId, UserName},
    messages::{MessageService, RoomSender, SessionContext},
    now_ms,
    rooms::RoomError,
    store::{Audience, EncodeMeta, NewMessage, StoreError},
    Error,
};

/// The resource recorded as the sender's for messages sent over REST.
pub const REST_RESOURCE: &str = "rest";

/// A message in the REST form, addressed to single-chat users.
#[derive(Debug, Clone)]
pub struct RestSend {
    pub from: UserName,
    pub to: Vec<String>,
    /// `txt`, `img`, `audio`, `video`, `file`, `loc`, `cmd`, `custom`.
    pub kind: String,
    pub body: Value,
    pub ext: Value,
}

impl MessageService {
    /// Sends the message to each recipient in turn, as `from`; returns each recipient's server
    /// id. Stops at the first failure (an unknown recipient), after sending to the ones before.
    pub async fn send_as_user(
        self: &Arc<Self>,
        app: Arc<App>,
        message: RestSend,
    ) -> Result<Vec<(String, MessageId)>, Error> {
        let session = SessionContext {
            app: app.clone(),
            user: message.from.clone(),
            resource: REST_RESOURCE.to_owned(),
        };
        let mut sent = Vec::with_capacity(message.to.len());
        for recipient in &message.to {
            let body = message_body(&message, recipient)?;
            let meta = pb::Meta {
                // The idempotency key of an SDK send; REST sends are never resent.
                id: Some(rand::rngs::OsRng.next_u64() >> 1),
                to: Some(pb::Jid {
                    app_key: Some(app.key.to_string()),
                    name: Some(recipient.clone()),
                    domain: Some(USER_DOMAIN.to_owned()),
                    client_resource: None,
                }),
                ns: Some(NameSpace::Chat as i32),
                payload: Some(body.encode_to_vec().into()),
                ..Default::default()
            };
            let ack = self.send(&session, meta).await?;
            sent.push((recipient.clone(), ack.server_id));
        }
        Ok(sent)
    }
}

impl MessageService {
    /// `POST /messages/chatrooms` (to the rooms `message.to` names) and the broadcast to every
    /// room of the app (`to` empty, `broadcast`): stored and pushed to each room's members
    /// online like a member's message, as `from`, who need not be in the rooms. Returns each
    /// room's server id; stops at the first room that does not exist.
    pub async fn send_to_rooms(
        self: &Arc<Self>,
        app: Arc<App>,
        message: RestSend,
        priority: RoomPriority,
        broadcast: bool,
    ) -> Result<Vec<(String, MessageId)>, Error> {
        let rooms: Vec<String> = if broadcast {
            let mut all = Vec::new();
            loop {
                let (page, _) = self.rooms.list(&app.key, all.len() as u64, 500).await?;
                if page.is_empty() {
                    break;
                }
                all.extend(page.into_iter().map(|room| room.id.to_string()));
            }
            all
        } else {
            message.to.clone()
        };
        let session = SessionContext {
            app: app.clone(),
            user: message.from.clone(),
            resource: REST_RESOURCE.to_owned(),
        };
        let tag = match priority {
            RoomPriority::High => 0,
            RoomPriority::Normal => 1,
            RoomPriority::Low => 2,
        };
        let mut ext = vec![pb::KeyValue {
            key: Some("chatroom_msg_tag".to_owned()),
            r#type: Some(ValueType::Int as i32),
            value: Some(pb::key_value::Value::VarintValue(tag)),
        }];
        if broadcast {
            ext.push(pb::KeyValue {
                key: Some("is_broadcast".to_owned()),
                r#type: Some(ValueType::Bool as i32),
                value: Some(pb::key_value::Value::VarintValue(1)),
            });
        }
        let mut sent = Vec::with_capacity(rooms.len());
        for room_text in &rooms {
            let room = RoomId::parse(room_text).ok_or(Error::Room(RoomError::NotFound))?;
            let mut body = message_body(&message, room_text)?;
            body.r#type = Some(pb::message_body::Type::Chatroom as i32);
            let meta = pb::Meta {
                id: Some(rand::rngs::OsRng.next_u64() >> 1),
                to: Some(pb::Jid {
                    app_key: Some(app.key.to_string()),
                    name: Some(room_text.clone()),
                    domain: Some(CONFERENCE_DOMAIN.to_owned()),
                    client_resource: None,
                }),
                ns: Some(NameSpace::Chat as i32),
                payload: Some(body.encode_to_vec().into()),
                ext: ext.clone(),
                ..Default::default()
            };
            let ack = Arc::clone(self)
                .submit_to_room(session.clone(), meta, room, RoomSender::Server)
                .await?;
            sent.push((room_text.clone(), ack.server_id));
        }
        Ok(sent)
    }

    /// `POST /messages/msg_recall`: recalls `message` as its sender `from` would with
    /// `recallMessage` (the same checks: sender, window), and notifies `to` the same way.
    pub async fn recall_as_user(
        self: &Arc<Self>,
        app: Arc<App>,
        from: UserName,
        to: UserName,
        message: MessageId,
    ) -> Result<MessageId, Error> {
        let body = pb::MessageBody {
            r#type: Some(pb::message_body::Type::Recall as i32),
            from: Some(pb::Jid {
                name: Some(from.to_string()),
                ..Default::default()
            }),
            to: Some(pb::Jid {
                name: Some(to.to_string()),
                ..Default::default()
            }),
            contents: vec![pb::message_body::Content::default()],
            ack_message_id: Some(message.0),
            ..Default::default()
        };
        let meta = pb::Meta {
            id: Some(rand::rngs::OsRng.next_u64() >> 1),
            to: Some(pb::Jid {
                app_key: Some(app.key.to_string()),
                name: Some(to.to_string()),
                domain: Some(USER_DOMAIN.to_owned()),
                client_resource: None,
            }),
            ns: Some(NameSpace::Chat as i32),
            payload: Some(body.encode_to_vec().into()),
            ..Default::default()
        };
        let session = SessionContext {
            app,
            user: from,
            resource: REST_RESOURCE.to_owned(),
        };
        Ok(self.send(&session, meta).await?.server_id)
    }
}

impl MessageService {
    /// `POST /messages/users/import`: stores `message` (one recipient) in both parties' history
    /// with its original time, delivering it to no one. Returns its id.
    pub async fn import_message(
        &self,
        app: &App,
        message: RestSend,
        timestamp_ms: u64,
    ) -> Result<MessageId, Error> {
        if timestamp_ms > now_ms() {
            return Err(Error::InvalidArgument(
                "msg_timestamp is in the future".into(),
            ));
        }
        let [recipient] = message.to.as_slice() else {
            return Err(Error::InvalidArgument("target must name one user".into()));
        };
        let target = UserName::parse(recipient)
            .ok_or_else(|| Error::RecipientNotFound(recipient.clone()))?;
        if self.users.user(&app.key, &target).await?.is_none() {
            return Err(Error::RecipientNotFound(recipient.clone()));
        }
        let body = message_body(&message, recipient)?;
        let kind = crate::history::message_kind(&body);
        let app_text = app.key.to_string();
        for _ in 0..8 {
            let id = MessageId::imported(timestamp_ms, rand::rngs::OsRng.next_u64());
            let meta = pb::Meta {
                id: Some(id.0),
                from: Some(pb::Jid {
                    app_key: Some(app_text.clone()),
                    name: Some(message.from.to_string()),
                    domain: Some(USER_DOMAIN.to_owned()),
                    client_resource: Some(IMPORT_RESOURCE.to_owned()),
                }),
                to: Some(pb::Jid {
                    app_key: Some(app_text.clone()),
                    name: Some(target.to_string()),
                    domain: Some(USER_DOMAIN.to_owned()),
                    client_resource: None,
                }),
                timestamp: Some(timestamp_ms),
                ns: Some(NameSpace::Chat as i32),
                payload: Some(body.encode_to_vec().into()),
                ..Default::default()
            };
            let meta: bytes::Bytes = meta.encode_to_vec().into();
            let imported = self
                .logs
                .import_message(
                    id,
                    NewMessage {
                        app: app.key.clone(),
                        log: LogId::pair(&message.from, &target),
                        audience: Audience::Nobody,
                        sender: message.from.clone(),
                        sender_resource: IMPORT_RESOURCE.to_owned(),
                        client_id: None,
                        body_digest: 0,
                        sent_ms: timestamp_ms,
                        meta: EncodeMeta::new(move |_, _| meta),
                        kind,
                        history: crate::history::single_chat_entries(kind, &message.from, &target),
                    },
                )
                .await;
            match imported {
                Ok(()) => return Ok(id),
                // Another import took this millisecond and sequence: try another sequence.
                Err(StoreError::Duplicate(_)) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(Error::InvalidArgument(
            "too many messages imported for this millisecond".into(),
        ))
    }
}

/// The resource recorded as the sender's for imported messages.
pub const IMPORT_RESOURCE: &str = "import";

/// The `MessageBody` the SDK would send for this REST message (PROTOCOL.md §4.7).
fn message_body(message: &RestSend, recipient: &str) -> Result<pb::MessageBody, Error> {
    let body = &message.body;
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let number = |key: &str| body.get(key).and_then(Value::as_f64);
    let int = |key: &str| number(key).map(|value| value as i32);
    let mut content = pb::message_body::Content::default();
    let file = |content: &mut pb::message_body::Content| {
        content.remote_path = text("url");
        content.display_name = text("filename");
        content.secret_key = text("secret");
        content.file_length = int("file_length");
    };
    let content_type = match message.kind.as_str() {
        "txt" => {
            content.text = Some(
                text("msg").ok_or_else(|| Error::InvalidArgument("body.msg is required".into()))?,
            );
            ContentType::Text
        }
        "img" => {
            file(&mut content);
            if let Some(size) = body.get("size") {
                content.size = Some(pb::message_body::content::Size {
                    width: size.get("width").and_then(Value::as_f64),
                    height: size.get("height").and_then(Value::as_f64),
                });
            }
            ContentType::Image
        }
        "audio" => {
            file(&mut content);
            content.duration = int("length");
            ContentType::Voice
        }
        "video" => {
            file(&mut content);
            content.duration = int("length");
            content.thumbnail_remote_path = text("thumb");
            content.thumbnail_secret_key = text("thumb_secret");
            ContentType::Video
        }
        "file" => {
            file(&mut content);
            ContentType::File
        }
        "loc" => {
            content.latitude = number("lat");
            content.longitude = number("lng");
            content.address = text("addr");
            content.building_name = text("buildingName");
            ContentType::Location
        }
        "cmd" => {
            content.action = text("action");
            ContentType::Command
        }
        "custom" => {
            content.custom_event = text("customEvent");
            content.custom_exts = key_values(body.get("customExts").unwrap_or(&Value::Null));
            ContentType::Custom
        }
        other => {
            return Err(Error::InvalidArgument(format!(
                "invalid message type {other}"
            )))
        }
    };
    content.r#type = Some(content_type as i32);
    Ok(pb::MessageBody {
        r#type: Some(pb::message_body::Type::Chat as i32),
        from: Some(pb::Jid {
            name: Some(message.from.to_string()),
            ..Default::default()
        }),
        to: Some(pb::Jid {
            name: Some(recipient.to_owned()),
            ..Default::default()
        }),
        contents: vec![content],
        ext: key_values(&message.ext),
        ..Default::default()
    })
}

/// A JSON object as `KeyValue`s, typed as the SDK types `ext` (PROTOCOL.md §4.8).
fn key_values(object: &Value) -> Vec<pb::KeyValue> {
    use pb::key_value::Value as V;
    let Some(object) = object.as_object() else {
        return Vec::new();
    };
    object
        .iter()
        .map(|(key, value)| {
            let (value_type, value) = match value {
                Value::Bool(flag) => (ValueType::Bool, V::VarintValue(i64::from(*flag))),
                Value::Number(number) => match number.as_i64() {
                    Some(integer) => (ValueType::Int, V::VarintValue(integer)),
                    None => (
                        ValueType::Double,
                        V::DoubleValue(number.as_f64().unwrap_or(0.0)),
                    ),
                },
                Value::String(text) => (ValueType::String, V::StringValue(text.clone())),
                Value::Null | Value::Array(_) | Value::Object(_) => {
                    (ValueType::JsonString, V::StringValue(value.to_string()))
                }
            };
            pb::KeyValue {
                key: Some(key.clone()),
                r#type: Some(value_type as i32),
                value: Some(value),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rest_messages_round_trip_through_the_rest_json_form() {
        let cases = [
            ("txt", json!({"msg": "hello"})),
            (
                "loc",
                json!({"lat": 1.5, "lng": 2.5, "addr": "here", "buildingName": "b"}),
            ),
            ("cmd", json!({"action": "ping"})),
            (
                "custom",
                json!({"customEvent": "poke", "customExts": {"s": "high"}}),
            ),
        ];
        for (kind, body) in cases {
            let message = RestSend {
                from: UserName::parse("leo").unwrap(),
                to: vec!["roy".into()],
                kind: kind.into(),
                body,
                ext: json!({"n": 1, "b": true, "o": {"k": [1]}, "s": "x", "d": 1.5}),
            };
            let body = message_body(&message, "roy").unwrap();
            let meta = pb::Meta {
                id: Some(1),
                payload: Some(body.encode_to_vec().into()),
                ..Default::default()
            };
            let rest = crate::conversations::rest_message(&meta).unwrap();
            assert_eq!(rest["payload"]["ext"], message.ext, "{kind}");
            assert_eq!(rest["payload"]["bodies"][0]["type"], kind, "{kind}");
            assert_eq!(crate::history::message_kind(&body), kind);
        }
        let bad = RestSend {
            from: UserName::parse("leo").unwrap(),
            to: vec!["roy".into()],
            kind: "gif".into(),
            body: json!({}),
            ext: Value::Null,
        };
        assert!(matches!(
            message_body(&bad, "roy"),
            Err(Error::InvalidArgument(text)) if text == "invalid message type gif"
        ));
    }
}
