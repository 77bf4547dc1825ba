//! The REST API of the hosted service, on the same paths and with the same JSON (Easemob's
//! shapes, PROTOCOL.md §2): tokens, users, token renewal, and the HttpDNS document.
//!
//! Only HTTP 200 is success to the SDK; every failure is `{error, error_description, …}` from
//! `error.rs`. Paths are `/{org}/{app}/…`; `path.rs` normalises what the SDK's string
//! concatenation produces before routing.

mod error;
mod extract;
mod path;
mod rate_limit;
mod routes;
mod thumbnail;
mod video_frame;

use std::sync::Arc;

use axum::{extract::DefaultBodyLimit, middleware, routing, Router};
use confab_core::{
    accounts::AccountService,
    app::AppService,
    contacts::ContactService,
    conversations::ConversationService,
    files::{ChatFileStore, FileStore},
    groups::GroupService,
    messages::MessageService,
    moderation::ReportService,
    notifications::NotificationService,
    presence::PresenceService,
    providers::{SpeechToText, Translator},
    rooms::RoomService,
    threads::ThreadService,
};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

pub use error::error_response;
pub use path::normalize_path;
pub use rate_limit::RateLimit;
pub use routes::dns::{DataCenter, ListenerInfo, PublicHost, PublicUrlError};
pub use routes::part_upload::PartUploads;
pub use thumbnail::Thumbnails;
pub use video_frame::VideoFrames;

/// Shared by every request.
pub struct RestState {
    pub apps: Arc<AppService>,
    /// Users, tokens and the bearer checks of every route.
    pub accounts: Arc<AccountService>,
    pub messages: Arc<MessageService>,
    pub conversations: Arc<ConversationService>,
    pub contacts: Arc<ContactService>,
    pub groups: Arc<GroupService>,
    pub rooms: Arc<RoomService>,
    pub threads: Arc<ThreadService>,
    pub reports: Arc<ReportService>,
    pub notifications: Arc<NotificationService>,
    /// Published presence and subscriptions.
    pub presence: Arc<PresenceService>,
    /// Machine translation; `None`: `translateMessage` answers "service not open!".
    pub translator: Option<Arc<dyn Translator>>,
    /// Speech to text; `None`: `voiceMessageToText` answers "service not open!".
    pub speech: Option<Arc<dyn SpeechToText>>,
    /// Public addresses for `GET /easemob/server.json`; empty: derived from each request.
    pub data_centers: Vec<DataCenter>,
    /// Attachment metadata.
    pub chat_files: Arc<dyn ChatFileStore>,
    /// Attachment bytes.
    pub file_store: Arc<dyn FileStore>,
    /// Largest attachment accepted by `POST /chatfiles`, in bytes.
    pub max_attachment_bytes: u64,
    /// Multipart uploads in progress (`/sdk/chatfiles/part-upload`).
    pub part_uploads: PartUploads,
    /// First frames of videos (`?vframe=true`).
    pub video_frames: VideoFrames,
    /// Limits of image decoding for thumbnails (`?thumbnail=true`) and video frames.
    pub thumbnails: Thumbnails,
    /// Requests per app (`429` past it).
    pub rate_limit: RateLimit,
}

/// Room for the multipart framing and small fields around an attachment of the maximum size.
const MULTIPART_OVERHEAD_BYTES: u64 = 64 * 1024;

