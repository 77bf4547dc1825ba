//! Server-side conversations (PROTOCOL.md §2.8): each user's list with unread counts from the
//! queues and the last message, pinning, marks, deletion, one-way history removal and read
//! markers (`ConversationService`); and the REST-JSON message form (§5.3) the list and the
//! admin routes answer with.

use confab_proto::{
    pb::{self, key_value::ValueType, message_body::content::Type as ContentType},
    USER_DOMAIN,
};
use prost::Message;
use serde_json::{json, Map, Value};

use std::sync::Arc;

use crate::{
    appender::Appender,
    ids::{AppKey, GroupId, LogId, MessageId, QueueName, UserName},
    now_ms,
    store::{
        ConversationChange, ConversationPlace, ConversationQuery, ConversationStore,
        ConversationSummary,
    },
    Error,
};

/// Most conversations per page (the hosted service's `limit` cap).
pub const MAX_CONVERSATION_PAGE: u32 = 50;

pub use crate::store::ConversationFilter;

/// One page of a user's conversation list; `cursor` continues after it (empty: no more).
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationPage {
    pub conversations: Vec<ConversationSummary>,
    pub cursor: String,
}

/// Each user's conversations: the list and its settings; a change made on one device is told to
/// the user's other devices through the shared `Appender`.
pub struct ConversationService {
    store: Arc<dyn ConversationStore>,
    appender: Arc<Appender>,
}

impl ConversationService {
    pub fn new(store: Arc<dyn ConversationStore>, appender: Arc<Appender>) -> ConversationService {
        ConversationService { store, appender }
    }

    /// Up to which message `reader` has read their conversation with `peer` (their last channel
    /// ack in it); messages from `peer` after it are unread.
    pub async fn conversation_read_up_to(
        &self,
        app: &AppKey,
        reader: &UserName,
        peer: &UserName,
    ) -> Result<Option<MessageId>, Error> {
        Ok(self
            .store
            .conversation_read_up_to(app, reader, &QueueName::single_chat(peer))
            .await?)
    }

    /// `owner`'s conversations as `filter` selects and orders them, `limit` after `cursor`
    /// (the place of the previous page's last, `<key>:<conversation>`; empty: from the start).
    pub async fn conversations(
        &self,
        app: &AppKey,
        owner: &UserName,
        cursor: &str,
        limit: u32,
        filter: ConversationFilter,
    ) -> Result<ConversationPage, Error> {
        let invalid = || Error::InvalidArgument("invalid cursor".to_owned());
        let after = match cursor {
            "" => None,
            text => {
                let (key, conversation) = text.split_once(':').ok_or_else(invalid)?;
                let (peer, domain) = conversation.split_once('@').ok_or_else(invalid)?;
                Some(ConversationPlace {
                    key: key.parse().map_err(|_| invalid())?,
                    conversation: QueueName::from_jid(peer, domain).ok_or_else(invalid)?,
                })
            }
        };
        let limit = limit.clamp(1, MAX_CONVERSATION_PAGE);
        // One more than asked tells whether another page follows.
        let query = ConversationQuery {
            filter,
            after,
            limit: limit + 1,
        };
        let mut conversations = self.store.conversations(app, owner, &query).await?;
        let more = conversations.len() > limit as usize;
        conversations.truncate(limit as usize);
        let cursor = match conversations.last() {
            Some(last) if more => {
                let place = last.place(filter);
                format!("{}:{}", place.key, place.conversation.as_str())
            }
            _ => String::new(),
        };
        Ok(ConversationPage {
            conversations,
            cursor,
        })
    }

    /// Pins (`true`) or unpins the conversation for `owner`, from the device on `resource`.
    pub async fn pin_conversation(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
        pinned: bool,
        resource: &str,
    ) -> Result<u64, Error> {
        let now = now_ms();
        let change = ConversationChange::Pin(pinned.then_some(now));
        self.change_conversation(app, owner, conversation, change, resource)
            .await?;
        Ok(now)
    }

    /// Applies a change to `owner`'s view of a single-chat conversation, made on the device on
    /// `resource`; `owner`'s other devices hear of it (`onMultiDeviceEvent`).
    pub async fn change_conversation(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
        change: ConversationChange,
        resource: &str,
    ) -> Result<(), Error> {
        let notice = multi_device_notice(&change, owner, conversation, resource, now_ms());
        self.store
            .change_conversation(app, owner, conversation, change)
            .await?;
        let (Some(notice), Some(peer)) = (notice, LogId::viewed_as(owner, conversation)) else {
            return Ok(());
        };
        let peer = peer
            .members()
            .into_iter()
            .find(|member| *member != owner)
            .unwrap_or(owner)
            .clone();
        self.appender
            .notify_other_devices(app, owner, resource, &peer, notice)
            .await
    }
}

