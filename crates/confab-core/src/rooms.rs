//! Chat rooms (API-SURFACE.md section 3) over `RoomStore`: lifecycle, joining and leaving
//! (msync), members, roles, mutes, blocklist, allowlist, the announcement, shared files and
//! room attributes.
//!
//! Unlike a group's, a room's messages and events are not kept for its members: they reach the
//! sessions of the members online when they happen, pushed through the bus (`Event::Room`,
//! which each node hands to its sessions through the registry's index of room members), and a
//! session that cannot keep up drops the lowest priority first (`bus::RoomBacklog`). A message
//! is still stored once (the room's log, `LogId::Room`) before its sender's ack, for history and
//! recall. A member whose last connection dropped is removed after `RoomLimits::absence_grace`
//! (`sweep_absent`), as the hosted service removes them after 5 minutes.

mod delivery;
mod events;

use std::sync::Arc;
use std::time::Duration;

use confab_proto::pb::muc_body::Operation;
use serde_json::{json, Map, Value};

use crate::{
    bus::{Bus, BusError, Event, RoomDelivery, RoomPriority},
    groups::{
        check_texts, check_user_count, GroupCaller as Caller, MAX_ANNOUNCEMENT_CHARS,
        UNTIL_UNMUTED_MS,
    },
    ids::{AppKey, IdGenerator, MessageId, RoomId, UserName},
    now_ms,
    presence::Presence,
    store::{
        AttributeChange, AttributeLimits, AttributeRefusal, Room, RoomAttribute, RoomChange,
        RoomMember, RoomOutcome, RoomQuota, RoomRole, RoomSettings, RoomSettingsChange, RoomStore,
        SharedFile, UserStore,
    },
    Error,
};

pub use events::RoomEvent;

/// Why a room operation was refused; each edge maps it to the hosted service's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("chat room not found")]
    NotFound,
    /// The caller (or the sender, or a user to act on) is not a member.
    #[error("user: {0} are not members of this group!")]
    NotMember(String),
    #[error("you were muted")]
    Muted,
    /// The caller's role does not allow it.
    #[error("permission denied: {0}")]
    NotAllowed(&'static str),
    /// The room is at its `max_users`.
    #[error("group member list is full!")]
    Full,
    /// More members asked for than `max_users` (or the deployment's limit) allows.
    #[error("members size is greater than max user size !")]
    TooManyMembers,
    #[error("{0} is on the room's blocklist")]
    Blocked(String),
    /// This user is in as many rooms as a user may be (`RoomLimits::max_joined_rooms`).
    #[error("user {0} has joined too many chatrooms")]
    TooManyRooms(String),
    /// The room has as many admins as it may have (`RoomLimits::max_admins`).
    #[error("chat room admin count exceeds the limit")]
    TooManyAdmins,
    /// A text or number outside its limits (the text says which).
    #[error("{0}")]
    Invalid(String),
}

/// Per-deployment limits; `confab-server` fills them from config.
#[derive(Debug, Clone, Copy)]
pub struct RoomLimits {
    /// The largest `maxusers` a room may have (config `max_room_members`).
    pub max_members: u32,
    /// Users named in one call (add, remove, mute, block).
    pub max_users_per_call: usize,
    /// Rooms one user may be in at once (config `max_joined_rooms`).
    pub max_joined_rooms: u32,
    /// Admins of one room, the owner not counted.
    pub max_admins: u32,
    /// Room attributes (config `max_room_attributes`; hosted: 100 keys, 128-byte keys,
    /// 4,096-byte values).
    pub attributes: AttributeLimits,
    /// How long a member whose last connection dropped stays in their rooms (config
    /// `room_absence_grace_secs`; hosted: 5 minutes).
    pub absence_grace: Duration,
    /// Whether members read a room's history (config `room_history`; hosted: a feature to
    /// enable, off by default). Off, history roaming of a room answers "messageroaming
    /// function not open" (the SDK's 505); messages are stored either way, for recall.
    pub history: bool,
    /// Room messages and events queued for the bus at most (the node's one delivery task);
    /// past it senders wait.
    pub delivery_queue: usize,
}

impl Default for RoomLimits {
    fn default() -> RoomLimits {
        RoomLimits {
            max_members: 10_000,
            max_users_per_call: 60,
            max_joined_rooms: 100,
            max_admins: 99,
            attributes: AttributeLimits {
                max_count: 100,
                max_key_bytes: 128,
                max_value_bytes: 4096,
            },
            absence_grace: Duration::from_secs(300),
            history: false,
            delivery_queue: 4096,
        }
    }
}

/// `maxusers` of a room created without one.
pub const DEFAULT_MAX_USERS: u32 = 200;
/// Keys one attribute call may name.
pub const MAX_ATTRIBUTES_PER_CALL: usize = 20;
/// Absent members one sweep removes at most (the next sweep goes on).
const SWEEP_BATCH: u32 = 500;

/// A room to create.
#[derive(Debug, Clone)]
pub struct NewRoom {
    pub owner: UserName,
    pub settings: RoomSettings,
    pub members: Vec<UserName>,
}

/// What `joinChatRoom` answers: the SDK reads it as `info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub room: Room,
    pub in_allowlist: bool,
    /// The member's mute end (epoch ms), if muted.
    pub muted_until_ms: Option<u64>,
}

impl Joined {
    /// `Status.chatroomInfo` of the join's answer: `{"<user>": {…}}` (PROTOCOL.md §4.10).
    pub fn chatroom_info(&self, user: &UserName) -> String {
        let info = json!({
            "is_all_mute": self.room.mute_all,
            "create_timestamp": self.room.created_ms,
            "is_in_white_list": self.in_allowlist,
            "member_count": self.room.member_count,
            "mute_duration": self.muted_until_ms.unwrap_or(0),
        });
        let mut map = Map::new();
        map.insert(user.to_string(), info);
        Value::Object(map).to_string()
    }
}

