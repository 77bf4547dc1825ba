//! Identifiers with their rules encoded in the type: app keys, user names, server message ids.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// `org#app`, the SDK's `appKey`. Both halves are non-empty and contain no `#` or `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppKey {
    /// `org#app`, kept whole: every stored row and queue key names its app by this text.
    key: Box<str>,
    /// Where `#` is.
    hash: usize,
}

impl AppKey {
    pub fn new(org: &str, app: &str) -> Option<AppKey> {
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 64
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        };
        (valid(org) && valid(app)).then(|| AppKey {
            key: concat(&[org, "#", app]).into_boxed_str(),
            hash: org.len(),
        })
    }

    /// Parses the SDK's `org#app` form.
    pub fn parse(text: &str) -> Option<AppKey> {
        let (org, app) = text.split_once('#')?;
        AppKey::new(org, app)
    }

    pub fn org(&self) -> &str {
        &self.key[..self.hash]
    }

    pub fn app(&self) -> &str {
        &self.key[self.hash + 1..]
    }

    /// `org#app`.
    pub fn as_str(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

/// The parts, joined into one allocation of the right size. Keys and names are built this
/// way on every message; `format!` took ~5 % of the runtime thread there.
pub fn concat(parts: &[&str]) -> String {
    let mut text = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        text.push_str(part);
    }
    text
}

