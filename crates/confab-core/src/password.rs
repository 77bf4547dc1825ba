//! Password work, bounded: Argon2 runs under one semaphore for the whole process (password
//! grants, user creation, password changes, console sign-in), with a bounded queue in front of
//! it, and failed guesses are throttled per account and client address.
//!
//! Both bounds answer at once with `Busy` / `Locked` instead of queueing without end: 512
//! concurrent grants once took 907 MB and delayed unrelated chats by seconds (issue 15).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use tokio::sync::Semaphore;

/// How much password work may run or wait, and how failed guesses are slowed. `confab-server`
/// fills it from `[auth]`.
#[derive(Debug, Clone)]
pub struct PasswordLimits {
    /// Argon2 hashes or verifications running at once.
    pub max_concurrent_hashes: usize,
    /// Requests waiting for one of those; past this they are refused at once (`Busy`).
    pub max_waiting_hashes: usize,
    pub throttle: ThrottlePolicy,
}

impl Default for PasswordLimits {
    fn default() -> PasswordLimits {
        PasswordLimits {
            max_concurrent_hashes: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1),
            max_waiting_hashes: 64,
            throttle: ThrottlePolicy::default(),
        }
    }
}

/// When repeated wrong passwords lock an account (from one address) or an address.
#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    /// Failures for one account from one client address before it is locked (from that
    /// address only; from everywhere when the address is unknown).
    pub account_failures: u32,
    /// Failures from one client address, over all accounts, before the address is locked;
    /// 0: no per-address lock (behind a proxy every client has the proxy's address).
    pub address_failures: u32,
    /// The first lock; each further failure doubles it, up to `max_lock`.
    pub first_lock: Duration,
    pub max_lock: Duration,
    /// Failures older than this are forgotten.
    pub window: Duration,
    /// Most keys remembered; past it, entries older than `window` are dropped, then the
    /// oldest. A limit on memory, not a part of the policy.
    pub max_tracked: usize,
}

impl Default for ThrottlePolicy {
    fn default() -> ThrottlePolicy {
        ThrottlePolicy {
            account_failures: 5,
            address_failures: 20,
            first_lock: Duration::from_secs(2),
            max_lock: Duration::from_secs(300),
            window: Duration::from_secs(900),
            max_tracked: 100_000,
        }
    }
}

#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum PasswordError {
    /// Every hashing slot is taken and the queue is full.
    #[error("too many password checks at once")]
    Busy,
    /// Too many wrong passwords for this account or from this address.
    #[error("too many failed attempts; retry in {} s", retry_after.as_secs().max(1))]
    Locked { retry_after: Duration },
    /// Empty or over 128 bytes.
    #[error("password is empty or too long")]
    Unacceptable,
}

const MAX_PASSWORD_BYTES: usize = 128;

/// The process's Argon2 slots; shared by the chat service and the console.
pub struct PasswordWork {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl PasswordWork {
    pub fn new(limits: &PasswordLimits) -> PasswordWork {
        PasswordWork {
            permits: Arc::new(Semaphore::new(limits.max_concurrent_hashes.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting: limits.max_waiting_hashes,
        }
    }

    /// Hashes on the blocking pool (Argon2id takes tens of milliseconds by design).
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::Unacceptable);
        }
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|_| PasswordError::Unacceptable)
        })
        .await?
    }

    /// Verifies on the blocking pool; a malformed or empty stored hash is a mismatch.
    pub async fn verify(
        &self,
        password: String,
        stored_hash: String,
    ) -> Result<bool, PasswordError> {
        if password.len() > MAX_PASSWORD_BYTES || stored_hash.is_empty() {
            return Ok(false);
        }
        self.run(move || {
            PasswordHash::new(&stored_hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
    }

    /// Runs `work` holding a slot. The slot moves into the blocking task, so a caller that
    /// gives up (a closed connection) cannot free it while Argon2 still runs.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let _waiting = WaitingSlot::take(&self.waiting, self.max_waiting)?;
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| PasswordError::Busy)?
            }
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|_| PasswordError::Busy)
    }
}

/// A place in the queue for a slot, given back when the wait ends or is abandoned.
struct WaitingSlot<'a>(&'a AtomicUsize);

