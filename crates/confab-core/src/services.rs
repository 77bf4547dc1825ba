//! The feature services an edge calls into, built together once per process: each holds only
//! the store trait it reads and writes, and the ones that append share the one `Appender`.

use std::sync::Arc;

use crate::{
    accounts::AccountService,
    app::AppService,
    appender::Appender,
    bus::Bus,
    contacts::{ContactLimits, ContactService},
    conversations::ConversationService,
    groups::{GroupLimits, GroupService},
    messages::MessageService,
    moderation::ReportService,
    notifications::NotificationService,
    overview::OverviewService,
    password::PasswordLimits,
    presence::{Presence, PresenceLimits, PresenceService},
    rooms::{RoomLimits, RoomService},
    store::{
        AnnotationStore, AppStore, AppendStore, ContactStore, ConversationStore, DeviceStore,
        GroupStore, LogStore, NotificationStore, PresenceStore, ReportStore, RoomStore, Store,
        ThreadStore, UserStore,
    },
    threads::ThreadService,
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
    /// Contacts and blocked users per user (`contacts.rs`).
    pub contacts: ContactLimits,
    /// Bytes of one user's attributes, keys and values (`attributes.rs`; hosted: 2 KB).
    pub max_user_attribute_bytes: usize,
    /// Presence subscriptions and descriptions (`presence/service.rs`).
    pub presence: PresenceLimits,
    /// Group sizes and the users one call may name (`groups.rs`).
    pub groups: GroupLimits,
    /// Room sizes, attributes and the absence grace (`rooms.rs`).
    pub rooms: RoomLimits,
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
            contacts: ContactLimits::default(),
            max_user_attribute_bytes: 2048,
            presence: PresenceLimits::default(),
            groups: GroupLimits::default(),
            rooms: RoomLimits::default(),
        }
    }
}

/// Every feature service of one node, wired to one store, bus and presence.
#[derive(Clone)]
pub struct Services {
    pub apps: Arc<AppService>,
    pub accounts: Arc<AccountService>,
    pub messages: Arc<MessageService>,
    pub conversations: Arc<ConversationService>,
    pub contacts: Arc<ContactService>,
    pub groups: Arc<GroupService>,
    pub rooms: Arc<RoomService>,
    pub threads: Arc<ThreadService>,
    pub reports: Arc<ReportService>,
    pub notifications: Arc<NotificationService>,
    /// Published presence and subscriptions (the `Presence` port says who is online).
    pub presence: Arc<PresenceService>,
    pub overview: Arc<OverviewService>,
}

impl Services {
    /// Builds the services. Message ids come from the store; `node` (the config's `node_id`)
    /// only numbers the acks of client statistics, which are not stored.
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        presence: Arc<dyn Presence>,
        node: u16,
        limits: Limits,
    ) -> Result<Services, Error> {
        let appender = Arc::new(Appender::new(
            Arc::clone(&store) as Arc<dyn AppendStore>,
            Arc::clone(&bus),
            Arc::clone(&store) as Arc<dyn GroupStore>,
        ));
        let apps = Arc::new(AppService::new(
            Arc::clone(&store) as Arc<dyn AppStore>,
            Arc::clone(&bus),
        ));
        let users = Arc::clone(&store) as Arc<dyn UserStore>;
        let logs = Arc::clone(&store) as Arc<dyn LogStore>;
        let conversation_store = Arc::clone(&store) as Arc<dyn ConversationStore>;
        let accounts = Arc::new(AccountService::new(
            Arc::clone(&apps),
            Arc::clone(&users),
            Arc::clone(&store) as Arc<dyn DeviceStore>,
            Arc::clone(&bus),
            Arc::clone(&presence),
            limits.clone(),
        ));
        let contacts = Arc::new(ContactService::new(
            Arc::clone(&store) as Arc<dyn ContactStore>,
            Arc::clone(&users),
            Arc::clone(&appender),
            limits.contacts,
        ));
        let presence_limits = limits.presence;
        let groups = Arc::new(GroupService::new(
            (
                Arc::clone(&store) as Arc<dyn GroupStore>,
                Arc::clone(&store) as Arc<dyn ThreadStore>,
            ),
            Arc::clone(&users),
            Arc::clone(&appender),
            node,
            limits.groups,
        ));
        let rooms = Arc::new(RoomService::new(
            Arc::clone(&store) as Arc<dyn RoomStore>,
            Arc::clone(&users),
            (Arc::clone(&bus), Arc::clone(&presence)),
            node,
            limits.rooms,
        ));
        let threads = Arc::new(ThreadService::new(
            Arc::clone(&store) as Arc<dyn ThreadStore>,
            Arc::clone(&store) as Arc<dyn GroupStore>,
            Arc::clone(&logs),
            Arc::clone(&appender),
            node,
        ));
        let messages = Arc::new(MessageService::new(
            Arc::clone(&logs),
            Arc::clone(&store) as Arc<dyn AnnotationStore>,
            Arc::clone(&conversation_store),
            Arc::clone(&users),
            Arc::clone(&presence),
            (
                Arc::clone(&appender),
                Arc::clone(&store) as Arc<dyn GroupStore>,
                Arc::clone(&rooms),
                Arc::clone(&threads),
            ),
            node,
            limits,
        ));
        let reports = Arc::new(ReportService::new(
            Arc::clone(&store) as Arc<dyn ReportStore>,
            Arc::clone(&messages),
        ));
        let notifications = Arc::new(NotificationService::new(
            Arc::clone(&store) as Arc<dyn NotificationStore>,
            Arc::clone(&appender),
        ));
        let presence_service = Arc::new(PresenceService::new(
            Arc::clone(&store) as Arc<dyn PresenceStore>,
            Arc::clone(&users),
            Arc::clone(&presence),
            Arc::clone(&bus),
            presence_limits,
        ));
        let conversations = Arc::new(ConversationService::new(conversation_store, appender));
        let overview = Arc::new(OverviewService::new(
            Arc::clone(&apps),
            logs,
            users,
            presence,
        ));
        Ok(Services {
            apps,
            accounts,
            messages,
            conversations,
            contacts,
            groups,
            rooms,
            threads,
            reports,
            notifications,
            presence: presence_service,
            overview,
        })
    }
}
