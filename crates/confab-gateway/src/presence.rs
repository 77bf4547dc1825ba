//! Presence changes on their way to one session's SDK.
//!
//! They arrive from the bus as whole snapshots, one per publisher, and leave as `NOTIFY` metas
//! of a page the SDK did not ask for (queue: the server, `isLast`), as the kick frame does. The
//! SDK answers such a page by pulling the first queue it still lists, so a page sent while it
//! pulls could make it pull a queue whose page is on its way, and see those messages twice:
//! changes wait here until the SDK pulls nothing (`Pulls::is_idle`), a newer snapshot
//! replacing an older one, and one sent is never followed by an older one.

use std::collections::HashMap;

use confab_core::{
    bus::{PresenceNotice, PresenceNotices},
    ids::UserName,
    messages::SessionContext,
    now_ms,
};
use confab_proto::{
    pb::{self, meta::NameSpace},
    Outbound, USER_DOMAIN,
};

use crate::session::unasked_page;

/// Publishers whose last version sent a session remembers. A session hears from those it
/// subscribes to (3,000 by default), but over a long session from any number: past this the
/// memory starts over, and a late older snapshot (a race of two changes within milliseconds)
/// could then follow a newer one.
const MAX_REMEMBERED_SENT: usize = 20_000;

#[derive(Debug, Default)]
pub(crate) struct PresenceOutbox {
    /// Waiting for the SDK to pull nothing; one per publisher.
    held: PresenceNotices,
    /// The version last sent of each publisher heard from, at most `MAX_REMEMBERED_SENT`.
    sent: HashMap<UserName, u64>,
    /// Numbers the metas of this session within a millisecond.
    sequence: u64,
}

impl PresenceOutbox {
    /// Keeps `notice` to send, unless something as new of its publisher was sent already.
    pub(crate) fn hold(&mut self, notice: PresenceNotice) {
        if self
            .sent
            .get(&notice.publisher)
            .is_some_and(|sent| *sent >= notice.version)
        {
            return;
        }
        notice.merge_into(&mut self.held);
    }

    /// The page of every change held, if any; they count as sent.
    pub(crate) fn take_page(&mut self, context: &SessionContext) -> Option<Outbound> {
        if self.held.is_empty() {
            return None;
        }
        let app_key = context.app.key.to_string();
        let jid = |name: &str| pb::Jid {
            app_key: Some(app_key.clone()),
            name: Some(name.to_owned()),
            domain: Some(USER_DOMAIN.to_owned()),
            client_resource: None,
        };
        let now = now_ms();
        if self.sent.len() + self.held.len() > MAX_REMEMBERED_SENT {
            self.sent.clear();
        }
        let mut metas = Vec::with_capacity(self.held.len());
        for (_, notice) in std::mem::take(&mut self.held) {
            self.sequence = self.sequence.wrapping_add(1);
            metas.push(pb::Meta {
                // Time-ordered like every meta id; never stored, so only this session's
                // sequence keeps them apart.
                id: Some((now << 22) | (self.sequence & 0x3f_ffff)),
                from: Some(jid(notice.publisher.as_str())),
                to: Some(jid(context.user.as_str())),
                timestamp: Some(now),
                ns: Some(NameSpace::Notify as i32),
                payload: Some(notice.payload.clone()),
                ..Default::default()
            });
            self.sent.insert(notice.publisher, notice.version);
        }
        Some(unasked_page(metas, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(publisher: &str, version: u64) -> PresenceNotice {
        PresenceNotice {
            publisher: UserName::parse(publisher).unwrap(),
            version,
            payload: format!("{publisher}{version}").into_bytes().into(),
        }
    }

    #[test]
    fn newest_per_publisher_and_never_older_than_what_was_sent() {
        let mut outbox = PresenceOutbox::default();
        outbox.hold(notice("amy", 2));
        outbox.hold(notice("amy", 1));
        outbox.hold(notice("bob", 5));
        let mut held: Vec<(String, u64)> = outbox
            .held
            .values()
            .map(|n| (n.publisher.to_string(), n.version))
            .collect();
        held.sort();
        assert_eq!(held, [("amy".into(), 2), ("bob".into(), 5)]);
        // Sent: an older snapshot arriving late is dropped, a newer one kept.
        for (_, notice) in std::mem::take(&mut outbox.held) {
            outbox.sent.insert(notice.publisher, notice.version);
        }
        outbox.hold(notice("amy", 2));
        outbox.hold(notice("bob", 4));
        assert!(outbox.held.is_empty());
        outbox.hold(notice("amy", 3));
        assert_eq!(outbox.held.len(), 1);
    }
}
