//! Which queues a session's SDK is pulling, and so how to tell it of a new message.
//!
//! A notice costs the SDK two frames before it has the message: NOTICE down, a pull up, then
//! the page down (PROTOCOL.md §4.4, §4.5). When the SDK is pulling nothing, the session sends
//! the page at once instead: the SDK handles an unsolicited page like an answer to a pull
//! (processes the metas, then pulls with `key = nextKey`), so the acknowledgement cycle and
//! its durability are unchanged. While the SDK is pulling anything, a page of ours could cross
//! its pulls, so the session sends NOTICE as before.
//!
//! The SDK keeps a list of queues to pull: a queue joins on NOTICE, and leaves when a reply
//! says `isLast`. UNREAD's queues are pulled at once. This mirrors that list from what the
//! session sent, and adds the queues it pushed pages of, which the SDK does not list but will
//! pull with a key.

use std::time::{Duration, Instant};

use confab_core::ids::QueueName;

/// A pushed page whose acknowledging pull has not come for this long is treated as lost by
/// the SDK: a new message then gets a NOTICE, which makes the SDK pull whatever it holds.
const PUSH_ACK_GRACE: Duration = Duration::from_secs(10);

/// What to do with "queue Q has something new".
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tell {
    /// Send NOTICE.
    Notice,
    /// Read the queue's first page and send it unasked.
    Push,
    /// Nothing now: the SDK will pull this queue again, and sees the message then.
    Nothing,
}

#[derive(Debug)]
struct Open {
    queue: QueueName,
    /// When a page of it was pushed; `None` when the SDK lists it (NOTICE, UNREAD, its own pull).
    pushed_at: Option<Instant>,
    /// Something new arrived while it was open. The reply that ends the pull may have been
    /// read before it, so the session tells the SDK again when the pull ends.
    missed: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Pulls {
    /// Set once UNREAD is answered: before that the SDK is still starting its offline sync,
    /// and gets notices only.
    unread_answered: bool,
    open: Vec<Open>,
}

impl Pulls {
    /// UNREAD was answered with these queues, which the SDK now pulls.
    pub(crate) fn unread_answered<'a>(&mut self, queues: impl IntoIterator<Item = &'a QueueName>) {
        self.unread_answered = true;
        for queue in queues {
            self.listed(queue);
        }
    }

    /// The SDK pulls `queue` (with or without a key).
    pub(crate) fn pull_requested(&mut self, queue: &QueueName) {
        if !self.is_open(queue) {
            self.listed(queue);
        }
    }

    /// Something new is in `queue`.
    pub(crate) fn on_new(&mut self, queue: &QueueName, now: Instant) -> Tell {
        if let Some(open) = self.open.iter_mut().find(|open| &open.queue == queue) {
            open.missed = true;
            return match open.pushed_at {
                // The pull that acknowledges the page will see it.
                Some(pushed_at) if now.duration_since(pushed_at) < PUSH_ACK_GRACE => Tell::Nothing,
                Some(_) => {
                    open.pushed_at = None;
                    Tell::Notice
                }
                // As the SDK lists it, it ignores the NOTICE; sent all the same so that a list
                // we mirror wrongly costs a frame, never a message.
                None => Tell::Notice,
            };
        }
        if self.unread_answered && self.open.is_empty() {
            self.open.push(Open {
                queue: queue.clone(),
                pushed_at: Some(now),
                missed: false,
            });
            Tell::Push
        } else {
            self.listed(queue);
            Tell::Notice
        }
    }

    /// The SDK has answered UNREAD and pulls nothing: a page it did not ask for cannot cross
    /// one of its pulls.
    pub(crate) fn is_idle(&self) -> bool {
        self.unread_answered && self.open.is_empty()
    }

