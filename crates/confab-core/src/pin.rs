//! Pinned messages of single-chat conversations (`pinMessage`, `unpinMessage`,
//! `getServerPinnedMessages`): one pin per message, shared by both parties; the other party
//! hears of it in a `NOTIFY` meta of type `conv` (`op: pin | pin_delete`, PROTOCOL.md §4.11),
//! which the SDK turns into `onMessagePinEvent`.

use serde_json::json;

use crate::{
    ids::{AppKey, MessageId, QueueName, UserName},
    messages::MessageService,
    now_ms,
    store::PinnedMessage,
    Error,
};

impl MessageService {
    /// Pins or unpins `message` of `user`'s conversation with `peer`; tells `peer` when that
    /// changed anything. `resource` is the acting device (the SDK ignores its own echo).
    pub async fn pin_message(
        &self,
        app: &AppKey,
        user: &UserName,
        peer: &UserName,
        message: MessageId,
        pin: bool,
        resource: &str,
    ) -> Result<(), Error> {
        if &self.message_peer(app, user, message).await? != peer {
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
        let notify = json!({
            "type": "conv",
            "data": {
                "op": if pin { "pin" } else { "pin_delete" },
                "ext": message.0.to_string(),
                "from": user.as_str(),
                "id": peer.as_str(),
                "type": "chat",
                "ts": now,
                "res": resource,
            },
        });
        self.appender.notify(app, user, peer.clone(), notify).await
    }

    /// The pinned messages of `user`'s conversation with `peer`, latest pin first.
    pub async fn pinned_messages(
        &self,
        app: &AppKey,
        user: &UserName,
        peer: &UserName,
    ) -> Result<Vec<PinnedMessage>, Error> {
        Ok(self
            .annotations
            .pinned_messages(app, user, &QueueName::single_chat(peer))
            .await?)
    }
}
