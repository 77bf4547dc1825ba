//! Presence as users see it (`publishPresence`, `subscribePresence`, `unsubscribePresence`,
//! `getPresenceStatus`, `getSubscribedPresenceList`, and `onPresenceStatusChange`).
//!
//! What a user published (their description, each device's status) and who subscribes to
//! whom are the store's (`PresenceStore`); whether a device is online is the `Presence`
//! port's, so a device the store still lists as online whose node died shows as offline. A
//! change (a device logs in or out, its connection drops, the user publishes) reaches the live
//! sessions of every subscriber as one `NOTIFY` per publisher, over the bus.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::{
    bus::{Bus, Event, PresenceNotice},
    ids::{AppKey, UserName},
    now_ms,
    presence::{OnlineDevice, Presence},
    store::{
        DeviceStatus, PresenceStore, PresenceSubscription, PresenceUpdate, StoreError,
        StoredPresence, SubscribeChange, UserStore,
    },
    Error,
};

/// The status of a device that is online and has published nothing else.
pub const ONLINE: &str = "1";
/// The status of a device that is not online.
pub const OFFLINE: &str = "0";
/// Longest device status an app may publish, in bytes.
const MAX_STATUS_BYTES: usize = 64;
/// Subscribers read at a time when a change is announced: a user with many costs several
/// reads, never one unbounded one.
const SUBSCRIBERS_PAGE: u32 = 1000;

/// Per-deployment limits; `confab-server` fills them from config.
#[derive(Debug, Clone, Copy)]
pub struct PresenceLimits {
    /// Live subscriptions one user may hold (config `max_presence_subscriptions`; hosted:
    /// 3,000).
    pub max_subscriptions: u32,
    /// Bytes of a published description (hosted: 64).
    pub max_ext_bytes: usize,
    /// Users one call may name (hosted: 100).
    pub max_users_per_call: usize,
    /// Longest subscription, in seconds (hosted: 30 days).
    pub max_expiry_secs: u64,
}

impl Default for PresenceLimits {
    fn default() -> PresenceLimits {
        PresenceLimits {
            max_subscriptions: 3000,
            max_ext_bytes: 64,
            max_users_per_call: 100,
            max_expiry_secs: 30 * 24 * 3600,
        }
    }
}

/// One user's presence as a caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceView {
    pub user: UserName,
    pub ext: String,
    /// When it last changed, epoch ms (0: never).
    pub changed_ms: u64,
    /// The caller's subscription to it ends then (subscribe answers and change notices).
    pub expires_ms: Option<u64>,
    /// Each device's status, online ones with what they published, others `"0"`.
    pub devices: Vec<DeviceStatus>,
}

impl PresenceView {
    /// The hosted shape: `{uid, last_time, expiry?, ext, status: {resource: status}}`, times
    /// in seconds as strings.
    pub fn to_json(&self) -> Value {
        let status: Map<String, Value> = self
            .devices
            .iter()
            .map(|device| (device.resource.clone(), json!(device.status)))
            .collect();
        let mut view = json!({
            "uid": self.user.as_str(),
            "last_time": (self.changed_ms / 1000).to_string(),
            "ext": self.ext,
            "status": status,
        });
        if let (Some(expires_ms), Some(object)) = (self.expires_ms, view.as_object_mut()) {
            object.insert("expiry".into(), json!((expires_ms / 1000).to_string()));
        }
        view
    }
}

