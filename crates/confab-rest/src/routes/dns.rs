//! HttpDNS: `GET /easemob/server.json`, the document an SDK left with `isHttpDNS` on fetches
//! from its hard-coded DNS hosts before login (PROTOCOL.md §2.5), built from the configured
//! data centers, or from the request itself when none are configured.
//!
//! What the SDK builds from a host entry (agora-chat 1.4.0, easemob-websdk 4.21.1 web and
//! mini-program builds, all alike): WebSocket `ws[s]://{domain || ip}[:port]/websocket` from
//! `msync-wx`; REST `http[s]://{domain}[:port]` from `rest` (outside a browser the port is
//! dropped). Hosts are filtered by `protocol === (https ? "https" : "http")`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::{
    extract::{Query, State},
    http::{header::HOST, uri::Authority, HeaderMap, Uri},
    Extension, Json,
};
use confab_core::{app::App, ids::AppKey, Error};
use serde_json::{json, Value};

use crate::{error::ApiError, RestState};

/// One region of this deployment: where its REST API and its WebSocket are reached publicly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataCenter {
    /// Free text, for operators.
    pub name: String,
    pub rest: PublicHost,
    pub websocket: PublicHost,
}

/// A public `scheme://host[:port]`, as one HttpDNS host entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicHost {
    pub tls: bool,
    /// A DNS name or an IP address (IPv6 in brackets, as it goes into a URL).
    pub host: String,
    pub port: u16,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublicUrlError {
    #[error("{0:?} is not a URL")]
    NotAUrl(String),
    #[error("{url:?} must start with {expected}")]
    Scheme { url: String, expected: &'static str },
    #[error("{0:?} must not carry a user, query or fragment")]
    Extra(String),
    #[error("{url:?} must have the path {expected}: the SDKs build URLs from host and port only")]
    Path { url: String, expected: &'static str },
}

/// The listener a request came in on; `confab-server` inserts it into each request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ListenerInfo {
    pub tls: bool,
    pub local_address: SocketAddr,
}

impl PublicHost {
    /// A REST base: `https://host[:port]` or `http://…`, no path.
    pub fn rest(url: &str) -> Result<PublicHost, PublicUrlError> {
        PublicHost::parse(url, ("https", "http"), &["/"], "https:// or http://", "/")
    }

    /// A WebSocket URL: `wss://host[:port]/websocket` or `ws://…`; the path may be left out.
    pub fn websocket(url: &str) -> Result<PublicHost, PublicUrlError> {
        PublicHost::parse(
            url,
            ("wss", "ws"),
            &["/", "/websocket"],
            "wss:// or ws://",
            "/websocket",
        )
    }

    fn parse(
        url: &str,
        (secure, plain): (&str, &str),
        paths: &[&str],
        expected_scheme: &'static str,
        expected_path: &'static str,
    ) -> Result<PublicHost, PublicUrlError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| PublicUrlError::NotAUrl(url.to_owned()))?;
        let tls = match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case(secure) => true,
            Some(scheme) if scheme.eq_ignore_ascii_case(plain) => false,
            _ => {
                return Err(PublicUrlError::Scheme {
                    url: url.to_owned(),
                    expected: expected_scheme,
                })
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| PublicUrlError::NotAUrl(url.to_owned()))?;
        if authority.as_str().contains('@') || uri.query().is_some() || url.contains('#') {
            return Err(PublicUrlError::Extra(url.to_owned()));
        }
        if !paths.contains(&uri.path()) {
            return Err(PublicUrlError::Path {
                url: url.to_owned(),
                expected: expected_path,
            });
        }
        if authority.host().is_empty() {
            return Err(PublicUrlError::NotAUrl(url.to_owned()));
        }
        Ok(PublicHost {
            tls,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(default_port(tls)),
        })
    }

    /// `{protocol, domain, ip, port}`. An IP address goes into `domain` too: outside a browser
    /// the SDK builds the REST URL from `domain` alone.
    fn entry(&self) -> Value {
        let is_ip = self
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok();
        json!({
            "protocol": if self.tls { "https" } else { "http" },
            "domain": self.host,
            "ip": if is_ip { self.host.as_str() } else { "" },
            "port": self.port.to_string(),
        })
    }
}

