//! The one way into a log. A feature service builds a `NewMessage` (its log, its audience, how
//! to encode it); the `Appender` submits it to the store, which assigns id and order at commit,
//! and once it is stored tells the devices of its audience, through the bus, on every node.
//! Nothing else holds the `AppendStore`, so there is one order (the store's) and one notice rule.
//! Built once and shared (`Arc<Appender>`) by every feature service that appends.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use confab_proto::{
    pb::{self, meta::NameSpace},
    USER_DOMAIN,
};
use prost::Message;

use crate::{
    bus::{Bus, Event},
    ids::{AppKey, GroupId, LogId, MessageId, QueueName, UserName},
    now_ms,
    store::{AppendEffect, AppendStore, Appended, Audience, EncodeMeta, GroupStore, NewMessage},
    Error,
};

/// Members a group notice reads per page (`Appender::announce_to_members`).
const MEMBERS_PER_PAGE: u32 = 1000;
/// Group messages whose notices are being announced at once; past it a sender's ack waits for
/// a place (each announce reads and publishes up to a group's whole member list).
const MAX_ANNOUNCES: usize = 256;

/// A message queued for its log; resolves once it is committed and announced.
pub type PendingAppend = Pin<Box<dyn Future<Output = Result<Appended, Error>> + Send + 'static>>;

pub struct Appender {
    store: Arc<dyn AppendStore>,
    bus: Arc<dyn Bus>,
    /// Who the notices of a group message go to: its members, read after the commit.
    groups: Arc<dyn GroupStore>,
    /// Places for announces in flight (`MAX_ANNOUNCES`).
    announces: Arc<tokio::sync::Semaphore>,
}

impl Appender {
    pub fn new(
        store: Arc<dyn AppendStore>,
        bus: Arc<dyn Bus>,
        groups: Arc<dyn GroupStore>,
    ) -> Appender {
        Appender {
            store,
            bus,
            groups,
            announces: Arc::new(tokio::sync::Semaphore::new(MAX_ANNOUNCES)),
        }
    }

    /// Queues `message` (with `effect` in its transaction) at once, so that submissions of one
    /// caller keep their order; the future resolves after the commit and the notices.
    pub fn submit(&self, message: NewMessage, effect: AppendEffect) -> PendingAppend {
        let notices = notices(&message);
        let to_members = match (&message.log, &message.audience) {
            (LogId::Group(group), Audience::Members) => Some((
                message.app.clone(),
                group.clone(),
                message.sender.clone(),
                message.sender_resource.clone(),
            )),
            _ => None,
        };
        let stored = match effect {
            AppendEffect::None => self.store.submit_append(message),
            effect => self.store.submit_append_with(message, effect),
        };
        let bus = Arc::clone(&self.bus);
        let groups = Arc::clone(&self.groups);
        let announces = Arc::clone(&self.announces);
        Box::pin(async move {
            let appended = stored.await?;
            if matches!(appended, Appended::Stored { .. }) {
                for notice in notices {
                    // Stored is what counts: a lost notice is repaired by the next UNREAD.
                    if let Err(error) = bus.publish(notice).await {
                        tracing::warn!(%error, "notice not published");
                    }
                }
                if let Some((app, group, sender, resource)) = to_members {
                    // The sender's ack does not wait for every member's notice (3,000 of them
                    // took ~80 ms of one core), only for a place among the announces in flight;
                    // a lost notice is repaired like any other.
                    let place = announces.acquire_owned().await;
                    tokio::spawn(async move {
                        let _place = place;
                        let announced = announce_to_members(
                            &*groups,
                            &*bus,
                            (&app, &group),
                            (&sender, &resource),
                        )
                        .await;
                        if let Err(error) = announced {
                            tracing::warn!(%error, "group notices not published");
                        }
                    });
                }
            }
            Ok(appended)
        })
    }

    /// Stores a server `NOTIFY` from `sender` to `recipient` (its JSON `payload`) for
    /// `recipient` alone, in their conversation's log, and notifies them: the same order and
    /// durability as a send.
    pub(crate) async fn notify(
        &self,
        app: &AppKey,
        sender: &UserName,
        recipient: UserName,
        payload: serde_json::Value,
    ) -> Result<(), Error> {
        let jids = (jid(app, sender), jid(app, &recipient));
        self.deliver_notify(
            app,
            sender,
            "",
            recipient.clone(),
            &recipient,
            jids,
            payload,
        )
        .await
    }

