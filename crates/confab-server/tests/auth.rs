//! Authentication over real sockets (issue 15): a token belongs to one user account (not to
//! the next user of its name), a password change revokes every token issued up to it, password
//! work is bounded and wrong passwords throttled, and a user token alone does not change its
//! password.

#![allow(clippy::unwrap_used)] // test helpers: a failed step should stop the test loudly

mod common;

use std::time::Duration;

use common::{TestServer, APP, APP_KEY, ORG};
use serde_json::{json, Value};

const TOKEN_MISMATCH: &str = "Sorry, token or password does not match login info";

async fn password_grant(server: &TestServer, user: &str, password: &str) -> (u16, Value) {
    server
        .http(
            "POST",
            &format!("/{ORG}/{APP}/token"),
            None,
            &json!({"grant_type": "password", "username": user, "password": password, "ttl": 0})
                .to_string(),
        )
        .await
}

async fn granted_token(server: &TestServer, user: &str, password: &str) -> String {
    let (status, body) = password_grant(server, user, password).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// `GET …/token/expires`, the SDK's `renewToken` check.
async fn renew(server: &TestServer, user: &str, token: &str) -> (u16, Value) {
    server
        .http(
            "GET",
            &format!("/{ORG}/{APP}/sdk/users/{user}/token/expires"),
            Some(token),
            "",
        )
        .await
}

/// The reason of a socket login's `Provision` answer ("" when it succeeded).
async fn login_reason(server: &TestServer, user: &str, token: &str) -> String {
    let mut client = server.connect().await;
    let reply = client.provision(APP_KEY, user, token, "web").await;
    let status = reply.status.unwrap();
    if status.error_code == Some(0) {
        return String::new();
    }
    status.reason.unwrap_or_default()
}

fn assert_revoked(answer: &(u16, Value)) {
    assert_eq!(answer.0, 401, "{}", answer.1);
    assert_eq!(answer.1["error"], "unauthorized", "{}", answer.1);
    assert_eq!(
        answer.1["error_description"], "Unable to authenticate (OAuth)",
        "{}",
        answer.1
    );
}

async fn sleep_into_the_next_second() {
    let into_second = confab_core::now_ms() % 1000;
    tokio::time::sleep(Duration::from_millis(1000 - into_second + 20)).await;
}

/// Issue 15, defect 2: a token from `POST /token` (and one an app server built for the name
/// before the user existed) must not work for the next user of that name.
#[tokio::test]
async fn a_deleted_users_token_does_not_work_for_the_next_user_of_that_name() {
    let server = TestServer::start().await;
    let app_token = server.app_token().await;
    server.register("u", "first-password").await;
    let granted = granted_token(&server, "u", "first-password").await;
    let by_name = server.user_token("u", 3600);
    assert_eq!(renew(&server, "u", &granted).await.0, 200);
    assert_eq!(login_reason(&server, "u", &granted).await, "");

    let (status, body) = server
        .http(
            "DELETE",
            &format!("/{ORG}/{APP}/users/u"),
            Some(&app_token),
            "",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The user is gone: the renew route must not answer 200.
    assert_revoked(&renew(&server, "u", &granted).await);
    assert_revoked(&renew(&server, "u", &by_name).await);
    let (status, body) = renew(&server, "u", &app_token).await;
    assert_eq!(status, 404, "{body}");

    // Recreated in a later second than the name token's.
    sleep_into_the_next_second().await;
    server.register("u", "second-password").await;
    for token in [&granted, &by_name] {
        assert_revoked(&renew(&server, "u", token).await);
        assert_eq!(login_reason(&server, "u", token).await, TOKEN_MISMATCH);
    }
    // The new user's own tokens work.
    let fresh = granted_token(&server, "u", "second-password").await;
    assert_eq!(renew(&server, "u", &fresh).await.0, 200);
    assert_eq!(login_reason(&server, "u", &fresh).await, "");
    let fresh_by_name = server.user_token("u", 3600);
    assert_eq!(login_reason(&server, "u", &fresh_by_name).await, "");
}

/// Issue 15, defect 3: a token dated in the second of a password change, issued before it, is
/// revoked too (5 of 5 tries), and a token granted right after the change works at once.
#[tokio::test]
async fn a_password_change_revokes_tokens_issued_earlier_in_the_same_second() {
    let server = TestServer::start().await;
    let app_token = server.app_token().await;
    server.register("p", "password-0").await;
    for attempt in 1..=5 {
        let old_password = format!("password-{}", attempt - 1);
        let new_password = format!("password-{attempt}");
        let granted = granted_token(&server, "p", &old_password).await;
        let (status, body) = server
            .http(
                "PUT",
                &format!("/{ORG}/{APP}/users/p/password"),
                Some(&app_token),
                &json!({ "newpassword": new_password }).to_string(),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        // The second the change was stored in: an app server's token dated then may have been
        // made just before it.
        let (_, user) = server
            .http(
                "GET",
                &format!("/{ORG}/{APP}/users/p"),
                Some(&app_token),
                "",
            )
            .await;
        let changed_in = (user["entities"][0]["modified"].as_u64().unwrap() / 1000) as u32;
        let same_second = confab_token::build_user_token(
            &server.app_id,
            &server.certificate,
            "p",
            changed_in,
            3600,
        );
        for token in [&granted, &same_second] {
            assert_revoked(&renew(&server, "p", token).await);
            assert_eq!(login_reason(&server, "p", token).await, TOKEN_MISMATCH);
        }
        // Granted in the same second as the change, and it works at once.
        let after = granted_token(&server, "p", &new_password).await;
        assert_eq!(renew(&server, "p", &after).await.0, 200);
        assert_eq!(login_reason(&server, "p", &after).await, "");
        if attempt == 1 {
            // An app server's token of the next second works (later changes within one second
            // move the bound a second further each).
            let next_second = confab_token::build_user_token(
                &server.app_id,
                &server.certificate,
                "p",
                changed_in + 1,
                3600,
            );
            assert_eq!(renew(&server, "p", &next_second).await.0, 200);
        }
    }
}

/// Issue 15, defect 8: password grants beyond the hashing slots and their queue are refused
/// at once with the hosted rate-limit error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_grants_beyond_the_hashing_slots_get_the_rate_limit_error() {
    let server = TestServer::start_with(|config| {
        config.auth.max_concurrent_hashes = 1;
        config.auth.max_waiting_hashes = 1;
    })
    .await;
    let server = std::sync::Arc::new(server);
    let grants: Vec<_> = (0..12)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move { password_grant(&server, "leo", "secret").await })
        })
        .collect();
    let mut answers = Vec::new();
    for grant in grants {
        answers.push(grant.await.unwrap());
    }
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 429)
        .map(|(_, body)| body)
        .collect();
    let granted = answers.iter().filter(|(status, _)| *status == 200).count();
    assert!(!refused.is_empty() && granted >= 2, "{answers:?}");
    assert_eq!(refused.len() + granted, answers.len(), "{answers:?}");
    for body in refused {
        assert_eq!(body["error"], "too_many_requests", "{body}");
        assert_eq!(
            body["error_description"], "The request has reached the maximum limit",
            "{body}"
        );
        assert!(body["timestamp"].is_u64(), "{body}");
    }
    // Once the burst is over, grants work again.
    assert_eq!(password_grant(&server, "leo", "secret").await.0, 200);
}

