//! One module per resource; each handler's doc starts with its wire address.

pub(crate) mod attributes;
pub(crate) mod chatfiles;
pub(crate) mod contacts;
pub(crate) mod conversations;
pub(crate) mod dns;
pub(crate) mod extras;
pub(crate) mod groups;
pub(crate) mod history;
pub(crate) mod messages;
pub(crate) mod notifications;
pub(crate) mod part_upload;
pub(crate) mod presence;
pub(crate) mod reactions;
pub(crate) mod rooms;
pub(crate) mod threads;
pub(crate) mod token;
pub(crate) mod users;

use crate::error::ApiError;

/// Anything not routed: the hosted service's 404 body.
pub(crate) async fn not_found_route() -> ApiError {
    ApiError::NoSuchRoute
}
