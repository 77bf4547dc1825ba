//! One behaviour suite for every `Bus`: enable the `conformance` feature and call
//! `bus_conformance_tests!` from the bus's tests, which makes one test per case, each on a
//! fresh set of nodes. A node is a bus handle and the registry its events are delivered to;
//! a cluster bus gives several, and every case publishes from each of them.
//!
//! Delivery is asynchronous on a real bus: a case waits for what must arrive (with a
//! deadline), and shows that something did *not* arrive by sending a notice after it from
//! the same node and waiting for that one (a bus keeps one publisher's order per user).

#![allow(clippy::unwrap_used)] // test support: a failed step should stop the suite loudly

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::{
    bus::{
        AppListener, Bus, Event, KickReason, LoginDevice, Pending, PresenceNotice, SessionInbox,
        SessionRegistry,
    },
    ids::{AppKey, QueueName, SessionId, UserName},
};

/// One node of the bus under test.
pub struct BusNode {
    pub bus: Arc<dyn Bus>,
    /// Where this node's sessions register and its bus delivers.
    pub registry: Arc<SessionRegistry>,
}

/// Declares one `#[tokio::test]` per case, in a module `bus_conformance`: `$fresh` is an
/// async function returning `(Vec<BusNode>, guard)`, the guard kept alive for the test.
///
/// ```ignore
/// async fn fresh() -> (Vec<BusNode>, ()) { … }
/// confab_core::bus_conformance_tests!(fresh);
/// ```
#[macro_export]
macro_rules! bus_conformance_tests {
    ($fresh:ident) => {
        $crate::bus_conformance_tests!(@cases $fresh;
            notices_reach_every_session_of_the_user_once_per_queue,
            notices_reach_no_one_else,
            a_notice_spares_the_sending_device,
            kick_by_resource_closes_only_that_resource,
            kick_without_resource_closes_every_session,
            kick_older_than_spares_the_later_login,
            app_changes_reach_every_node,
            presence_reaches_each_session_newest_per_publisher,
            events_for_users_without_sessions_are_fine
        );
    };
    (@cases $fresh:ident; $($case:ident),+ $(,)?) => {
        mod bus_conformance {
            $(
                #[tokio::test]
                async fn $case() {
                    let (nodes, _guard) = super::$fresh().await;
                    $crate::bus::conformance::$case(&nodes).await;
                }
            )+
        }
    };
}

/// How long anything may take to arrive.
const DEADLINE: Duration = Duration::from_secs(5);

fn app(name: &str) -> AppKey {
    AppKey::new("busconf", name).unwrap()
}

fn user(name: &str) -> UserName {
    UserName::parse(name).unwrap()
}

fn queue(peer: &str) -> QueueName {
    QueueName::single_chat(&user(peer))
}

fn notice(app: &AppKey, to: &UserName, peer: &str) -> Event {
    Event::Notice {
        app: app.clone(),
        user: to.clone(),
        queue: queue(peer),
        except_resource: None,
    }
}

/// A registered session with what it has been told so far.
struct Session {
    id: SessionId,
    inbox: Arc<SessionInbox>,
    seen: Pending,
}

impl Session {
    fn on(node: &BusNode, app: &AppKey, user: &UserName, resource: &str) -> Session {
        let (id, inbox) = node
            .registry
            .register(app, user, LoginDevice::on(resource), 64)
            .unwrap();
        Session {
            id,
            inbox,
            seen: Pending::default(),
        }
    }