pub struct RoomService {
    store: Arc<dyn RoomStore>,
    users: Arc<dyn UserStore>,
    /// Events and messages on their way to the bus, in order (`delivery.rs`).
    outgoing: tokio::sync::mpsc::Sender<delivery::Outgoing>,
    /// Whether an absent member came back (on any node) before the grace ended.
    presence: Arc<dyn Presence>,
    /// Room ids, and the ids of the events pushed to members (not stored).
    ids: Arc<IdGenerator>,
    limits: RoomLimits,
}

impl RoomService {
    pub fn new(
        store: Arc<dyn RoomStore>,
        users: Arc<dyn UserStore>,
        (bus, presence): (Arc<dyn Bus>, Arc<dyn Presence>),
        node: u16,
        limits: RoomLimits,
    ) -> RoomService {
        let ids = Arc::new(IdGenerator::new(node));
        RoomService {
            store,
            users,
            outgoing: delivery::spawn(bus, Arc::clone(&ids), limits.delivery_queue),
            presence,
            ids,
            limits,
        }
    }

    pub fn limits(&self) -> RoomLimits {
        self.limits
    }

    fn quota(&self) -> RoomQuota {
        RoomQuota {
            max_joined_rooms: self.limits.max_joined_rooms,
            max_admins: self.limits.max_admins,
        }
    }

    /// Tells this node's index who is in every room (at start: the index follows changes
    /// from then on).
    pub async fn load_index(&self, app: &AppKey) -> Result<(), Error> {
        let mut offset = 0;
        loop {
            let (rooms, _) = self.store.list_rooms(app, offset, 100).await?;
            if rooms.is_empty() {
                return Ok(());
            }
            offset += rooms.len() as u64;
            for room in rooms {
                let members = self.store.room_member_names(app, &room.id).await?;
                if !members.is_empty() {
                    self.publish(app, &room.id, RoomDelivery::Joined(members))
                        .await?;
                }
            }
        }
    }

    fn check_settings(&self, settings: &RoomSettingsChange) -> Result<(), RoomError> {
        check_texts(
            ("name", settings.name.as_deref()),
            settings.description.as_deref(),
            settings.custom.as_deref(),
        )
        .map_err(RoomError::Invalid)?;
        if settings
            .max_users
            .is_some_and(|max| max < 1 || max > self.limits.max_members)
        {
            return Err(RoomError::TooManyMembers);
        }
        Ok(())
    }

    fn check_users(&self, users: &[UserName]) -> Result<(), RoomError> {
        check_user_count(users, self.limits.max_users_per_call).map_err(RoomError::Invalid)
    }

    async fn check_exist(&self, app: &AppKey, users: &[UserName]) -> Result<(), Error> {
        for user in users {
            if self.users.user(app, user).await?.is_none() {
                return Err(Error::UserNotFound(user.to_string()));
            }
        }
        Ok(())
    }

    async fn load(&self, app: &AppKey, id: &RoomId) -> Result<Room, Error> {
        self.store
            .room(app, id)
            .await?
            .ok_or(Error::Room(RoomError::NotFound))
    }

    /// The caller's role (`Owner` for the app itself, which may do anything; the owner is the
    /// owner even out of the room).
    async fn role(&self, caller: &Caller, room: &Room) -> Result<Option<RoomRole>, Error> {
        let Some(user) = &caller.user else {
            return Ok(Some(RoomRole::Owner));
        };
        if *user == room.owner {
            return Ok(Some(RoomRole::Owner));
        }
        Ok(self
            .store
            .room_member(&caller.app, &room.id, user, now_ms())
            .await?
            .map(|member| member.role))
    }

    /// The room; the caller must be in it (or the app, or the owner).
    async fn member(&self, caller: &Caller, id: &RoomId) -> Result<(Room, RoomRole), Error> {
        let room = self.load(&caller.app, id).await?;
        match self.role(caller, &room).await? {
            Some(role) => Ok((room, role)),
            None => Err(not_member(caller)),
        }
    }

    /// The room; the caller must be its owner or an admin (or the app).
    async fn moderator(&self, caller: &Caller, id: &RoomId) -> Result<(Room, RoomRole), Error> {
        let (room, role) = self.member(caller, id).await?;
        match role {
            RoomRole::Owner | RoomRole::Admin => Ok((room, role)),
            RoomRole::Member => Err(RoomError::NotAllowed("owner or admins only").into()),
        }
    }

