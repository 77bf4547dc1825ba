//! The way out of `RoomService`: one task per node hands room events and messages to the bus in
//! the order they were queued, so a sender's ack waits for its message to be queued, not for
//! the fan-out to every member (ten thousand inbox pushes for a large room). Members' joins and
//! departures are announced in batches (one MUC `PRESENCE` / `ABSENCE` naming every member of
//! the batch, which the SDK turns into one `memberPresence` per member): a join storm into a
//! room of N costs N²/batch copies instead of N².

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use confab_proto::pb::muc_body::Operation;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{event_id, RoomEvent};
use crate::{
    bus::{Bus, Event, RoomDelivery, RoomPriority},
    ids::{AppKey, IdGenerator, RoomId, UserName},
    now_ms,
};

/// How long a join or departure may wait for others to share its announcement.
const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// Members one announcement names at most.
const MAX_BATCH: usize = 500;

pub(super) enum Outgoing {
    /// To the bus as it is.
    Publish(Event),
    /// A member joined (`joined`) or left; announced with the others of its batch.
    Presence(Presence),
}

pub(super) struct Presence {
    pub(super) app: AppKey,
    pub(super) room: RoomId,
    pub(super) user: UserName,
    /// The joining device, which is not told of its own join (a batch of one only).
    pub(super) resource: String,
    pub(super) joined: bool,
    /// The join's `ext`: a join with one is announced alone.
    pub(super) ext: String,
    /// The room's member count after this change.
    pub(super) member_count: u32,
}

/// Consecutive joins (or departures) of one room waiting to be announced.
struct Batch {
    joined: bool,
    members: Vec<(UserName, String)>,
    member_count: u32,
    due: Instant,
}

pub(super) fn spawn(
    bus: Arc<dyn Bus>,
    ids: Arc<IdGenerator>,
    capacity: usize,
) -> mpsc::Sender<Outgoing> {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    tokio::spawn(run(receiver, bus, ids));
    sender
}

async fn run(mut receiver: mpsc::Receiver<Outgoing>, bus: Arc<dyn Bus>, ids: Arc<IdGenerator>) {
    let mut batches: HashMap<(AppKey, RoomId), Batch> = HashMap::new();
    loop {
        let next = match batches.values().map(|batch| batch.due).min() {
            None => receiver.recv().await,
            Some(due) => match tokio::time::timeout_at(due, receiver.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    let now = Instant::now();
                    let ripe: Vec<(AppKey, RoomId)> = batches
                        .iter()
                        .filter(|(_, batch)| batch.due <= now)
                        .map(|(key, _)| key.clone())
                        .collect();
                    for key in ripe {
                        flush(&mut batches, &key, &*bus, &ids).await;
                    }
                    continue;
                }
            },
        };
        match next {
            None => {
                let keys: Vec<(AppKey, RoomId)> = batches.keys().cloned().collect();
                for key in keys {
                    flush(&mut batches, &key, &*bus, &ids).await;
                }
                return;
            }
            Some(Outgoing::Publish(event)) => {
                // What a room's members hear keeps its order: joins before the messages and
                // events after. (The index's own updates pass the batch: members join it at
                // once, and are announced with their batch.)
                if let Event::Room {
                    app,
                    room,
                    delivery: RoomDelivery::Meta { .. } | RoomDelivery::Destroyed,
                } = &event
                {
                    flush(&mut batches, &(app.clone(), room.clone()), &*bus, &ids).await;
                }
                publish(&*bus, event).await;
            }
            Some(Outgoing::Presence(presence)) => {
                let key = (presence.app.clone(), presence.room.clone());
                let fits = batches.get(&key).is_some_and(|batch| {
                    batch.joined == presence.joined && batch.members.len() < MAX_BATCH
                });
                if !fits {
                    flush(&mut batches, &key, &*bus, &ids).await;
                }
                if !presence.ext.is_empty() {
                    announce(
                        &*bus,
                        &ids,
                        &key,
                        presence.joined,
                        &[(presence.user, presence.resource)],
                        presence.member_count,
                        &presence.ext,
                    )
                    .await;
                    continue;
                }
                let batch = batches.entry(key).or_insert_with(|| Batch {
                    joined: presence.joined,
                    members: Vec::new(),
                    member_count: presence.member_count,
                    due: Instant::now() + BATCH_WINDOW,
                });
                batch.members.push((presence.user, presence.resource));
                batch.member_count = presence.member_count;
            }
        }
    }
}

async fn flush(
    batches: &mut HashMap<(AppKey, RoomId), Batch>,
    key: &(AppKey, RoomId),
    bus: &dyn Bus,
    ids: &IdGenerator,
) {
    let Some(batch) = batches.remove(key) else {
        return;
    };
    announce(
        bus,
        ids,
        key,
        batch.joined,
        &batch.members,
        batch.member_count,
        "",
    )
    .await;
}

/// One `PRESENCE` / `ABSENCE` for `members` (`from` the member when alone, whose device is
/// left out; with several, `members` names them and every device hears it).
async fn announce(
    bus: &dyn Bus,
    ids: &IdGenerator,
    (app, room): &(AppKey, RoomId),
    joined: bool,
    members: &[(UserName, String)],
    member_count: u32,
    ext: &str,
) {
    let Some((first, resource)) = members.first() else {
        return;
    };
    let operation = if joined {
        Operation::Presence
    } else {
        Operation::Absence
    };
    let mut event =
        RoomEvent::new(app, room, operation, (first, resource)).member_count(member_count);
    if !ext.is_empty() {
        event = event.ext(ext);
    }
    let except = if members.len() == 1 {
        Some((first.clone(), resource.clone()))
    } else {
        let names: Vec<UserName> = members.iter().map(|(user, _)| user.clone()).collect();
        event = event.members(&names);
        None
    };
    let meta = event.encode(event_id(ids.next(now_ms())));
    publish(
        bus,
        Event::Room {
            app: app.clone(),
            room: room.clone(),
            delivery: RoomDelivery::Meta {
                meta,
                priority: RoomPriority::High,
                except,
                only: None,
            },
        },
    )
    .await;
}

async fn publish(bus: &dyn Bus, event: Event) {
    if let Err(error) = bus.publish(event).await {
        tracing::warn!(%error, "a room event was not published");
    }
}