impl<'a> WaitingSlot<'a> {
    fn take(
        waiting: &'a AtomicUsize,
        max_waiting: usize,
    ) -> Result<WaitingSlot<'a>, PasswordError> {
        waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
                (count < max_waiting).then_some(count + 1)
            })
            .map(|_| WaitingSlot(waiting))
            .map_err(|_| PasswordError::Busy)
    }
}

impl Drop for WaitingSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What one password attempt is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ThrottleKey {
    /// An account (`scope/name`), from one address or, when unknown, from anywhere.
    Account(String, Option<IpAddr>),
    /// Every account, from one address.
    Address(IpAddr),
}

/// The keys of one attempt: `account` is unique across what the throttle guards (e.g.
/// `org#app/user`). A failure from address X locks the account for X and counts against X;
/// it never locks the account for other addresses, so nobody can lock someone else out from
/// their own address. Without an address (no `ConnectInfo`), the account alone is the key.
#[derive(Debug, Clone)]
pub struct Attempt {
    keys: Vec<ThrottleKey>,
}

impl Attempt {
    pub fn new(account: String, client: Option<IpAddr>) -> Attempt {
        let mut keys = vec![ThrottleKey::Account(account, client)];
        keys.extend(client.map(ThrottleKey::Address));
        Attempt { keys }
    }
}

