//! The admin console at `/console`: one embedded page shell, its script and stylesheet, and the
//! small JSON API under `/console/api/…` that only the console needs (sign-in, apps and their
//! credentials, app tokens, overview figures and chart, message reports).
//!
//! IM-user and group actions are not here: the page calls the hosted service's own REST paths
//! (`confab-rest`: `/{org}/{app}/users…`, `/{org}/{app}/chatgroups…`) with an app token it
//! obtains from `POST /console/api/apps/{org}/{app}/app-token`, so everything the console does
//! can be done without it. No logic lives here beyond carrying cookies, CSRF tokens and JSON to
//! `confab-core` and back.

mod api;
mod assets;
mod chart;
mod error;
mod session;

use std::sync::Arc;

use axum::{routing, Router};
use confab_core::{
    accounts::AccountService, admin::AdminService, app::AppService, moderation::ReportService,
    overview::OverviewService,
};

/// Shared by every console request.
pub struct ConsoleState {
    pub apps: Arc<AppService>,
    /// App tokens for the console's API page.
    pub accounts: Arc<AccountService>,
    pub overview: Arc<OverviewService>,
    /// Message reports, for the reports page.
    pub reports: Arc<ReportService>,
    pub admin: Arc<AdminService>,
}

/// The console's routes, all under `/console`.
pub fn router(state: Arc<ConsoleState>) -> Router {
    Router::new()
        .route("/console", routing::get(assets::root_route))
        .route("/console/", routing::get(assets::page_route))
        .route("/console/login", routing::get(assets::public_page_route))
        .route("/console/setup", routing::get(assets::public_page_route))
        .route(
            "/console/apps/{org}/{app}",
            routing::get(assets::page_route),
        )
        .route(
            "/console/apps/{org}/{app}/{section}",
            routing::get(assets::page_route),
        )
        .route("/console/assets/{file}", routing::get(assets::asset_route))
        .route("/console/api/session", routing::get(api::session_route))
        .route("/console/api/login", routing::post(api::login_route))
        .route("/console/api/setup", routing::post(api::setup_route))
        .route("/console/api/logout", routing::post(api::logout_route))
        .route(
            "/console/api/apps",
            routing::get(api::list_apps_route).post(api::create_app_route),
        )
        .route(
            "/console/api/apps/{org}/{app}",
            routing::get(api::app_route),
        )
        .route(
            "/console/api/apps/{org}/{app}/overview",
            routing::get(api::overview_route),
        )
        .route(
            "/console/api/apps/{org}/{app}/reports",
            routing::get(api::reports_route),
        )
        .route(
            "/console/api/apps/{org}/{app}/chart.svg",
            routing::get(api::chart_route),
        )
        .route(
            "/console/api/apps/{org}/{app}/credentials",
            routing::post(api::reveal_credentials_route),
        )
        .route(
            "/console/api/apps/{org}/{app}/certificate/rotate",
            routing::post(api::rotate_certificate_route),
        )
        .route(
            "/console/api/apps/{org}/{app}/settings",
            routing::post(api::settings_route),
        )
        .route(
            "/console/api/apps/{org}/{app}/client-secret/rotate",
            routing::post(api::rotate_client_secret_route),
        )
        .route(
            "/console/api/apps/{org}/{app}/app-token",
            routing::post(api::app_token_route),
        )
        .route("/console/api/{*rest}", routing::any(api::no_such_api_route))
        .with_state(state)
}
