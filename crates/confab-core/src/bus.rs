//! Delivery of events to live sessions: the `Bus` port and the node-local `SessionRegistry`.
//!
//! A send stores the message, then publishes an `Event` on the bus. The bus brings it to every
//! node (in-process: this one), whose registry hands it to the sessions of the addressed user.
//! Sessions never block the publisher: each has an inbox that coalesces notices per queue, so a
//! slow client costs one entry per peer, not one per message.
//!
//! Who is online is the `Presence` port's (`presence.rs`); on one node it reads this registry.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::{
    ids::{AppKey, IdGenerator, QueueName, RoomId, SessionId, UserName},
    now_ms,
    presence::OnlineDevice,
};

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

/// Why a session is being closed by the server (maps to `StatisticsBody.operation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KickReason {
    /// Another login took the same resource (SDK error 206). `login_info_ext` is that login's
    /// `setLoginInfoCustomExt` (`Provision.reason`): the kicked SDK gets it back in
    /// `StatisticsBody.reason`, as `loginInfoCustomExt` of its error.
    LoginOnAnotherDevice { login_info_ext: Option<String> },
    /// The user was deleted (SDK error 207).
    UserRemoved,
    /// The password changed (SDK error 216).
    PasswordChanged,
    /// An administrator disconnected or deactivated the user, or one device of theirs (SDK
    /// error 217, no reconnect).
    ForcedLogout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `queue` of `user` has new messages: sessions should be told to pull it, except the
    /// one on `except_resource` (the device that sent them, whose view leaves them out).
    Notice {
        app: AppKey,
        user: UserName,
        queue: QueueName,
        except_resource: Option<String>,
    },
    /// Close the user's sessions on `resource` (all resources when `None`). With
    /// `older_than`, only the sessions whose id is smaller, that is which logged in earlier:
    /// a login kicks the sessions before it on its resource on whichever node they live,
    /// and an earlier login's kick never closes a later one, whichever arrives first.
    Kick {
        app: AppKey,
        user: UserName,
        resource: Option<String>,
        reason: KickReason,
        older_than: Option<SessionId>,
    },
    /// The stored app changed (its credentials were rotated): every node drops its cached
    /// copy and reads it again.
    AppChanged { app: AppKey },
    /// A presence change for the live sessions of `user`, one of its subscribers. Never
    /// stored: a device that is not online misses it, and reads presence when it subscribes
    /// or asks.
    Presence {
        app: AppKey,
        user: UserName,
        notice: PresenceNotice,
    },
    /// A chat room's meta for the sessions of its members online now, or a change of who is
    /// in it, which every node's index of room members follows (`rooms.rs`).
    Room {
        app: AppKey,
        room: RoomId,
        delivery: RoomDelivery,
    },
}

/// What a room event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomDelivery {
    /// A message or an event, for the sessions of every member (or of the users `only`
    /// names, members or not: a removed member hears of the removal) except one device. Never
    /// stored: a session that is not online misses it.
    Meta {
        meta: bytes::Bytes,
        priority: RoomPriority,
        except: Option<(UserName, String)>,
        only: Option<Vec<UserName>>,
    },
    /// These users are members now.
    Joined(Vec<UserName>),
    /// These users are no longer members.
    Left(Vec<UserName>),
    /// The room is gone.
    Destroyed,
}

/// A room message's priority (`chatroom_msg_tag`): what a session that cannot keep up drops
/// first is the lowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoomPriority {
    Low,
    Normal,
    High,
}

/// Room metas waiting for one session, at most `capacity`: when full, the oldest of the lowest
/// priority held goes first, and a meta of a lower priority than all held is the one dropped.
#[derive(Debug, Default)]
pub struct RoomBacklog {
    metas: VecDeque<(RoomPriority, bytes::Bytes)>,
    /// Metas dropped since the session last took some (it logs them).
    pub dropped: u64,
}

impl RoomBacklog {
    pub fn push(&mut self, priority: RoomPriority, meta: bytes::Bytes, capacity: usize) {
        if self.metas.len() >= capacity.max(1) {
            let lowest = self.metas.iter().map(|(held, _)| *held).min();
            match lowest {
                Some(lowest) if lowest <= priority => {
                    if let Some(index) = self.metas.iter().position(|(held, _)| *held == lowest) {
                        self.metas.remove(index);
                    }
                }
                _ => {
                    self.dropped += 1;
                    return;
                }
            }
            self.dropped += 1;
        }
        self.metas.push_back((priority, meta));
    }