/// A user name as stored: ASCII letters lowercased, as Easemob does (user ids are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    /// Easemob's rule: 1–64 characters of `[a-z0-9_\-.]`.
    pub fn parse(text: &str) -> Option<UserName> {
        let valid = !text.is_empty()
            && text.len() <= 64
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        valid.then(|| UserName(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owner under which a group's history is kept (one history the members share): `#`
    /// is in no user's name, so it collides with no user's history.
    pub fn group_history() -> UserName {
        UserName("#".to_owned())
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A queue of metas waiting for one user, named after the peer JID
/// (`leo@easemob.com` for single chat; later `group@conference.easemob.com`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueName(String);

impl QueueName {
    pub fn single_chat(peer: &UserName) -> QueueName {
        QueueName(concat(&[peer.as_str(), "@", confab_proto::USER_DOMAIN]))
    }

    /// A group's queue: `<id>@conference.easemob.com`.
    pub fn group(group: &GroupId) -> QueueName {
        QueueName(concat(&[
            group.as_str(),
            "@",
            confab_proto::CONFERENCE_DOMAIN,
        ]))
    }

    /// A chat room's queue: `<id>@conference.easemob.com`, like a group's (the ids of both come
    /// from one generator, so they never collide; the message's type tells them apart).
    pub fn room(room: &RoomId) -> QueueName {
        QueueName(concat(&[
            room.as_str(),
            "@",
            confab_proto::CONFERENCE_DOMAIN,
        ]))
    }

    /// Rebuilds a queue name from a JID the client sent; `None` for JIDs that name no queue.
    pub fn from_jid(name: &str, domain: &str) -> Option<QueueName> {
        if name.is_empty() || domain.is_empty() || name.contains('@') {
            return None;
        }
        Some(QueueName(concat(&[name, "@", domain])))
    }

    /// Restores a name read back from storage.
    pub fn from_stored(text: String) -> QueueName {
        QueueName(text)
    }

    /// The group this queue is the conversation of, if it is a group's.
    pub fn group_id(&self) -> Option<GroupId> {
        match self.jid_parts() {
            (group, confab_proto::CONFERENCE_DOMAIN) => GroupId::parse(group),
            _ => None,
        }
    }

    /// Whether the queue names a group's conversation (well formed or not).
    pub fn is_group(&self) -> bool {
        self.jid_parts().1 == confab_proto::CONFERENCE_DOMAIN
    }

    /// `(name, domain)` for the JID that names this queue on the wire.
    pub fn jid_parts(&self) -> (&str, &str) {
        self.0.split_once('@').unwrap_or((&self.0, ""))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A log: the messages of one conversation, each appended once, in commit order. What the SDK
/// calls a queue is one device's view of a log: for leo, the log of leo and roy is the queue
/// `roy@easemob.com`, holding both directions (PROTOCOL.md §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogId {
    /// The one-to-one conversation of two users, named in order (`low < high`, or equal: a
    /// user's conversation with themself).
    Pair { low: UserName, high: UserName },
    /// A group's conversation. Who reads it is the store's to say (its members, each from
    /// when they joined, and whoever an entry is addressed to), so `members` is empty.
    Group(GroupId),
    /// A chat room's messages, kept for history and recall: nobody reads the log itself (room
    /// messages reach the members online when they are sent), so `members` is empty.
    Room(RoomId),
}

impl LogId {
    pub fn pair(a: &UserName, b: &UserName) -> LogId {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        LogId::Pair {
            low: low.clone(),
            high: high.clone(),
        }
    }

    /// The log `owner` reads as `queue`; `None` when the queue names no conversation of theirs.
    pub fn viewed_as(owner: &UserName, queue: &QueueName) -> Option<LogId> {
        match queue.jid_parts() {
            (peer, confab_proto::USER_DOMAIN) => Some(LogId::pair(owner, &UserName::parse(peer)?)),
            (group, confab_proto::CONFERENCE_DOMAIN) => Some(LogId::Group(GroupId::parse(group)?)),
            _ => None,
        }
    }

    /// The queue name `owner`'s SDK knows this log by; `None` when `owner` is not in it. A
    /// group's is the same for everyone (whether they read it is the store's to say).
    pub fn view_of(&self, owner: &UserName) -> Option<QueueName> {
        match self {
            LogId::Pair { low, high } if low == owner => Some(QueueName::single_chat(high)),
            LogId::Pair { low, high } if high == owner => Some(QueueName::single_chat(low)),
            LogId::Pair { .. } => None,
            LogId::Group(group) => Some(QueueName::group(group)),
            LogId::Room(room) => Some(QueueName::room(room)),
        }
    }

    /// Everyone who reads the log, when the log's name says it: a pair's two users. Empty for
    /// a group, whose members only the store knows.
    pub fn members(&self) -> Vec<&UserName> {
        match self {
            LogId::Pair { low, high } if low == high => vec![low],
            LogId::Pair { low, high } => vec![low, high],
            LogId::Group(_) | LogId::Room(_) => Vec::new(),
        }
    }

    /// The group whose conversation this is, if it is one.
    pub fn group(&self) -> Option<&GroupId> {
        match self {
            LogId::Group(group) => Some(group),
            LogId::Pair { .. } | LogId::Room(_) => None,
        }
    }

    /// The room whose messages this is, if it is one.
    pub fn room(&self) -> Option<&RoomId> {
        match self {
            LogId::Room(room) => Some(room),
            LogId::Pair { .. } | LogId::Group(_) => None,
        }
    }

    /// The text stores key the log by: `u:<low>:<high>` (user names hold no `:`), `g:<id>`,
    /// `r:<id>`.
    pub fn key(&self) -> String {
        match self {
            LogId::Pair { low, high } => concat(&["u:", low.as_str(), ":", high.as_str()]),
            LogId::Group(group) => concat(&["g:", group.as_str()]),
            LogId::Room(room) => concat(&["r:", room.as_str()]),
        }
    }

    /// The inverse of `key`.
    pub fn from_key(key: &str) -> Option<LogId> {
        if let Some(group) = key.strip_prefix("g:") {
            return Some(LogId::Group(GroupId::parse(group)?));
        }
        if let Some(room) = key.strip_prefix("r:") {
            return Some(LogId::Room(RoomId::parse(room)?));
        }
        let (low, high) = key.strip_prefix("u:")?.split_once(':')?;
        let (low, high) = (UserName::parse(low)?, UserName::parse(high)?);
        (low <= high).then_some(LogId::Pair { low, high })
    }
}

/// A group's id: decimal digits, as the hosted service's (`"213069296418817"`). Confab's come
/// from an `IdGenerator`, so they are unique across nodes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(String);

impl GroupId {
    /// 1–20 ASCII digits.
    pub fn parse(text: &str) -> Option<GroupId> {
        let valid =
            !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit());
        valid.then(|| GroupId(text.to_owned()))
    }

    pub fn from_id(id: MessageId) -> GroupId {
        GroupId(id.0.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A chat room's id: decimal digits, like a group's, from the same `IdGenerator`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(String);

impl RoomId {
    /// 1–20 ASCII digits.
    pub fn parse(text: &str) -> Option<RoomId> {
        let valid =
            !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit());
        valid.then(|| RoomId(text.to_owned()))
    }

    pub fn from_id(id: MessageId) -> RoomId {
        RoomId(id.0.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Server message id: `unix_ms << 22 | node << 12 | sequence`, the layout of the hosted service's
/// ids (7530261000273002496 >> 22 is its timestamp). Increasing on one node, so increasing per queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

impl MessageId {
    pub fn timestamp_ms(self) -> u64 {
        self.0 >> 22
    }
}

/// The node number reserved for imported messages (`POST /messages/users/import`): their ids
/// carry their own past timestamp, so they come from no node's sequence.
pub const IMPORT_NODE: u64 = 1023;

impl MessageId {
    /// An id for a message imported with its original timestamp; `salt` picks the sequence
    /// (the caller retries with another when the id is taken).
    pub fn imported(timestamp_ms: u64, salt: u64) -> MessageId {
        MessageId((timestamp_ms << 22) | (IMPORT_NODE << 12) | (salt & 0xfff))
    }
}

/// Allocates `MessageId`s that strictly increase, even when the clock steps back. Every id
/// carries this node's bits: when a millisecond's 4,096 sequence numbers are used up (or the
/// clock is behind the last id), the next id moves to the next millisecond instead of carrying
/// into the node bits, so two nodes never allocate the same id.
#[derive(Debug)]
pub struct IdGenerator {
    node: u64,
    last: AtomicU64,
}

/// The 12 sequence bits of an id.
const SEQUENCE_MASK: u64 = 0xfff;
/// The 10 node bits of an id.
const NODE_MASK: u64 = 0x3ff << 12;

impl IdGenerator {
    /// `node` is 0..1024; in cluster mode each node gets its own.
    pub fn new(node: u16) -> IdGenerator {
        IdGenerator {
            node: u64::from(node & 0x3ff) << 12,
            last: AtomicU64::new(0),
        }
    }

    /// Never allocates at or below `floor` (the highest id already stored, maybe by another
    /// node), so restarts keep ids increasing: the next id is in the millisecond after the
    /// floor's, with this node's bits.
    pub fn raise_floor(&self, floor: u64) {
        let own = (floor & !(NODE_MASK | SEQUENCE_MASK)) | self.node | SEQUENCE_MASK;
        self.last.fetch_max(own, Ordering::Relaxed);
    }

    pub fn next(&self, now_ms: u64) -> MessageId {
        let candidate = (now_ms << 22) | self.node;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = if candidate > last {
                candidate
            } else if last & NODE_MASK == self.node && last & SEQUENCE_MASK < SEQUENCE_MASK {
                last + 1
            } else {
                (((last >> 22) + 1) << 22) | self.node
            };
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return MessageId(next),
                Err(actual) => last = actual,
            }
        }
    }
}

/// One live connection: `unix_ms << 22 | node << 12 | sequence` like `MessageId` (and from an
/// `IdGenerator`), so ids are unique across the nodes of a cluster and over restarts, and a
/// smaller id is an earlier login (to the millisecond, across nodes with their clocks). A
/// login kicks the sessions on its resource *older than* itself (`bus::Event::Kick`), which
/// this order makes safe to decide on any node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl SessionId {
    /// When the session logged in, in epoch milliseconds.
    pub fn login_ms(self) -> u64 {
        self.0 >> 22
    }

    /// The node the session lives on.
    pub fn node(self) -> u16 {
        ((self.0 & NODE_MASK) >> 12) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_node_bits_past_a_full_millisecond_and_above_a_foreign_floor() {
        let node = |id: MessageId| (id.0 & NODE_MASK) >> 12;
        let ids = IdGenerator::new(5);
        let now = 1_800_000_000_000;
        let mut previous = ids.next(now);
        // 4,096 ids fill the millisecond; the ones after move on to the next millisecond.
        for _ in 0..10_000 {
            let id = ids.next(now);
            assert!(id.0 > previous.0);
            assert_eq!(node(id), 5, "{id:?}");
            previous = id;
        }
        assert_eq!(previous.timestamp_ms(), now + 2);
        // A floor written by node 9 in a later millisecond: above it, still node 5.
        let foreign = IdGenerator::new(9).next(now + 100);
        ids.raise_floor(foreign.0);
        let id = ids.next(now);
        assert!(id.0 > foreign.0);
        assert_eq!((node(id), id.timestamp_ms()), (5, now + 101));
        // Two nodes, one clock: never the same id.
        let other = IdGenerator::new(6);
        let mine: std::collections::HashSet<u64> = (0..5_000).map(|_| ids.next(now).0).collect();
        assert!((0..5_000).all(|_| !mine.contains(&other.next(now).0)));
    }

    #[test]
    fn session_ids_carry_their_node_and_login_time_and_order_by_login() {
        let ids = IdGenerator::new(7);
        let now = 1_800_000_000_000;
        let first = SessionId(ids.next(now).0);
        let second = SessionId(ids.next(now).0);
        let other_node = SessionId(IdGenerator::new(8).next(now + 1).0);
        assert_eq!((first.node(), first.login_ms()), (7, now));
        assert_eq!((other_node.node(), other_node.login_ms()), (8, now + 1));
        assert!(first < second && second < other_node);
    }

    #[test]
    fn usernames_are_lowercased_and_validated() {
        assert_eq!(UserName::parse("Leo").unwrap().as_str(), "leo");
        for bad in ["", "a b", "x#y", "名字", &"a".repeat(65)] {
            assert!(UserName::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn app_keys_parse() {
        let key = AppKey::parse("org1#app1").unwrap();
        assert_eq!((key.org(), key.app()), ("org1", "app1"));
        for bad in ["", "#", "org#", "#app", "noseparator", "a#b#c", "a/b#c"] {
            assert!(AppKey::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn ids_increase_even_when_the_clock_steps_back() {
        let ids = IdGenerator::new(0);
        let first = ids.next(1_795_354_127_949);
        let second = ids.next(1_795_354_127_949);
        let third = ids.next(1_000);
        assert!(first < second && second < third);
        assert_eq!(first.timestamp_ms(), 1_795_354_127_949);
        assert_eq!(first.0, 1_795_354_127_949 << 22);
    }

    #[test]
    fn queue_names_round_trip_to_jids() {
        let queue = QueueName::single_chat(&UserName::parse("leo").unwrap());
        assert_eq!(queue.as_str(), "leo@easemob.com");
        assert_eq!(queue.jid_parts(), ("leo", "easemob.com"));
        assert_eq!(QueueName::from_jid("leo", "easemob.com"), Some(queue));
        assert_eq!(QueueName::from_jid("", "easemob.com"), None);
    }
}