/// Failure counts with exponential locks (std `Mutex`: never held across an await).
pub struct FailureThrottle {
    policy: ThrottlePolicy,
    failures: Mutex<HashMap<ThrottleKey, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

impl FailureThrottle {
    pub fn new(policy: ThrottlePolicy) -> FailureThrottle {
        FailureThrottle {
            policy,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Locked` while any key of the attempt is locked.
    pub fn check(&self, attempt: &Attempt, now: Instant) -> Result<(), PasswordError> {
        let failures = lock(&self.failures);
        let retry_after = attempt
            .keys
            .iter()
            .filter_map(|key| failures.get(key)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match retry_after {
            Some(retry_after) => Err(PasswordError::Locked { retry_after }),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, attempt: &Attempt, now: Instant) {
        let mut failures = lock(&self.failures);
        let room_for = |failures: &HashMap<ThrottleKey, Failures>| {
            failures.len() + attempt.keys.len() <= self.policy.max_tracked.max(2)
        };
        if !room_for(&failures) {
            let window = self.policy.window;
            failures.retain(|_, entry| now.duration_since(entry.last) < window);
        }
        while !room_for(&failures) {
            let oldest = failures
                .iter()
                .min_by_key(|(_, entry)| entry.last)
                .map(|(key, _)| key.clone());
            match oldest {
                Some(oldest) => failures.remove(&oldest),
                None => break,
            };
        }
        for key in &attempt.keys {
            let free = match key {
                ThrottleKey::Account(..) => self.policy.account_failures,
                ThrottleKey::Address(_) if self.policy.address_failures == 0 => continue,
                ThrottleKey::Address(_) => self.policy.address_failures,
            };
            let entry = failures.entry(key.clone()).or_insert(Failures {
                count: 0,
                last: now,
                locked_until: None,
            });
            if now.duration_since(entry.last) >= self.policy.window {
                entry.count = 0;
            }
            entry.count += 1;
            entry.last = now;
            if entry.count >= free.max(1) {
                let doublings = (entry.count - free.max(1)).min(16);
                let lock = self
                    .policy
                    .first_lock
                    .saturating_mul(1 << doublings)
                    .min(self.policy.max_lock);
                entry.locked_until = Some(now + lock);
            }
        }
    }

    /// The right password: the account's count starts over (the address's stays).
    pub fn record_success(&self, attempt: &Attempt) {
        let mut failures = lock(&self.failures);
        for key in &attempt.keys {
            if let ThrottleKey::Account(..) = key {
                failures.remove(key);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            account_failures: 3,
            address_failures: 5,
            ..ThrottlePolicy::default()
        }
    }

    fn address(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    fn locked_for(throttle: &FailureThrottle, attempt: &Attempt, now: Instant) -> Option<Duration> {
        match throttle.check(attempt, now) {
            Ok(()) => None,
            Err(PasswordError::Locked { retry_after }) => Some(retry_after),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let work = PasswordWork::new(&PasswordLimits::default());
        let hash = work.hash("secret".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(work.verify("secret".into(), hash.clone()).await.unwrap());
        assert!(!work.verify("Secret".into(), hash).await.unwrap());
        assert!(!work
            .verify("secret".into(), "garbage".into())
            .await
            .unwrap());
        assert_eq!(
            work.hash(String::new()).await,
            Err(PasswordError::Unacceptable)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_beyond_the_slots_and_the_queue_is_refused_at_once() {
        let work = Arc::new(PasswordWork::new(&PasswordLimits {
            max_concurrent_hashes: 1,
            max_waiting_hashes: 1,
            throttle: ThrottlePolicy::default(),
        }));
        let hash = work.hash("secret".into()).await.unwrap();
        let attempts: Vec<_> = (0..6)
            .map(|_| {
                let (work, hash) = (work.clone(), hash.clone());
                tokio::spawn(async move { work.verify("secret".into(), hash).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for attempt in attempts {
            outcomes.push(attempt.await.unwrap());
        }
        let busy = outcomes
            .iter()
            .filter(|outcome| **outcome == Err(PasswordError::Busy))
            .count();
        let done = outcomes
            .iter()
            .filter(|outcome| **outcome == Ok(true))
            .count();
        assert!(done >= 2 && busy >= 1, "{outcomes:?}");
        assert_eq!(done + busy, 6);
        // Nothing is left waiting: the next one runs.
        assert_eq!(work.verify("secret".into(), hash).await, Ok(true));
    }

    #[test]
    fn failures_from_one_address_lock_the_account_for_that_address_only() {
        let throttle = FailureThrottle::new(policy());
        let start = Instant::now();
        let from_x = Attempt::new("app/root".into(), address(1));
        let from_y = Attempt::new("app/root".into(), address(2));
        for _ in 0..2 {
            throttle.record_failure(&from_x, start);
            assert_eq!(locked_for(&throttle, &from_x, start), None);
        }
        throttle.record_failure(&from_x, start);
        assert_eq!(
            locked_for(&throttle, &from_x, start),
            Some(Duration::from_secs(2))
        );
        // The owner, from elsewhere, is not locked out.
        assert_eq!(locked_for(&throttle, &from_y, start), None);
        // The lock doubles with each further failure.
        let later = start + Duration::from_secs(2);
        assert_eq!(locked_for(&throttle, &from_x, later), None);
        throttle.record_failure(&from_x, later);
        assert_eq!(
            locked_for(&throttle, &from_x, later),
            Some(Duration::from_secs(4))
        );
        // A success from X starts the account's count over.
        throttle.record_success(&from_x);
        assert_eq!(locked_for(&throttle, &from_x, later), None);
    }

    #[test]
    fn one_address_guessing_many_accounts_is_locked_for_all_of_them() {
        let throttle = FailureThrottle::new(policy());
        let now = Instant::now();
        for user in 0..5 {
            throttle.record_failure(&Attempt::new(format!("app/u{user}"), address(1)), now);
        }
        assert!(locked_for(
            &throttle,
            &Attempt::new("app/other".into(), address(1)),
            now
        )
        .is_some());
        assert_eq!(
            locked_for(
                &throttle,
                &Attempt::new("app/other".into(), address(2)),
                now
            ),
            None
        );
        // A success does not clear the address.
        throttle.record_success(&Attempt::new("app/u0".into(), address(1)));
        assert!(locked_for(&throttle, &Attempt::new("app/u0".into(), address(1)), now).is_some());
    }

    #[test]
    fn without_an_address_the_account_alone_is_counted() {
        let throttle = FailureThrottle::new(ThrottlePolicy {
            address_failures: 0,
            ..policy()
        });
        let now = Instant::now();
        let anywhere = Attempt::new("app/root".into(), None);
        for _ in 0..3 {
            throttle.record_failure(&anywhere, now);
        }
        assert!(locked_for(&throttle, &anywhere, now).is_some());
        // With the per-address lock off, other accounts from an address are never locked.
        for _ in 0..10 {
            throttle.record_failure(&Attempt::new("app/a".into(), address(1)), now);
        }
        assert_eq!(
            locked_for(&throttle, &Attempt::new("app/b".into(), address(1)), now),
            None
        );
    }

    #[test]
    fn the_tracked_keys_stay_bounded() {
        let throttle = FailureThrottle::new(ThrottlePolicy {
            max_tracked: 10,
            ..policy()
        });
        let now = Instant::now();
        for user in 0..100 {
            throttle.record_failure(&Attempt::new(format!("app/u{user}"), None), now);
        }
        assert!(lock(&throttle.failures).len() <= 10);
    }
}
