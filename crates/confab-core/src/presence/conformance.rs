//! One behaviour suite for every `Presence`: enable the `conformance` feature and call
//! `presence_conformance_tests!` from the implementation's tests, which makes one test per
//! case, each on a fresh set of nodes. A node is the registry its sessions register in and
//! the presence it answers through; a cluster gives several, and every node's presence must
//! see the sessions of all of them. Answers are awaited with a deadline ("eventually"), as a
//! cluster's presence may lag a registration a little.

#![allow(clippy::unwrap_used)] // test support: a failed step should stop the suite loudly

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::{
    bus::{Event, KickReason, LoginDevice, SessionRegistry},
    ids::{AppKey, SessionId, UserName},
    presence::{OnlineDevice, Presence},
};

/// One node of the presence under test.
pub struct PresenceNode {
    /// Where this node's sessions register (and its bus delivers kicks).
    pub registry: Arc<SessionRegistry>,
    pub presence: Arc<dyn Presence>,
}

/// Declares one `#[tokio::test]` per case, in a module `presence_conformance`: `$fresh` is an
/// async function returning `(Vec<PresenceNode>, guard)`, the guard kept alive for the test.
///
/// ```ignore
/// async fn fresh() -> (Vec<PresenceNode>, ()) { … }
/// confab_core::presence_conformance_tests!(fresh);
/// ```
#[macro_export]
macro_rules! presence_conformance_tests {
    ($fresh:ident) => {
        $crate::presence_conformance_tests!(@cases $fresh;
            nobody_is_online_at_first,
            devices_of_a_user_on_every_node,
            users_and_apps_are_apart,
            a_session_that_ends_goes_offline,
            a_replaced_or_kicked_session_is_not_listed,
            online_users_counts_each_user_once
        );
    };
    (@cases $fresh:ident; $($case:ident),+ $(,)?) => {
        mod presence_conformance {
            $(
                #[tokio::test]
                async fn $case() {
                    let (nodes, _guard) = super::$fresh().await;
                    $crate::presence::conformance::$case(&nodes).await;
                }
            )+
        }
    };
}

/// How long a registration may take to show.
const DEADLINE: Duration = Duration::from_secs(5);

fn app(name: &str) -> AppKey {
    AppKey::new("presconf", name).unwrap()
}

fn user(name: &str) -> UserName {
    UserName::parse(name).unwrap()
}

fn register(node: &PresenceNode, app: &AppKey, user: &UserName, device: LoginDevice) -> SessionId {
    node.registry.register(app, user, device, 64).unwrap().0
}