/// The REST routes. Wrap the final service with `normalize_path` (it must run before routing).
pub fn router(state: Arc<RestState>) -> Router {
    let limiter = Arc::new(rate_limit::AppRateLimiter::new(state.rate_limit));
    let upload_limit = usize::try_from(state.max_attachment_bytes + MULTIPART_OVERHEAD_BYTES)
        .unwrap_or(usize::MAX);
    Router::new()
        .route(
            "/{org}/{app}/chatfiles",
            routing::post(routes::chatfiles::upload_route)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/{org}/{app}/chatfiles/{uuid}",
            routing::get(routes::chatfiles::download_route),
        )
        .route(
            "/{org}/{app}/sdk/chatfiles/part-upload",
            routing::post(routes::part_upload::init_route),
        )
        .route(
            "/{org}/{app}/sdk/chatfiles/part-upload/{uuid}",
            routing::put(routes::part_upload::part_route)
                .layer(DefaultBodyLimit::max(upload_limit))
                .post(routes::part_upload::complete_route)
                .delete(routes::part_upload::abort_route),
        )
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
            "/{org}/{app}/users/{user}/disconnect/{resource}",
            routing::delete(routes::users::disconnect_device_route),
        )
        .route(
            "/{org}/{app}/users/{user}/resources",
            routing::get(routes::users::resources_route),
        )
        .route(
            "/{org}/{app}/users/{user}/status",
            routing::get(routes::users::user_status_route),
        )
        .route(
            "/{org}/{app}/users/{user}",
            routing::get(routes::users::get_user_route)
                .put(routes::users::update_user_route)
                .delete(routes::users::delete_user_route),
        )
        .route(
            "/{org}/{app}/users/{user}/password",
            routing::put(routes::users::change_password_route),
        )
        .route(
            "/{org}/{app}/chatmessages/{hour}",
            routing::get(routes::messages::export_hour_route),
        )
        .route(
            "/{org}/{app}/chatmessages/{hour}/download",
            routing::get(routes::messages::export_download_route),
        )
        .route(
            "/{org}/{app}/reaction/user/{user}",
            routing::get(routes::reactions::reactions_route)
                .post(routes::reactions::reactions_route)
                .delete(routes::reactions::reactions_route),
        )
        .route(
            "/{org}/{app}/reaction/user/{user}/detail",
            routing::get(routes::reactions::reaction_detail_route),
        )
        .route(
            "/{org}/{app}/messages/msg_recall",
            routing::post(routes::messages::recall_route),
        )
        .route(
            "/{org}/{app}/messages/users/import",
            routing::post(routes::messages::import_route),
        )
        .route(
            "/{org}/{app}/messages/chatrooms",
            routing::post(routes::messages::send_to_rooms_route),
        )
        .route(
            "/{org}/{app}/messages/chatrooms/broadcast",
            routing::post(routes::messages::broadcast_route),
        )
        .route(
            "/{org}/{app}/messages/users",
            routing::post(routes::messages::send_as_user_route),
        )
        .route(
            "/{org}/{app}/users/{user}/messageroaming",
            routing::post(routes::history::message_roaming_route),
        )
        .route(
            "/{org}/{app}/sdk/user/{user}/user_channels/list",
            routing::get(routes::conversations::list_conversations_route),
        )
        .route(
            "/{org}/{app}/sdk/user/{user}/user_channels/mark/search",
            routing::get(routes::conversations::search_marked_conversations_route),
        )
        .route(
            "/{org}/{app}/sdk/user/{user}/user_channel/pin",
            routing::get(routes::conversations::pinned_messages_route)
                .post(routes::conversations::pinned_messages_route)
                .delete(routes::conversations::pinned_messages_route),
        )
        .route(
            "/{org}/{app}/sdk/user/{user}/user_channel/top",
            routing::post(routes::conversations::pin_conversation_route)
                .delete(routes::conversations::pin_conversation_route),
        )
        .route(
            "/{org}/{app}/sdk/user/{user}/user_channels/mark",
            routing::post(routes::conversations::mark_conversations_route)
                .delete(routes::conversations::mark_conversations_route),
        )
        .route(
            "/{org}/{app}/user/{user}/user_channel",
            routing::delete(routes::conversations::delete_conversation_route),
        )
        .route(
            "/{org}/{app}/sdk/message/roaming/{kind}/user/{user}",
            routing::delete(routes::conversations::remove_history_messages_route),
        )
        .route(
            "/{org}/{app}/sdk/message/roaming/{kind}/user/{user}/time",
            routing::delete(routes::conversations::remove_history_before_route),
        )
        .route(
            "/{org}/{app}/sdk/users/{user}/token/expires",
            routing::get(routes::token::token_expires_route),
        )
        .route(
            "/{org}/{app}/chatgroups",
            routing::get(routes::groups::list_route).post(routes::groups::create_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}",
            routing::get(routes::groups::info_route)
                .put(routes::groups::modify_route)
                .delete(routes::groups::destroy_route),
        )
        .route(
            "/{org}/{app}/users/{user}/joined_chatgroups",
            routing::get(routes::groups::joined_route),
        )
        .route(
            "/{org}/{app}/chatgroups/user/{user}",
            routing::get(routes::groups::joined_entities_route),
        )
        .route(
            "/{org}/{app}/chatgroups/user/{user}/joined_count",
            routing::get(routes::groups::joined_count_route),
        )
        .route(
            "/{org}/{app}/publicchatgroups",
            routing::get(routes::groups::public_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/users",
            routing::get(routes::groups::members_route).post(routes::groups::add_members_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/users/{users}",
            routing::delete(routes::groups::remove_route).post(routes::groups::add_member_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/admin",
            routing::get(routes::groups::admins_route).post(routes::groups::add_admin_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/admin/{user}",
            routing::delete(routes::groups::remove_admin_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/invite",
            routing::post(routes::groups::invite_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/apply",
            routing::post(routes::groups::apply_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/apply_verify",
            routing::post(routes::groups::apply_verify_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/invite_verify",
            routing::post(routes::groups::invite_verify_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/quit",
            routing::delete(routes::groups::quit_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/mute",
            routing::get(routes::groups::muted_route).post(routes::groups::mute_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/mute/{users}",
            routing::delete(routes::groups::unmute_route),
        )
        .route(
            "/{org}/{app}/sdk/chatgroups/{group}/mute/{user}",
            routing::get(routes::groups::is_muted_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/ban",
            routing::post(routes::groups::ban_route).delete(routes::groups::ban_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/blocks/users",
            routing::get(routes::groups::blocked_route).post(routes::groups::block_many_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/blocks/users/{users}",
            routing::post(routes::groups::block_one_route).delete(routes::groups::unblock_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/white/users",
            routing::get(routes::groups::allowlist_route).post(routes::groups::allow_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/white/users/{users}",
            routing::get(routes::groups::allowlisted_route).delete(routes::groups::disallow_route),
        )
        .route(
            "/{org}/{app}/sdk/metadata/chatgroup/{group}/user/{user}",
            routing::put(routes::groups::set_member_attributes_route),
        )
        .route(
            "/{org}/{app}/sdk/metadata/chatgroup/{group}/get",
            routing::post(routes::groups::member_attributes_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/shield",
            routing::post(routes::groups::shield_route).delete(routes::groups::shield_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/share_files",
            routing::get(routes::groups::files_route).merge(
                routing::post(routes::groups::share_file_route)
                    .layer(DefaultBodyLimit::max(upload_limit)),
            ),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/share_files/{file}",
            routing::get(routes::groups::file_route).delete(routes::groups::delete_file_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/acks/{message}",
            routing::get(routes::groups::readers_route),
        )
        .route(
            "/{org}/{app}/chatgroups/{group}/announcement",
            routing::get(routes::groups::announcement_route)
                .post(routes::groups::set_announcement_route),
        )
        .route(
            "/{org}/{app}/thread",
            routing::post(routes::threads::create_route),
        )
        .route(
            "/{org}/{app}/thread/message",
            routing::post(routes::threads::last_messages_route),
        )
        .route(
            "/{org}/{app}/thread/{thread}",
            routing::get(routes::threads::detail_route)
                .put(routes::threads::rename_route)
                .delete(routes::threads::destroy_route),
        )
        .route(
            "/{org}/{app}/thread/{thread}/user/{user}/join",
            routing::post(routes::threads::join_route),
        )
        .route(
            "/{org}/{app}/thread/{thread}/user/{user}/quit",
            routing::delete(routes::threads::quit_route),
        )
        .route(
            "/{org}/{app}/thread/{thread}/users",
            routing::get(routes::threads::members_route),
        )
        .route(
            "/{org}/{app}/thread/{thread}/users/{user}",
            routing::delete(routes::threads::remove_member_route),
        )
        .route(
            "/{org}/{app}/threads/user/{user}",
            routing::get(routes::threads::joined_route),
        )
        .route(
            "/{org}/{app}/threads/chatgroups/{group}",
            routing::get(routes::threads::group_threads_route),
        )
        .route(
            "/{org}/{app}/threads/chatgroups/{group}/user/{user}",
            routing::get(routes::threads::joined_in_group_route),
        )
        .route(
            "/{org}/{app}/chatrooms",
            routing::get(routes::rooms::list_route).post(routes::rooms::create_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}",
            routing::get(routes::rooms::details_route)
                .put(routes::rooms::modify_route)
                .delete(routes::rooms::destroy_route),
        )
        .route(
            "/{org}/{app}/users/{user}/joined_chatrooms",
            routing::get(routes::rooms::joined_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/users",
            routing::get(routes::rooms::members_route).post(routes::rooms::add_members_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/users/{users}",
            routing::delete(routes::rooms::remove_members_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/admin",
            routing::get(routes::rooms::admins_route).post(routes::rooms::add_admin_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/admin/{user}",
            routing::delete(routes::rooms::remove_admin_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/mute",
            routing::get(routes::rooms::muted_route).post(routes::rooms::mute_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/mute/{users}",
            routing::delete(routes::rooms::unmute_route),
        )
        .route(
            "/{org}/{app}/sdk/chatrooms/{room}/mute/{user}",
            routing::get(routes::rooms::is_muted_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/ban",
            routing::post(routes::rooms::ban_route).delete(routes::rooms::ban_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/blocks/users",
            routing::get(routes::rooms::blocked_route).post(routes::rooms::block_many_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/blocks/users/{users}",
            routing::post(routes::rooms::block_one_route).delete(routes::rooms::unblock_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/white/users",
            routing::get(routes::rooms::allowlist_route).post(routes::rooms::allow_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/white/users/{users}",
            routing::get(routes::rooms::allowlisted_route).delete(routes::rooms::disallow_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/announcement",
            routing::get(routes::rooms::announcement_route)
                .post(routes::rooms::set_announcement_route),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/share_files",
            routing::get(routes::rooms::files_route).merge(
                routing::post(routes::rooms::share_file_route)
                    .layer(DefaultBodyLimit::max(upload_limit)),
            ),
        )
        .route(
            "/{org}/{app}/chatrooms/{room}/share_files/{file}",
            routing::delete(routes::rooms::delete_file_route),
        )
        .route(
            "/{org}/{app}/metadata/chatroom/{room}",
            routing::post(routes::rooms::attributes_route),
        )
        .route(
            "/{org}/{app}/metadata/chatroom/{room}/user/{user}",
            routing::put(routes::rooms::set_attributes_route)
                .delete(routes::rooms::remove_attributes_route),
        )
        .route(
            "/{org}/{app}/metadata/chatroom/{room}/user/{user}/forced",
            routing::put(routes::rooms::force_attributes_route)
                .delete(routes::rooms::force_remove_attributes_route),
        )
        .route(
            "/{org}/{app}/users/{user}/contacts/apply",
            routing::post(routes::contacts::apply_route),
        )
        .route(
            "/{org}/{app}/users/{user}/contacts/{verb}/users/{from}",
            routing::post(routes::contacts::answer_route),
        )
        .route(
            "/{org}/{app}/users/{user}/contacts/users/{contact}",
            routing::delete(routes::contacts::contact_route)
                .put(routes::contacts::contact_route)
                .post(routes::contacts::contact_route),
        )
        .route(
            "/{org}/{app}/users/{user}/contacts/users",
            routing::get(routes::contacts::list_route),
        )
        .route(
            "/{org}/{app}/users/{user}/contacts",
            routing::get(routes::contacts::page_route),
        )
        .route(
            "/{org}/{app}/sdk/user/{user}/blocks",
            routing::post(routes::contacts::change_blocks_route)
                .delete(routes::contacts::change_blocks_route),
        )
        .route(
            "/{org}/{app}/users/{user}/blocks/users",
            routing::get(routes::contacts::blocked_route).post(routes::contacts::admin_block_route),
        )
        .route(
            "/{org}/{app}/users/{user}/blocks/users/{blocked}",
            routing::delete(routes::contacts::unblock_route),
        )
        .route(
            "/{org}/{app}/metadata/user/get",
            routing::post(routes::attributes::fetch_route),
        )
        .route(
            "/{org}/{app}/metadata/user/{user}",
            routing::put(routes::attributes::update_route),
        )
        .route(
            "/{org}/{app}/user/{user}/moderation/report/message/{message}",
            routing::post(routes::extras::report_route),
        )
        .route(
            "/{org}/{app}/users/{user}/translate",
            routing::post(routes::extras::translate_route),
        )
        .route(
            "/{org}/{app}/users/{user}/translate/support/language",
            routing::get(routes::extras::languages_route),
        )
        .route(
            "/api/sdk/v1/{org}/{app}/speech/transcriptions",
            routing::post(routes::extras::transcription_route),
        )
        .route(
            "/api/sdk/v1/{org}/{app}/speech/recognitions",
            routing::post(routes::extras::recognition_route),
        )
        .route(
            "/{org}/{app}/users/{user}/notification",
            routing::get(routes::notifications::settings_route),
        )
        .route(
            "/{org}/{app}/users/{user}/notification/mute/type",
            routing::get(routes::notifications::remind_types_route),
        )
        .route(
            "/{org}/{app}/users/{user}/notification/language",
            routing::get(routes::notifications::language_route)
                .put(routes::notifications::language_route),
        )
        .route(
            "/{org}/{app}/users/{user}/notification/{kind}/{id}",
            routing::get(routes::notifications::setting_route)
                .put(routes::notifications::setting_route),
        )
        .route(
            "/{org}/{app}/users/{user}/presence",
            routing::post(routes::presence::query_route)
                .delete(routes::presence::unsubscribe_route),
        )
        .route(
            "/{org}/{app}/users/{user}/presence/sublist",
            routing::get(routes::presence::sublist_route),
        )
        .route(
            "/{org}/{app}/users/{user}/presence/{expiry}",
            routing::post(routes::presence::subscribe_route),
        )
        .route(
            "/{org}/{app}/users/{user}/presence/{resource}/{status}",
            routing::post(routes::presence::publish_route),
        )
        .fallback(routes::not_found_route)
        .with_state(state)
        // axum's own rejections (path, query, body limits) answer plain text: made JSON here.
        .layer(middleware::map_response(error::json_errors))
        .layer(middleware::from_fn_with_state(
            limiter,
            rate_limit::limit_rate,
        ))
        // Browser apps call the API from their own origin, as they do with the hosted service.
        .layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::mirror_request())
                .allow_methods(AllowMethods::mirror_request())
                .allow_headers(AllowHeaders::mirror_request())
                .max_age(std::time::Duration::from_secs(24 * 3600)),
        )
}