/// The view of `user` from what was stored and who is online: a stored device is online only
/// if the port lists it; one online that the store has not caught up with is `"1"`.
fn view_of(
    user: &UserName,
    stored: Option<StoredPresence>,
    online: &[OnlineDevice],
    expires_ms: Option<u64>,
) -> PresenceView {
    // Nothing stored (no one watched the user's logins): online since the first login.
    let stored = stored.unwrap_or_else(|| StoredPresence {
        ext: String::new(),
        changed_ms: online
            .iter()
            .map(|device| device.login_ms)
            .min()
            .unwrap_or(0),
        devices: Vec::new(),
    });
    let is_online = |resource: &str| online.iter().any(|device| device.resource == resource);
    let mut devices: Vec<DeviceStatus> = stored
        .devices
        .into_iter()
        .map(|device| {
            let status = match (is_online(&device.resource), device.status.as_str()) {
                (false, _) => OFFLINE.to_owned(),
                (true, OFFLINE) => ONLINE.to_owned(),
                (true, _) => device.status,
            };
            DeviceStatus {
                resource: device.resource,
                status,
            }
        })
        .collect();
    for device in online {
        if !devices
            .iter()
            .any(|known| known.resource == device.resource)
        {
            devices.push(DeviceStatus {
                resource: device.resource.clone(),
                status: ONLINE.to_owned(),
            });
        }
    }
    PresenceView {
        user: user.clone(),
        ext: stored.ext,
        changed_ms: stored.changed_ms,
        expires_ms,
        devices,
    }
}

/// The `NOTIFY` payloads of one user's change, which differ between subscribers only in the
/// expiry of their subscription: the rest is serialized once. Compact JSON (the SDK's decoder
/// throws on bytes below 0x10, which compact `serde_json` never writes: control characters are
/// escaped).
struct NoticePayloads {
    /// The view without `expiry`, serialized, its opening brace left off: `"ext":…}`.
    rest_of_view: String,
}

impl NoticePayloads {
    fn new(view: &PresenceView) -> NoticePayloads {
        let view = PresenceView {
            expires_ms: None,
            ..view.clone()
        };
        let serialized = view.to_json().to_string();
        NoticePayloads {
            // A JSON object with fields: `{` then at least one field.
            rest_of_view: serialized.get(1..).unwrap_or("}").to_owned(),
        }
    }

    /// `{"type":"presence","data":{"values":[{"expiry":"<secs>",…view…}]}}`.
    fn for_subscription(&self, expires_ms: u64) -> bytes::Bytes {
        let expiry = expires_ms / 1000;
        bytes::Bytes::from(format!(
            "{{\"type\":\"presence\",\"data\":{{\"values\":[{{\"expiry\":\"{expiry}\",{}]}}}}",
            self.rest_of_view
        ))
    }
}

/// "Does anyone watch this user?" for the logins and logouts of a node, asked together: the
/// first asker reads for everyone waiting and goes on while more arrive, so a burst of logins
/// costs a read per batch rather than one each (the pattern of a group commit).
#[derive(Default)]
struct WatchChecks {
    waiting: std::sync::Mutex<WatchQueue>,
}

#[derive(Default)]
struct WatchQueue {
    checks: Vec<(AppKey, UserName, tokio::sync::oneshot::Sender<bool>)>,
    /// Someone is reading for the queue.
    reading: bool,
}

/// Checks answered by one read.
const WATCH_CHECKS_PER_READ: usize = 256;

impl WatchChecks {
    fn queue(&self) -> std::sync::MutexGuard<'_, WatchQueue> {
        match self.waiting.lock() {
            Ok(queue) => queue,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    async fn is_watched(
        &self,
        store: &dyn PresenceStore,
        app: &AppKey,
        user: &UserName,
    ) -> Result<bool, Error> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let lead = {
            let mut queue = self.queue();
            queue.checks.push((app.clone(), user.clone(), answer));
            !std::mem::replace(&mut queue.reading, true)
        };
        if lead {
            // Should this future be dropped midway, the checks it holds are dropped (their
            // askers get an error) and the next asker reads.
            let mut reading = ReadingGuard {
                checks: self,
                done: false,
            };
            loop {
                let batch: Vec<_> = {
                    let mut queue = self.queue();
                    if queue.checks.is_empty() {
                        // Under the lock: a check queued after this finds no one reading.
                        queue.reading = false;
                        reading.done = true;
                        break;
                    }
                    let take = queue.checks.len().min(WATCH_CHECKS_PER_READ);
                    queue.checks.drain(..take).collect()
                };
                Self::answer(store, batch).await;
            }
        }
        answered
            .await
            .map_err(|_| Error::Storage(StoreError::Backend("watch check not answered".into())))
    }