    /// Who an event is from: the calling user, or for the app the room's owner.
    fn actor<'a>(caller: &'a Caller, room: &'a Room) -> (&'a UserName, &'a str) {
        match &caller.user {
            Some(user) => (user, caller.resource.as_str()),
            None => (&room.owner, ""),
        }
    }

    async fn publish(
        &self,
        app: &AppKey,
        room: &RoomId,
        delivery: RoomDelivery,
    ) -> Result<(), Error> {
        let event = Event::Room {
            app: app.clone(),
            room: room.clone(),
            delivery,
        };
        self.queue(delivery::Outgoing::Publish(event)).await
    }

    /// Queues for the bus; waits while `RoomLimits::delivery_queue` are queued.
    async fn queue(&self, outgoing: delivery::Outgoing) -> Result<(), Error> {
        self.outgoing
            .send(outgoing)
            .await
            .map_err(|_| Error::Bus(BusError::Unavailable("room delivery stopped".to_owned())))
    }

    /// A member joined (`joined`) or left: announced to the room with the others of its
    /// batch (`delivery.rs`).
    async fn announce_presence(
        &self,
        (app, room): (&AppKey, &RoomId),
        (user, resource): (&UserName, &str),
        (joined, ext, member_count): (bool, &str, u32),
    ) -> Result<(), Error> {
        self.queue(delivery::Outgoing::Presence(delivery::Presence {
            app: app.clone(),
            room: room.clone(),
            user: user.clone(),
            resource: resource.to_owned(),
            joined,
            ext: ext.to_owned(),
            member_count,
        }))
        .await
    }

    /// Pushes `event` to the members online (or to `only`), except the acting device.
    async fn tell(&self, event: RoomEvent<'_>, only: Option<Vec<UserName>>) -> Result<(), Error> {
        let (app, room) = (event.app.clone(), event.room.clone());
        let except = Some((event.from.0.clone(), event.from.1.to_owned()));
        let meta = event.encode(event_id(self.ids.next(now_ms())));
        self.publish(
            &app,
            &room,
            RoomDelivery::Meta {
                meta,
                // Events are never dropped before messages.
                priority: RoomPriority::High,
                except,
                only,
            },
        )
        .await
    }

    /// Pushes one event about each of `users` to that user alone (the SDK's declarations:
    /// "only the person who is set to administrator can receive this event", and so on).
    async fn tell_each(
        &self,
        caller: &Caller,
        room: &Room,
        operation: Operation,
        users: &[UserName],
    ) -> Result<(), Error> {
        for user in users {
            let event = RoomEvent::new(&caller.app, &room.id, operation, Self::actor(caller, room))
                .to(std::slice::from_ref(user));
            self.tell(event, Some(vec![user.clone()])).await?;
        }
        Ok(())
    }

    /// Pushes a stored room message (its downlink meta) to the members online, except the
    /// sending device.
    pub async fn deliver(
        &self,
        app: &AppKey,
        room: &RoomId,
        meta: bytes::Bytes,
        priority: RoomPriority,
        sender: (&UserName, &str),
    ) -> Result<(), Error> {
        self.publish(
            app,
            room,
            RoomDelivery::Meta {
                meta,
                priority,
                except: Some((sender.0.clone(), sender.1.to_owned())),
                only: None,
            },
        )
        .await
    }

    /// Whether a room has this id.
    pub async fn exists(&self, app: &AppKey, id: &RoomId) -> Result<bool, Error> {
        Ok(self.store.room(app, id).await?.is_some())
    }

    /// `user` may send to the room now: it exists, they are in it, not muted, and not silenced
    /// by a mute of all (unless owner, admin or allowlisted).
    pub async fn check_sender(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
    ) -> Result<(), Error> {
        let room = self.load(app, id).await?;
        let Some(member) = self.store.room_member(app, id, user, now_ms()).await? else {
            return Err(RoomError::NotMember(user.to_string()).into());
        };
        if member.muted_until_ms.is_some() {
            return Err(RoomError::Muted.into());
        }
        if room.mute_all && member.role == RoomRole::Member {
            let allowed = self.store.room_allowlist(app, id).await?;
            if !allowed.contains(user) {
                return Err(RoomError::Muted.into());
            }
        }
        Ok(())
    }

    /// `user` may read the room's history (and remove from it, for themselves): room history
    /// is on, the room exists and they are in it.
    pub async fn check_history_reader(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
    ) -> Result<(), Error> {
        if !self.limits.history {
            return Err(Error::Forbidden(
                "messageroaming function not open".to_owned(),
            ));
        }
        self.check_member(app, id, user).await
    }

    /// `user` is in the room: it exists and they are in it.
    pub async fn check_member(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
    ) -> Result<(), Error> {
        self.load(app, id).await?;
        match self.store.room_member(app, id, user, now_ms()).await? {
            Some(_) => Ok(()),
            None => Err(RoomError::NotMember(user.to_string()).into()),
        }
    }

    /// Whether `user` owns the room or moderates it (recall of another member's message).
    pub async fn is_moderator(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
    ) -> Result<bool, Error> {
        let room = self.load(app, id).await?;
        if room.owner == *user {
            return Ok(true);
        }
        Ok(self
            .store
            .room_member(app, id, user, now_ms())
            .await?
            .is_some_and(|member| member.role == RoomRole::Admin))
    }

    /// `createChatRoom` (a user's token creates their own room; an app token names any owner).
    pub async fn create(&self, caller: &Caller, new: NewRoom) -> Result<Room, Error> {
        if caller.user.as_ref().is_some_and(|user| *user != new.owner) {
            return Err(RoomError::NotAllowed("a room is created by its owner").into());
        }
        let settings = &new.settings;
        self.check_settings(&RoomSettingsChange {
            name: Some(settings.name.clone()),
            description: Some(settings.description.clone()),
            max_users: Some(settings.max_users),
            custom: Some(settings.custom.clone()),
        })?;
        if settings.name.trim().is_empty() {
            return Err(RoomError::Invalid("name is empty".to_owned()).into());
        }
        if new.members.len() > self.limits.max_members as usize {
            return Err(RoomError::TooManyMembers.into());
        }
        let now = now_ms();
        let room = Room {
            id: RoomId::from_id(self.ids.next(now)),
            owner: new.owner.clone(),
            settings: new.settings.clone(),
            created_ms: now,
            member_count: 0,
            mute_all: false,
            announcement: String::new(),
        };
        match self
            .store
            .create_room(&caller.app, &room, &new.members, self.quota())
            .await?
        {
            RoomOutcome::Done(()) => {}
            RoomOutcome::Full => return Err(RoomError::TooManyMembers.into()),
            other => return Err(refused(other)),
        }
        let mut members = new.members.clone();
        members.push(new.owner.clone());
        members.sort();
        members.dedup();
        self.publish(&caller.app, &room.id, RoomDelivery::Joined(members))
            .await?;
        self.load(&caller.app, &room.id).await
    }

    /// `destroyChatRoom`: the owner (or the app). The members online hear `destroy`.
    pub async fn destroy(&self, caller: &Caller, id: &RoomId) -> Result<(), Error> {
        let room = self.load(&caller.app, id).await?;
        if caller.user.as_ref().is_some_and(|user| *user != room.owner) {
            return Err(RoomError::NotAllowed("owner only").into());
        }
        let Some(members) = self.store.delete_room(&caller.app, id).await? else {
            return Err(RoomError::NotFound.into());
        };
        let from = Self::actor(caller, &room);
        let event =
            RoomEvent::new(&caller.app, id, Operation::Destroy, from).muc_name(&room.settings.name);
        self.tell(event, Some(members)).await?;
        self.publish(&caller.app, id, RoomDelivery::Destroyed).await
    }

    pub async fn room(&self, app: &AppKey, id: &RoomId) -> Result<Room, Error> {
        self.load(app, id).await
    }

    /// `limit` rooms from `offset`, and how many there are.
    pub async fn list(
        &self,
        app: &AppKey,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<Room>, u64), Error> {
        Ok(self.store.list_rooms(app, offset, limit).await?)
    }

    /// `getJoinedChatRooms`.
    pub async fn joined(
        &self,
        app: &AppKey,
        user: &UserName,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Room>, Error> {
        Ok(self.store.joined_rooms(app, user, offset, limit).await?)
    }

    /// `modifyChatRoom`: the owner or an admin; the members online hear `updateInfo`.
    pub async fn modify(
        &self,
        caller: &Caller,
        id: &RoomId,
        change: RoomSettingsChange,
    ) -> Result<Room, Error> {
        self.check_settings(&change)?;
        let (room, _) = self.moderator(caller, id).await?;
        let updated = self
            .change(&caller.app, id, RoomChange::Settings(change))
            .await?;
        let from = Self::actor(caller, &room);
        self.tell(
            RoomEvent::new(&caller.app, id, Operation::Update, from),
            None,
        )
        .await?;
        Ok(updated)
    }

    async fn change(&self, app: &AppKey, id: &RoomId, change: RoomChange) -> Result<Room, Error> {
        match self.store.change_room(app, id, &change).await? {
            RoomOutcome::Done(room) => Ok(room),
            RoomOutcome::Full => Err(RoomError::TooManyMembers.into()),
            other => Err(refused(other)),
        }
    }

    /// `joinChatRoom` over msync, from `user`'s device `resource`; with `leave_others`, out
    /// of every other room first. The members online hear `memberPresence` with `ext`.
    pub async fn join(
        &self,
        (app, user, resource): (&AppKey, &UserName, &str),
        id: &RoomId,
        ext: &str,
        leave_others: bool,
    ) -> Result<Joined, Error> {
        self.load(app, id).await?;
        if leave_others {
            let others = self
                .store
                .joined_rooms(app, user, 0, self.limits.max_joined_rooms)
                .await?;
            for other in others.iter().filter(|other| other.id != *id) {
                self.depart(app, &other.id, std::slice::from_ref(user))
                    .await?;
            }
        }
        let added = match self
            .store
            .add_room_members(app, id, std::slice::from_ref(user), now_ms(), self.quota())
            .await?
        {
            RoomOutcome::Done(added) => added,
            other => return Err(refused(other)),
        };
        let room = self.load(app, id).await?;
        if !added.is_empty() {
            self.publish(app, id, RoomDelivery::Joined(added)).await?;
            self.announce_presence((app, id), (user, resource), (true, ext, room.member_count))
                .await?;
        }
        let member = self.store.room_member(app, id, user, now_ms()).await?;
        let in_allowlist = self.store.room_allowlist(app, id).await?.contains(user);
        Ok(Joined {
            room,
            in_allowlist,
            muted_until_ms: member.and_then(|member| member.muted_until_ms),
        })
    }

    /// `leaveChatRoom` over msync. Leaving a room one is not in is not an error (the SDK's
    /// leave after a removal).
    pub async fn leave(&self, app: &AppKey, user: &UserName, id: &RoomId) -> Result<(), Error> {
        self.load(app, id).await?;
        self.depart(app, id, std::slice::from_ref(user)).await
    }

    /// Removes `users`; the members left online hear `memberAbsence` for each, and of the
    /// attributes that went with them.
    async fn depart(&self, app: &AppKey, id: &RoomId, users: &[UserName]) -> Result<(), Error> {
        let departed = match self.store.remove_room_members(app, id, users).await? {
            RoomOutcome::Done(departed) => departed,
            RoomOutcome::NoRoom => return Ok(()),
            other => return Err(refused(other)),
        };
        if departed.is_empty() {
            return Ok(());
        }
        let left: Vec<UserName> = departed.iter().map(|gone| gone.user.clone()).collect();
        self.publish(app, id, RoomDelivery::Left(left)).await?;
        let count = self
            .store
            .room(app, id)
            .await?
            .map_or(0, |room| room.member_count);
        for gone in &departed {
            self.announce_presence((app, id), (&gone.user, ""), (false, "", count))
                .await?;
            if !gone.attributes_removed.is_empty() {
                let event = RoomEvent::new(app, id, Operation::DeleteMetadata, (&gone.user, ""))
                    .event_ext(attributes_ext(&gone.attributes_removed, None));
                self.tell(event, None).await?;
            }
        }
        Ok(())
    }

    /// The last session of `user` on this node ended (the gateway asks only for users in a
    /// room): their rooms count them absent from now. Should they be online elsewhere, or come
    /// back, the sweep finds them online and keeps them.
    pub async fn user_went_offline(&self, app: &AppKey, user: &UserName) -> Result<(), Error> {
        Ok(self
            .store
            .mark_room_absence(app, user, Some(now_ms()))
            .await?)
    }

    /// Removes the members absent for longer than the grace (a batch) and returns how many;
    /// those online again (on any node) only lose their mark. A login writes nothing for
    /// rooms: the sweep asks the `Presence` port instead.
    pub async fn sweep_absent(&self) -> Result<usize, Error> {
        let grace = u64::try_from(self.limits.absence_grace.as_millis()).unwrap_or(u64::MAX);
        let before = now_ms().saturating_sub(grace);
        let absent = self.store.absent_room_members(before, SWEEP_BATCH).await?;
        let mut removed = 0;
        for member in &absent {
            if self.presence.is_online(&member.app, &member.user).await? {
                self.store
                    .mark_room_absence(&member.app, &member.user, None)
                    .await?;
                continue;
            }
            self.depart(
                &member.app,
                &member.room,
                std::slice::from_ref(&member.user),
            )
            .await?;
            removed += 1;
        }
        Ok(removed)
    }

    /// `getChatRoomMembers` / `listChatRoomMembers`: any member (or the app).
    pub async fn members(
        &self,
        caller: &Caller,
        id: &RoomId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<RoomMember>, Error> {
        self.member(caller, id).await?;
        Ok(self
            .store
            .room_members(&caller.app, id, now_ms(), offset, limit)
            .await?)
    }

    /// `addUsersToChatRoom` (owner, admins or the app): added as if they joined.
    pub async fn add_members(
        &self,
        caller: &Caller,
        id: &RoomId,
        users: &[UserName],
    ) -> Result<Vec<UserName>, Error> {
        self.check_users(users)?;
        self.moderator(caller, id).await?;
        self.check_exist(&caller.app, users).await?;
        let added = match self
            .store
            .add_room_members(&caller.app, id, users, now_ms(), self.quota())
            .await?
        {
            RoomOutcome::Done(added) => added,
            other => return Err(refused(other)),
        };
        if !added.is_empty() {
            self.publish(&caller.app, id, RoomDelivery::Joined(added.clone()))
                .await?;
            let count = self.load(&caller.app, id).await?.member_count;
            for user in &added {
                self.announce_presence((&caller.app, id), (user, ""), (true, "", count))
                    .await?;
            }
        }
        Ok(added)
    }

    /// `removeChatRoomMember(s)` (owner, admins or the app; an admin removes plain members
    /// only): each removed user hears `removeMember`, the others `memberAbsence`.
    pub async fn remove_members(
        &self,
        caller: &Caller,
        id: &RoomId,
        users: &[UserName],
    ) -> Result<Vec<UserName>, Error> {
        self.check_users(users)?;
        let (room, role) = self.moderator(caller, id).await?;
        for user in users {
            self.check_target(&caller.app, &room, role, user).await?;
        }
        let members = self.present(&caller.app, id, users).await?;
        let from = Self::actor(caller, &room);
        if !members.is_empty() {
            let event = RoomEvent::new(&caller.app, id, Operation::Kick, from);
            self.tell(event, Some(members.clone())).await?;
            self.depart(&caller.app, id, &members).await?;
        }
        Ok(members)
    }

    /// Those of `users` who are members.
    async fn present(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
    ) -> Result<Vec<UserName>, Error> {
        let mut present = Vec::new();
        for user in users {
            if self
                .store
                .room_member(app, id, user, now_ms())
                .await?
                .is_some()
            {
                present.push(user.clone());
            }
        }
        Ok(present)
    }

    /// An admin acts on plain members only; nobody acts on the owner.
    async fn check_target(
        &self,
        app: &AppKey,
        room: &Room,
        role: RoomRole,
        user: &UserName,
    ) -> Result<(), Error> {
        if *user == room.owner {
            return Err(RoomError::NotAllowed("not on the owner").into());
        }
        if role == RoomRole::Admin {
            let target = self
                .store
                .room_member(app, &room.id, user, now_ms())
                .await?;
            if target.is_some_and(|member| member.role == RoomRole::Admin) {
                return Err(RoomError::NotAllowed("an admin acts on members only").into());
            }
        }
        Ok(())
    }

    /// `getChatRoomAdmin`: any member.
    pub async fn admins(&self, caller: &Caller, id: &RoomId) -> Result<Vec<UserName>, Error> {
        let (room, _) = self.member(caller, id).await?;
        let members = self
            .store
            .room_members(&caller.app, id, now_ms(), 0, room.member_count.max(1))
            .await?;
        Ok(members
            .into_iter()
            .filter(|member| member.role == RoomRole::Admin)
            .map(|member| member.user)
            .collect())
    }

    /// `setChatRoomAdmin` / `removeChatRoomAdmin`: the owner (or the app). The user, if
    /// online, hears `setAdmin` / `removeAdmin`.
    pub async fn set_admin(
        &self,
        caller: &Caller,
        id: &RoomId,
        user: &UserName,
        admin: bool,
    ) -> Result<(), Error> {
        let (room, role) = self.member(caller, id).await?;
        if role != RoomRole::Owner {
            return Err(RoomError::NotAllowed("owner only").into());
        }
        self.check_exist(&caller.app, std::slice::from_ref(user))
            .await?;
        match self
            .store
            .set_room_admin(&caller.app, id, user, admin, self.quota())
            .await?
        {
            RoomOutcome::Done(_) => {}
            other => return Err(refused(other)),
        }
        let operation = if admin {
            Operation::AddAdmin
        } else {
            Operation::RemoveAdmin
        };
        self.tell_each(caller, &room, operation, std::slice::from_ref(user))
            .await
    }

    /// `muteChatRoomMember` (duration in ms, -1 for ever) / `unmuteChatRoomMember`: owner
    /// and admins. Each user concerned, if online, hears `muteMember` (with `muteTimestamp`) /
    /// `unmuteMember`.
    pub async fn mute(
        &self,
        caller: &Caller,
        id: &RoomId,
        users: &[UserName],
        duration_ms: Option<i64>,
    ) -> Result<(Vec<UserName>, u64), Error> {
        self.check_users(users)?;
        let (room, role) = self.moderator(caller, id).await?;
        for user in users {
            self.check_target(&caller.app, &room, role, user).await?;
        }
        let until = match duration_ms {
            None => None,
            Some(-1) => Some(UNTIL_UNMUTED_MS),
            Some(ms) if ms > 0 => Some(now_ms().saturating_add(ms as u64)),
            Some(ms) => {
                return Err(RoomError::Invalid(format!("invalid mute_duration {ms}")).into())
            }
        };
        let muted = match self
            .store
            .mute_room_members(&caller.app, id, users, until)
            .await?
        {
            RoomOutcome::Done(muted) => muted,
            other => return Err(refused(other)),
        };
        if muted.is_empty() {
            return Err(RoomError::NotMember(users[0].to_string()).into());
        }
        let operation = if until.is_some() {
            Operation::AddMute
        } else {
            Operation::RemoveMute
        };
        for user in &muted {
            let mut event = RoomEvent::new(&caller.app, id, operation, Self::actor(caller, &room))
                .to(std::slice::from_ref(user));
            if let Some(until) = until {
                event = event.ext(&json!({ "user_mute_time": until }).to_string());
            }
            self.tell(event, Some(vec![user.clone()])).await?;
        }
        Ok((muted, until.unwrap_or(0)))
    }

    /// The muted members with their mute end (owner and admins).
    pub async fn mutes(&self, caller: &Caller, id: &RoomId) -> Result<Vec<RoomMember>, Error> {
        let (room, _) = self.moderator(caller, id).await?;
        let members = self
            .store
            .room_members(&caller.app, id, now_ms(), 0, room.member_count.max(1))
            .await?;
        Ok(members
            .into_iter()
            .filter(|member| member.muted_until_ms.is_some())
            .collect())
    }

    /// `isInChatRoomMutelist`: the caller's own mute end, if muted.
    pub async fn own_mute(&self, caller: &Caller, id: &RoomId) -> Result<Option<u64>, Error> {
        self.load(&caller.app, id).await?;
        let Some(user) = &caller.user else {
            return Ok(None);
        };
        Ok(self
            .store
            .room_member(&caller.app, id, user, now_ms())
            .await?
            .and_then(|member| member.muted_until_ms))
    }

    /// `disableSendChatRoomMsg` / `enableSendChatRoomMsg`.
    pub async fn mute_all(&self, caller: &Caller, id: &RoomId, mute: bool) -> Result<(), Error> {
        let (room, _) = self.moderator(caller, id).await?;
        self.change(&caller.app, id, RoomChange::MuteAll(mute))
            .await?;
        let operation = if mute {
            Operation::BanGroup
        } else {
            Operation::RemoveBanGroup
        };
        let event = RoomEvent::new(&caller.app, id, operation, Self::actor(caller, &room));
        self.tell(event, None).await
    }

    /// Block (they leave the room and may not join again: each hears `removeMember`, the
    /// members online `memberAbsence` and of their auto-delete attributes going) or unblock
    /// users (each, if online, hears `unblockMember`).
    pub async fn block(
        &self,
        caller: &Caller,
        id: &RoomId,
        users: &[UserName],
        block: bool,
    ) -> Result<Vec<UserName>, Error> {
        self.check_users(users)?;
        let (room, role) = self.moderator(caller, id).await?;
        self.check_exist(&caller.app, users).await?;
        if block {
            for user in users {
                self.check_target(&caller.app, &room, role, user).await?;
            }
        }
        let members = if block {
            self.present(&caller.app, id, users).await?
        } else {
            Vec::new()
        };
        // The store removes the auto-delete attributes of those it blocks out of the room
        // without saying which: read them first, to announce them as a departure does.
        let attributes_removed = self
            .auto_delete_attributes(&caller.app, id, &members)
            .await?;
        let changed = match self
            .store
            .change_room_blocks(&caller.app, id, users, block)
            .await?
        {
            RoomOutcome::Done(changed) => changed,
            other => return Err(refused(other)),
        };
        let from = Self::actor(caller, &room);
        if !members.is_empty() {
            self.publish(&caller.app, id, RoomDelivery::Left(members.clone()))
                .await?;
            let event = RoomEvent::new(&caller.app, id, Operation::Kick, from);
            self.tell(event, Some(members.clone())).await?;
            let count = self.load(&caller.app, id).await?.member_count;
            for user in &members {
                self.announce_presence((&caller.app, id), (user, ""), (false, "", count))
                    .await?;
                let keys: Vec<String> = attributes_removed
                    .iter()
                    .filter(|attribute| attribute.owner == *user)
                    .map(|attribute| attribute.key.clone())
                    .collect();
                if !keys.is_empty() {
                    let event =
                        RoomEvent::new(&caller.app, id, Operation::DeleteMetadata, (user, ""))
                            .event_ext(attributes_ext(&keys, None));
                    self.tell(event, None).await?;
                }
            }
        }
        if !block {
            self.tell_each(caller, &room, Operation::Allow, &changed)
                .await?;
        }
        Ok(changed)
    }

    /// The attributes `members` set with auto-delete, which go when they leave the room.
    async fn auto_delete_attributes(
        &self,
        app: &AppKey,
        id: &RoomId,
        members: &[UserName],
    ) -> Result<Vec<RoomAttribute>, Error> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let attributes = self.store.room_attributes(app, id, &[]).await?;
        Ok(attributes
            .into_iter()
            .filter(|attribute| attribute.auto_delete && members.contains(&attribute.owner))
            .collect())
    }

    /// The blocklist (owner and admins).
    pub async fn blocked(&self, caller: &Caller, id: &RoomId) -> Result<Vec<UserName>, Error> {
        self.moderator(caller, id).await?;
        Ok(self.store.room_blocks(&caller.app, id).await?)
    }

    /// Allowlist add / remove (owner and admins); added users must be members. Each user
    /// concerned, if online, hears `addUserToAllowlist` / `removeAllowlistMember`.
    pub async fn allow(
        &self,
        caller: &Caller,
        id: &RoomId,
        users: &[UserName],
        add: bool,
    ) -> Result<Vec<UserName>, Error> {
        self.check_users(users)?;
        let (room, _) = self.moderator(caller, id).await?;
        self.check_exist(&caller.app, users).await?;
        if add {
            let present = self.present(&caller.app, id, users).await?;
            if let Some(absent) = users.iter().find(|user| !present.contains(user)) {
                return Err(RoomError::NotMember(absent.to_string()).into());
            }
        }
        let changed = match self
            .store
            .change_room_allowlist(&caller.app, id, users, add)
            .await?
        {
            RoomOutcome::Done(changed) => changed,
            other => return Err(refused(other)),
        };
        let operation = if add {
            Operation::AddUserWhiteList
        } else {
            Operation::RemoveUserWhiteList
        };
        self.tell_each(caller, &room, operation, &changed).await?;
        Ok(changed)
    }

    /// The allowlist (owner and admins).
    pub async fn allowlist(&self, caller: &Caller, id: &RoomId) -> Result<Vec<UserName>, Error> {
        self.moderator(caller, id).await?;
        Ok(self.store.room_allowlist(&caller.app, id).await?)
    }

    /// Whether `user` is on the allowlist (any member asks).
    pub async fn allowlisted(
        &self,
        caller: &Caller,
        id: &RoomId,
        user: &UserName,
    ) -> Result<bool, Error> {
        self.member(caller, id).await?;
        Ok(self
            .store
            .room_allowlist(&caller.app, id)
            .await?
            .contains(user))
    }

    /// `fetchChatRoomAnnouncement`: any member.
    pub async fn announcement(&self, caller: &Caller, id: &RoomId) -> Result<String, Error> {
        let (room, _) = self.member(caller, id).await?;
        Ok(room.announcement)
    }

    /// `updateChatRoomAnnouncement`: owner and admins; the members online hear
    /// `updateAnnouncement`.
    pub async fn set_announcement(
        &self,
        caller: &Caller,
        id: &RoomId,
        text: &str,
    ) -> Result<(), Error> {
        if text.chars().count() > MAX_ANNOUNCEMENT_CHARS {
            return Err(RoomError::Invalid(format!(
                "announcement is longer than {MAX_ANNOUNCEMENT_CHARS} characters"
            ))
            .into());
        }
        let (room, _) = self.moderator(caller, id).await?;
        self.change(&caller.app, id, RoomChange::Announcement(text.to_owned()))
            .await?;
        let event = RoomEvent::new(
            &caller.app,
            id,
            Operation::UpdateAnnouncement,
            Self::actor(caller, &room),
        )
        .reason(text);
        self.tell(event, None).await
    }

    /// Who may share files in the room: a member (or the app, whose files are the owner's).
    /// Checked before an upload is read; answers the name the file is shared under.
    pub async fn check_sharer(&self, caller: &Caller, id: &RoomId) -> Result<UserName, Error> {
        let (room, _) = self.member(caller, id).await?;
        Ok(Self::actor(caller, &room).0.clone())
    }

    /// `uploadChatRoomSharedFile`, once its bytes are stored: the members online hear
    /// `uploadFile`.
    pub async fn share_file(
        &self,
        caller: &Caller,
        id: &RoomId,
        file: &SharedFile,
    ) -> Result<(), Error> {
        let (room, _) = self.member(caller, id).await?;
        match self.store.add_room_file(&caller.app, id, file).await? {
            RoomOutcome::Done(()) => {}
            other => return Err(refused(other)),
        }
        let event = RoomEvent::new(
            &caller.app,
            id,
            Operation::UploadFile,
            Self::actor(caller, &room),
        )
        .reason(&file.name);
        self.tell(event, None).await
    }

    /// `fetchChatRoomSharedFileList`: any member; the latest shared first.
    pub async fn files(
        &self,
        caller: &Caller,
        id: &RoomId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<SharedFile>, Error> {
        self.member(caller, id).await?;
        Ok(self
            .store
            .room_files(&caller.app, id, offset, limit)
            .await?)
    }

    /// `deleteChatRoomSharedFile`: the member who shared it, the owner or an admin; the
    /// members online hear `deleteFile`. False when the room has no such file.
    pub async fn remove_file(
        &self,
        caller: &Caller,
        id: &RoomId,
        file: &str,
    ) -> Result<bool, Error> {
        let (room, role) = self.member(caller, id).await?;
        let Some(shared) = self.store.room_file(&caller.app, id, file).await? else {
            return Ok(false);
        };
        if role == RoomRole::Member && caller.user.as_ref() != Some(&shared.owner) {
            return Err(RoomError::NotAllowed("the file's owner, the owner or admins only").into());
        }
        if !self.store.remove_room_file(&caller.app, id, file).await? {
            return Ok(false);
        }
        let event = RoomEvent::new(
            &caller.app,
            id,
            Operation::DeleteFile,
            Self::actor(caller, &room),
        )
        .reason(&shared.name);
        self.tell(event, None).await?;
        Ok(true)
    }

    /// `getChatRoomAttributes`: any member.
    pub async fn attributes(
        &self,
        caller: &Caller,
        id: &RoomId,
        keys: &[String],
    ) -> Result<Vec<RoomAttribute>, Error> {
        self.member(caller, id).await?;
        Ok(self.store.room_attributes(&caller.app, id, keys).await?)
    }

    /// `setChatRoomAttribute(s)` as the calling member (`forced` takes over others' keys);
    /// the members online hear `updateChatRoomAttributes` when any key was set.
    pub async fn set_attributes(
        &self,
        caller: &Caller,
        id: &RoomId,
        attributes: &[(String, String)],
        (forced, auto_delete): (bool, bool),
    ) -> Result<AttributeChange, Error> {
        if attributes.is_empty() || attributes.len() > MAX_ATTRIBUTES_PER_CALL {
            return Err(RoomError::Invalid(format!(
                "name 1 to {MAX_ATTRIBUTES_PER_CALL} attributes"
            ))
            .into());
        }
        let Some(user) = caller.user.clone() else {
            return Err(RoomError::NotAllowed("attributes are set by a member").into());
        };
        self.load(&caller.app, id).await?;
        // The store refuses empty and long keys; the hosted service also keys outside its
        // character set, which never reach the store (nor count towards the room's limit).
        let (legal, illegal): (Vec<_>, Vec<_>) = attributes
            .iter()
            .cloned()
            .partition(|(key, _)| is_legal_key(key));
        let mut change = match self
            .store
            .set_room_attributes(
                &caller.app,
                id,
                &user,
                &legal,
                (forced, auto_delete),
                self.limits.attributes,
            )
            .await?
        {
            RoomOutcome::Done(change) => change,
            other => return Err(refused(other)),
        };
        change.refused.extend(
            illegal
                .into_iter()
                .map(|(key, _)| (key, AttributeRefusal::Illegal)),
        );
        if !change.done.is_empty() {
            let set: Map<String, Value> = attributes
                .iter()
                .filter(|(key, _)| change.done.contains(key))
                .map(|(key, value)| (key.clone(), Value::String(value.clone())))
                .collect();
            let event = RoomEvent::new(
                &caller.app,
                id,
                Operation::SetMetadata,
                (&user, caller.resource.as_str()),
            )
            .event_ext(attributes_ext(&change.done, Some(set)));
            self.tell(event, None).await?;
        }
        Ok(change)
    }

    /// `removeChatRoomAttribute(s)`; the members online hear `removeChatRoomAttributes`.
    pub async fn remove_attributes(
        &self,
        caller: &Caller,
        id: &RoomId,
        keys: &[String],
        forced: bool,
    ) -> Result<AttributeChange, Error> {
        if keys.is_empty() || keys.len() > MAX_ATTRIBUTES_PER_CALL {
            return Err(RoomError::Invalid(format!(
                "name 1 to {MAX_ATTRIBUTES_PER_CALL} attributes"
            ))
            .into());
        }
        let Some(user) = caller.user.clone() else {
            return Err(RoomError::NotAllowed("attributes are removed by a member").into());
        };
        self.load(&caller.app, id).await?;
        let change = match self
            .store
            .remove_room_attributes(&caller.app, id, &user, keys, forced)
            .await?
        {
            RoomOutcome::Done(change) => change,
            other => return Err(refused(other)),
        };
        if !change.done.is_empty() {
            let event = RoomEvent::new(
                &caller.app,
                id,
                Operation::DeleteMetadata,
                (&user, caller.resource.as_str()),
            )
            .event_ext(attributes_ext(&change.done, None));
            self.tell(event, None).await?;
        }
        Ok(change)
    }
}

/// The hosted texts of refused attribute keys (API-SURFACE §Details 7), as the SDK matches them.
pub fn refusal_text(key: &str, refusal: AttributeRefusal) -> String {
    match refusal {
        AttributeRefusal::NotYours => format!("The key {key} is not part of you"),
        AttributeRefusal::TooMany => {
            format!("The key {key} is exceeding maximum limit")
        }
        AttributeRefusal::Illegal => format!("The key {key} is not Legal"),
        AttributeRefusal::Missing => format!("The key {key} does not exist"),
    }
}

/// A room attribute key as the hosted service takes it: ASCII letters, digits, `_`, `-`
/// and `.` (its length is the store's to check).
fn is_legal_key(key: &str) -> bool {
    key.bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'))
}

/// `eventInfo.ext` of an attributes event: `{result: {successKeys}, properties}`.
fn attributes_ext(keys: &[String], properties: Option<Map<String, Value>>) -> String {
    json!({
        "result": { "successKeys": keys },
        "properties": properties.map(Value::Object).unwrap_or_else(|| json!({})),
    })
    .to_string()
}

fn not_member(caller: &Caller) -> Error {
    let name = caller.user.as_ref().map(UserName::as_str).unwrap_or("");
    RoomError::NotMember(name.to_owned()).into()
}

/// A store outcome the operation did not expect, as the error it means.
fn refused<T>(outcome: RoomOutcome<T>) -> Error {
    match outcome {
        RoomOutcome::Done(_) | RoomOutcome::NoRoom => RoomError::NotFound.into(),
        RoomOutcome::NotMember(user) => RoomError::NotMember(user.to_string()).into(),
        RoomOutcome::NoUser(user) => Error::UserNotFound(user.to_string()),
        RoomOutcome::Blocked(user) => RoomError::Blocked(user.to_string()).into(),
        RoomOutcome::Full => RoomError::Full.into(),
        RoomOutcome::TooManyRooms(user) => RoomError::TooManyRooms(user.to_string()).into(),
        RoomOutcome::TooManyAdmins => RoomError::TooManyAdmins.into(),
    }
}

/// Bit 11 of the sequence: set in the ids of room events, which are not stored. The SDK drops
/// a meta whose id it saw among its last 100, and the store numbers messages with the same
/// node bits from sequence 0 each millisecond, so without it an event and a message of the
/// same millisecond could share an id (the store would need 2,048 messages in one millisecond
/// on one node to reach this bit).
const EVENT_ID_BIT: u64 = 1 << 11;

fn event_id(id: MessageId) -> MessageId {
    MessageId(id.0 | EVENT_ID_BIT)
}

/// The priority a sender chose (`Meta.ext` `chatroom_msg_tag`: 0 high, 1 normal, 2 low).
pub fn priority_of(ext: &[confab_proto::pb::KeyValue]) -> RoomPriority {
    use confab_proto::pb::key_value::Value;
    let tag = ext
        .iter()
        .find(|pair| pair.key.as_deref() == Some("chatroom_msg_tag"))
        .and_then(|pair| match &pair.value {
            Some(Value::VarintValue(number)) => Some(*number),
            Some(Value::StringValue(text)) => text.parse().ok(),
            _ => None,
        });
    match tag {
        Some(0) => RoomPriority::High,
        Some(2) => RoomPriority::Low,
        _ => RoomPriority::Normal,
    }
}
