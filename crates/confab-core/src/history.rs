//! History roaming: each party's stored view of a conversation, paged by id in either
//! direction and filtered like the SDK's `getHistoryMessages` `searchOptions` (PROTOCOL.md §2.8).
//! The metas served are the stored downlink metas, byte for byte what the recipient pulled.

use bytes::Bytes;
use confab_proto::{pb, CONFERENCE_DOMAIN, USER_DOMAIN};

use crate::{
    ids::{AppKey, GroupId, MessageId, QueueName, RoomId, UserName},
    messages::MessageService,
    store::{HistoryEntry, HistoryQuery},
    Error,
};

/// Most messages per history page (the hosted service's `pull_number` limit).
pub const MAX_HISTORY_PAGE: u32 = 50;

/// The SDK kinds `msgTypes` may name.
pub const MESSAGE_KINDS: &[&str] = &[
    "txt", "img", "video", "loc", "audio", "file", "cmd", "custom", "combine",
];

/// One page: encoded downlink metas in the order asked for, the cursor of the next page and
/// whether this page is the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub metas: Vec<Bytes>,
    pub next_key: Option<MessageId>,
    pub is_last: bool,
}

impl MessageService {
    /// `owner`'s history of one conversation: a single chat's, or for a group (a queue in the
    /// conference domain) the history its members share less what `owner` removed one way,
    /// once `GroupService::check_reader` let the caller read it.
    pub async fn history(
        &self,
        app: &AppKey,
        owner: &UserName,
        mut query: HistoryQuery,
    ) -> Result<HistoryPage, Error> {
        let (_, domain) = query.conversation.jid_parts();
        if domain != USER_DOMAIN && domain != CONFERENCE_DOMAIN {
            return Err(Error::InvalidArgument("no such conversation".to_owned()));
        }
        if let Some(kind) = query
            .kinds
            .iter()
            .find(|kind| !MESSAGE_KINDS.contains(&kind.as_str()))
        {
            return Err(Error::InvalidArgument(format!("unknown msgType {kind}")));
        }
        let limit = query.limit.clamp(1, MAX_HISTORY_PAGE);
        // One more than asked tells whether another page follows.
        query.limit = limit + 1;
        let mut page = self.logs.history_page(app, owner, &query).await?;
        let is_last = page.len() <= limit as usize;
        page.truncate(limit as usize);
        Ok(HistoryPage {
            next_key: page.last().map(|message| message.id),
            metas: page.into_iter().map(|message| message.meta).collect(),
            is_last,
        })
    }
}

const HOUR_MS: u64 = 3_600_000;

impl MessageService {
    /// The history export of one UTC hour (`YYYYMMDDHH`): one JSON object per line, oldest
    /// first, in the hosted export's shape
    /// (`{msg_id, timestamp, direction, from, to, chat_type, payload}`).
    pub async fn export_hour(&self, app: &AppKey, hour: &str) -> Result<Vec<u8>, Error> {
        let start_ms = parse_hour(hour)
            .ok_or_else(|| Error::InvalidArgument(format!("invalid time {hour}")))?;
        let messages = self
            .logs
            .messages_between(app, start_ms, start_ms + HOUR_MS)
            .await?;
        let mut lines = Vec::new();
        for message in messages {
            let Some(rest) = crate::conversations::rest_message_from_stored(&message.meta) else {
                tracing::error!(id = message.id.0, "stored meta does not decode");
                continue;
            };
            let line = serde_json::json!({
                "msg_id": rest["id"],
                "timestamp": rest["timestamp"],
                "direction": "outgoing",
                "from": rest["from"],
                "to": rest["to"],
                "chat_type": rest["payload"]["type"],
                "payload": rest["payload"],
            });
            lines.extend_from_slice(line.to_string().as_bytes());
            lines.push(b'\n');
        }
        Ok(lines)
    }
}

/// `YYYYMMDDHH` (UTC) as epoch ms of the hour's start.
pub fn parse_hour(text: &str) -> Option<u64> {
    if text.len() != 10 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day, hour) = (number(0..4)?, number(4..6)?, number(6..8)?, number(8..10)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let shifted_year = if month <= 2 { year - 1 } else { year };
    let era = shifted_year.div_euclid(400);
    let year_of_era = shifted_year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let ms = (days * 24 + hour) * HOUR_MS as i64;
    u64::try_from(ms).ok()
}

