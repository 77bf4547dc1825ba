//! Message reactions (Appendix A `…/reaction/user/{user}`): add, remove, the list per message
//! and one reaction's users. The user's own token (or an app token); single chats only.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, Method},
    Json,
};
use confab_core::{
    conversations::{parse_message_id, parse_message_id_list},
    ids::UserName,
    now_ms,
    reaction::{summary_json, ReactionSummary},
    Error,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    error::ApiError,
    extract::{app_for_user, parse_json, query_value},
    RestState,
};

type Pairs = Vec<(String, String)>;

/// Most users per page of `getReactionDetail`.
const MAX_DETAIL_PAGE: usize = 100;

#[derive(Debug, Deserialize)]
pub(crate) struct AddBody {
    #[serde(rename = "msgId")]
    msg_id: String,
    message: String,
}

fn reaction_item(summary: &ReactionSummary) -> Value {
    let mut item = summary_json(summary);
    // The SDK turns `state` into `isAddedBySelf` and drops `reactionId`.
    item["state"] = json!(summary.added_by_self);
    item["reactionId"] = json!(summary.reaction);
    if let Some(object) = item.as_object_mut() {
        object.remove("isAddedBySelf");
    }
    item
}

/// # `GET|POST|DELETE /{org}/{app}/reaction/user/{user}`
///
/// POST `{msgId, message}` (`addReaction`), DELETE `?msgId=&message=` (`deleteReaction`): the
/// other party gets `onReactionChange`. GET `?msgIdList=<ids>&msgType=chat` (`getReactionList`):
/// `{data: [{msgId, msgType, groupId, reactionList: [{reactionId, reaction, count, state,
/// userList}]}]}`.
pub(crate) async fn reactions_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, name) = app_for_user(&state, &org, &app, user, &headers).await?;
    let (message, reaction, add) = if method == Method::POST {
        let body: AddBody = parse_json(&body)?;
        (body.msg_id, body.message, true)
    } else if method == Method::DELETE {
        let message = query_value(&query, "msgId").unwrap_or("").to_owned();
        let reaction = query_value(&query, "message").unwrap_or("").to_owned();
        (message, reaction, false)
    } else {
        let msg_type = match query_value(&query, "msgType") {
            None | Some("chat") => "chat",
            Some("groupchat" | "groupChat") => "groupchat",
            Some(other) => {
                return Err(Error::InvalidArgument(format!("invalid msgType {other}")).into())
            }
        };
        let group_id = query_value(&query, "groupId")
            .filter(|_| msg_type == "groupchat")
            .map(str::to_owned);
        let ids = parse_message_id_list(query_value(&query, "msgIdList").unwrap_or(""))?;
        let lists = state.messages.reaction_lists(&app.key, &name, &ids).await?;
        let data: Vec<Value> = lists
            .iter()
            .map(|(id, summaries)| {
                json!({
                    "msgId": id.0.to_string(),
                    "msgType": msg_type,
                    "groupId": group_id,
                    "reactionList": summaries.iter().map(reaction_item).collect::<Vec<_>>(),
                })
            })
            .collect();
        return Ok(Json(
            json!({ "action": "get", "data": data, "timestamp": now_ms(), "duration": 0 }),
        ));
    };
    let id = parse_message_id(&message)?;
    state
        .messages
        .change_reaction(&app.key, &name, id, &reaction, add)
        .await?;
    let now = now_ms();
    Ok(Json(json!({
        "action": if add { "post" } else { "delete" },
        "data": {
            "msgId": message,
            "msgType": "chat",
            "groupId": null,
            "reaction": reaction,
            "createdAt": now,
            "updatedAt": now,
        },
        "timestamp": now,
        "duration": 0,
    })))
}

/// # `GET /{org}/{app}/reaction/user/{user}/detail?msgId=&message=&currentPage=&pageSize=`
///
/// `getReactionDetail`: the users of one reaction, `pageSize` (≤ 100, default 20) at a time;
/// `currentPage` is the cursor of the previous page (`cursor` in the answer, `""` at the end).
pub(crate) async fn reaction_detail_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, name) = app_for_user(&state, &org, &app, user, &headers).await?;
    let id = parse_message_id(query_value(&query, "msgId").unwrap_or(""))?;
    let reaction = query_value(&query, "message").unwrap_or("");
    let start: usize = match query_value(&query, "currentPage") {
        None | Some("" | "null") => 0,
        Some(text) => text
            .parse()
            .map_err(|_| Error::InvalidArgument("invalid cursor".to_owned()))?,
    };
    let page_size = match query_value(&query, "pageSize") {
        None | Some("" | "null") => 20,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| Error::InvalidArgument(format!("invalid pageSize {text}")))?
            .clamp(1, MAX_DETAIL_PAGE),
    };
    let lists = state
        .messages
        .reaction_lists(&app.key, &name, &[id])
        .await?;
    let summary = lists
        .into_iter()
        .flat_map(|(_, summaries)| summaries)
        .find(|summary| summary.reaction == reaction)
        .unwrap_or(ReactionSummary {
            reaction: reaction.to_owned(),
            users: Vec::new(),
            added_by_self: false,
        });
    let end = start.saturating_add(page_size).min(summary.users.len());
    let page: Vec<&str> = summary
        .users
        .get(start.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(UserName::as_str)
        .collect();
    let cursor = if end < summary.users.len() {
        end.to_string()
    } else {
        String::new()
    };
    let mut data = reaction_item(&summary);
    data["userList"] = json!(page);
    data["cursor"] = json!(cursor);
    Ok(Json(
        json!({ "action": "get", "data": data, "timestamp": now_ms(), "duration": 0 }),
    ))
}
