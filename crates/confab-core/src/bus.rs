//! Delivery of events to live sessions: the `Bus` port and the node-local `SessionRegistry`.
//!
//! A send stores the message, then publishes an `Event` on the bus. The bus brings it to every
//! node (in-process: this one), whose registry hands it to the sessions of the addressed user.
//! Sessions never block the publisher: each has an inbox that coalesces notices per queue, so a
//! slow client costs one entry per peer, not one per message.

use std::collections::HashMap;
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex,
};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::ids::{AppKey, QueueName, SessionId, UserName};

/// Why a session is being closed by the server (maps to `StatisticsBody.operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KickReason {
    /// Another login took the same resource (SDK error 206).
    LoginOnAnotherDevice,
    /// The user was deleted (SDK error 207).
    UserRemoved,
    /// The password changed (SDK error 216).
    PasswordChanged,
    /// An administrator disconnected or deactivated the user (SDK error 217, no reconnect).
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
    /// Close the user's sessions on `resource` (all resources when `None`), except `keep`.
    Kick {
        app: AppKey,
        user: UserName,
        resource: Option<String>,
        reason: KickReason,
        keep: Option<SessionId>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Bus: Send + Sync {
    /// Delivers to every node; returns once the event is handed over (not once sessions read it).
    async fn publish(&self, event: Event) -> Result<(), BusError>;
    /// Whether `user` has a live session on any node now (a `deliverOnlineOnly` send is queued
    /// only then).
    async fn is_online(&self, app: &AppKey, user: &UserName) -> Result<bool, BusError>;
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

    async fn is_online(&self, app: &AppKey, user: &UserName) -> Result<bool, BusError> {
        Ok(self.registry.count(app, user) > 0)
    }
}

/// What a session has been told and not yet acted on.
#[derive(Debug, Default)]
pub struct Pending {
    pub notices: Vec<QueueName>,
    pub kick: Option<KickReason>,
}

/// One session's mailbox. The registry writes, the session task drains.
#[derive(Debug, Default)]
pub struct SessionInbox {
    // std Mutex: held for a push or a swap, never across an await.
    pending: Mutex<Pending>,
    wake: Notify,
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
                Event::Kick { reason, .. } => pending.kick = Some(*reason),
            }
        }
        self.wake.notify_one();
    }
}

struct Registered {
    id: SessionId,
    resource: String,
    inbox: Arc<SessionInbox>,
    /// A later login took its resource: it is being kicked, and no longer counts against the
    /// user's cap.
    replaced: bool,
}

/// `register` refused: the user has `max_sessions` sessions already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the user has {max_sessions} sessions already")]
pub struct TooManySessions {
    pub max_sessions: usize,
}

/// The sessions live on this node, by user.
#[derive(Default)]
pub struct SessionRegistry {
    next_id: AtomicU64,
    sessions: Mutex<HashMap<(AppKey, UserName), Vec<Registered>>>,
}

impl SessionRegistry {
    pub fn new() -> SessionRegistry {
        SessionRegistry::default()
    }