    /// One read per app in the batch; a failed read answers nothing (those askers fail).
    async fn answer(
        store: &dyn PresenceStore,
        mut batch: Vec<(AppKey, UserName, tokio::sync::oneshot::Sender<bool>)>,
    ) {
        let now = now_ms();
        while let Some((app, _, _)) = batch.first() {
            let app = app.clone();
            let (of_app, rest): (Vec<_>, Vec<_>) =
                batch.into_iter().partition(|(key, _, _)| *key == app);
            batch = rest;
            let users: Vec<UserName> = of_app.iter().map(|(_, user, _)| user.clone()).collect();
            match store.watched_users(&app, &users, now).await {
                Ok(watched) => {
                    let watched: std::collections::HashSet<UserName> =
                        watched.into_iter().collect();
                    for (_, user, answer) in of_app {
                        let _ = answer.send(watched.contains(&user));
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, app = %app, "presence watch check failed");
                }
            }
        }
    }
}

/// The reader of the queue; if it stops midway (its future dropped), the checks queued fail
/// rather than wait forever, and whoever asks next reads.
struct ReadingGuard<'a> {
    checks: &'a WatchChecks,
    /// It stopped because the queue was empty, and said so under the lock.
    done: bool,
}

impl Drop for ReadingGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut queue = self.checks.queue();
            queue.reading = false;
            queue.checks.clear();
        }
    }
}

pub struct PresenceService {
    store: Arc<dyn PresenceStore>,
    users: Arc<dyn UserStore>,
    online: Arc<dyn Presence>,
    bus: Arc<dyn Bus>,
    limits: PresenceLimits,
    watch_checks: WatchChecks,
}

impl PresenceService {
    pub fn new(
        store: Arc<dyn PresenceStore>,
        users: Arc<dyn UserStore>,
        online: Arc<dyn Presence>,
        bus: Arc<dyn Bus>,
        limits: PresenceLimits,
    ) -> PresenceService {
        PresenceService {
            store,
            users,
            online,
            bus,
            limits,
            watch_checks: WatchChecks::default(),
        }
    }

    /// `publishPresence` (and the REST `presence/{resource}/{status}`): the device's status
    /// and the user's description.
    pub async fn publish(
        &self,
        app: &AppKey,
        (user, resource): (&UserName, &str),
        status: &str,
        ext: &str,
    ) -> Result<(), Error> {
        if ext.len() > self.limits.max_ext_bytes {
            // The SDK matches this text, trailing space included (error 1100).
            return Err(Error::InvalidArgument("ext is too big ".into()));
        }
        if resource.is_empty() || resource.len() > 128 {
            return Err(Error::InvalidArgument("invalid resource".into()));
        }
        if status.is_empty() || status.len() > MAX_STATUS_BYTES {
            return Err(Error::InvalidArgument("invalid presence status".into()));
        }
        let update = PresenceUpdate {
            resource: resource.to_owned(),
            status: status.to_owned(),
            ext: Some(ext.to_owned()),
        };
        let stored = self
            .store
            .record_presence(app, user, &update, now_ms())
            .await?;
        self.announce(app, user, stored).await
    }

    /// A device of `user` logged in on this node.
    pub async fn device_online(
        &self,
        app: &AppKey,
        user: &UserName,
        resource: &str,
    ) -> Result<(), Error> {
        self.record_device(app, user, resource, ONLINE).await
    }

    /// A session of `user` on `resource` ended (logout, a dropped connection, a kick). The
    /// device stays online if a later login took its resource.
    pub async fn device_offline(
        &self,
        app: &AppKey,
        user: &UserName,
        resource: &str,
    ) -> Result<(), Error> {
        if self.online.device(app, user, resource).await?.is_some() {
            return Ok(());
        }
        self.record_device(app, user, resource, OFFLINE).await
    }

