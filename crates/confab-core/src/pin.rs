//! Pinned messages of single-chat and group conversations (`pinMessage`, `unpinMessage`,
//! `getServerPinnedMessages`): one pin per message, shared by both parties (by every member);
//! the other party (every member) hears of it in a `NOTIFY` meta of type `conv` (`op: pin |
//! pin_delete`, PROTOCOL.md §4.11), which the SDK turns into `onMessagePinEvent`.

use serde_json::json;

use crate::{
    groups::GroupError,
    ids::{AppKey, MessageId, QueueName, UserName},
    messages::MessageService,
    now_ms,
    reaction::MessagePlace,
    store::PinnedMessage,
    Error,
};

impl MessageService {
    /// Pins or unpins `message` of `user`'s conversation `place`; tells the other party (every
    /// member) when that changed anything. `resource` is the acting device (the SDK ignores
    /// its own echo).
    pub async fn pin_message(
        &self,
        app: &AppKey,
        user: &UserName,
        place: &MessagePlace,
        message: MessageId,
        (pin, resource): (bool, &str),
    ) -> Result<(), Error> {
        if &self.message_place(app, user, message).await? != place {
            return Err(Error::InvalidArgument(format!(
                "message {} does not exist",
                message.0
            )));
        }
        let now = now_ms();
        let changed = self
            .annotations
            .change_pin(app, message, pin.then_some((user, now)))
            .await?;
        if !changed {
            return Ok(());
        }
        let (id, conversation_type) = match place {
            MessagePlace::Peer(peer) => (peer.as_str(), "chat"),
            MessagePlace::Group(group) => (group.as_str(), "groupchat"),
        };
        let notify = json!({
            "type": "conv",
            "data": {
                "op": if pin { "pin" } else { "pin_delete" },
                "ext": message.0.to_string(),
                "from": user.as_str(),
                "id": id,
                "type": conversation_type,
                "ts": now,
                "res": resource,
            },
        });
        match place {
            MessagePlace::Peer(peer) => self.appender.notify(app, user, peer.clone(), notify).await,
            MessagePlace::Group(group) => {
                self.appender
                    .notify_members(app, (user, resource), group, notify)
                    .await
            }
        }
    }

    /// The pinned messages of `user`'s conversation `place`, latest pin first (a group's are
    /// its members' together; only a member reads them).
    pub async fn pinned_messages(
        &self,
        app: &AppKey,
        user: &UserName,
        place: &MessagePlace,
    ) -> Result<Vec<PinnedMessage>, Error> {
        let (owner, conversation) = match place {
            MessagePlace::Peer(peer) => (user.clone(), QueueName::single_chat(peer)),
            MessagePlace::Group(group) => {
                if self.groups.group_member(app, group, user).await?.is_none() {
                    return Err(GroupError::NotMember(user.to_string()).into());
                }
                (UserName::group_history(), QueueName::group(group))
            }
        };
        Ok(self
            .annotations
            .pinned_messages(app, &owner, &conversation)
            .await?)
    }
}