    /// A reply ended the SDK's pull of `queue` (`isLast`, an error, or a push that found
    /// nothing). True when something arrived meanwhile: the caller treats it as new again.
    pub(crate) fn pull_ended(&mut self, queue: &QueueName) -> bool {
        match self.open.iter().position(|open| &open.queue == queue) {
            Some(index) => self.open.swap_remove(index).missed,
            None => false,
        }
    }

    fn is_open(&self, queue: &QueueName) -> bool {
        self.open.iter().any(|open| &open.queue == queue)
    }

    fn listed(&mut self, queue: &QueueName) {
        match self.open.iter_mut().find(|open| &open.queue == queue) {
            Some(open) => open.pushed_at = None,
            None => self.open.push(Open {
                queue: queue.clone(),
                pushed_at: None,
                missed: false,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(peer: &str) -> QueueName {
        QueueName::from_jid(peer, "easemob.com").expect("a queue name")
    }

    fn answered() -> Pulls {
        let mut pulls = Pulls::default();
        pulls.unread_answered([]);
        pulls
    }

    #[test]
    fn before_unread_is_answered_every_message_gets_a_notice() {
        let mut pulls = Pulls::default();
        assert_eq!(pulls.on_new(&queue("leo"), Instant::now()), Tell::Notice);
        assert_eq!(pulls.on_new(&queue("ada"), Instant::now()), Tell::Notice);
    }

    #[test]
    fn a_message_to_an_sdk_pulling_nothing_is_pushed_then_waits_for_the_acknowledging_pull() {
        let mut pulls = answered();
        let now = Instant::now();
        assert_eq!(pulls.on_new(&queue("leo"), now), Tell::Push);
        // The next one comes with the pull that acknowledges the first.
        assert_eq!(pulls.on_new(&queue("leo"), now), Tell::Nothing);
        pulls.pull_requested(&queue("leo"));
        assert_eq!(pulls.on_new(&queue("leo"), now), Tell::Nothing);
        // It arrived while open: the end of the pull says so.
        assert!(pulls.pull_ended(&queue("leo")));
        assert_eq!(pulls.on_new(&queue("leo"), now), Tell::Push);
        assert_eq!(
            pulls.on_new(&queue("leo"), now + PUSH_ACK_GRACE),
            Tell::Notice,
            "a push never acknowledged falls back to NOTICE"
        );
    }

    #[test]
    fn while_the_sdk_pulls_anything_other_queues_get_notices() {
        let mut pulls = answered();
        let now = Instant::now();
        assert_eq!(pulls.on_new(&queue("leo"), now), Tell::Push);
        assert_eq!(pulls.on_new(&queue("ada"), now), Tell::Notice);
        assert!(!pulls.pull_ended(&queue("leo")));
        // Ada's queue is still listed by the SDK.
        assert_eq!(pulls.on_new(&queue("bob"), now), Tell::Notice);
        assert!(!pulls.pull_ended(&queue("ada")));
        assert!(!pulls.pull_ended(&queue("bob")));
        assert_eq!(pulls.on_new(&queue("bob"), now), Tell::Push);
    }

    #[test]
    fn unread_queues_and_the_sdks_own_pulls_are_listed() {
        let mut pulls = Pulls::default();
        pulls.unread_answered([&queue("leo")]);
        assert_eq!(pulls.on_new(&queue("ada"), Instant::now()), Tell::Notice);
        assert_eq!(pulls.on_new(&queue("leo"), Instant::now()), Tell::Notice);
        assert!(pulls.pull_ended(&queue("leo")));
        assert!(!pulls.pull_ended(&queue("ada")));
        pulls.pull_requested(&queue("bob"));
        assert_eq!(pulls.on_new(&queue("leo"), Instant::now()), Tell::Notice);
        assert!(!pulls.pull_ended(&queue("bob")));
        assert!(!pulls.pull_ended(&queue("leo")));
        assert!(!pulls.pull_ended(&queue("leo")), "ending twice is harmless");
        assert_eq!(pulls.on_new(&queue("leo"), Instant::now()), Tell::Push);
    }
}