/// # `GET /easemob/server.json`
///
/// No auth, as on the hosted service. `?app_key=org%23app` must name an existing app;
/// `?app_id=ID` (the SDK's `appId` init) must too, and the answer then carries its `app_key`.
/// Keys may repeat (the mini-program build appends its query twice); the first that names an
/// app wins. An unknown app gets the usual 404 `organization_application_not_found`.
pub(crate) async fn server_json_route(
    State(state): State<Arc<RestState>>,
    listener: Option<Extension<ListenerInfo>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let query = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|Query(pairs)| pairs)
        .unwrap_or_default();
    let values = |name: &str| -> Vec<String> {
        query
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .collect()
    };
    let app_ids = values("app_id");
    let app_keys = values("app_key");
    let apps = &state.apps;
    let mut app_key = None;
    if !app_ids.is_empty() {
        let app = first_app(app_ids, |app_id| async move {
            apps.app_by_app_id(&app_id).await
        })
        .await?;
        app_key = Some(app.key.to_string());
    } else if !app_keys.is_empty() {
        first_app(app_keys, |app_key| async move {
            let key = AppKey::parse(&app_key).ok_or(Error::AppNotFound)?;
            apps.app(&key).await
        })
        .await?;
    }

    let (rest, websocket): (Vec<Value>, Vec<Value>) = if state.data_centers.is_empty() {
        let host = request_host(&headers, listener.map(|Extension(info)| info));
        (vec![host.entry()], vec![host.entry()])
    } else {
        state
            .data_centers
            .iter()
            .map(|center| (center.rest.entry(), center.websocket.entry()))
            .unzip()
    };
    let mut document = json!({
        "rest": {"hosts": rest},
        // The SDKs read `msync-wx`; the hosted service also lists the same hosts as `msync-ws`.
        "msync-ws": {"hosts": websocket},
        "msync-wx": {"hosts": websocket},
        "enableReportLogs": "false",
        "reportInterval": "300000",
        "enableDataReport": "false",
        // Multipart upload of large attachments is served (`routes/part_upload.rs`).
        "uploadinparts_enable": "true",
    });
    if let (Some(app_key), Some(object)) = (app_key, document.as_object_mut()) {
        object.insert("app_key".into(), app_key.into());
    }
    Ok(Json(document))
}

/// The first of `candidates` that names an app; storage failures are not "not found".
async fn first_app<F, Fut>(candidates: Vec<String>, lookup: F) -> Result<Arc<App>, ApiError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Arc<App>, Error>>,
{
    for candidate in candidates {
        match lookup(candidate).await {
            Ok(app) => return Ok(app),
            Err(Error::AppNotFound) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(Error::AppNotFound.into())
}

/// With no data centers configured: this server as the client reached it (`Host`, or the
/// listener's own address), with the listener's scheme.
pub(crate) fn request_host(headers: &HeaderMap, listener: Option<ListenerInfo>) -> PublicHost {
    let tls = listener.is_some_and(|info| info.tls);
    let authority = headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<Authority>().ok())
        .filter(|authority| !authority.host().is_empty() && !authority.as_str().contains('@'));
    match (authority, listener) {
        (Some(authority), _) => PublicHost {
            tls,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(default_port(tls)),
        },
        (None, Some(info)) => PublicHost {
            tls,
            host: match info.local_address.ip() {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => format!("[{ip}]"),
            },
            port: info.local_address.port(),
        },
        (None, None) => PublicHost {
            tls,
            host: "localhost".into(),
            port: default_port(tls),
        },
    }
}

fn default_port(tls: bool) -> u16 {
    if tls {
        443
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(tls: bool, host: &str, port: u16) -> PublicHost {
        PublicHost {
            tls,
            host: host.into(),
            port,
        }
    }

    #[test]
    fn public_urls_parse_into_host_entries() {
        let check = |url: &str, expected: PublicHost| {
            let parsed = if url.starts_with("ws") {
                PublicHost::websocket(url)
            } else {
                PublicHost::rest(url)
            };
            assert_eq!(parsed, Ok(expected), "{url}");
        };
        check("https://IM.example.com", host(true, "im.example.com", 443));
        check("http://im.example.com/", host(false, "im.example.com", 80));
        check("https://10.0.0.5:8443", host(true, "10.0.0.5", 8443));
        check(
            "wss://im.example.com/websocket",
            host(true, "im.example.com", 443),
        );
        check("ws://[::1]:5280", host(false, "[::1]", 5280));
    }

    #[test]
    fn public_urls_the_sdks_cannot_use_are_refused() {
        for url in [
            "im.example.com",
            "ftp://im.example.com",
            "wss://im.example.com",
            "https://im.example.com/api",
            "https://im.example.com?x=1",
            "https://user@im.example.com",
        ] {
            assert!(PublicHost::rest(url).is_err(), "{url}");
        }
        for url in ["https://im.example.com", "wss://im.example.com/ws"] {
            assert!(PublicHost::websocket(url).is_err(), "{url}");
        }
    }

    #[test]
    fn entries_name_ip_addresses_in_both_fields() {
        assert_eq!(
            host(true, "im.example.com", 443).entry(),
            json!({"protocol": "https", "domain": "im.example.com", "ip": "", "port": "443"})
        );
        assert_eq!(
            host(false, "10.0.0.5", 5280).entry(),
            json!({"protocol": "http", "domain": "10.0.0.5", "ip": "10.0.0.5", "port": "5280"})
        );
    }
}