/// The kind history filters on: the SDK's `type` of the first content; `""` for metas that are
/// not messages (receipts, recalls, edits), which history leaves out.
pub fn message_kind(body: &pb::MessageBody) -> &'static str {
    use pb::message_body::{content::Type as ContentType, Type as BodyType};
    match body.r#type.map(BodyType::try_from) {
        None
        | Some(Ok(BodyType::Normal | BodyType::Chat | BodyType::Groupchat | BodyType::Chatroom)) => {
        }
        Some(Ok(
            BodyType::ReadAck
            | BodyType::DeliverAck
            | BodyType::Recall
            | BodyType::ChannelAck
            | BodyType::Edit,
        ))
        | Some(Err(_)) => return "",
    }
    let Some(content) = body.contents.first() else {
        return "txt";
    };
    match ContentType::try_from(content.r#type.unwrap_or(0)) {
        // The SDK tells a combined message by `subType` being present on the wire (§4.7).
        Ok(ContentType::Text) if content.sub_type.is_some() => "combine",
        Ok(ContentType::Text) | Err(_) => "txt",
        Ok(ContentType::Image) => "img",
        Ok(ContentType::Video) => "video",
        Ok(ContentType::Location) => "loc",
        Ok(ContentType::Voice) => "audio",
        Ok(ContentType::File) => "file",
        Ok(ContentType::Command) => "cmd",
        Ok(ContentType::Custom) => "custom",
        Ok(ContentType::Combine) => "combine",
    }
}

/// A group message is in the group's one history, which its members read.
pub fn group_entries(kind: &str, group: &GroupId) -> Vec<HistoryEntry> {
    if kind.is_empty() {
        return Vec::new();
    }
    vec![HistoryEntry {
        owner: UserName::group_history(),
        conversation: QueueName::group(group),
    }]
}

/// A room message is in the room's one history, kept like a group's under the shared owner.
pub fn room_entries(kind: &str, room: &RoomId) -> Vec<HistoryEntry> {
    if kind.is_empty() {
        return Vec::new();
    }
    vec![HistoryEntry {
        owner: UserName::group_history(),
        conversation: QueueName::room(room),
    }]
}

/// Both parties of a single-chat message see it in their history, each under the other's name.
pub fn single_chat_entries(
    kind: &str,
    sender: &UserName,
    recipient: &UserName,
) -> Vec<HistoryEntry> {
    if kind.is_empty() {
        return Vec::new();
    }
    vec![
        HistoryEntry {
            owner: sender.clone(),
            conversation: QueueName::single_chat(recipient),
        },
        HistoryEntry {
            owner: recipient.clone(),
            conversation: QueueName::single_chat(sender),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::message_body::{content::Type as ContentType, Type as BodyType};

    fn body(
        body_type: BodyType,
        content_type: ContentType,
        sub_type: Option<i32>,
    ) -> pb::MessageBody {
        pb::MessageBody {
            r#type: Some(body_type as i32),
            contents: vec![pb::message_body::Content {
                r#type: Some(content_type as i32),
                sub_type,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn hours_parse_as_utc() {
        assert_eq!(parse_hour("1970010100"), Some(0));
        assert_eq!(parse_hour("2023111412"), Some(1_699_963_200_000));
        assert_eq!(parse_hour("2024022923"), Some(1_709_247_600_000));
        for bad in [
            "2023111424",
            "2023130100",
            "202311141",
            "20231114ab",
            "+023111412",
        ] {
            assert_eq!(parse_hour(bad), None, "{bad}");
        }
    }

    #[test]
    fn kinds_follow_the_sdk_names() {
        let cases = [
            (BodyType::Chat, ContentType::Text, None, "txt"),
            (BodyType::Chat, ContentType::Text, Some(0), "combine"),
            (BodyType::Chat, ContentType::Image, None, "img"),
            (BodyType::Chat, ContentType::Voice, None, "audio"),
            (BodyType::Chat, ContentType::Location, None, "loc"),
            (BodyType::Chat, ContentType::Custom, None, "custom"),
            (BodyType::ReadAck, ContentType::Text, None, ""),
            (BodyType::Recall, ContentType::Text, None, ""),
        ];
        for (body_type, content_type, sub_type, expected) in cases {
            assert_eq!(
                message_kind(&body(body_type, content_type, sub_type)),
                expected,
                "{body_type:?} {content_type:?} {sub_type:?}"
            );
        }
    }
}
