//! A token bucket per app for REST requests, answered as the hosted service does: 429 with
//! "The request has reached the maximum limit", which the SDK turns into its code 50
//! (PROTOCOL.md §2.11).
//!
//! The buckets are this process's own: with several nodes each allows the full rate. That is
//! enough for a limit that protects the node; it is not an accounting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::Response,
};

use crate::{error::error_response, extract::bearer, path::FROM_TOKEN};

/// `[http]`'s REST rate, per app.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Requests per second; 0 disables the limit.
    pub per_second: u32,
    /// Requests allowed at once above the rate.
    pub burst: u32,
}

/// Buckets kept at most; past it, the full ones (apps idle long enough to have refilled) go.
const MAX_BUCKETS: usize = 10_000;

pub(crate) struct AppRateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn refill(&mut self, limit: RateLimit, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * f64::from(limit.per_second)).min(f64::from(limit.burst));
        self.updated = now;
    }
}

impl AppRateLimiter {
    pub(crate) fn new(limit: RateLimit) -> AppRateLimiter {
        AppRateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from the app's bucket; false when it is empty.
    fn allow(&self, app: &str, now: Instant) -> bool {
        let limit = self.limit;
        if limit.per_second == 0 {
            return true;
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !buckets.contains_key(app) {
            if buckets.len() >= MAX_BUCKETS {
                buckets.retain(|_, bucket| {
                    bucket.refill(limit, now);
                    bucket.tokens < f64::from(limit.burst)
                });
            }
            buckets.insert(
                app.to_owned(),
                Bucket {
                    tokens: f64::from(limit.burst),
                    updated: now,
                },
            );
        }
        let Some(bucket) = buckets.get_mut(app) else {
            return true;
        };
        bucket.refill(limit, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The app a REST path addresses (`/{org}/{app}/…`), or for the appId-only form the bearer
/// token's App ID; `None` for paths of no app (`/easemob/server.json`).
fn app_of(request: &Request) -> Option<String> {
    let mut segments = request.uri().path().trim_start_matches('/').splitn(3, '/');
    let (org, app, _rest) = (segments.next()?, segments.next()?, segments.next()?);
    if org == FROM_TOKEN && app == FROM_TOKEN {
        let app_id =
            bearer(request.headers()).and_then(|token| confab_token::peek_app_id(token).ok());
        return Some(format!("id:{}", app_id.unwrap_or_default()));
    }
    Some(format!("{org}#{app}"))
}

pub(crate) async fn limit_rate(
    State(limiter): State<Arc<AppRateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(app) = app_of(&request) {
        if !limiter.allow(&app, Instant::now()) {
            return error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "The request has reached the maximum limit",
            );
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let limiter = AppRateLimiter::new(RateLimit {
            per_second: 10,
            burst: 3,
        });
        let start = Instant::now();
        assert!((0..3).all(|_| limiter.allow("o#a", start)));
        assert!(!limiter.allow("o#a", start));
        assert!(limiter.allow("o#b", start), "apps have their own buckets");
        assert!(limiter.allow("o#a", start + Duration::from_millis(100)));
        assert!(!limiter.allow("o#a", start + Duration::from_millis(100)));
    }

    #[test]
    fn zero_disables_the_limit() {
        let limiter = AppRateLimiter::new(RateLimit {
            per_second: 0,
            burst: 0,
        });
        let now = Instant::now();
        assert!((0..10_000).all(|_| limiter.allow("o#a", now)));
    }
}
