//! Traffic control: how many metas a connection and a user may send (token buckets). A send
//! over either rate is answered `FAIL "traffic control happened, retry later"`, as the hosted
//! service does, and is not stored.
//!
//! The per-user buckets live in this process: a user with sessions on several nodes gets each
//! node's rate. That is a limit on load, not a rule the data depends on, so it need not be
//! shared. A user's bucket is dropped with its last session on this node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use confab_core::ids::{AppKey, UserName};
use tokio::time::Instant;

use crate::SendRate;

#[derive(Debug)]
pub(crate) struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// `None` when the rate is 0 (no limit).
    pub(crate) fn new(rate: SendRate, now: Instant) -> Option<TokenBucket> {
        (rate.per_second > 0).then(|| TokenBucket {
            per_second: f64::from(rate.per_second),
            burst: f64::from(rate.burst),
            tokens: f64::from(rate.burst),
            refilled_at: now,
        })
    }

    fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn give_back(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.burst);
    }
}

type SharedBucket = Arc<Mutex<TokenBucket>>;

/// The per-user buckets of this node, shared by a user's sessions.
#[derive(Debug, Default)]
pub(crate) struct UserBuckets {
    buckets: Mutex<HashMap<(AppKey, UserName), SharedBucket>>,
}

impl UserBuckets {
    fn bucket(&self, app: &AppKey, user: &UserName, rate: SendRate) -> Option<SharedBucket> {
        let fresh = TokenBucket::new(rate, Instant::now())?;
        let mut buckets = lock(&self.buckets);
        let bucket = buckets
            .entry((app.clone(), user.clone()))
            .or_insert_with(|| Arc::new(Mutex::new(fresh)));
        Some(bucket.clone())
    }

    /// A session ends: its user's bucket goes when no other session holds it.
    fn release(&self, app: &AppKey, user: &UserName, bucket: SharedBucket) {
        let mut buckets = lock(&self.buckets);
        let key = (app.clone(), user.clone());
        // Two holders left: the map and this session.
        if buckets
            .get(&key)
            .is_some_and(|held| Arc::ptr_eq(held, &bucket) && Arc::strong_count(held) == 2)
        {
            buckets.remove(&key);
        }
    }
}

/// One session's allowance: its connection's bucket and its user's.
pub(crate) struct SendBudget<'a> {
    connection: Option<TokenBucket>,
    user: Option<SharedBucket>,
    users: &'a UserBuckets,
    app: AppKey,
    name: UserName,
}

impl<'a> SendBudget<'a> {
    pub(crate) fn new(
        users: &'a UserBuckets,
        app: &AppKey,
        name: &UserName,
        connection_rate: SendRate,
        user_rate: SendRate,
    ) -> SendBudget<'a> {
        SendBudget {
            connection: TokenBucket::new(connection_rate, Instant::now()),
            user: users.bucket(app, name, user_rate),
            users,
            app: app.clone(),
            name: name.clone(),
        }
    }

    /// Takes one send from both buckets, or from neither.
    pub(crate) fn try_send(&mut self) -> bool {
        if self.connection.is_none() && self.user.is_none() {
            return true;
        }
        let now = Instant::now();
        if let Some(connection) = &mut self.connection {
            if !connection.try_take(now) {
                return false;
            }
        }
        if let Some(user) = &self.user {
            if !lock(user).try_take(now) {
                if let Some(connection) = &mut self.connection {
                    connection.give_back();
                }
                return false;
            }
        }
        true
    }
}

impl Drop for SendBudget<'_> {
    fn drop(&mut self) {
        if let Some(user) = self.user.take() {
            self.users.release(&self.app, &self.name, user);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_spends_its_burst_then_refills_at_its_rate() {
        let start = Instant::now();
        let rate = SendRate {
            per_second: 2,
            burst: 3,
        };
        let mut bucket = TokenBucket::new(rate, start).unwrap();
        assert!((0..3).all(|_| bucket.try_take(start)));
        assert!(!bucket.try_take(start));
        assert!(bucket.try_take(start + Duration::from_millis(500)));
        assert!(!bucket.try_take(start + Duration::from_millis(600)));
        // Never more than the burst, however long the pause.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| bucket.try_take(later)));
        assert!(!bucket.try_take(later));
        assert!(TokenBucket::new(
            SendRate {
                per_second: 0,
                burst: 9
            },
            start
        )
        .is_none());
    }

    #[test]
    fn a_user_bucket_is_shared_and_dropped_with_its_last_session() {
        let users = UserBuckets::default();
        let app = AppKey::parse("o#a").unwrap();
        let leo = UserName::parse("leo").unwrap();
        let off = SendRate {
            per_second: 0,
            burst: 0,
        };
        let rate = SendRate {
            per_second: 1,
            burst: 2,
        };
        let mut web = SendBudget::new(&users, &app, &leo, off, rate);
        let mut phone = SendBudget::new(&users, &app, &leo, off, rate);
        assert!(web.try_send() && phone.try_send());
        assert!(!web.try_send() && !phone.try_send());
        drop(web);
        assert_eq!(lock(&users.buckets).len(), 1);
        drop(phone);
        assert!(lock(&users.buckets).is_empty());
    }
}