/// The `NOTIFY` payload that tells `owner`'s other devices of a change made on `resource`:
/// `conv` for pin, marks and deletion, `roaming_delete` for history removal (PROTOCOL.md §4.11;
/// the SDK drops it on the device whose resource it names).
fn multi_device_notice(
    change: &ConversationChange,
    owner: &UserName,
    conversation: &QueueName,
    resource: &str,
    now: u64,
) -> Option<serde_json::Value> {
    let (peer, _) = conversation.jid_parts();
    let (conv_type, chat_type) = if conversation.is_group() {
        ("groupchat", "groupChat")
    } else {
        ("chat", "chat")
    };
    let conv = |op: &str, ext: Option<String>| {
        let mut data = serde_json::json!({
            "op": op,
            "id": peer,
            "type": conv_type,
            "from": owner.as_str(),
            "res": resource,
            "ts": now,
        });
        if let Some(ext) = ext {
            data["ext"] = ext.into();
        }
        serde_json::json!({ "type": "conv", "data": data })
    };
    let mark = |marks: &[u8]| marks.first().map(|mark| format!("mark_{mark}"));
    Some(match change {
        ConversationChange::Pin(Some(_)) => conv("top", None),
        ConversationChange::Pin(None) => conv("not_top", None),
        ConversationChange::AddMarks(marks) => conv("mark", Some(mark(marks)?)),
        ConversationChange::RemoveMarks(marks) => conv("mark_delete", Some(mark(marks)?)),
        ConversationChange::Delete { .. } => conv("del", None),
        ConversationChange::RemoveMessages(_) | ConversationChange::RemoveBefore(_) => {
            serde_json::json!({
                "type": "roaming_delete",
                "data": { "resource": resource, "to": peer, "chatType": chat_type },
            })
        }
    })
}

/// The conversation a REST call names: `peer` (a user name) as a single-chat queue name.
pub fn single_chat_conversation(peer: &str) -> Result<QueueName, Error> {
    UserName::parse(peer)
        .map(|name| QueueName::single_chat(&name))
        .ok_or_else(|| Error::InvalidArgument(format!("invalid conversation {peer}")))
}

/// The conversation a REST call names: `group` (a group id) as the group's queue name.
pub fn group_conversation(group: &str) -> Result<QueueName, Error> {
    GroupId::parse(group)
        .map(|group| QueueName::group(&group))
        .ok_or_else(|| Error::InvalidArgument(format!("invalid conversation {group}")))
}

/// A mark as the SDK names it on the wire: `mark_0` … `mark_19`.
pub fn parse_mark(text: &str) -> Result<u8, Error> {
    text.strip_prefix("mark_")
        .and_then(|number| number.parse().ok())
        .filter(|mark| *mark < 20)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid mark {text}")))
}

/// A stored message id as the REST routes take it (decimal, in a string or not).
pub fn parse_message_id(text: &str) -> Result<MessageId, Error> {
    text.trim()
        .parse()
        .map(MessageId)
        .map_err(|_| Error::InvalidArgument(format!("invalid message id {text}")))
}

/// A list of message ids in a query parameter: comma-separated (what the web builds' string
/// concatenation makes of an array) or a JSON array of strings or numbers (what a mini
/// program's `request` makes of one in a GET query).
pub fn parse_message_id_list(text: &str) -> Result<Vec<MessageId>, Error> {
    let text = text.trim();
    if let Some(inner) = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        return inner
            .split(',')
            .map(|item| item.trim().trim_matches('"'))
            .filter(|item| !item.is_empty())
            .map(parse_message_id)
            .collect();
    }
    text.split(',')
        .filter(|id| !id.trim().is_empty())
        .map(parse_message_id)
        .collect()
}

/// A stored downlink `Meta` in the REST-JSON form (PROTOCOL.md §5.3), `payload` as an object;
/// `None` when it holds no message body.
pub fn rest_message(meta: &pb::Meta) -> Option<Value> {
    let body = pb::MessageBody::decode(meta.payload.clone()?).ok()?;
    let jid_name = |jid: Option<&pb::Jid>| jid.and_then(|jid| jid.name.clone()).unwrap_or_default();
    let from = body
        .from
        .as_ref()
        .and_then(|jid| jid.name.clone())
        .unwrap_or_else(|| jid_name(meta.from.as_ref()));
    let to = body
        .to
        .as_ref()
        .and_then(|jid| jid.name.clone())
        .unwrap_or_else(|| jid_name(meta.to.as_ref()));
    let chat_type = match meta.to.as_ref().and_then(|jid| jid.domain.as_deref()) {
        Some(domain) if domain != USER_DOMAIN => match body.r#type {
            Some(3) => "chatroom",
            _ => "groupchat",
        },
        _ => "chat",
    };
    let mut payload = json!({
        "from": from,
        "to": to,
        "type": chat_type,
        "bodies": body.contents.iter().map(rest_body).collect::<Vec<_>>(),
        "ext": ext_object(&body.ext),
    });
    if let Some(config) = &body.msg_config {
        payload["msgConfig"] = json!({ "allowGroupAck": config.allow_group_ack.unwrap_or(false) });
    }
    if let Some(text) = &body.meta {
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            payload["meta"] = value;
        }
    }
    Some(json!({
        "id": meta.id.unwrap_or(0).to_string(),
        "from": from,
        "to": to,
        "timestamp": meta.timestamp.unwrap_or(0),
        "payload": payload,
    }))
}

