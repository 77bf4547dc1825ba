//! The single-chat rules: what a send must carry, when it is acknowledged, how queues are
//! listed, paged and acknowledged. Group chat and rooms add fan-out here, not a new path.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use confab_proto::{
    pb::{
        self,
        meta::{NameSpace, RouteType},
    },
    USER_DOMAIN,
};
use prost::Message;

use crate::{
    app::{App, AppCache},
    bus::{AppListener, Bus, Event},
    ids::{AppKey, IdGenerator, MessageId, QueueName, UserName},
    now_ms,
    password::{FailureThrottle, PasswordLimits, PasswordWork},
    presence::Presence,
    receipts,
    store::{body_digest, AppendEffect, Appended, NewMessage, QueueEntry, Store},
    Error,
};

/// Per-deployment limits and defaults; `confab-server` fills them from config.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Total bytes of text in one message (the hosted service's default is 5 KB).
    pub max_text_bytes: usize,
    /// Metas per pull reply. Each page's acknowledgement is a commit, so larger pages drain
    /// faster; the default is 100 because the SDK drops repeats by id over its last 100 metas,
    /// so a page resent whole (its ack lost with the connection) is still dropped whole.
    pub page_size: u32,
    /// Lifetime of tokens from `POST /token` when the request names no `ttl`.
    pub default_token_ttl_secs: u32,
    /// Whether `POST /users` works without an app token.
    pub open_registration: bool,
    /// How long after sending a message its sender may recall it (hosted default: 120 s);
    /// 0 disables recall.
    pub recall_window_secs: u64,
    /// Argon2 concurrency and the throttle of wrong passwords (`password.rs`).
    pub passwords: PasswordLimits,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_text_bytes: 5 * 1024,
            page_size: 100,
            default_token_ttl_secs: 60 * 24 * 3600,
            open_registration: false,
            recall_window_secs: 120,
            passwords: PasswordLimits::default(),
        }
    }
}

/// The logged-in side of a session, as the rules need it.
#[derive(Debug, Clone)]
pub struct SessionContext {
    pub app: Arc<App>,
    pub user: UserName,
    pub resource: String,
}

/// What the sender's `send()` resolves with.
#[derive(Debug, Clone, PartialEq)]
pub struct SendAck {
    pub server_id: MessageId,
    pub timestamp_ms: u64,
    /// A meta the ack carries (an edit's `NOTIFY` with `edit_msg`, PROTOCOL.md §4.9).
    pub notify: Option<pb::Meta>,
}

/// A send queued for storage; resolves with the ack once it is durable.
pub type PendingSend = Pin<Box<dyn Future<Output = Result<SendAck, Error>> + Send + 'static>>;

/// A send checked for what `submit_with` cannot decide synchronously.
struct Checked {
    /// What commits with the message.
    effect: AppendEffect,
    /// Whether it goes into the recipient's queue (not for `deliverOnlineOnly` to an offline user).
    queued: bool,
}

/// One reply to a pull: encoded metas in id order, and the key the client acknowledges with
/// next.
#[derive(Debug, Clone, PartialEq)]
pub struct PullPage {
    pub metas: Vec<Bytes>,
    pub next_key: Option<u64>,
}

/// Entry point of the domain for every edge (gateway, REST, console).
pub struct ChatService {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) bus: Arc<dyn Bus>,
    /// Who is online, on every node.
    pub(crate) presence: Arc<dyn Presence>,
    ids: IdGenerator,
    pub(crate) limits: Limits,
    /// Told of app changes by the bus (`Event::AppChanged`).
    apps: Arc<AppCache>,
    /// Held while an id is allocated and its append queued; see `submit`.
    append_order: Mutex<()>,
    /// Argon2 slots, shared with the console (`AdminService`).
    pub(crate) password_work: Arc<PasswordWork>,
    /// Wrong passwords of password grants and password changes.
    pub(crate) password_failures: FailureThrottle,
}