    /// Adds a session and returns its id and inbox, unless the user has `max_sessions` already
    /// (not counting those on `resource`, which this one replaces): checked and added under one
    /// lock, so concurrent logins cannot pass the cap together. Kicking an older session on
    /// the same resource is the caller's job, through the bus, so that other nodes see it too.
    /// The cap is this node's: sessions on other nodes are not counted.
    pub fn register(
        &self,
        app: &AppKey,
        user: &UserName,
        resource: &str,
        max_sessions: usize,
    ) -> Result<(SessionId, Arc<SessionInbox>), TooManySessions> {
        self.with_sessions(|sessions| {
            let list = sessions.entry((app.clone(), user.clone())).or_default();
            let others = list
                .iter()
                .filter(|session| !session.replaced && session.resource != resource)
                .count();
            if others >= max_sessions {
                if list.is_empty() {
                    sessions.remove(&(app.clone(), user.clone()));
                }
                return Err(TooManySessions { max_sessions });
            }
            for session in list.iter_mut() {
                if session.resource == resource {
                    session.replaced = true;
                }
            }
            let id = SessionId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
            let inbox = Arc::new(SessionInbox::default());
            list.push(Registered {
                id,
                resource: resource.to_owned(),
                inbox: inbox.clone(),
                replaced: false,
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

    /// Users of the app with at least one live session on this node.
    pub fn online_users(&self, app: &AppKey) -> usize {
        self.with_sessions(|sessions| sessions.keys().filter(|(key, _)| key == app).count())
    }

    /// Number of live sessions of a user on this node.
    pub fn count(&self, app: &AppKey, user: &UserName) -> usize {
        self.with_sessions(|sessions| {
            sessions
                .get(&(app.clone(), user.clone()))
                .map_or(0, Vec::len)
        })
    }

    pub fn deliver(&self, event: &Event) {
        let (app, user) = match event {
            Event::Notice { app, user, .. } | Event::Kick { app, user, .. } => (app, user),
        };
        self.with_sessions(|sessions| {
            let Some(list) = sessions.get(&(app.clone(), user.clone())) else {
                return;
            };
            for session in list {
                let addressed = match event {
                    Event::Notice {
                        except_resource, ..
                    } => except_resource.as_deref() != Some(session.resource.as_str()),
                    Event::Kick { resource, keep, .. } => {
                        Some(session.id) != *keep
                            && resource.as_ref().is_none_or(|r| *r == session.resource)
                    }
                };
                if addressed {
                    session.inbox.push(event);
                }
            }
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> (AppKey, UserName, QueueName) {
        let app = AppKey::parse("o#a").unwrap();
        let roy = UserName::parse("roy").unwrap();
        let queue = QueueName::single_chat(&UserName::parse("leo").unwrap());
        (app, roy, queue)
    }

    #[tokio::test]
    async fn notices_reach_every_session_once_per_queue() {
        let (app, roy, queue) = names();
        let registry = SessionRegistry::new();
        let (_, web) = registry.register(&app, &roy, "web", 16).unwrap();
        let (_, phone) = registry.register(&app, &roy, "phone", 16).unwrap();
        let notice = Event::Notice {
            app: app.clone(),
            user: roy.clone(),
            queue: queue.clone(),
            except_resource: None,
        };
        registry.deliver(&notice);
        registry.deliver(&notice);
        web.wait().await;
        assert_eq!(web.take().notices, vec![queue.clone()]);
        phone.wait().await;
        assert_eq!(phone.take().notices, vec![queue.clone()]);
        // The sending device is not told of its own message.
        registry.deliver(&Event::Notice {
            app: app.clone(),
            user: roy.clone(),
            queue: queue.clone(),
            except_resource: Some("web".into()),
        });
        phone.wait().await;
        assert_eq!(phone.take().notices, vec![queue]);
        assert!(web.take().notices.is_empty());
    }

    #[tokio::test]
    async fn kick_spares_the_new_session_and_other_resources() {
        let (app, roy, _) = names();
        let registry = SessionRegistry::new();
        let (_, old) = registry.register(&app, &roy, "web", 16).unwrap();
        let (new_id, new) = registry.register(&app, &roy, "web", 16).unwrap();
        let (_, other) = registry.register(&app, &roy, "phone", 16).unwrap();
        registry.deliver(&Event::Kick {
            app: app.clone(),
            user: roy.clone(),
            resource: Some("web".into()),
            reason: KickReason::LoginOnAnotherDevice,
            keep: Some(new_id),
        });
        old.wait().await;
        assert_eq!(old.take().kick, Some(KickReason::LoginOnAnotherDevice));
        assert_eq!(new.take().kick, None);
        assert_eq!(other.take().kick, None);
        registry.unregister(&app, &roy, new_id);
        assert_eq!(registry.count(&app, &roy), 2);
    }

    #[test]
    fn the_cap_counts_neither_replaced_sessions_nor_other_users() {
        let (app, roy, _) = names();
        let leo = UserName::parse("leo").unwrap();
        let registry = SessionRegistry::new();
        registry.register(&app, &roy, "web", 2).unwrap();
        registry.register(&app, &roy, "phone", 2).unwrap();
        assert_eq!(
            registry.register(&app, &roy, "pad", 2).unwrap_err(),
            TooManySessions { max_sessions: 2 }
        );
        // The same resource again replaces a session: allowed, and the old one stops counting.
        registry.register(&app, &roy, "web", 2).unwrap();
        registry.register(&app, &roy, "web", 2).unwrap();
        assert!(registry.register(&app, &roy, "pad", 2).is_err());
        registry.register(&app, &leo, "pad", 2).unwrap();
        assert_eq!(registry.count(&app, &roy), 4);
    }
}