/// `rest_message` of an encoded stored `Meta`.
pub fn rest_message_from_stored(meta: &[u8]) -> Option<Value> {
    rest_message(&pb::Meta::decode(meta).ok()?)
}

/// One `Content` as a REST-JSON body, with the field names the SDK reads (§5.3).
fn rest_body(content: &pb::message_body::Content) -> Value {
    let mut body = Map::new();
    let mut put = |key: &str, value: Value| {
        body.insert(key.to_owned(), value);
    };
    let text = |value: &Option<String>| json!(value.clone().unwrap_or_default());
    let file_fields = |put: &mut dyn FnMut(&str, Value)| {
        put("url", text(&content.remote_path));
        put("secret", text(&content.secret_key));
        put("filename", text(&content.display_name));
        put("file_length", json!(content.file_length.unwrap_or(0)));
    };
    match ContentType::try_from(content.r#type.unwrap_or(0)) {
        Ok(ContentType::Text) | Err(_) if content.sub_type.is_some() => {
            put("type", json!("txt"));
            put("subType", json!("sub_combine"));
            put("msg", text(&content.text));
            put("title", text(&content.title));
            put("summary", text(&content.summary));
            put("combineLevel", json!(content.combine_level.unwrap_or(0)));
            file_fields(&mut put);
        }
        Ok(ContentType::Text) | Err(_) => {
            put("type", json!("txt"));
            put("msg", text(&content.text));
        }
        Ok(ContentType::Image) => {
            put("type", json!("img"));
            file_fields(&mut put);
            if let Some(size) = &content.size {
                put(
                    "size",
                    json!({"width": size.width.unwrap_or(0.0), "height": size.height.unwrap_or(0.0)}),
                );
            }
            if content.sub_type == Some(1) {
                put("subType", json!("sub_gif"));
            }
        }
        Ok(ContentType::Video) => {
            put("type", json!("video"));
            file_fields(&mut put);
            put("length", json!(content.duration.unwrap_or(0)));
            put("thumb", text(&content.thumbnail_remote_path));
            put("thumb_secret", text(&content.thumbnail_secret_key));
        }
        Ok(ContentType::Voice) => {
            put("type", json!("audio"));
            file_fields(&mut put);
            put("length", json!(content.duration.unwrap_or(0)));
        }
        Ok(ContentType::File) => {
            put("type", json!("file"));
            file_fields(&mut put);
        }
        Ok(ContentType::Location) => {
            put("type", json!("loc"));
            put("lat", json!(content.latitude.unwrap_or(0.0)));
            put("lng", json!(content.longitude.unwrap_or(0.0)));
            put("addr", text(&content.address));
            put("buildingName", text(&content.building_name));
        }
        Ok(ContentType::Command) => {
            put("type", json!("cmd"));
            put("action", text(&content.action));
        }
        Ok(ContentType::Custom) => {
            put("type", json!("custom"));
            put("customEvent", text(&content.custom_event));
            let exts: Vec<Value> = content
                .custom_exts
                .iter()
                .map(|pair| json!({ pair.key.clone().unwrap_or_default(): key_value(pair) }))
                .collect();
            put("customExts", json!(exts));
        }
        Ok(ContentType::Combine) => {
            put("type", json!("combine"));
            put("msg", text(&content.text));
            put("title", text(&content.title));
            put("summary", text(&content.summary));
            put("combineLevel", json!(content.combine_level.unwrap_or(0)));
            file_fields(&mut put);
        }
    }
    Value::Object(body)
}

/// `MessageBody.ext` as the JSON object the SDK shows (PROTOCOL.md §4.8).
pub fn ext_object(ext: &[pb::KeyValue]) -> Value {
    let mut object = Map::new();
    for pair in ext {
        object.insert(pair.key.clone().unwrap_or_default(), key_value(pair));
    }
    Value::Object(object)
}