    /// Waits until a notice of `peer`'s queue has arrived, keeping everything seen.
    async fn until_notice(&mut self, peer: &str) {
        let wanted = queue(peer);
        let waited = tokio::time::timeout(DEADLINE, async {
            loop {
                self.absorb();
                if self.seen.notices.contains(&wanted) {
                    return;
                }
                self.inbox.wait().await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "no notice of {wanted:?} within {DEADLINE:?}"
        );
    }

    /// Waits until a kick has arrived.
    async fn until_kicked(&mut self) -> KickReason {
        let waited = tokio::time::timeout(DEADLINE, async {
            loop {
                self.absorb();
                if let Some(reason) = &self.seen.kick {
                    return reason.clone();
                }
                self.inbox.wait().await;
            }
        })
        .await;
        waited.expect("no kick within the deadline")
    }

    fn absorb(&mut self) {
        let pending = self.inbox.take();
        for queue in pending.notices {
            if !self.seen.notices.contains(&queue) {
                self.seen.notices.push(queue);
            }
        }
        if pending.kick.is_some() {
            self.seen.kick = pending.kick;
        }
        for (_, notice) in pending.presence {
            notice.merge_into(&mut self.seen.presence);
        }
    }

    /// Waits until `publisher`'s presence of `version` (or newer) has arrived.
    async fn until_presence(&mut self, publisher: &UserName, version: u64) {
        let waited = tokio::time::timeout(DEADLINE, async {
            loop {
                self.absorb();
                if self
                    .seen
                    .presence
                    .get(publisher)
                    .is_some_and(|notice| notice.version >= version)
                {
                    return;
                }
                self.inbox.wait().await;
            }
        })
        .await;
        assert!(waited.is_ok(), "no presence of {publisher:?} v{version}");
    }
}

fn presence(app: &AppKey, to: &UserName, publisher: &UserName, version: u64) -> Event {
    Event::Presence {
        app: app.clone(),
        user: to.clone(),
        notice: PresenceNotice {
            publisher: publisher.clone(),
            version,
            payload: format!("{publisher}@{version}").into_bytes().into(),
        },
    }
}

/// Publishes a barrier notice from `node` to the sessions' user and waits for it in each:
/// whatever `node` published before has arrived by then.
async fn barrier(node: &BusNode, app: &AppKey, to: &UserName, sessions: &mut [&mut Session]) {
    node.bus.publish(notice(app, to, "barrier")).await.unwrap();
    for session in sessions.iter_mut() {
        session.until_notice("barrier").await;
    }
}

pub async fn notices_reach_every_session_of_the_user_once_per_queue(nodes: &[BusNode]) {
    let (app, roy) = (app("notices"), user("roy"));
    let mut sessions: Vec<Session> = nodes
        .iter()
        .enumerate()
        .flat_map(|(index, node)| {
            [
                Session::on(node, &app, &roy, &format!("web{index}")),
                Session::on(node, &app, &roy, &format!("phone{index}")),
            ]
        })
        .collect();
    for (index, node) in nodes.iter().enumerate() {
        let peer = format!("leo{index}");
        // Twice: the inbox keeps one entry per queue.
        node.bus.publish(notice(&app, &roy, &peer)).await.unwrap();
        node.bus.publish(notice(&app, &roy, &peer)).await.unwrap();
        for session in &mut sessions {
            session.until_notice(&peer).await;
        }
    }
    for session in &sessions {
        assert_eq!(session.seen.notices.len(), nodes.len());
        assert_eq!(session.seen.kick, None);
    }
}

pub async fn notices_reach_no_one_else(nodes: &[BusNode]) {
    let (app, other_app, roy, leo) = (app("apart"), app("apart2"), user("roy"), user("leo"));
    let last = nodes.last().unwrap();
    let mut roy_here = Session::on(&nodes[0], &app, &roy, "web");
    let mut leo_there = Session::on(last, &app, &leo, "web");
    let mut roy_elsewhere = Session::on(last, &other_app, &roy, "web");
    for node in nodes {
        node.bus.publish(notice(&app, &roy, "amy")).await.unwrap();
        roy_here.until_notice("amy").await;
        barrier(node, &app, &leo, &mut [&mut leo_there]).await;
        barrier(node, &other_app, &roy, &mut [&mut roy_elsewhere]).await;
    }
    assert_eq!(leo_there.seen.notices, vec![queue("barrier")]);
    assert_eq!(roy_elsewhere.seen.notices, vec![queue("barrier")]);
}

/// A device is not told of its own message; the user's other devices are.
pub async fn a_notice_spares_the_sending_device(nodes: &[BusNode]) {
    let (app, roy) = (app("spares"), user("roy"));
    let last = nodes.last().unwrap();
    let mut sender = Session::on(&nodes[0], &app, &roy, "web");
    let mut other = Session::on(last, &app, &roy, "phone");
    for node in nodes {
        let mut own = notice(&app, &roy, "amy");
        if let Event::Notice {
            except_resource, ..
        } = &mut own
        {
            *except_resource = Some("web".into());
        }
        node.bus.publish(own).await.unwrap();
        other.until_notice("amy").await;
        barrier(node, &app, &roy, &mut [&mut sender]).await;
    }
    assert_eq!(sender.seen.notices, vec![queue("barrier")]);
}

pub async fn kick_by_resource_closes_only_that_resource(nodes: &[BusNode]) {
    let (app, roy) = (app("kickres"), user("roy"));
    for (index, node) in nodes.iter().enumerate() {
        let web = format!("web{index}");
        let mut kicked = Session::on(&nodes[0], &app, &roy, &web);
        let mut spared = Session::on(nodes.last().unwrap(), &app, &roy, &format!("pad{index}"));
        node.bus
            .publish(Event::Kick {
                app: app.clone(),
                user: roy.clone(),
                resource: Some(web),
                reason: KickReason::ForcedLogout,
                older_than: None,
            })
            .await
            .unwrap();
        assert_eq!(kicked.until_kicked().await, KickReason::ForcedLogout);
        barrier(node, &app, &roy, &mut [&mut spared]).await;
        assert_eq!(spared.seen.kick, None);
    }
}

pub async fn kick_without_resource_closes_every_session(nodes: &[BusNode]) {
    let (app, roy, leo) = (app("kickall"), user("roy"), user("leo"));
    let mut roys: Vec<Session> = nodes
        .iter()
        .enumerate()
        .map(|(index, node)| Session::on(node, &app, &roy, &format!("web{index}")))
        .collect();
    let mut leo_session = Session::on(&nodes[0], &app, &leo, "web0");
    let node = nodes.last().unwrap();
    node.bus
        .publish(Event::Kick {
            app: app.clone(),
            user: roy.clone(),
            resource: None,
            reason: KickReason::PasswordChanged,
            older_than: None,
        })
        .await
        .unwrap();
    for session in &mut roys {
        assert_eq!(session.until_kicked().await, KickReason::PasswordChanged);
    }
    barrier(node, &app, &leo, &mut [&mut leo_session]).await;
    assert_eq!(leo_session.seen.kick, None);
}

pub async fn kick_older_than_spares_the_later_login(nodes: &[BusNode]) {
    let (app, roy) = (app("kickolder"), user("roy"));
    let (first, last) = (&nodes[0], nodes.last().unwrap());
    let mut earlier = Session::on(first, &app, &roy, "web");
    let mut later = Session::on(last, &app, &roy, "web");
    assert!(earlier.id < later.id, "session ids are ordered by login");
    let kick = |older_than: SessionId, ext: &str| Event::Kick {
        app: app.clone(),
        user: roy.clone(),
        resource: Some("web".into()),
        reason: KickReason::LoginOnAnotherDevice {
            login_info_ext: Some(ext.into()),
        },
        older_than: Some(older_than),
    };
    // The earlier login's own kick, arriving late, closes nothing newer than itself.
    first.bus.publish(kick(earlier.id, "first")).await.unwrap();
    // The later login's kick closes the earlier session, wherever it is.
    last.bus.publish(kick(later.id, "second")).await.unwrap();
    assert_eq!(
        earlier.until_kicked().await,
        KickReason::LoginOnAnotherDevice {
            login_info_ext: Some("second".into())
        }
    );
    barrier(first, &app, &roy, &mut [&mut later]).await;
    barrier(last, &app, &roy, &mut [&mut later]).await;
    assert_eq!(later.seen.kick, None);
}

/// Records the apps it is told of.
#[derive(Default)]
struct Changes(Mutex<Vec<AppKey>>);

impl AppListener for Changes {
    fn app_changed(&self, app: &AppKey) {
        match self.0.lock() {
            Ok(mut changes) => changes.push(app.clone()),
            Err(poisoned) => poisoned.into_inner().push(app.clone()),
        }
    }
}

pub async fn app_changes_reach_every_node(nodes: &[BusNode]) {
    let changed = app("changed");
    let listeners: Vec<Arc<Changes>> = nodes
        .iter()
        .map(|node| {
            let listener = Arc::new(Changes::default());
            let weak = Arc::downgrade(&listener);
            node.bus.watch_apps(weak as Weak<dyn AppListener>);
            listener
        })
        .collect();
    // A listener dropped is simply no longer told.
    let dropped = Arc::new(Changes::default());
    nodes[0]
        .bus
        .watch_apps(Arc::downgrade(&dropped) as Weak<dyn AppListener>);
    drop(dropped);
    nodes
        .last()
        .unwrap()
        .bus
        .publish(Event::AppChanged {
            app: changed.clone(),
        })
        .await
        .unwrap();
    let arrived = tokio::time::timeout(DEADLINE, async {
        loop {
            if listeners
                .iter()
                .all(|listener| listener.0.lock().unwrap().contains(&changed))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(arrived.is_ok(), "every node hears of the change");
}

/// A subscriber's every session hears of a presence change; an older snapshot never
/// replaces a newer one; other users hear nothing.
pub async fn presence_reaches_each_session_newest_per_publisher(nodes: &[BusNode]) {
    let (app, roy, leo, amy, bob) = (
        app("presence"),
        user("roy"),
        user("leo"),
        user("amy"),
        user("bob"),
    );
    let last = nodes.last().unwrap();
    let mut web = Session::on(&nodes[0], &app, &roy, "web");
    let mut phone = Session::on(last, &app, &roy, "phone");
    let mut other = Session::on(last, &app, &leo, "web");
    for (index, node) in nodes.iter().enumerate() {
        let base = 10 * (index as u64 + 1);
        node.bus
            .publish(presence(&app, &roy, &amy, base + 2))
            .await
            .unwrap();
        node.bus
            .publish(presence(&app, &roy, &amy, base + 1))
            .await
            .unwrap();
        node.bus
            .publish(presence(&app, &roy, &bob, base))
            .await
            .unwrap();
        for session in [&mut web, &mut phone] {
            session.until_presence(&amy, base + 2).await;
            session.until_presence(&bob, base).await;
        }
        barrier(node, &app, &roy, &mut [&mut web, &mut phone]).await;
        barrier(node, &app, &leo, &mut [&mut other]).await;
        for session in [&web, &phone] {
            let newest = &session.seen.presence[&amy];
            assert_eq!(newest.version, base + 2, "the older snapshot never wins");
            assert_eq!(newest.payload, format!("amy@{}", base + 2).as_bytes());
        }
    }
    assert!(other.seen.presence.is_empty());
}

pub async fn events_for_users_without_sessions_are_fine(nodes: &[BusNode]) {
    let (app, ghost, roy) = (app("nobody"), user("ghost"), user("roy"));
    let mut gone = Session::on(&nodes[0], &app, &roy, "web");
    nodes[0].registry.unregister(&app, &roy, gone.id);
    for node in nodes {
        node.bus.publish(notice(&app, &ghost, "leo")).await.unwrap();
        node.bus.publish(notice(&app, &roy, "leo")).await.unwrap();
        node.bus
            .publish(Event::Kick {
                app: app.clone(),
                user: ghost.clone(),
                resource: None,
                reason: KickReason::UserRemoved,
                older_than: None,
            })
            .await
            .unwrap();
    }
    // An unregistered session hears nothing more.
    gone.absorb();
    assert!(gone.seen.notices.is_empty() && gone.seen.kick.is_none());
}