    /// Stores a server `NOTIFY` about a change `owner` made on the device on `resource` (from
    /// and to `owner`), in the log of `owner` and `peer`, for `owner`'s other devices.
    pub(crate) async fn notify_other_devices(
        &self,
        app: &AppKey,
        owner: &UserName,
        resource: &str,
        peer: &UserName,
        payload: serde_json::Value,
    ) -> Result<(), Error> {
        let jids = (jid(app, owner), jid(app, owner));
        self.deliver_notify(app, owner, resource, owner.clone(), peer, jids, payload)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn deliver_notify(
        &self,
        app: &AppKey,
        sender: &UserName,
        sender_resource: &str,
        recipient: UserName,
        peer: &UserName,
        jids: (pb::Jid, pb::Jid),
        payload: serde_json::Value,
    ) -> Result<(), Error> {
        let payload = bytes::Bytes::from(payload.to_string());
        self.deliver_server_meta(
            app,
            (sender, sender_resource),
            recipient,
            peer,
            jids,
            (NameSpace::Notify, payload),
        )
        .await
    }

    /// Stores a server `NOTIFY` from `sender`'s device on `resource` ("": every device) in
    /// group `group`'s log for every member, and notifies them (a reaction, a pin).
    pub(crate) async fn notify_members(
        &self,
        app: &AppKey,
        (sender, resource): (&UserName, &str),
        group: &GroupId,
        payload: serde_json::Value,
    ) -> Result<(), Error> {
        let payload = bytes::Bytes::from(payload.to_string());
        let appended = self
            .submit_group_meta(
                app,
                (sender, resource),
                (group, Audience::Members),
                (NameSpace::Notify, payload),
            )
            .await?;
        group_meta_stored(appended)
    }

    /// Queues a server meta (`ns`, `payload`) from `sender`'s device on `resource` in group
    /// `group`'s log for `audience` (a MUC event, a NOTIFY).
    pub(crate) fn submit_group_meta(
        &self,
        app: &AppKey,
        sender: (&UserName, &str),
        place: (&GroupId, Audience),
        content: (NameSpace, bytes::Bytes),
    ) -> PendingAppend {
        self.submit_group_meta_with(app, sender, place, content, AppendEffect::None)
    }

    /// `submit_group_meta` with a change that commits with the meta (a thread's overview in
    /// its parent message).
    pub(crate) fn submit_group_meta_with(
        &self,
        app: &AppKey,
        (sender, resource): (&UserName, &str),
        (group, audience): (&GroupId, Audience),
        (ns, payload): (NameSpace, bytes::Bytes),
        effect: AppendEffect,
    ) -> PendingAppend {
        let (from, to) = (jid(app, sender), group_jid(app, group));
        let build = move |id: MessageId, at: u64| pb::Meta {
            id: Some(id.0),
            from: Some(from),
            to: Some(to),
            timestamp: Some(at),
            ns: Some(ns as i32),
            payload: Some(payload),
            ..Default::default()
        };
        self.submit(
            NewMessage {
                app: app.clone(),
                log: LogId::Group(group.clone()),
                audience,
                sender: sender.clone(),
                sender_resource: resource.to_owned(),
                client_id: None,
                body_digest: 0,
                sent_ms: now_ms(),
                meta: EncodeMeta::new(move |id, timestamp_ms| {
                    build(id, timestamp_ms).encode_to_vec().into()
                }),
                kind: "",
                history: Vec::new(),
            },
            effect,
        )
    }

    /// Stores a ROSTER meta (a contact event, `body`) from `sender`'s device on
    /// `sender_resource` ("": from the server) in the log of `sender` and `peer`, for
    /// `recipient` alone (`sender` itself: its other devices), and notifies them.
    pub(crate) async fn roster(
        &self,
        app: &AppKey,
        (sender, sender_resource): (&UserName, &str),
        recipient: UserName,
        peer: &UserName,
        body: pb::RosterBody,
    ) -> Result<(), Error> {
        let jids = (jid(app, sender), jid(app, &recipient));
        let payload = bytes::Bytes::from(body.encode_to_vec());
        self.deliver_server_meta(
            app,
            (sender, sender_resource),
            recipient,
            peer,
            jids,
            (NameSpace::Roster, payload),
        )
        .await
    }

    async fn deliver_server_meta(
        &self,
        app: &AppKey,
        (sender, sender_resource): (&UserName, &str),
        recipient: UserName,
        peer: &UserName,
        (from, to): (pb::Jid, pb::Jid),
        (ns, payload): (NameSpace, bytes::Bytes),
    ) -> Result<(), Error> {
        let build = move |id: MessageId, at: u64| pb::Meta {
            id: Some(id.0),
            from: Some(from),
            to: Some(to),
            timestamp: Some(at),
            ns: Some(ns as i32),
            payload: Some(payload),
            ..Default::default()
        };
        let appended = self.submit(
            NewMessage {
                app: app.clone(),
                log: LogId::pair(sender, peer),
                audience: Audience::Member(recipient),
                sender: sender.clone(),
                sender_resource: sender_resource.to_owned(),
                client_id: None,
                body_digest: 0,
                sent_ms: now_ms(),
                meta: EncodeMeta::new(move |id, timestamp_ms| {
                    build(id, timestamp_ms).encode_to_vec().into()
                }),
                kind: "",
                history: Vec::new(),
            },
            AppendEffect::None,
        );
        match appended.await? {
            Appended::Stored { .. } | Appended::Duplicate(_) => Ok(()),
            Appended::UnknownRecipient(name) => Err(Error::RecipientNotFound(name.to_string())),
            // The recipient blocked the sender: they do not hear from them.
            Appended::Blocked(_) => Ok(()),
            // Server metas are not messages (`kind` is empty): never refused as such.
            Appended::NotContact(name) => Err(Error::NotContact(name.to_string())),
            // Not a group's log.
            Appended::NoGroup | Appended::NotGroupMember | Appended::Muted => {
                Err(Error::Unsupported("a group's log for a roster notice"))
            }
        }
    }
}

/// One notice per member of the group, read a page at a time after the commit (members at
/// about the time of the send: who reads the entry is the store's to say, by join points).
async fn announce_to_members(
    groups: &dyn GroupStore,
    bus: &dyn Bus,
    (app, group): (&AppKey, &GroupId),
    (sender, resource): (&UserName, &str),
) -> Result<(), Error> {
    let queue = QueueName::group(group);
    let mut offset = 0;
    loop {
        let members = groups
            .group_members(app, group, now_ms(), offset, MEMBERS_PER_PAGE)
            .await?;
        for member in &members {
            let except_resource =
                (member.user == *sender && !resource.is_empty()).then(|| resource.to_owned());
            bus.publish(Event::Notice {
                app: app.clone(),
                user: member.user.clone(),
                queue: queue.clone(),
                except_resource,
            })
            .await?;
        }
        if members.len() < MEMBERS_PER_PAGE as usize {
            return Ok(());
        }
        offset += u64::from(MEMBERS_PER_PAGE);
    }
}

/// One notice per member who reads the message, naming the log as that member's SDK knows it;
/// the sending device is left out (its view of the log does not hold its own messages). A
/// group's members are announced after the commit (`announce_to_members`).
fn notices(message: &NewMessage) -> Vec<Event> {
    let notice = |user: &crate::ids::UserName| {
        let queue = message.log.view_of(user)?;
        let except_resource = (*user == message.sender && !message.sender_resource.is_empty())
            .then(|| message.sender_resource.clone());
        Some(Event::Notice {
            app: message.app.clone(),
            user: user.clone(),
            queue,
            except_resource,
        })
    };
    match &message.audience {
        Audience::Members => message
            .log
            .members()
            .into_iter()
            .filter_map(notice)
            .collect(),
        Audience::Member(user) => notice(user).into_iter().collect(),
        Audience::Listed(users) => users.iter().filter_map(notice).collect(),
        Audience::Nobody => Vec::new(),
    }
}

/// What the append of a group's server meta (`submit_group_meta`) answers, as a result: a
/// deleted group is `NotFound`; server metas are not messages, so no member, mute, block or
/// contact check refuses them.
pub(crate) fn group_meta_stored(appended: Appended) -> Result<(), Error> {
    match appended {
        Appended::Stored { .. } | Appended::Duplicate(_) => Ok(()),
        Appended::NoGroup => Err(crate::groups::GroupError::NotFound.into()),
        Appended::UnknownRecipient(_)
        | Appended::Blocked(_)
        | Appended::NotContact(_)
        | Appended::NotGroupMember
        | Appended::Muted => Err(Error::Unsupported("a refused group meta")),
    }
}

/// A group's JID: `{appKey, name: id, domain: conference.easemob.com}`.
pub(crate) fn group_jid(app: &AppKey, group: &GroupId) -> pb::Jid {
    pb::Jid {
        app_key: Some(app.to_string()),
        name: Some(group.to_string()),
        domain: Some(confab_proto::CONFERENCE_DOMAIN.to_owned()),
        client_resource: None,
    }
}

/// A user's JID as server metas name it (no resource).
pub(crate) fn jid(app: &AppKey, user: &UserName) -> pb::Jid {
    pb::Jid {
        app_key: Some(app.to_string()),
        name: Some(user.to_string()),
        domain: Some(USER_DOMAIN.to_owned()),
        client_resource: None,
    }
}