/// Issue 15, defect 8: repeated wrong passwords lock the user; during the lock the right
/// password is refused too, after it the right one works.
#[tokio::test]
async fn wrong_passwords_lock_the_user_and_the_right_one_waits_for_the_lock() {
    let server = TestServer::start_with(|config| {
        config.auth.failures_before_lock = 3;
        config.auth.first_lock_secs = 1;
        config.auth.max_lock_secs = 1;
    })
    .await;
    for _ in 0..3 {
        let (status, body) = password_grant(&server, "leo", "wrong").await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error_description"], "invalid password", "{body}");
    }
    let (status, body) = password_grant(&server, "leo", "secret").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "too_many_requests", "{body}");
    // Another user is not affected.
    assert_eq!(password_grant(&server, "roy", "secret").await.0, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(password_grant(&server, "leo", "secret").await.0, 200);
}

/// Issue 15, defect 15: with the user's own token, the password changes only with the old
/// one; with an app token (the hosted document's form), `newpassword` alone does.
#[tokio::test]
async fn a_user_token_changes_its_password_only_with_the_old_one() {
    let server = TestServer::start().await;
    let path = format!("/{ORG}/{APP}/users/leo/password");
    let user_token = server.user_token("leo", 3600);
    for body in [
        json!({"newpassword": "taken-over"}),
        json!({"newpassword": "taken-over", "oldpassword": "wrong"}),
    ] {
        let (status, answer) = server
            .http("PUT", &path, Some(&user_token), &body.to_string())
            .await;
        assert_eq!(status, 401, "{answer}");
        assert_eq!(answer["error"], "unauthorized", "{answer}");
        assert!(answer["error_description"].is_string(), "{answer}");
    }
    assert_eq!(password_grant(&server, "leo", "taken-over").await.0, 400);
    let (status, answer) = server
        .http(
            "PUT",
            &path,
            Some(&user_token),
            &json!({"newpassword": "changed-by-leo", "oldpassword": "secret"}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        password_grant(&server, "leo", "changed-by-leo").await.0,
        200
    );

    let app_token = server.app_token().await;
    let (status, answer) = server
        .http(
            "PUT",
            &path,
            Some(&app_token),
            &json!({"newpassword": "reset-by-admin"}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        password_grant(&server, "leo", "reset-by-admin").await.0,
        200
    );
}