/// Waits until `check` holds for every node's presence; panics with `what` past the deadline.
async fn eventually<F, Fut>(nodes: &[PresenceNode], what: &str, check: F)
where
    F: Fn(Arc<dyn Presence>) -> Fut,
    Fut: Future<Output = bool>,
{
    let waited = tokio::time::timeout(DEADLINE, async {
        loop {
            let mut all = true;
            for node in nodes {
                all &= check(node.presence.clone()).await;
            }
            if all {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "not within {DEADLINE:?}: {what}");
}

async fn resources(presence: &dyn Presence, app: &AppKey, user: &UserName) -> Vec<String> {
    presence
        .devices(app, user)
        .await
        .unwrap()
        .into_iter()
        .map(|device| device.resource)
        .collect()
}

pub async fn nobody_is_online_at_first(nodes: &[PresenceNode]) {
    let (app, roy) = (app("empty"), user("roy"));
    for node in nodes {
        let presence = &node.presence;
        assert_eq!(presence.devices(&app, &roy).await.unwrap(), vec![]);
        assert!(!presence.is_online(&app, &roy).await.unwrap());
        assert_eq!(presence.device(&app, &roy, "web").await.unwrap(), None);
        assert_eq!(presence.online_users(&app).await.unwrap(), 0);
    }
}

pub async fn devices_of_a_user_on_every_node(nodes: &[PresenceNode]) {
    let (app, roy) = (app("devices"), user("roy"));
    let mut expected = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        for kind in ["web", "phone"] {
            let device = LoginDevice {
                resource: format!("{kind}{index}"),
                uuid: (kind == "phone").then(|| format!("uuid-{index}")),
                name: (kind == "phone").then(|| format!("Phone {index}")),
            };
            let session = register(node, &app, &roy, device.clone());
            expected.push(OnlineDevice {
                resource: device.resource,
                node: node.registry.node(),
                session,
                login_ms: session.login_ms(),
                device_uuid: device.uuid,
                device_name: device.name,
            });
        }
    }
    expected.sort_by_key(|device| device.session);
    eventually(nodes, "every device listed, oldest first", |presence| {
        let (app, roy, expected) = (app.clone(), roy.clone(), expected.clone());
        async move { presence.devices(&app, &roy).await.unwrap() == expected }
    })
    .await;
    for node in nodes {
        let presence = &node.presence;
        assert!(presence.is_online(&app, &roy).await.unwrap());
        assert_eq!(
            presence
                .device(&app, &roy, &expected[0].resource)
                .await
                .unwrap(),
            Some(expected[0].clone())
        );
        assert_eq!(presence.device(&app, &roy, "nope").await.unwrap(), None);
        assert_eq!(presence.online_users(&app).await.unwrap(), 1);
    }
}

pub async fn users_and_apps_are_apart(nodes: &[PresenceNode]) {
    let (app, other_app, roy, leo) = (app("apart"), app("apart2"), user("roy"), user("leo"));
    register(nodes.last().unwrap(), &app, &roy, LoginDevice::on("web"));
    eventually(nodes, "roy online", |presence| {
        let (app, roy) = (app.clone(), roy.clone());
        async move { presence.is_online(&app, &roy).await.unwrap() }
    })
    .await;
    for node in nodes {
        let presence = &node.presence;
        assert!(!presence.is_online(&app, &leo).await.unwrap());
        assert!(!presence.is_online(&other_app, &roy).await.unwrap());
        assert_eq!(presence.devices(&other_app, &roy).await.unwrap(), vec![]);
        assert_eq!(presence.online_users(&other_app).await.unwrap(), 0);
    }
}

pub async fn a_session_that_ends_goes_offline(nodes: &[PresenceNode]) {
    let (app, roy) = (app("ends"), user("roy"));
    let node = &nodes[0];
    let web = register(node, &app, &roy, LoginDevice::on("web"));
    let phone = register(node, &app, &roy, LoginDevice::on("phone"));
    eventually(nodes, "two devices", |presence| {
        let (app, roy) = (app.clone(), roy.clone());
        async move { resources(&*presence, &app, &roy).await == ["web", "phone"] }
    })
    .await;
    node.registry.unregister(&app, &roy, web);
    eventually(nodes, "one device left", |presence| {
        let (app, roy) = (app.clone(), roy.clone());
        async move { resources(&*presence, &app, &roy).await == ["phone"] }
    })
    .await;
    node.registry.unregister(&app, &roy, phone);
    eventually(nodes, "offline", |presence| {
        let (app, roy) = (app.clone(), roy.clone());
        async move {
            !presence.is_online(&app, &roy).await.unwrap()
                && presence.online_users(&app).await.unwrap() == 0
        }
    })
    .await;
}

pub async fn a_replaced_or_kicked_session_is_not_listed(nodes: &[PresenceNode]) {
    let (app, roy) = (app("kicked"), user("roy"));
    let node = nodes.last().unwrap();
    register(node, &app, &roy, LoginDevice::on("web"));
    let newer = register(node, &app, &roy, LoginDevice::on("web"));
    register(node, &app, &roy, LoginDevice::on("phone"));
    // The phone is being kicked: its session is closing, no longer online.
    node.registry.deliver(&Event::Kick {
        app: app.clone(),
        user: roy.clone(),
        resource: Some("phone".into()),
        reason: KickReason::ForcedLogout,
        older_than: None,
    });
    eventually(nodes, "only the newer web session", |presence| {
        let (app, roy) = (app.clone(), roy.clone());
        async move {
            let devices = presence.devices(&app, &roy).await.unwrap();
            devices.len() == 1 && devices[0].session == newer
        }
    })
    .await;
}

pub async fn online_users_counts_each_user_once(nodes: &[PresenceNode]) {
    let (app, roy, leo, amy) = (app("count"), user("roy"), user("leo"), user("amy"));
    for node in nodes {
        register(
            node,
            &app,
            &roy,
            LoginDevice::on(&format!("web{}", node.registry.node())),
        );
    }
    register(&nodes[0], &app, &roy, LoginDevice::on("phone"));
    register(nodes.last().unwrap(), &app, &leo, LoginDevice::on("web"));
    let amy_session = register(&nodes[0], &app, &amy, LoginDevice::on("web"));
    nodes[0].registry.unregister(&app, &amy, amy_session);
    eventually(nodes, "two users online", |presence| {
        let app = app.clone();
        async move { presence.online_users(&app).await.unwrap() == 2 }
    })
    .await;
}