    /// Stores and announces a device's status, if anyone watches the user: a login or logout
    /// of a user no one subscribes to costs a share of one read, not a write (logins are a hot
    /// path).
    /// Such a user's presence, once watched, shows their online devices from the port.
    async fn record_device(
        &self,
        app: &AppKey,
        user: &UserName,
        resource: &str,
        status: &str,
    ) -> Result<(), Error> {
        if !self
            .watch_checks
            .is_watched(&*self.store, app, user)
            .await?
        {
            return Ok(());
        }
        let update = PresenceUpdate {
            resource: resource.to_owned(),
            status: status.to_owned(),
            ext: None,
        };
        let stored = self
            .store
            .record_presence(app, user, &update, now_ms())
            .await?;
        self.announce(app, user, stored).await
    }

    /// Tells every live subscriber of `user` of their presence now, a page of subscribers at
    /// a time (a user may have any number of them).
    async fn announce(
        &self,
        app: &AppKey,
        user: &UserName,
        stored: StoredPresence,
    ) -> Result<(), Error> {
        let now = now_ms();
        let version = stored.changed_ms;
        let mut payloads = None;
        let mut after: Option<UserName> = None;
        loop {
            let page = self
                .store
                .presence_subscribers(app, user, now, after.as_ref(), SUBSCRIBERS_PAGE)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some(last.user.clone());
            let full_page = page.len() == SUBSCRIBERS_PAGE as usize;
            let payloads = match &payloads {
                Some(payloads) => payloads,
                None => {
                    let online = self.online.devices(app, user).await?;
                    let view = view_of(user, Some(stored.clone()), &online, None);
                    payloads.insert(NoticePayloads::new(&view))
                }
            };
            for subscriber in page {
                let notice = PresenceNotice {
                    publisher: user.clone(),
                    version,
                    payload: payloads.for_subscription(subscriber.expires_ms),
                };
                self.bus
                    .publish(Event::Presence {
                        app: app.clone(),
                        user: subscriber.user,
                        notice,
                    })
                    .await?;
            }
            if !full_page {
                return Ok(());
            }
        }
    }

    /// The users a call names: 1 to `max_users_per_call` existing users, each once.
    async fn named_users(&self, app: &AppKey, names: &[String]) -> Result<Vec<UserName>, Error> {
        if names.is_empty() {
            return Err(Error::InvalidArgument("usernames is empty".into()));
        }
        if names.len() > self.limits.max_users_per_call {
            return Err(Error::InvalidArgument(format!(
                "usernames size is more than {}",
                self.limits.max_users_per_call
            )));
        }
        let mut users: Vec<UserName> = Vec::with_capacity(names.len());
        for name in names {
            let user = UserName::parse(name).ok_or_else(|| Error::UserNotFound(name.clone()))?;
            if !users.contains(&user) {
                users.push(user);
            }
        }
        let existing = self.users.user_attributes(app, &users).await?;
        if let Some(missing) = users
            .iter()
            .find(|user| !existing.iter().any(|(name, _)| name == *user))
        {
            return Err(Error::UserNotFound(missing.to_string()));
        }
        Ok(users)
    }

    /// The views of `users` as `viewer` sees them: a user who blocked `viewer` shows nothing.
    async fn views(
        &self,
        app: &AppKey,
        viewer: &UserName,
        users: &[UserName],
        expires_ms: Option<u64>,
    ) -> Result<Vec<PresenceView>, Error> {
        let mut visible = self.store.presences(app, users, viewer).await?;
        let mut views = Vec::with_capacity(users.len());
        for user in users {
            let view = match visible.iter().position(|(name, _)| name == user) {
                Some(index) => {
                    let stored = visible.swap_remove(index).1;
                    let online = self.online.devices(app, user).await?;
                    view_of(user, stored, &online, expires_ms)
                }
                // Blocked by the user: nothing of theirs shows.
                None => view_of(user, None, &[], expires_ms),
            };
            views.push(view);
        }
        Ok(views)
    }

