//! Receipts, recall and edit of single-chat messages (PROTOCOL.md §4.9). All of them are
//! `CHAT` metas routed like messages; what this module adds is the check of the message they
//! refer to and the change stored with them (`AppendEffect`).
//!
//! Read and delivery acks need nothing beyond routing. A channel (conversation) read ack also
//! moves the reader's read marker of the conversation
//! (`ConversationService::conversation_read_up_to`). A recall is the sender's, within
//! `Limits::recall_window_secs`, and takes the message out of the recipient's queue if it is
//! still waiting there. An edit replaces the stored message's
//! contents and tells both sides who edited it and how often (`edit_msg`).

use bytes::Bytes;
use confab_proto::pb::{self, message_body::Type as BodyType, meta::NameSpace};
use prost::Message;

use crate::{
    ids::{GroupId, MessageId, QueueName, RoomId, UserName},
    messages::{MessageService, SessionContext},
    now_ms,
    store::{AppendEffect, GroupRole, StoredMessage},
    Error,
};

/// Why a receipt, recall or edit was refused. Each maps to a reason text the SDKs know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("message {0} does not exist")]
    MessageNotFound(u64),
    #[error("only the sender may recall or edit a message")]
    NotSender,
    #[error("the recall window has passed")]
    RecallWindowExceeded,
    #[error("recall is disabled")]
    RecallDisabled,
    #[error("only text and custom messages can be edited, with a body of the same kind")]
    EditFormat,
}

/// What a send must do besides being routed, decided from its `MessageBody.type`.
pub(crate) enum Kind {
    /// A message or a read/delivery ack: routed as is.
    Plain,
    /// A conversation read ack: routed, and the reader's read marker moves.
    ChannelAck,
    /// Needs the message it refers to first.
    Recall(MessageId),
    Edit(MessageId),
}

pub(crate) fn kind(body: &pb::MessageBody) -> Kind {
    match body.r#type.map(BodyType::try_from) {
        Some(Ok(BodyType::ChannelAck)) => Kind::ChannelAck,
        Some(Ok(BodyType::Recall)) => Kind::Recall(MessageId(body.ack_message_id.unwrap_or(0))),
        Some(Ok(BodyType::Edit)) => Kind::Edit(MessageId(body.edit_message_id.unwrap_or(0))),
        _ => Kind::Plain,
    }
}

/// What a channel ack from `reader` to `peer` stores: `reader` has read the conversation.
pub(crate) fn channel_read(reader: &UserName, peer: &UserName) -> AppendEffect {
    AppendEffect::ConversationRead {
        owner: reader.clone(),
        conversation: QueueName::single_chat(peer),
    }
}

/// The conversation a receipt, recall or edit is in: with a user, or a group's.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Conversation<'a> {
    Peer(&'a UserName),
    Group(&'a GroupId),
    Room(&'a RoomId),
    /// A thread (its id) of a group (the second), whose owner and admins moderate it.
    Thread(&'a GroupId, &'a GroupId),
}

impl Conversation<'_> {
    /// The name its messages' `Meta.to` carries.
    fn name(&self) -> &str {
        match self {
            Conversation::Peer(user) => user.as_str(),
            Conversation::Group(group) => group.as_str(),
            Conversation::Room(room) => room.as_str(),
            Conversation::Thread(thread, _) => thread.as_str(),
        }
    }

    fn queue(&self) -> QueueName {
        match self {
            Conversation::Peer(user) => QueueName::single_chat(user),
            Conversation::Group(group) => QueueName::group(group),
            Conversation::Room(room) => QueueName::room(room),
            Conversation::Thread(thread, _) => QueueName::group(thread),
        }
    }

    /// `edit_msg.chat_type`, which the SDK maps to its chat types.
    fn chat_type(&self) -> &'static str {
        match self {
            Conversation::Peer(_) => "chat:user",
            Conversation::Group(_) | Conversation::Thread(..) => "chat:group",
            Conversation::Room(_) => "chat:room",
        }
    }
}

