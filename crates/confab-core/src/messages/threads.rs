//! Thread messages: group messages to a thread (`MessageBody.meta {"thread":{}}`, `to` the
//! thread's id), stored once in the parent group's log for the thread's members at the time
//! (`Audience::Listed`), in the thread's own history; the body's `meta.thread` is filled with
//! what the receivers' SDK reads (`chatThread`: parent message, group, name). Recalls and edits
//! of thread messages go the same way.

use std::sync::Arc;

use confab_proto::{
    pb::{self, meta::NameSpace},
    CONFERENCE_DOMAIN, USER_DOMAIN,
};
use prost::Message;
use serde_json::{json, Value};

use crate::{
    groups::{GroupCaller, GroupError},
    ids::{GroupId, LogId},
    messages::{MessageService, SendAck, SessionContext},
    now_ms, receipts,
    store::{body_digest, Appended, Audience, EncodeMeta, NewMessage},
    Error,
};

/// Whether a body says it is for a thread (`meta` with a `thread` key).
pub(crate) fn is_thread_body(body: &pb::MessageBody) -> bool {
    body.meta
        .as_deref()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .is_some_and(|meta| meta.get("thread").is_some())
}

impl MessageService {
    pub(crate) async fn submit_to_thread(
        self: Arc<Self>,
        session: SessionContext,
        meta: pb::Meta,
        thread_id: GroupId,
    ) -> Result<SendAck, Error> {
        let app = session.app.key.clone();
        let client_id = meta.id.ok_or(Error::MissingField("meta id"))?;
        let payload = meta.payload.clone().ok_or(Error::MissingField("payload"))?;
        let body =
            pb::MessageBody::decode(payload).map_err(|_| Error::MissingField("a message body"))?;
        let names = |jid: &Option<pb::Jid>, name: &str| {
            jid.as_ref()
                .and_then(|jid| jid.name.as_deref())
                .is_some_and(|named| named.eq_ignore_ascii_case(name))
        };
        if !names(&body.from, session.user.as_str()) {
            return Err(Error::ImpersonatedParty("from"));
        }
        if !names(&body.to, thread_id.as_str()) {
            return Err(Error::ImpersonatedParty("to"));
        }
        let kind = self.check_body(&body)?;
        let plain = matches!(receipts::kind(&body), receipts::Kind::Plain);
        let (thread, members) = self
            .threads
            .audience(&app, &thread_id, (&session.user, plain))
            .await?;
        let prepared = self
            .prepare(
                &session,
                meta,
                body,
                receipts::Conversation::Thread(&thread_id, &thread.group),
            )
            .await?;
        let meta = prepared.meta;
        let mut body = meta
            .payload
            .as_ref()
            .and_then(|payload| pb::MessageBody::decode(payload.clone()).ok())
            .ok_or(Error::MissingField("a message body"))?;
        let mut extra: serde_json::Map<String, Value> = body
            .meta
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        extra.insert(
            "thread".to_owned(),
            json!({
                "msg_parent_id": thread.parent_message.0.to_string(),
                "muc_parent_id": thread.group.as_str(),
                "thread_name": thread.name,
            }),
        );
        body.meta = Some(Value::Object(extra).to_string());
        let payload: bytes::Bytes = body.encode_to_vec().into();
        let mut downlink = pb::Meta {
            id: None,
            from: Some(pb::Jid {
                app_key: Some(app.to_string()),
                name: Some(session.user.to_string()),
                domain: Some(USER_DOMAIN.to_owned()),
                client_resource: Some(session.resource.clone()),
            }),
            to: Some(pb::Jid {
                app_key: Some(app.to_string()),
                name: Some(thread_id.to_string()),
                domain: Some(CONFERENCE_DOMAIN.to_owned()),
                client_resource: None,
            }),
            timestamp: None,
            ns: Some(NameSpace::Chat as i32),
            payload: Some(payload.clone()),
            routetype: meta.routetype,
            ext: meta.ext,
            meta: meta.meta,
            directed_users: Vec::new(),
        };
        let appended = self
            .appender
            .submit(
                NewMessage {
                    app: app.clone(),
                    log: LogId::Group(thread.group.clone()),
                    audience: Audience::Listed(members),
                    sender: session.user.clone(),
                    sender_resource: session.resource.clone(),
                    client_id: Some(client_id),
                    body_digest: body_digest(&payload),
                    sent_ms: now_ms(),
                    meta: EncodeMeta::new(move |id, timestamp_ms| {
                        downlink.id = Some(id.0);
                        downlink.timestamp = Some(timestamp_ms);
                        downlink.encode_to_vec().into()
                    }),
                    kind,
                    history: crate::history::group_entries(kind, &thread_id),
                },
                prepared.effect,
            )
            .await?;
        let (server_id, timestamp_ms) = match appended {
            Appended::Stored { id, timestamp_ms } => {
                if !kind.is_empty() {
                    let caller = GroupCaller {
                        app: app.clone(),
                        user: Some(session.user.clone()),
                        resource: session.resource.clone(),
                    };
                    self.threads.message_stored(&caller, &thread_id, id).await?;
                }
                (id, timestamp_ms)
            }
            Appended::Duplicate(existing) => (existing, existing.timestamp_ms()),
            Appended::NoGroup => return Err(GroupError::NotFound.into()),
            Appended::NotGroupMember => {
                return Err(GroupError::NotMember(session.user.to_string()).into())
            }
            Appended::Muted => return Err(GroupError::Muted.into()),
            Appended::UnknownRecipient(_) | Appended::Blocked(_) | Appended::NotContact(_) => {
                return Err(Error::Unsupported("a refused thread message"))
            }
        };
        Ok(SendAck {
            server_id,
            timestamp_ms,
            notify: prepared.notify,
        })
    }
}