    /// `subscribePresence`: subscribes `me` to `names` for `expiry_secs` and answers their
    /// presence now.
    pub async fn subscribe(
        &self,
        app: &AppKey,
        me: &UserName,
        names: &[String],
        expiry_secs: u64,
    ) -> Result<Vec<PresenceView>, Error> {
        if expiry_secs == 0 || expiry_secs > self.limits.max_expiry_secs {
            return Err(Error::InvalidArgument(format!(
                "expiry must be 1 to {} seconds",
                self.limits.max_expiry_secs
            )));
        }
        let users = self.named_users(app, names).await?;
        let now = now_ms();
        let expires_ms = now + expiry_secs * 1000;
        let change = self
            .store
            .subscribe_presence(
                app,
                me,
                &users,
                expires_ms,
                now,
                self.limits.max_subscriptions,
            )
            .await?;
        match change {
            SubscribeChange::Done => self.views(app, me, &users, Some(expires_ms)).await,
            SubscribeChange::Full => Err(Error::InvalidArgument(format!(
                "subscriptions would exceed the limit of {}",
                self.limits.max_subscriptions
            ))),
        }
    }

    /// `unsubscribePresence`.
    pub async fn unsubscribe(
        &self,
        app: &AppKey,
        me: &UserName,
        names: &[String],
    ) -> Result<(), Error> {
        let users = self.named_users(app, names).await?;
        Ok(self.store.unsubscribe_presence(app, me, &users).await?)
    }

    /// `getPresenceStatus`: the presence of `names` now, without subscribing.
    pub async fn query(
        &self,
        app: &AppKey,
        me: &UserName,
        names: &[String],
    ) -> Result<Vec<PresenceView>, Error> {
        let users = self.named_users(app, names).await?;
        self.views(app, me, &users, None).await
    }

    /// `getSubscribedPresenceList`: page `page_num` (from 1) of `page_size` of `me`'s live
    /// subscriptions by name, and how many there are.
    pub async fn subscriptions(
        &self,
        app: &AppKey,
        me: &UserName,
        page_num: u64,
        page_size: u32,
    ) -> Result<(Vec<PresenceSubscription>, u64), Error> {
        let offset = page_num
            .saturating_sub(1)
            .saturating_mul(u64::from(page_size));
        Ok(self
            .store
            .presence_subscriptions(app, me, now_ms(), offset, page_size)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> UserName {
        UserName::parse(text).unwrap()
    }

    fn online(resource: &str) -> OnlineDevice {
        OnlineDevice {
            resource: resource.into(),
            node: 0,
            session: crate::ids::SessionId(1),
            login_ms: 1,
            device_uuid: None,
            device_name: None,
        }
    }

    fn device(resource: &str, status: &str) -> DeviceStatus {
        DeviceStatus {
            resource: resource.into(),
            status: status.into(),
        }
    }

    #[test]
    fn online_is_the_ports_word_and_the_shape_is_the_hosted_one() {
        let stored = StoredPresence {
            ext: "in a \"call\"\n".into(),
            changed_ms: 1_650_000_000_999,
            devices: vec![
                device("web", "busy"),
                device("phone", "1"),
                device("pad", "0"),
            ],
        };
        // The phone's node died: stored as online, but the port does not list it. The pad
        // came back before the store heard of it.
        let view = view_of(
            &name("amy"),
            Some(stored),
            &[online("web"), online("pad"), online("watch")],
            Some(1_650_000_100_000),
        );
        assert_eq!(
            view.devices,
            [
                device("web", "busy"),
                device("phone", "0"),
                device("pad", "1"),
                device("watch", "1")
            ]
        );
        assert_eq!(
            view.to_json(),
            json!({
                "uid": "amy",
                "last_time": "1650000000",
                "expiry": "1650000100",
                "ext": "in a \"call\"\n",
                "status": {"web": "busy", "phone": "0", "pad": "1", "watch": "1"}
            })
        );
        let payload = NoticePayloads::new(&view).for_subscription(1_650_000_100_999);
        assert!(
            payload.iter().all(|byte| *byte >= 0x10),
            "no byte the SDK's decoder rejects"
        );
        let parsed: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            parsed,
            json!({"type": "presence", "data": {"values": [view.to_json()]}})
        );
    }

    /// A store whose `watched_users` counts its calls and answers "watched" for names
    /// starting with `w`, after a pause (so that checks pile up behind the first).
    struct CountingStore {
        reads: std::sync::atomic::AtomicUsize,
        asked: std::sync::Mutex<Vec<usize>>,
    }

    #[async_trait::async_trait]
    impl PresenceStore for CountingStore {
        async fn record_presence(
            &self,
            _: &AppKey,
            _: &UserName,
            _: &PresenceUpdate,
            _: u64,
        ) -> Result<StoredPresence, StoreError> {
            unreachable!()
        }
        async fn presences(
            &self,
            _: &AppKey,
            _: &[UserName],
            _: &UserName,
        ) -> Result<Vec<(UserName, Option<StoredPresence>)>, StoreError> {
            unreachable!()
        }
        async fn subscribe_presence(
            &self,
            _: &AppKey,
            _: &UserName,
            _: &[UserName],
            _: u64,
            _: u64,
            _: u32,
        ) -> Result<SubscribeChange, StoreError> {
            unreachable!()
        }
        async fn unsubscribe_presence(
            &self,
            _: &AppKey,
            _: &UserName,
            _: &[UserName],
        ) -> Result<(), StoreError> {
            unreachable!()
        }
        async fn presence_subscriptions(
            &self,
            _: &AppKey,
            _: &UserName,
            _: u64,
            _: u64,
            _: u32,
        ) -> Result<(Vec<PresenceSubscription>, u64), StoreError> {
            unreachable!()
        }
        async fn watched_users(
            &self,
            _: &AppKey,
            users: &[UserName],
            _: u64,
        ) -> Result<Vec<UserName>, StoreError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.asked.lock().unwrap().push(users.len());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok(users
                .iter()
                .filter(|user| user.as_str().starts_with('w'))
                .cloned()
                .collect())
        }
        async fn presence_subscribers(
            &self,
            _: &AppKey,
            _: &UserName,
            _: u64,
            _: Option<&UserName>,
            _: u32,
        ) -> Result<Vec<PresenceSubscription>, StoreError> {
            unreachable!()
        }
    }