fn key_value(pair: &pb::KeyValue) -> Value {
    use pb::key_value::Value as V;
    let value_type = pair.r#type.map(ValueType::try_from);
    match (&pair.value, value_type) {
        (Some(V::VarintValue(number)), Some(Ok(ValueType::Bool))) => json!(*number != 0),
        (Some(V::VarintValue(number)), _) => json!(number),
        (Some(V::FloatValue(number)), _) => json!(number),
        (Some(V::DoubleValue(number)), _) => json!(number),
        (Some(V::StringValue(text)), Some(Ok(ValueType::JsonString))) => {
            serde_json::from_str(text).unwrap_or_else(|_| json!(text))
        }
        (Some(V::StringValue(text)), _) => json!(text),
        (None, _) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::message_body::Content;

    #[test]
    fn message_id_lists_in_either_query_form() {
        let ids = |text| {
            parse_message_id_list(text).map(|ids| ids.iter().map(|id| id.0).collect::<Vec<_>>())
        };
        assert_eq!(ids("12,34").unwrap(), [12, 34]);
        assert_eq!(ids(r#"["12","34"]"#).unwrap(), [12, 34]);
        assert_eq!(ids("[12, 34]").unwrap(), [12, 34]);
        assert_eq!(ids("").unwrap(), Vec::<u64>::new());
        assert!(ids("12,x").is_err());
        assert!(ids(r#"["12",{}]"#).is_err());
    }

    fn meta_with(content: Content, ext: Vec<pb::KeyValue>) -> pb::Meta {
        let body = pb::MessageBody {
            r#type: Some(1),
            from: Some(pb::Jid {
                name: Some("leo".into()),
                ..Default::default()
            }),
            to: Some(pb::Jid {
                name: Some("roy".into()),
                ..Default::default()
            }),
            contents: vec![content],
            ext,
            ..Default::default()
        };
        pb::Meta {
            id: Some(7),
            timestamp: Some(1_700_000_000_000),
            to: Some(pb::Jid {
                name: Some("roy".into()),
                domain: Some(USER_DOMAIN.into()),
                ..Default::default()
            }),
            payload: Some(body.encode_to_vec().into()),
            ..Default::default()
        }
    }

    #[test]
    fn every_kind_in_the_rest_form() {
        let text = Content {
            r#type: Some(0),
            text: Some("three".into()),
            ..Default::default()
        };
        let ext = vec![
            pb::KeyValue {
                key: Some("b".into()),
                r#type: Some(ValueType::Bool as i32),
                value: Some(pb::key_value::Value::VarintValue(1)),
            },
            pb::KeyValue {
                key: Some("o".into()),
                r#type: Some(ValueType::JsonString as i32),
                value: Some(pb::key_value::Value::StringValue("{\"k\":[1,2]}".into())),
            },
        ];
        assert_eq!(
            rest_message(&meta_with(text, ext)).unwrap(),
            json!({"id": "7", "from": "leo", "to": "roy", "timestamp": 1_700_000_000_000u64,
                   "payload": {"from": "leo", "to": "roy", "type": "chat",
                               "bodies": [{"type": "txt", "msg": "three"}],
                               "ext": {"b": true, "o": {"k": [1, 2]}}}})
        );
        let cases = [
            (
                Content {
                    r#type: Some(3),
                    latitude: Some(1.5),
                    longitude: Some(2.5),
                    address: Some("here".into()),
                    ..Default::default()
                },
                json!({"type": "loc", "lat": 1.5, "lng": 2.5, "addr": "here", "buildingName": ""}),
            ),
            (
                Content {
                    r#type: Some(6),
                    action: Some("ping".into()),
                    ..Default::default()
                },
                json!({"type": "cmd", "action": "ping"}),
            ),
            (
                Content {
                    r#type: Some(7),
                    custom_event: Some("poke".into()),
                    custom_exts: vec![pb::KeyValue {
                        key: Some("s".into()),
                        r#type: Some(ValueType::String as i32),
                        value: Some(pb::key_value::Value::StringValue("high".into())),
                    }],
                    ..Default::default()
                },
                json!({"type": "custom", "customEvent": "poke", "customExts": [{"s": "high"}]}),
            ),
            (
                Content {
                    r#type: Some(5),
                    remote_path: Some("http://h/o/a/chatfiles/u".into()),
                    secret_key: Some("s".into()),
                    display_name: Some("f.txt".into()),
                    file_length: Some(3),
                    ..Default::default()
                },
                json!({"type": "file", "url": "http://h/o/a/chatfiles/u", "secret": "s",
                       "filename": "f.txt", "file_length": 3}),
            ),
            (
                Content {
                    r#type: Some(4),
                    duration: Some(9),
                    ..Default::default()
                },
                json!({"type": "audio", "url": "", "secret": "", "filename": "", "file_length": 0, "length": 9}),
            ),
        ];
        for (content, expected) in cases {
            let message = rest_message(&meta_with(content, Vec::new())).unwrap();
            assert_eq!(message["payload"]["bodies"][0], expected);
        }
    }
}