/// A recall or edit checked against its target: the meta to route (an edit's body gains
/// `edit_msg`), the change to store with it, and what the sender's ack carries.
pub(crate) struct Prepared {
    pub(crate) meta: pb::Meta,
    pub(crate) effect: AppendEffect,
    /// An edit's `NOTIFY` meta for the sender's ack.
    pub(crate) notify: Option<pb::Meta>,
}

impl MessageService {
    /// Checks a recall or edit against its target message and builds what to store.
    pub(crate) async fn prepare(
        &self,
        session: &SessionContext,
        mut meta: pb::Meta,
        body: pb::MessageBody,
        conversation: Conversation<'_>,
    ) -> Result<Prepared, Error> {
        match kind(&body) {
            Kind::Recall(target) => {
                let window_secs = self.limits.recall_window_secs;
                if window_secs == 0 {
                    return Err(ReceiptError::RecallDisabled.into());
                }
                let stored = self.target(session, target, conversation).await?;
                let age_ms = now_ms().saturating_sub(stored.id.timestamp_ms());
                if age_ms > window_secs.saturating_mul(1000) {
                    return Err(ReceiptError::RecallWindowExceeded.into());
                }
                Ok(Prepared {
                    meta,
                    effect: AppendEffect::Recall { target },
                    notify: None,
                })
            }
            Kind::Edit(target) => {
                let stored = self.target(session, target, conversation).await?;
                // Only the sender edits, in a group too.
                if stored.sender != session.user {
                    return Err(ReceiptError::NotSender.into());
                }
                let (target_meta, edit_msg) = edited(session, &stored, &body, conversation)?;
                let mut body = body;
                body.meta = Some(serde_json::json!({ "edit_msg": edit_msg }).to_string());
                meta.payload = Some(body.encode_to_vec().into());
                let notify = pb::Meta {
                    id: Some(stored.id.0),
                    ns: Some(NameSpace::Notify as i32),
                    timestamp: Some(now_ms()),
                    payload: Some(
                        serde_json::json!({ "edit_msg": edit_msg })
                            .to_string()
                            .into_bytes()
                            .into(),
                    ),
                    ..Default::default()
                };
                Ok(Prepared {
                    meta,
                    effect: AppendEffect::Edit {
                        target,
                        meta: target_meta,
                    },
                    notify: Some(notify),
                })
            }
            Kind::ChannelAck => Ok(Prepared {
                meta,
                effect: AppendEffect::ConversationRead {
                    owner: session.user.clone(),
                    conversation: conversation.queue(),
                },
                notify: None,
            }),
            Kind::Plain => Ok(Prepared {
                meta,
                effect: AppendEffect::None,
                notify: None,
            }),
        }
    }

    /// Message `id` in `conversation`, not recalled: the session user's own, or in a group
    /// anyone's when the session user is its owner or an admin.
    async fn target(
        &self,
        session: &SessionContext,
        id: MessageId,
        conversation: Conversation<'_>,
    ) -> Result<StoredMessage, Error> {
        let not_found = || Error::from(ReceiptError::MessageNotFound(id.0));
        let stored = self
            .logs
            .stored_message(&session.app.key, id)
            .await?
            .filter(|stored| !stored.recalled)
            .ok_or_else(not_found)?;
        let meta = pb::Meta::decode(stored.meta.clone()).map_err(|_| not_found())?;
        let to = meta.to.and_then(|to| to.name).unwrap_or_default();
        let here = to == conversation.name() && meta.ns == Some(NameSpace::Chat as i32);
        match conversation {
            // Someone else's message is "not yours" before "not in this chat".
            Conversation::Peer(_) => {
                if stored.sender != session.user {
                    return Err(ReceiptError::NotSender.into());
                }
                if !here {
                    return Err(not_found());
                }
            }
            Conversation::Group(group) | Conversation::Thread(_, group) => {
                if !here {
                    return Err(not_found());
                }
                let moderator = stored.sender == session.user
                    || self
                        .groups
                        .group_member(&session.app.key, group, &session.user)
                        .await?
                        .is_some_and(|member| member.role != GroupRole::Member);
                if !moderator {
                    return Err(ReceiptError::NotSender.into());
                }
            }
            Conversation::Room(room) => {
                if !here {
                    return Err(not_found());
                }
                let moderator = stored.sender == session.user
                    || self
                        .rooms
                        .is_moderator(&session.app.key, room, &session.user)
                        .await?;
                if !moderator {
                    return Err(ReceiptError::NotSender.into());
                }
            }
        }
        Ok(stored)
    }
}