    #[tokio::test]
    async fn watch_checks_asked_together_share_reads_and_each_gets_its_answer() {
        let store = Arc::new(CountingStore {
            reads: Default::default(),
            asked: Default::default(),
        });
        let checks = Arc::new(WatchChecks::default());
        let app = AppKey::new("o", "a").unwrap();
        let names: Vec<UserName> = (0..100)
            .map(|n| name(&format!("{}{n}", if n % 3 == 0 { "w" } else { "u" })))
            .collect();
        let asked: Vec<_> = names
            .iter()
            .map(|user| {
                let (store, checks, app, user) =
                    (store.clone(), checks.clone(), app.clone(), user.clone());
                tokio::spawn(async move { checks.is_watched(&*store, &app, &user).await })
            })
            .collect();
        for (user, asked) in names.iter().zip(asked) {
            let answer = asked.await.unwrap().unwrap();
            assert_eq!(answer, user.as_str().starts_with('w'), "{user:?}");
        }
        let reads = store.reads.load(std::sync::atomic::Ordering::SeqCst);
        assert!(reads <= 2, "100 checks at once took {reads} reads");
        // The queue is free again: a later check reads by itself.
        assert!(checks.is_watched(&*store, &app, &name("w1")).await.unwrap());
        assert_eq!(store.asked.lock().unwrap().last(), Some(&1));
    }

    #[test]
    fn nothing_stored_yet_shows_the_online_devices_and_a_blocker_shows_nothing() {
        let view = view_of(&name("bob"), None, &[online("web")], None);
        assert_eq!(view.devices, [device("web", "1")]);
        assert_eq!(
            view_of(&name("bob"), None, &[], None).to_json(),
            json!({"uid": "bob", "last_time": "0", "ext": "", "status": {}})
        );
    }
}
