//! The REST API of the hosted service, on the same paths and with the same JSON (Easemob's
//! shapes, PROTOCOL.md §2): tokens, users, token renewal, and the HttpDNS document.
//!
//! Only HTTP 200 is success to the SDK; every failure is `{error, error_description, …}` from
//! `error.rs`. Paths are `/{org}/{app}/…`; `path.rs` normalises what the SDK's string
//! concatenation produces before routing.

mod error;
mod extract;
mod path;
mod routes;

use std::sync::Arc;

use axum::{routing, Router};
use confab_core::{bus::SessionRegistry, chat::ChatService};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

pub use path::normalize_path;
pub use routes::dns::{DataCenter, ListenerInfo, PublicHost, PublicUrlError};

/// Shared by every request.
pub struct RestState {
    pub chat: Arc<ChatService>,
    /// This node's live sessions, for `GET /users/{user}/status`.
    pub registry: Arc<SessionRegistry>,
    /// Public addresses for `GET /easemob/server.json`; empty: derived from each request.
    pub data_centers: Vec<DataCenter>,
}

/// The REST routes. Wrap the final service with `normalize_path` (it must run before routing).
pub fn router(state: Arc<RestState>) -> Router {
    Router::new()
        .route(
            "/easemob/server.json",
            routing::get(routes::dns::server_json_route),
        )
        .route(
            "/{org}/{app}/token",
            routing::post(routes::token::token_route),
        )
        .route(
            "/{org}/{app}/users",
            routing::post(routes::users::create_users_route).get(routes::users::list_users_route),
        )
        .route(
            "/{org}/{app}/users/batch/status",
            routing::post(routes::users::batch_status_route),
        )
        .route(
            "/{org}/{app}/users/{user}/deactivate",
            routing::post(routes::users::deactivate_user_route),
        )
        .route(
            "/{org}/{app}/users/{user}/activate",
            routing::post(routes::users::activate_user_route),
        )
        .route(
            "/{org}/{app}/users/{user}/disconnect",
            routing::get(routes::users::disconnect_user_route),
        )
        .route(
            "/{org}/{app}/users/{user}/status",
            routing::get(routes::users::user_status_route),
        )
        .route(
            "/{org}/{app}/users/{user}",
            routing::get(routes::users::get_user_route).delete(routes::users::delete_user_route),
        )
        .route(
            "/{org}/{app}/users/{user}/password",
            routing::put(routes::users::change_password_route),
        )
        .route(
            "/{org}/{app}/sdk/users/{user}/token/expires",
            routing::get(routes::token::token_expires_route),
        )
        .fallback(routes::not_found_route)
        .with_state(state)
        // Browser apps call the API from their own origin, as they do with the hosted service.
        .layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::mirror_request())
                .allow_methods(AllowMethods::mirror_request())
                .allow_headers(AllowHeaders::mirror_request())
                .max_age(std::time::Duration::from_secs(24 * 3600)),
        )
}
