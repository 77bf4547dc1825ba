//! Message reactions (`addReaction`, `deleteReaction`, `getReactionList`, `getReactionDetail`):
//! either party of a single chat reacts to one of its messages, a member to one of their
//! group's; the other party (every member) hears of it in a `NOTIFY` meta of type `reaction`
//! (PROTOCOL.md §4.11) through the usual queue.

use confab_proto::{pb, CONFERENCE_DOMAIN};
use prost::Message;
use serde_json::{json, Value};

use crate::{
    ids::{AppKey, GroupId, MessageId, UserName},
    messages::MessageService,
    now_ms,
    store::Reaction,
    Error,
};

/// Longest reaction text, in characters (the SDK's documented limit).
pub const MAX_REACTION_CHARS: usize = 128;

/// The conversation a stored message belongs to, seen from one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessagePlace {
    /// A single chat; the other party.
    Peer(UserName),
    Group(GroupId),
}

/// One reaction of a message as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionSummary {
    pub reaction: String,
    pub users: Vec<UserName>,
    /// Whether the asking user is among `users`.
    pub added_by_self: bool,
}

impl MessageService {
    /// Adds (`add`) or removes `user`'s reaction and tells the other party. Adding twice or
    /// removing one that is not there changes nothing and tells no one.
    pub async fn change_reaction(
        &self,
        app: &AppKey,
        user: &UserName,
        message: MessageId,
        reaction: &str,
        add: bool,
    ) -> Result<(), Error> {
        if reaction.is_empty() || reaction.chars().count() > MAX_REACTION_CHARS {
            return Err(Error::InvalidArgument(format!(
                "reaction must be 1 to {MAX_REACTION_CHARS} characters"
            )));
        }
        let place = self.message_place(app, user, message).await?;
        let change = Reaction {
            message,
            reaction: reaction.to_owned(),
            user: user.clone(),
            created_ms: now_ms(),
        };
        if !self.annotations.change_reaction(app, &change, add).await? {
            return Ok(());
        }
        let viewer = match &place {
            MessagePlace::Peer(peer) => peer,
            MessagePlace::Group(_) => user,
        };
        let summaries = self.reaction_summaries(app, viewer, message).await?;
        let reactions: Vec<Value> = summaries
            .iter()
            .filter(|summary| summary.reaction == reaction)
            .map(summary_json)
            .chain((!summaries.iter().any(|summary| summary.reaction == reaction)).then(|| {
                json!({"reaction": reaction, "count": 0, "userList": [], "isAddedBySelf": false})
            }))
            .map(|mut value| {
                value["op"] = json!([{
                    "operator": user.as_str(),
                    "reactionType": if add { "create" } else { "delete" },
                }]);
                value
            })
            .collect();
        let (to, channel_type) = match &place {
            MessagePlace::Peer(peer) => (peer.as_str(), "chat"),
            MessagePlace::Group(group) => (group.as_str(), "groupchat"),
        };
        let notify = json!({
            "type": "reaction",
            "data": [{
                "from": user.as_str(),
                "to": to,
                "channel_type": channel_type,
                "messageId": message.0.to_string(),
                "ts": change.created_ms,
                "reactions": reactions,
            }],
        });
        match place {
            MessagePlace::Peer(peer) => self.appender.notify(app, user, peer, notify).await,
            MessagePlace::Group(group) => {
                self.appender
                    .notify_members(app, (user, ""), &group, notify)
                    .await
            }
        }
    }

    /// The reactions of each message, as `user` sees them (only messages of their own chats).
    pub async fn reaction_lists(
        &self,
        app: &AppKey,
        user: &UserName,
        messages: &[MessageId],
    ) -> Result<Vec<(MessageId, Vec<ReactionSummary>)>, Error> {
        let mut lists = Vec::with_capacity(messages.len());
        for message in messages {
            self.message_place(app, user, *message).await?;
            lists.push((
                *message,
                self.reaction_summaries(app, user, *message).await?,
            ));
        }
        Ok(lists)
    }

    /// Where message `message` is, as `user` may see it: their single chat with the other
    /// party, or a group they are a member of.
    pub(crate) async fn message_place(
        &self,
        app: &AppKey,
        user: &UserName,
        message: MessageId,
    ) -> Result<MessagePlace, Error> {
        let not_found = || Error::InvalidArgument(format!("message {} does not exist", message.0));
        let stored = self
            .logs
            .stored_message(app, message)
            .await?
            .filter(|stored| !stored.recalled)
            .ok_or_else(not_found)?;
        let meta = pb::Meta::decode(stored.meta).map_err(|_| not_found())?;
        let to = meta.to.ok_or_else(not_found)?;
        if to.domain.as_deref() == Some(CONFERENCE_DOMAIN) {
            let group = to
                .name
                .as_deref()
                .and_then(GroupId::parse)
                .ok_or_else(not_found)?;
            // Only a member sees the group's messages.
            return match self.groups.group_member(app, &group, user).await? {
                Some(_) => Ok(MessagePlace::Group(group)),
                None => Err(not_found()),
            };
        }
        let recipient = to
            .name
            .and_then(|name| UserName::parse(&name))
            .ok_or_else(not_found)?;
        if &stored.sender == user {
            Ok(MessagePlace::Peer(recipient))
        } else if &recipient == user {
            Ok(MessagePlace::Peer(stored.sender))
        } else {
            Err(not_found())
        }
    }

    async fn reaction_summaries(
        &self,
        app: &AppKey,
        viewer: &UserName,
        message: MessageId,
    ) -> Result<Vec<ReactionSummary>, Error> {
        let mut summaries: Vec<ReactionSummary> = Vec::new();
        for reaction in self.annotations.reactions(app, &[message]).await? {
            let added_by_self = &reaction.user == viewer;
            match summaries
                .iter_mut()
                .find(|summary| summary.reaction == reaction.reaction)
            {
                Some(summary) => {
                    summary.added_by_self |= added_by_self;
                    summary.users.push(reaction.user);
                }
                None => summaries.push(ReactionSummary {
                    reaction: reaction.reaction,
                    users: vec![reaction.user],
                    added_by_self,
                }),
            }
        }
        Ok(summaries)
    }
}

/// A reaction as `onReactionChange` and the list show it.
pub fn summary_json(summary: &ReactionSummary) -> Value {
    json!({
        "reaction": summary.reaction,
        "count": summary.users.len(),
        "userCount": summary.users.len(),
        "userList": summary.users.iter().map(UserName::as_str).collect::<Vec<_>>(),
        "isAddedBySelf": summary.added_by_self,
    })
}