impl ChatService {
    /// Builds the service and raises the id floor above everything already stored. `node`
    /// is this node's number (the config's `node_id`), in the ids it allocates.
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        presence: Arc<dyn Presence>,
        node: u16,
        limits: Limits,
    ) -> Result<ChatService, Error> {
        let ids = IdGenerator::new(node);
        ids.raise_floor(store.max_message_id().await?.0);
        let apps = Arc::new(AppCache::default());
        bus.watch_apps(Arc::downgrade(&apps) as Weak<dyn AppListener>);
        Ok(ChatService {
            store,
            bus,
            presence,
            ids,
            password_work: Arc::new(PasswordWork::new(&limits.passwords)),
            password_failures: FailureThrottle::new(limits.passwords.throttle.clone()),
            limits,
            apps,
            append_order: Mutex::new(()),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The process's Argon2 slots, for the console to share.
    pub fn password_work(&self) -> &Arc<PasswordWork> {
        &self.password_work
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    pub fn presence(&self) -> &Arc<dyn Presence> {
        &self.presence
    }

    pub async fn app(&self, key: &AppKey) -> Result<Arc<App>, Error> {
        if let Some(app) = self.apps.get(key) {
            return Ok(app);
        }
        let seen = self.apps.changes();
        let app = self
            .store
            .app_by_key(key)
            .await?
            .ok_or(Error::AppNotFound)?;
        Ok(self.apps.insert_read(app, seen))
    }

    pub async fn app_by_app_id(&self, app_id: &str) -> Result<Arc<App>, Error> {
        let seen = self.apps.changes();
        let app = self
            .store
            .app_by_app_id(app_id)
            .await?
            .ok_or(Error::AppNotFound)?;
        Ok(self.apps.insert_read(app, seen))
    }

    /// A `SYNC` send, awaited: `submit` and its completion.
    pub async fn send(
        self: &Arc<Self>,
        session: &SessionContext,
        meta: pb::Meta,
    ) -> Result<SendAck, Error> {
        self.submit(session, meta)?.await
    }

    /// Validates a `SYNC` send and queues it for storage at once; the returned future resolves
    /// with the ack after the message is durably stored (and the recipient notified). Sends
    /// submitted one after another are stored in that order, so a session may keep several in
    /// flight without reordering its conversation.
    pub fn submit(
        self: &Arc<Self>,
        session: &SessionContext,
        meta: pb::Meta,
    ) -> Result<PendingSend, Error> {
        self.submit_with(session, meta, None)
    }

    /// `submit`; `checked` is given once the checks that take a read are done (a recall or
    /// edit against its target, `receipts`; a `deliverOnlineOnly` send against the
    /// recipient's presence).
    fn submit_with(
        self: &Arc<Self>,
        session: &SessionContext,
        meta: pb::Meta,
        checked: Option<Checked>,
    ) -> Result<PendingSend, Error> {
        let client_id = meta.id.ok_or(Error::MissingField("meta id"))?;
        let namespace = meta.ns.unwrap_or(NameSpace::Statistic as i32);
        match NameSpace::try_from(namespace) {
            // Client statistics are acknowledged like any meta and not kept (PROTOCOL.md §3.5).
            Ok(NameSpace::Statistic) => {
                let now = now_ms();
                let ack = SendAck {
                    server_id: self.ids.next(now),
                    timestamp_ms: now,
                    notify: None,
                };
                return Ok(Box::pin(std::future::ready(Ok(ack))));
            }
            Ok(NameSpace::Chat) => {}
            Ok(_) | Err(_) => return Err(Error::Unsupported("this namespace")),
        }
        let to = meta.to.as_ref().ok_or(Error::MissingField("meta to"))?;
        let domain = to.domain.as_deref().unwrap_or(USER_DOMAIN);
        if domain != USER_DOMAIN {
            return Err(Error::Unsupported("group and chat-room messages"));
        }
        let to_name = to.name.as_deref().unwrap_or("");
        let recipient =
            UserName::parse(to_name).ok_or_else(|| Error::RecipientNotFound(to_name.to_owned()))?;
        let payload = meta.payload.clone().ok_or(Error::MissingField("payload"))?;
        let body = pb::MessageBody::decode(payload.clone())
            .map_err(|_| Error::MissingField("a message body"))?;
        check_parties(&body, &session.user, &recipient)?;
        let kind = self.check_body(&body)?;
        let body_digest = body_digest(&payload);
        let Checked { effect, queued } = match checked {
            Some(checked) => checked,
            None => {
                // ROUTE_ONLINE is the SDK's `deliverOnlineOnly` (PROTOCOL.md §4.1).
                let online_only = meta.routetype == Some(RouteType::RouteOnline as i32);
                match receipts::kind(&body) {
                    receipts::Kind::Plain if !online_only => Checked {
                        effect: AppendEffect::None,
                        queued: true,
                    },
                    receipts::Kind::ChannelAck if !online_only => Checked {
                        effect: receipts::channel_read(&session.user, &recipient),
                        queued: true,
                    },
                    _ => {
                        let chat = Arc::clone(self);
                        let session = session.clone();
                        return Ok(Box::pin(async move {
                            chat.submit_after_reads(session, meta, body, recipient, online_only)
                                .await
                        }));
                    }
                }
            }
        };
        let app_key = session.app.key.clone();
        let app_key_text = app_key.to_string();
        let queue = QueueName::single_chat(&session.user);
        let mut downlink = pb::Meta {
            id: None,
            from: Some(pb::Jid {
                app_key: Some(app_key_text.clone()),
                name: Some(session.user.to_string()),
                domain: Some(USER_DOMAIN.to_owned()),
                client_resource: Some(session.resource.clone()),
            }),
            to: Some(pb::Jid {
                app_key: Some(app_key_text),
                name: Some(recipient.to_string()),
                domain: Some(USER_DOMAIN.to_owned()),
                client_resource: to.client_resource.clone(),
            }),
            timestamp: None,
            ns: Some(NameSpace::Chat as i32),
            // The SDK reads from/to out of the body: relay it byte for byte (PROTOCOL.md §4.6).
            payload: Some(payload),
            routetype: meta.routetype,
            ext: meta.ext,
            meta: meta.meta,
            directed_users: Vec::new(),
        };
        let (id, now, stored) = {
            // Allocating the id and queueing the append under one lock makes store order id
            // order, also across sessions sending into the same queue (PROTOCOL.md §4.4: a
            // reader acknowledges by id, so a smaller id committed later would be skipped).
            let _order = match self.append_order.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            let now = now_ms();
            let id = self.ids.next(now);
            downlink.id = Some(id.0);
            downlink.timestamp = Some(now);
            let stored = self.store.submit_append_with(
                NewMessage {
                    app: app_key.clone(),
                    id,
                    sender: session.user.clone(),
                    sender_resource: session.resource.clone(),
                    client_id,
                    body_digest,
                    meta: downlink.encode_to_vec().into(),
                    deliveries: if queued {
                        vec![QueueEntry {
                            owner: recipient.clone(),
                            queue: queue.clone(),
                        }]
                    } else {
                        Vec::new()
                    },
                    kind,
                    history: crate::history::single_chat_entries(kind, &session.user, &recipient),
                },
                effect,
            );
            (id, now, stored)
        };
        let chat = Arc::clone(self);
        Ok(Box::pin(async move {
            match stored.await? {
                Appended::Stored if !queued => Ok(SendAck {
                    server_id: id,
                    timestamp_ms: now,
                    notify: None,
                }),
                Appended::Stored => {
                    let notice = Event::Notice {
                        app: app_key,
                        user: recipient,
                        queue,
                    };
                    // Stored is what counts: a lost notice is repaired by the next UNREAD.
                    if let Err(error) = chat.bus.publish(notice).await {
                        tracing::warn!(%error, "notice not published");
                    }
                    Ok(SendAck {
                        server_id: id,
                        timestamp_ms: now,
                        notify: None,
                    })
                }
                Appended::Duplicate(existing) => Ok(SendAck {
                    server_id: existing,
                    timestamp_ms: existing.timestamp_ms(),
                    notify: None,
                }),
                Appended::UnknownRecipient(name) => Err(Error::RecipientNotFound(name.to_string())),
            }
        }))
    }

    /// A send that needs reads before it can be queued: a recall or edit (its target, see
    /// `receipts`), a `deliverOnlineOnly` send (the recipient's presence).
    async fn submit_after_reads(
        self: Arc<Self>,
        session: SessionContext,
        meta: pb::Meta,
        body: pb::MessageBody,
        recipient: UserName,
        online_only: bool,
    ) -> Result<SendAck, Error> {
        let app = &session.app.key;
        let prepared = self.prepare(&session, meta, body, &recipient).await?;
        // Not queued for a recipient who is offline now: nobody would pull it while it is
        // still "online".
        let queued = !online_only || self.presence.is_online(app, &recipient).await?;
        // Without a queue entry the append checks no recipient: check here.
        if !queued && self.store.user(app, &recipient).await?.is_none() {
            return Err(Error::RecipientNotFound(recipient.to_string()));
        }
        let checked = Checked {
            effect: prepared.effect,
            queued,
        };
        let mut ack = self
            .submit_with(&session, prepared.meta, Some(checked))?
            .await?;
        ack.notify = prepared.notify;
        Ok(ack)
    }

    /// Non-empty queues of the session's user, for the `UNREAD` reply.
    pub async fn unread(&self, session: &SessionContext) -> Result<Vec<(QueueName, u32)>, Error> {
        let counts = self
            .store
            .unread_counts(&session.app.key, &session.user)
            .await?;
        Ok(counts
            .into_iter()
            .map(|count| (count.queue, count.count))
            .collect())
    }

    /// A pull of `queue`. `key` acknowledges everything up to it first (PROTOCOL.md §4.4).
    pub async fn pull(
        &self,
        session: &SessionContext,
        queue: &QueueName,
        key: Option<u64>,
    ) -> Result<PullPage, Error> {
        let app = &session.app.key;
        let after = MessageId(key.unwrap_or(0));
        // The page starts after `key` whether or not the acknowledgement is committed yet, so
        // the read overlaps the commit; the reply still waits for both.
        let acked = key.map(|_| self.store.submit_ack(app, &session.user, queue, after));
        let page = self
            .store
            .queue_page(app, &session.user, queue, after, self.limits.page_size);
        let page = match acked {
            Some(acked) => {
                let (acked, page) = tokio::join!(acked, page);
                acked?;
                page?
            }
            None => page.await?,
        };
        let next_key = page.last().map(|message| message.id.0);
        // Stored by us, encoded once at send time: relayed as they are.
        let metas = page.into_iter().map(|message| message.meta).collect();
        Ok(PullPage { metas, next_key })
    }

    /// Stores a server-originated meta (a `NOTIFY`) in `recipient`'s queue `queue` and notifies
    /// them: the same id order and durability as a send. `build` gets the id and timestamp.
    pub(crate) async fn deliver_server_meta(
        &self,
        app: &AppKey,
        sender: &UserName,
        recipient: UserName,
        queue: QueueName,
        build: impl FnOnce(MessageId, u64) -> pb::Meta,
    ) -> Result<(), Error> {
        let stored = {
            let _order = match self.append_order.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            let now = now_ms();
            let id = self.ids.next(now);
            self.store.submit_append(NewMessage {
                app: app.clone(),
                id,
                sender: sender.clone(),
                sender_resource: String::new(),
                // Server metas have no client id; the server id is unique, so no resend collides.
                client_id: id.0,
                body_digest: 0,
                meta: build(id, now).encode_to_vec().into(),
                deliveries: vec![QueueEntry {
                    owner: recipient.clone(),
                    queue: queue.clone(),
                }],
                kind: "",
                history: Vec::new(),
            })
        };
        match stored.await? {
            Appended::Stored | Appended::Duplicate(_) => {}
            Appended::UnknownRecipient(name) => {
                return Err(Error::RecipientNotFound(name.to_string()))
            }
        }
        let notice = Event::Notice {
            app: app.clone(),
            user: recipient,
            queue,
        };
        if let Err(error) = self.bus.publish(notice).await {
            tracing::warn!(%error, "notice not published");
        }
        Ok(())
    }

    /// Checks the limits; returns the message's kind for history (`""`: not a message).
    fn check_body(&self, body: &pb::MessageBody) -> Result<&'static str, Error> {
        let text_bytes: usize = body
            .contents
            .iter()
            .map(|content| content.text.as_deref().map_or(0, str::len))
            .sum();
        if text_bytes > self.limits.max_text_bytes {
            return Err(Error::MessageTooLarge {
                size: text_bytes,
                limit: self.limits.max_text_bytes,
            });
        }
        Ok(crate::history::message_kind(body))
    }

    /// Replaces the cached copy after this node stored a change of the app (the caller
    /// then publishes `Event::AppChanged` for the other nodes).
    pub(crate) fn refresh_app(&self, app: App) -> Arc<App> {
        self.apps.replace(app)
    }
}

/// The SDK shows a message as from `MessageBody.from` to `MessageBody.to` (PROTOCOL.md §4.6),
/// and the body is relayed byte for byte, so both must name the parties the server routes
/// it between: the session's own user, and the meta's recipient. The SDK fills them with the
/// names it logged in and sends to, in the case it was given them.
fn check_parties(
    body: &pb::MessageBody,
    sender: &UserName,
    recipient: &UserName,
) -> Result<(), Error> {
    // Compared in place: this runs for every message, and a name equal to a valid (lowercase)
    // user name but for case is valid itself, so nothing needs parsing or allocating.
    let names = |jid: &Option<pb::Jid>, user: &UserName| {
        jid.as_ref()
            .and_then(|jid| jid.name.as_deref())
            .is_some_and(|name| name.eq_ignore_ascii_case(user.as_str()))
    };
    if !names(&body.from, sender) {
        return Err(Error::ImpersonatedParty("from"));
    }
    if !names(&body.to, recipient) {
        return Err(Error::ImpersonatedParty("to"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(from: Option<&str>, to: Option<&str>) -> pb::MessageBody {
        let jid = |name: &str| pb::Jid {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        pb::MessageBody {
            from: from.map(jid),
            to: to.map(jid),
            ..Default::default()
        }
    }

    #[test]
    fn the_body_must_name_the_session_and_the_recipient() {
        let (leo, roy) = (
            UserName::parse("leo").expect("valid"),
            UserName::parse("roy").expect("valid"),
        );
        // The SDK names users as it was given them; names are case-insensitive.
        assert!(check_parties(&body(Some("Leo"), Some("ROY")), &leo, &roy).is_ok());
        for (from, to, field) in [
            (Some("alice"), Some("roy"), "from"),
            (None, Some("roy"), "from"),
            (Some(""), Some("roy"), "from"),
            (Some("leo"), Some("carol"), "to"),
            (Some("leo"), None, "to"),
        ] {
            match check_parties(&body(from, to), &leo, &roy) {
                Err(Error::ImpersonatedParty(named)) => assert_eq!(named, field),
                other => panic!("{from:?} → {to:?}: {other:?}"),
            }
        }
    }
}
