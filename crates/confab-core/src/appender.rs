//! The one way into a log. A feature service builds a `NewMessage` (its log, its audience, how
//! to encode it); the `Appender` submits it to the store, which assigns id and order at commit,
//! and once it is stored tells the devices of its audience, through the bus, on every node.
//! Nothing else calls `submit_append`, so there is one order (the store's) and one notice rule.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{
    bus::{Bus, Event},
    store::{AppendEffect, Appended, Audience, NewMessage, Store},
    Error,
};

/// A message queued for its log; resolves once it is committed and announced.
pub type PendingAppend = Pin<Box<dyn Future<Output = Result<Appended, Error>> + Send + 'static>>;

pub struct Appender {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
}

impl Appender {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>) -> Appender {
        Appender { store, bus }
    }

    /// Queues `message` (with `effect` in its transaction) at once, so that submissions of one
    /// caller keep their order; the future resolves after the commit and the notices.
    pub fn submit(&self, message: NewMessage, effect: AppendEffect) -> PendingAppend {
        let notices = notices(&message);
        let stored = match effect {
            AppendEffect::None => self.store.submit_append(message),
            effect => self.store.submit_append_with(message, effect),
        };
        let bus = Arc::clone(&self.bus);
        Box::pin(async move {
            let appended = stored.await?;
            if matches!(appended, Appended::Stored { .. }) {
                for notice in notices {
                    // Stored is what counts: a lost notice is repaired by the next UNREAD.
                    if let Err(error) = bus.publish(notice).await {
                        tracing::warn!(%error, "notice not published");
                    }
                }
            }
            Ok(appended)
        })
    }
}

/// One notice per member who reads the message, naming the log as that member's SDK knows it;
/// the sending device is left out (its view of the log does not hold its own messages).
fn notices(message: &NewMessage) -> Vec<Event> {
    let notice = |user: &crate::ids::UserName| {
        let queue = message.log.view_of(user)?;
        let except_resource = (*user == message.sender && !message.sender_resource.is_empty())
            .then(|| message.sender_resource.clone());
        Some(Event::Notice {
            app: message.app.clone(),
            user: user.clone(),
            queue,
            except_resource,
        })
    };
    match &message.audience {
        Audience::Members => message
            .log
            .members()
            .into_iter()
            .filter_map(notice)
            .collect(),
        Audience::Member(user) => notice(user).into_iter().collect(),
        Audience::Nobody => Vec::new(),
    }
}