/// The target's downlink meta with the edit applied, and the `edit_msg` object both sides read.
fn edited(
    session: &SessionContext,
    stored: &StoredMessage,
    edit: &pb::MessageBody,
    conversation: Conversation<'_>,
) -> Result<(Bytes, serde_json::Value), Error> {
    use pb::message_body::content::Type as ContentType;
    let mut meta = pb::Meta::decode(stored.meta.clone())
        .map_err(|_| ReceiptError::MessageNotFound(stored.id.0))?;
    let mut body = meta
        .payload
        .as_ref()
        .and_then(|payload| pb::MessageBody::decode(payload.clone()).ok())
        .ok_or(ReceiptError::MessageNotFound(stored.id.0))?;
    let content_type = |body: &pb::MessageBody| {
        body.contents
            .first()
            .map(|content| ContentType::try_from(content.r#type.unwrap_or(0)))
    };
    let editable = match (content_type(&body), content_type(edit)) {
        (Some(Ok(ContentType::Text)), Some(Ok(ContentType::Text))) => {
            // A combined message is a text with `subType` set (PROTOCOL.md §4.7).
            body.contents.first().is_some_and(|c| c.sub_type.is_none())
        }
        (Some(Ok(ContentType::Custom)), Some(Ok(ContentType::Custom))) => true,
        _ => false,
    };
    if !editable {
        return Err(ReceiptError::EditFormat.into());
    }
    let mut extra: serde_json::Map<String, serde_json::Value> = body
        .meta
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let count = extra
        .get("edit_msg")
        .and_then(|edit_msg| edit_msg.get("count"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
        + 1;
    let edit_msg = serde_json::json!({
        "count": count,
        "operator": session.user.as_str(),
        "edit_time": now_ms(),
        "sender": stored.sender.as_str(),
        "send_time": stored.id.timestamp_ms(),
        // The SDK maps `chat:user` / `chat:group` / `chat:room` to its chat types.
        "chat_type": conversation.chat_type(),
    });
    extra.insert("edit_msg".to_owned(), edit_msg.clone());
    body.contents = edit.contents.clone();
    if edit.edit_scope == Some(pb::message_body::EditScope::BodyAndExt as i32) {
        body.ext = edit.ext.clone();
    }
    body.meta = Some(serde_json::Value::Object(extra).to_string());
    meta.payload = Some(body.encode_to_vec().into());
    Ok((meta.encode_to_vec().into(), edit_msg))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use confab_proto::pb::{
        message_body::{content::Type as ContentType, EditScope},
        KeyValue,
    };

    use super::*;
    use crate::{
        app::{App, NewApp},
        ids::AppKey,
    };

    fn peer() -> UserName {
        UserName::parse("roy").unwrap()
    }

    fn session(user: &str) -> SessionContext {
        let key = AppKey::new("o", "a").unwrap();
        let app = App::create(
            NewApp {
                key,
                imported: None,
            },
            1,
        )
        .unwrap();
        SessionContext {
            app: Arc::new(app),
            user: UserName::parse(user).unwrap(),
            resource: "web".into(),
        }
    }

    fn content(kind: ContentType, text: &str) -> pb::message_body::Content {
        pb::message_body::Content {
            r#type: Some(kind as i32),
            text: Some(text.into()),
            ..Default::default()
        }
    }

    fn body(kind: BodyType, contents: Vec<pb::message_body::Content>) -> pb::MessageBody {
        pb::MessageBody {
            r#type: Some(kind as i32),
            contents,
            ..Default::default()
        }
    }

    fn stored(body: &pb::MessageBody) -> StoredMessage {
        let id = MessageId(1_795_354_127_949 << 22);
        let meta = pb::Meta {
            id: Some(id.0),
            payload: Some(body.encode_to_vec().into()),
            ..Default::default()
        };
        StoredMessage {
            id,
            sender: UserName::parse("leo").unwrap(),
            meta: meta.encode_to_vec().into(),
            recalled: false,
        }
    }

    fn stored_body(meta: &Bytes) -> pb::MessageBody {
        let meta = pb::Meta::decode(meta.clone()).unwrap();
        pb::MessageBody::decode(meta.payload.unwrap()).unwrap()
    }

    #[test]
    fn kinds_follow_the_body_type() {
        let mut recall = body(BodyType::Recall, Vec::new());
        recall.ack_message_id = Some(42);
        assert!(matches!(kind(&recall), Kind::Recall(MessageId(42))));
        let mut edit = body(BodyType::Edit, Vec::new());
        edit.edit_message_id = Some(7);
        assert!(matches!(kind(&edit), Kind::Edit(MessageId(7))));
        assert!(matches!(
            kind(&body(BodyType::ChannelAck, Vec::new())),
            Kind::ChannelAck
        ));
        for plain in [BodyType::Chat, BodyType::ReadAck, BodyType::DeliverAck] {
            assert!(matches!(kind(&body(plain, Vec::new())), Kind::Plain));
        }
    }

    #[test]
    fn an_edit_replaces_the_contents_and_counts() {
        let leo = session("leo");
        let mut original = body(BodyType::Chat, vec![content(ContentType::Text, "v1")]);
        original.ext = vec![KeyValue {
            key: Some("kept".into()),
            ..Default::default()
        }];
        let mut edit = body(BodyType::Edit, vec![content(ContentType::Text, "v2")]);
        let (meta, edit_msg) =
            edited(&leo, &stored(&original), &edit, Conversation::Peer(&peer())).unwrap();
        assert_eq!(edit_msg["count"], 1);
        assert_eq!(edit_msg["operator"], "leo");
        assert_eq!(edit_msg["sender"], "leo");
        assert_eq!(edit_msg["send_time"], 1_795_354_127_949_u64);
        assert_eq!(edit_msg["chat_type"], "chat:user");
        let first = stored_body(&meta);
        assert_eq!(first.contents[0].text.as_deref(), Some("v2"));
        assert_eq!(first.ext.len(), 1, "BODY scope keeps the ext");

        // A second edit, of body and ext, counts on from what is stored.
        edit.edit_scope = Some(EditScope::BodyAndExt as i32);
        let again = StoredMessage {
            meta,
            ..stored(&original)
        };
        let (meta, edit_msg) = edited(&leo, &again, &edit, Conversation::Peer(&peer())).unwrap();
        assert_eq!(edit_msg["count"], 2);
        assert!(stored_body(&meta).ext.is_empty());
    }

    #[test]
    fn only_text_and_custom_can_be_edited_into_their_own_kind() {
        let leo = session("leo");
        let text_edit = body(BodyType::Edit, vec![content(ContentType::Text, "v2")]);
        let mut combine = content(ContentType::Text, "[history]");
        combine.sub_type = Some(0);
        for original in [
            body(BodyType::Chat, vec![combine]),
            body(BodyType::Chat, vec![content(ContentType::Location, "")]),
            body(BodyType::Chat, vec![content(ContentType::Custom, "")]),
        ] {
            let refused = edited(
                &leo,
                &stored(&original),
                &text_edit,
                Conversation::Peer(&peer()),
            );
            assert!(matches!(
                refused,
                Err(Error::Receipt(ReceiptError::EditFormat))
            ));
        }
    }
}
