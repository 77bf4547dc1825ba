//! The embedded front end: one page shell for every console page (the script renders the
//! page named by the path), the script, our stylesheet and the vendored Pico.css (MIT,
//! `assets/pico-LICENSE.md`). Everything is compiled into the binary, so the console works
//! offline and needs no separate deployment.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::{
        header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_FRAME_OPTIONS},
        HeaderMap, StatusCode,
    },
    response::{IntoResponse, Redirect, Response},
};

use crate::{session::signed_in, ConsoleState};

const SHELL: &str = include_str!("../assets/console.html");

/// Name, content type and bytes of each asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "pico.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/pico.min.css"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/console.js"),
    ),
];

/// Scripts and styles from this origin only; no framing.
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
                   base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// # `GET /console`
pub(crate) async fn root_route() -> Redirect {
    Redirect::to("/console/")
}

/// # `GET /console/`, `/console/apps/{org}/{app}[/{section}]`
///
/// The page shell for a signed-in admin; otherwise a redirect to the sign-in page (or to
/// setup while no admin exists).
pub(crate) async fn page_route(
    State(state): State<Arc<ConsoleState>>,
    headers: HeaderMap,
) -> Response {
    match signed_in(&headers, &state).await {
        Ok(_) => shell(),
        Err(_) => Redirect::to("/console/login").into_response(),
    }
}

/// # `GET /console/login`, `/console/setup`
///
/// The page shell, without a session (the script shows the form).
pub(crate) async fn public_page_route() -> Response {
    shell()
}

/// # `GET /console/assets/{file}`
pub(crate) async fn asset_route(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [(CONTENT_TYPE, *content_type), (CACHE_CONTROL, "no-cache")],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn shell() -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
            (CONTENT_SECURITY_POLICY, CSP),
            (X_FRAME_OPTIONS, "DENY"),
        ],
        SHELL,
    )
        .into_response()
}