    pub fn is_empty(&self) -> bool {
        self.metas.is_empty()
    }

    pub fn len(&self) -> usize {
        self.metas.len()
    }

    /// Every meta held, oldest first.
    pub fn take(&mut self) -> Vec<bytes::Bytes> {
        self.dropped = 0;
        self.metas.drain(..).map(|(_, meta)| meta).collect()
    }

    /// Adds what `other` holds after what this one holds, within `capacity`.
    pub fn append(&mut self, other: RoomBacklog, capacity: usize) {
        self.dropped += other.dropped;
        for (priority, meta) in other.metas {
            self.push(priority, meta, capacity);
        }
    }
}

/// One user's presence as a subscriber's SDK reads it: the payload of a `NOTIFY` of type
/// `presence`. Each is a whole snapshot, so a newer one replaces an older one unread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceNotice {
    pub publisher: UserName,
    /// `StoredPresence::changed_ms` of the snapshot: larger is newer.
    pub version: u64,
    /// Compact JSON (`presence/service.rs`).
    pub payload: bytes::Bytes,
}

/// Presence changes by publisher: the newest of each.
pub type PresenceNotices = HashMap<UserName, PresenceNotice>;

impl PresenceNotice {
    /// Adds `notice` to `notices`, where it replaces an older one of the same publisher (and
    /// is dropped if the one there is newer): one entry per publisher.
    pub fn merge_into(self, notices: &mut PresenceNotices) {
        match notices.get_mut(&self.publisher) {
            Some(held) if held.version < self.version => *held = self,
            Some(_) => {}
            None => {
                notices.insert(self.publisher.clone(), self);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

/// Something on this node that keeps copies of apps (`AppService`'s cache), told of
/// `Event::AppChanged` from any node.
pub trait AppListener: Send + Sync {
    fn app_changed(&self, app: &AppKey);
}

#[async_trait]
pub trait Bus: Send + Sync {
    /// Delivers to every node; returns once the event is handed over (not once sessions read it).
    async fn publish(&self, event: Event) -> Result<(), BusError>;
    /// Tells `listener` of every `Event::AppChanged` this node receives, for as long as it
    /// lives (it is held weakly).
    fn watch_apps(&self, listener: Weak<dyn AppListener>);
}

/// The single-node bus: delivers straight into this process's registry.
pub struct InProcessBus {
    registry: Arc<SessionRegistry>,
}

impl InProcessBus {
    pub fn new(registry: Arc<SessionRegistry>) -> InProcessBus {
        InProcessBus { registry }
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, event: Event) -> Result<(), BusError> {
        self.registry.deliver(&event);
        Ok(())
    }

    fn watch_apps(&self, listener: Weak<dyn AppListener>) {
        self.registry.watch_apps(listener);
    }
}

/// What a session has been told and not yet acted on.
#[derive(Debug, Default)]
pub struct Pending {
    pub notices: Vec<QueueName>,
    pub kick: Option<KickReason>,
    /// The newest presence change of each publisher (bounded by the subscriptions a user may
    /// hold).
    pub presence: PresenceNotices,
    /// Chat-room metas, bounded by the registry's `room_backlog`.
    pub room: RoomBacklog,
}

/// One session's mailbox. The registry writes, the session task drains.
#[derive(Debug, Default)]
pub struct SessionInbox {
    // std Mutex: held for a push or a swap, never across an await.
    pending: Mutex<Pending>,
    wake: Notify,
    /// Room metas held at most (`SessionRegistry::room_backlog`).
    room_capacity: usize,
}

impl SessionInbox {
    /// Waits until something is pending. Cancel safe: a wake-up that races a cancel is kept as
    /// a stored permit and returned by the next call.
    pub async fn wait(&self) {
        self.wake.notified().await;
    }

    pub fn take(&self) -> Pending {
        match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    fn push(&self, event: &Event) {
        {
            let mut pending = match self.pending.lock() {
                Ok(pending) => pending,
                Err(poisoned) => poisoned.into_inner(),
            };
            match event {
                Event::Notice { queue, .. } => {
                    if !pending.notices.contains(queue) {
                        pending.notices.push(queue.clone());
                    }
                }
                Event::Kick { reason, .. } => pending.kick = Some(reason.clone()),
                Event::Presence { notice, .. } => {
                    notice.clone().merge_into(&mut pending.presence);
                }
                Event::Room {
                    delivery: RoomDelivery::Meta { meta, priority, .. },
                    ..
                } => pending
                    .room
                    .push(*priority, meta.clone(), self.room_capacity),
                Event::AppChanged { .. } | Event::Room { .. } => return,
            }
        }
        self.wake.notify_one();
    }
}

/// The device a session logged in from, as its `PROVISION` named it (`store::Device` is a
/// user's device as a reader of logs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginDevice {
    /// The SDK's device id (`webim_web_…`); one session per resource.
    pub resource: String,
    /// `Provision.deviceUuid`.
    pub uuid: Option<String>,
    /// `Provision.deviceName`.
    pub name: Option<String>,
}

impl LoginDevice {
    pub fn on(resource: &str) -> LoginDevice {
        LoginDevice {
            resource: resource.to_owned(),
            ..LoginDevice::default()
        }
    }
}

struct Registered {
    id: SessionId,
    device: LoginDevice,
    inbox: Arc<SessionInbox>,
    /// Kicked (a later login took its resource, or a kick event named it): it is closing,
    /// no longer counts against the user's cap and is no longer online.
    leaving: bool,
}

/// `register` refused: the user has `max_sessions` sessions already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the user has {max_sessions} sessions already")]
pub struct TooManySessions {
    pub max_sessions: usize,
}

/// Who is in which room, as this node knows it.
#[derive(Default)]
struct RoomIndex {
    members: HashMap<(AppKey, RoomId), HashSet<UserName>>,
    rooms_of: HashMap<(AppKey, UserName), usize>,
}

impl RoomIndex {
    fn join(&mut self, app: &AppKey, room: &RoomId, users: &[UserName]) {
        let members = self.members.entry((app.clone(), room.clone())).or_default();
        for user in users {
            if members.insert(user.clone()) {
                *self
                    .rooms_of
                    .entry((app.clone(), user.clone()))
                    .or_default() += 1;
            }
        }
    }

    fn leave(&mut self, app: &AppKey, room: &RoomId, users: &[UserName]) {
        let key = (app.clone(), room.clone());
        let Some(members) = self.members.get_mut(&key) else {
            return;
        };
        for user in users {
            if members.remove(user) {
                let user_key = (app.clone(), user.clone());
                if let Some(count) = self.rooms_of.get_mut(&user_key) {
                    *count -= 1;
                    if *count == 0 {
                        self.rooms_of.remove(&user_key);
                    }
                }
            }
        }
        if members.is_empty() {
            self.members.remove(&key);
        }
    }

    fn destroy(&mut self, app: &AppKey, room: &RoomId) {
        let users: Vec<UserName> = self
            .members
            .get(&(app.clone(), room.clone()))
            .map(|members| members.iter().cloned().collect())
            .unwrap_or_default();
        self.leave(app, room, &users);
    }
}

/// Room metas one session holds at most while it cannot write them (`room_backlog`).
pub const DEFAULT_ROOM_BACKLOG: usize = 256;

/// The sessions live on this node, by user, this node's index of who is in each chat room, and
/// its listeners of app changes.
pub struct SessionRegistry {
    node: u16,
    /// Session ids: time-ordered, with this node's bits (`SessionId`).
    ids: IdGenerator,
    sessions: Mutex<HashMap<(AppKey, UserName), Vec<Registered>>>,
    /// Members of each room, as `Event::Room` joins and departures say (and the rooms read at
    /// start), and how many rooms each member is in. Locked before `sessions` when both are.
    rooms: Mutex<RoomIndex>,
    app_listeners: Mutex<Vec<Weak<dyn AppListener>>>,
    room_backlog: usize,
}

impl SessionRegistry {
    /// The registry of node `node` (the config's `node_id`).
    pub fn new(node: u16) -> SessionRegistry {
        SessionRegistry::with_room_backlog(node, DEFAULT_ROOM_BACKLOG)
    }

    /// A registry whose sessions hold at most `room_backlog` room metas each (config
    /// `room_backlog`).
    pub fn with_room_backlog(node: u16, room_backlog: usize) -> SessionRegistry {
        SessionRegistry {
            node,
            ids: IdGenerator::new(node),
            sessions: Mutex::new(HashMap::new()),
            rooms: Mutex::new(RoomIndex::default()),
            app_listeners: Mutex::new(Vec::new()),
            room_backlog: room_backlog.max(1),
        }
    }

    /// Users of a room this node's index holds (the node's view; the store has the truth).
    pub fn room_members(&self, app: &AppKey, room: &RoomId) -> usize {
        lock(&self.rooms)
            .members
            .get(&(app.clone(), room.clone()))
            .map_or(0, HashSet::len)
    }

    /// Whether `user` is in some room, as this node's index knows.
    pub fn in_a_room(&self, app: &AppKey, user: &UserName) -> bool {
        lock(&self.rooms)
            .rooms_of
            .contains_key(&(app.clone(), user.clone()))
    }

    /// Room metas each session holds at most.
    pub fn room_backlog(&self) -> usize {
        self.room_backlog
    }

    pub fn node(&self) -> u16 {
        self.node
    }

    /// Adds a session and returns its id and inbox, unless the user has `max_sessions` already
    /// (not counting those on the same resource, which this one replaces): checked and added
    /// under one lock, so concurrent logins cannot pass the cap together. The id is
    /// allocated under that lock too, so on this node a later registration has a larger id.
    /// Kicking an older session on the same resource is the caller's job, through the bus
    /// (`Event::Kick` with `older_than` this id), so that other nodes see it too. The cap is
    /// this node's: sessions on other nodes are not counted.
    pub fn register(
        &self,
        app: &AppKey,
        user: &UserName,
        device: LoginDevice,
        max_sessions: usize,
    ) -> Result<(SessionId, Arc<SessionInbox>), TooManySessions> {
        self.with_sessions(|sessions| {
            let list = sessions.entry((app.clone(), user.clone())).or_default();
            let others = list
                .iter()
                .filter(|session| !session.leaving && session.device.resource != device.resource)
                .count();
            if others >= max_sessions {
                if list.is_empty() {
                    sessions.remove(&(app.clone(), user.clone()));
                }
                return Err(TooManySessions { max_sessions });
            }
            for session in list.iter_mut() {
                if session.device.resource == device.resource {
                    session.leaving = true;
                }
            }
            let id = SessionId(self.ids.next(now_ms()).0);
            let inbox = Arc::new(SessionInbox {
                room_capacity: self.room_backlog,
                ..SessionInbox::default()
            });
            list.push(Registered {
                id,
                device,
                inbox: inbox.clone(),
                leaving: false,
            });
            Ok((id, inbox))
        })
    }

    pub fn unregister(&self, app: &AppKey, user: &UserName, id: SessionId) {
        self.with_sessions(|sessions| {
            let key = (app.clone(), user.clone());
            if let Some(list) = sessions.get_mut(&key) {
                list.retain(|session| session.id != id);
                if list.is_empty() {
                    sessions.remove(&key);
                }
            }
        });
    }

    /// Users of the app with at least one live session on this node (kicked ones not counted).
    pub fn online_users(&self, app: &AppKey) -> usize {
        self.with_sessions(|sessions| {
            sessions
                .iter()
                .filter(|((key, _), list)| {
                    key == app && list.iter().any(|session| !session.leaving)
                })
                .count()
        })
    }

    /// The user's live sessions on this node, oldest login first (kicked ones left out).
    pub fn devices(&self, app: &AppKey, user: &UserName) -> Vec<OnlineDevice> {
        let mut devices: Vec<OnlineDevice> = self.with_sessions(|sessions| {
            sessions
                .get(&(app.clone(), user.clone()))
                .map(|list| {
                    list.iter()
                        .filter(|session| !session.leaving)
                        .map(|session| OnlineDevice {
                            resource: session.device.resource.clone(),
                            node: session.id.node(),
                            session: session.id,
                            login_ms: session.id.login_ms(),
                            device_uuid: session.device.uuid.clone(),
                            device_name: session.device.name.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        });
        devices.sort_by_key(|device| device.session);
        devices
    }

    /// Hands an event to the sessions it addresses on this node (and an app change to the
    /// app listeners).
    pub fn deliver(&self, event: &Event) {
        let (app, user) = match event {
            Event::Notice { app, user, .. }
            | Event::Kick { app, user, .. }
            | Event::Presence { app, user, .. } => (app, user),
            Event::AppChanged { app } => {
                self.app_changed(app);
                return;
            }
            Event::Room {
                app,
                room,
                delivery,
            } => {
                self.deliver_room(event, app, room, delivery);
                return;
            }
        };
        self.with_sessions(|sessions| {
            let Some(list) = sessions.get_mut(&(app.clone(), user.clone())) else {
                return;
            };
            for session in list {
                match event {
                    Event::Notice {
                        except_resource, ..
                    } => {
                        // The sending device is not told of its own message.
                        if except_resource.as_deref() != Some(session.device.resource.as_str()) {
                            session.inbox.push(event);
                        }
                    }
                    Event::Kick {
                        resource,
                        older_than,
                        ..
                    } => {
                        let addressed = resource
                            .as_ref()
                            .is_none_or(|resource| *resource == session.device.resource)
                            && older_than.is_none_or(|newer| session.id < newer);
                        if addressed {
                            session.leaving = true;
                            session.inbox.push(event);
                        }
                    }
                    Event::Presence { .. } => {
                        if !session.leaving {
                            session.inbox.push(event);
                        }
                    }
                    Event::AppChanged { .. } | Event::Room { .. } => {}
                }
            }
        });
    }

    fn deliver_room(&self, event: &Event, app: &AppKey, room: &RoomId, delivery: &RoomDelivery) {
        let key = (app.clone(), room.clone());
        let mut rooms = lock(&self.rooms);
        match delivery {
            RoomDelivery::Joined(users) => rooms.join(app, room, users),
            RoomDelivery::Left(users) => rooms.leave(app, room, users),
            RoomDelivery::Destroyed => rooms.destroy(app, room),
            RoomDelivery::Meta { except, only, .. } => {
                let empty = HashSet::new();
                let members = rooms.members.get(&key).unwrap_or(&empty);
                let addressed: Box<dyn Iterator<Item = &UserName>> = match only {
                    Some(users) => Box::new(users.iter()),
                    None => Box::new(members.iter()),
                };
                self.with_sessions(|sessions| {
                    for user in addressed {
                        let Some(list) = sessions.get(&(app.clone(), user.clone())) else {
                            continue;
                        };
                        for session in list.iter().filter(|session| !session.leaving) {
                            let sender = except.as_ref().is_some_and(|(from, resource)| {
                                from == user && *resource == session.device.resource
                            });
                            if !sender {
                                session.inbox.push(event);
                            }
                        }
                    }
                });
            }
        }
    }

    /// See `Bus::watch_apps`.
    pub fn watch_apps(&self, listener: Weak<dyn AppListener>) {
        let mut listeners = match self.app_listeners.lock() {
            Ok(listeners) => listeners,
            Err(poisoned) => poisoned.into_inner(),
        };
        listeners.retain(|listener| listener.strong_count() > 0);
        listeners.push(listener);
    }

    fn app_changed(&self, app: &AppKey) {
        // Called outside the lock: a listener may take locks of its own.
        let listeners: Vec<Arc<dyn AppListener>> = {
            let mut listeners = match self.app_listeners.lock() {
                Ok(listeners) => listeners,
                Err(poisoned) => poisoned.into_inner(),
            };
            listeners.retain(|listener| listener.strong_count() > 0);
            listeners.iter().filter_map(Weak::upgrade).collect()
        };
        for listener in listeners {
            listener.app_changed(app);
        }
    }

    fn with_sessions<R>(
        &self,
        f: impl FnOnce(&mut HashMap<(AppKey, UserName), Vec<Registered>>) -> R,
    ) -> R {
        match self.sessions.lock() {
            Ok(mut sessions) => f(&mut sessions),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fresh() -> (Vec<conformance::BusNode>, ()) {
        let registry = Arc::new(SessionRegistry::new(5));
        let node = conformance::BusNode {
            bus: Arc::new(InProcessBus::new(registry.clone())),
            registry,
        };
        (vec![node], ())
    }

    crate::bus_conformance_tests!(fresh);

    fn names() -> (AppKey, UserName) {
        (
            AppKey::parse("o#a").unwrap(),
            UserName::parse("roy").unwrap(),
        )
    }

    #[test]
    fn a_full_room_backlog_drops_the_oldest_of_the_lowest_priority_first() {
        use RoomPriority::{High, Low, Normal};
        let meta = |text: &str| bytes::Bytes::from(text.to_owned());
        let mut backlog = RoomBacklog::default();
        for (priority, text) in [(Low, "l1"), (High, "h1"), (Normal, "n1"), (Low, "l2")] {
            backlog.push(priority, meta(text), 4);
        }
        // Full: a normal one pushes out the oldest low, then the next low.
        backlog.push(Normal, meta("n2"), 4);
        backlog.push(High, meta("h2"), 4);
        assert_eq!(backlog.dropped, 2);
        // A low one finds only higher ones: it is the one dropped.
        backlog.push(Low, meta("l3"), 4);
        assert_eq!(backlog.dropped, 3);
        // Then the oldest normal one goes.
        backlog.push(High, meta("h3"), 4);
        assert_eq!(backlog.len(), 4);
        let texts: Vec<bytes::Bytes> = backlog.take();
        assert_eq!(texts, [meta("h1"), meta("n2"), meta("h2"), meta("h3")]);
        assert_eq!(backlog.dropped, 0);
    }

    #[test]
    fn session_ids_increase_and_carry_the_node() {
        let (app, roy) = names();
        let registry = SessionRegistry::new(42);
        let (first, _) = registry
            .register(&app, &roy, LoginDevice::on("web"), 16)
            .unwrap();
        let (second, _) = registry
            .register(&app, &roy, LoginDevice::on("phone"), 16)
            .unwrap();
        assert!(first < second);
        assert_eq!((first.node(), second.node()), (42, 42));
        assert!(first.login_ms().abs_diff(now_ms()) < 60_000);
    }

    #[test]
    fn the_cap_counts_neither_replaced_sessions_nor_other_users() {
        let (app, roy) = names();
        let leo = UserName::parse("leo").unwrap();
        let registry = SessionRegistry::new(0);
        registry
            .register(&app, &roy, LoginDevice::on("web"), 2)
            .unwrap();
        registry
            .register(&app, &roy, LoginDevice::on("phone"), 2)
            .unwrap();
        assert_eq!(
            registry
                .register(&app, &roy, LoginDevice::on("pad"), 2)
                .unwrap_err(),
            TooManySessions { max_sessions: 2 }
        );
        // The same resource again replaces a session: allowed, and the old one stops counting.
        registry
            .register(&app, &roy, LoginDevice::on("web"), 2)
            .unwrap();
        registry
            .register(&app, &roy, LoginDevice::on("web"), 2)
            .unwrap();
        assert!(registry
            .register(&app, &roy, LoginDevice::on("pad"), 2)
            .is_err());
        registry
            .register(&app, &leo, LoginDevice::on("pad"), 2)
            .unwrap();
        let resources: Vec<String> = registry
            .devices(&app, &roy)
            .into_iter()
            .map(|device| device.resource)
            .collect();
        assert_eq!(resources, ["phone", "web"]);
    }

    #[test]
    fn app_listeners_are_told_until_they_are_dropped() {
        struct Count(Mutex<Vec<AppKey>>);
        impl AppListener for Count {
            fn app_changed(&self, app: &AppKey) {
                self.0.lock().unwrap().push(app.clone());
            }
        }
        let (app, _) = names();
        let registry = SessionRegistry::new(0);
        let listener = Arc::new(Count(Mutex::new(Vec::new())));
        let weak: Weak<dyn AppListener> = Arc::downgrade(&listener) as Weak<dyn AppListener>;
        registry.watch_apps(weak);
        registry.deliver(&Event::AppChanged { app: app.clone() });
        assert_eq!(*listener.0.lock().unwrap(), vec![app.clone()]);
        drop(listener);
        registry.deliver(&Event::AppChanged { app });
        assert_eq!(registry.app_listeners.lock().unwrap().len(), 0);
    }
}
