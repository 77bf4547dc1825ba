//! Normalising request paths before routing.
//!
//! The SDKs build URLs as `apiUrl + "/" + org + "/" + app + path`, so an `apiUrl` ending in `/`
//! yields `//org/app/…`, and an SDK initialised with `appId` only (empty org and app) yields
//! `///…` (PROTOCOL.md §1.3, §2.2). Runs of slashes are collapsed; a path that starts with three
//! or more slashes is the appId-only form and is routed to the `FROM_TOKEN` placeholder app,
//! which handlers resolve from the bearer token.

use axum::http::{uri::PathAndQuery, Request, Uri};

/// Placeholder org and app name for "resolve from the token"; `~` is not valid in an app key.
pub(crate) const FROM_TOKEN: &str = "~";

pub fn normalize_path<B>(mut request: Request<B>) -> Request<B> {
    let uri = request.uri();
    let path = uri.path();
    if !path.contains("//") {
        return request;
    }
    let leading = path.len() - path.trim_start_matches('/').len();
    let segments: Vec<&str> = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    let mut normalized = String::with_capacity(path.len() + 4);
    if leading >= 3 {
        normalized.push_str("/~/~");
    }
    for segment in segments {
        normalized.push('/');
        normalized.push_str(segment);
    }
    if normalized.is_empty() {
        normalized.push('/');
    }
    if let Some(query) = uri.query() {
        normalized.push('?');
        normalized.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    if let Ok(path_and_query) = normalized.parse::<PathAndQuery>() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(rebuilt) = Uri::from_parts(parts) {
            *request.uri_mut() = rebuilt;
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let request = Request::builder().uri(input).body(()).unwrap();
        assert_eq!(
            normalize_path(request).uri().to_string(),
            expected,
            "{input}"
        );
    }

    #[test]
    fn paths_are_normalised() {
        check("/org/app/token", "/org/app/token");
        check("//org/app/token", "/org/app/token");
        check("/org//app///users?x=1", "/org/app/users?x=1");
        check("///token", "/~/~/token");
        check("////users/leo?_v=1", "/~/~/users/leo?_v=1");
    }
}
