//! The public vectors of `shared/token/vectors.json` (copied here): decode, verdicts, equivalent encodings, rebuilds.

use std::collections::BTreeMap;

use confab_token::{
    build_app_token, build_chat_token_with_salt, build_user_token, decode, verify, DecodedToken,
    TokenUse,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct VectorFile {
    format: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    name: String,
    inputs: Option<Inputs>,
    token: String,
    #[serde(default)]
    equivalent_tokens: Vec<String>,
    decoded: Option<Decoded>,
    payload_hex: Option<String>,
    signature_hex: Option<String>,
    signed_bytes_hex: Option<String>,
    checks: Vec<Check>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inputs {
    app_id: String,
    app_certificate: String,
    issue_ts: u32,
    salt: u32,
    expire: u32,
    services: Vec<Service>,
    builder: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Decoded {
    app_id: String,
    issue_ts: u32,
    expire: u32,
    expires_at: u64,
    salt: u32,
    declared_service_count: u16,
    services: Vec<Service>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Service {
    #[serde(rename = "type")]
    service_type: u16,
    #[serde(default)]
    privileges: BTreeMap<String, u32>,
    user_id: Option<String>,
    user_id_hex: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Check {
    #[serde(rename = "use")]
    token_use: String,
    app_id: String,
    app_certificate: Option<String>,
    app_certificates: Option<Vec<String>>,
    now: u64,
    user: Option<String>,
    user_uuid: Option<String>,
    expected: String,
    effective_expires_at: Option<u64>,
    expires_at_ms: Option<u64>,
}

fn load() -> Vec<Vector> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors.json"))
        .expect("tests/vectors.json");
    let file: VectorFile = serde_json::from_str(&text).expect("vectors.json parses");
    assert_eq!(file.format, "confab/agora-accesstoken2-chat-vectors@1");
    file.vectors
}

fn privilege_list(privileges: &BTreeMap<String, u32>) -> Vec<(u16, u32)> {
    privileges
        .iter()
        .map(|(id, value)| (id.parse().expect("numeric privilege id"), *value))
        .collect()
}

/// Runs one check on `token`; `Err` describes the disagreement.
fn run_check(token: &str, check: &Check) -> Result<(), String> {
    let certificates: Vec<&str> = match (&check.app_certificates, &check.app_certificate) {
        (Some(list), _) => list.iter().map(String::as_str).collect(),
        (None, Some(one)) => vec![one.as_str()],
        (None, None) => Vec::new(),
    };
    let user = check.user.as_deref().unwrap_or("");
    let user_uuid = check.user_uuid.as_deref();
    let token_use = match check.token_use.as_str() {
        "parse" => TokenUse::Parse,
        "login" => TokenUse::Login { user, user_uuid },
        "rest-user" => TokenUse::RestUser { user, user_uuid },
        "rest-app" => TokenUse::RestApp,
        other => return Err(format!("unknown use {other}")),
    };
    let result = verify(token, &check.app_id, &certificates, token_use, check.now);
    let verdict = match &result {
        Ok(_) => "ok",
        Err(error) => error.code(),
    };
    if verdict != check.expected {
        return Err(format!(
            "{} at {}: got {verdict}, expected {}",
            check.token_use, check.now, check.expected
        ));
    }
    if let Ok(verified) = result {
        if let Some(expected) = check.effective_expires_at {
            if verified.expires_at != expected {
                return Err(format!("expires_at {} != {expected}", verified.expires_at));
            }
        }
        if let Some(expected) = check.expires_at_ms {
            if verified.expires_at_ms() != expected {
                return Err(format!(
                    "expires_at_ms {} != {expected}",
                    verified.expires_at_ms()
                ));
            }
        }
    }
    Ok(())
}

fn compare_decoded(decoded: &DecodedToken, vector: &Vector) -> Result<(), String> {
    let hex_matches = |label: &str, bytes: &[u8], expected: &Option<String>| match expected {
        Some(expected) if hex::encode(bytes) != *expected => Err(format!("{label} differs")),
        _ => Ok(()),
    };
    hex_matches("payload", decoded.payload(), &vector.payload_hex)?;
    hex_matches("signature", decoded.signature(), &vector.signature_hex)?;
    hex_matches(
        "signed bytes",
        decoded.signed_info(),
        &vector.signed_bytes_hex,
    )?;
    let Some(expected) = &vector.decoded else {
        return Err("decodes, but the vector says it does not".to_owned());
    };
    let fields = (
        String::from_utf8_lossy(decoded.app_id()).into_owned(),
        decoded.issue_ts(),
        decoded.expire(),
        u64::from(decoded.issue_ts()) + u64::from(decoded.expire()),
        decoded.salt(),
        decoded.service_count(),
    );
    let expected_fields = (
        expected.app_id.clone(),
        expected.issue_ts,
        expected.expire,
        expected.expires_at,
        expected.salt,
        expected.declared_service_count,
    );
    if fields != expected_fields {
        return Err(format!("fields {fields:?} != {expected_fields:?}"));
    }
    let expected_chat = expected.services.iter().find(|s| s.service_type == 5);
    match (decoded.chat(), expected_chat) {
        (None, None) => Ok(()),
        (Some(chat), Some(service)) => {
            let user_hex = hex::encode(chat.user_id());
            let user_ok = service.user_id_hex.as_ref().is_none_or(|h| *h == user_hex)
                && service
                    .user_id
                    .as_ref()
                    .is_none_or(|u| u.as_bytes() == chat.user_id());
            let privileges_ok = chat.user_privilege() == service.privileges.get("1").copied()
                && chat.app_privilege() == service.privileges.get("2").copied();
            if user_ok && privileges_ok {
                Ok(())
            } else {
                Err(format!("chat service differs: {chat:?}"))
            }
        }
        (found, _) => Err(format!(
            "chat service {found:?} where the vector has {expected_chat:?}",
            expected_chat = expected_chat.map(|s| s.service_type)
        )),
    }
}

fn assert_no_failures(failures: Vec<String>, checked: usize, what: &str) {
    assert!(checked > 0, "no {what} checked");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{checked} {what} passed");
}

#[test]
fn the_public_set_is_complete() {
    let vectors = load();
    assert_eq!(vectors.len(), 48);
    assert_eq!(vectors.iter().map(|v| v.checks.len()).sum::<usize>(), 90);
}

#[test]
fn decodes_every_vector_to_its_payload() {
    let (mut failures, mut checked) = (Vec::new(), 0);
    for vector in load() {
        checked += 1;
        match (decode(&vector.token), &vector.decoded) {
            (Ok(decoded), _) => {
                if let Err(why) = compare_decoded(&decoded, &vector) {
                    failures.push(format!("{}: {why}", vector.name));
                }
            }
            (Err(error), None) => {
                // A token that does not parse fails every check with the same parse error.
                if let Some(check) = vector.checks.iter().find(|c| c.expected != error.code()) {
                    failures.push(format!(
                        "{}: {} vs {}",
                        vector.name,
                        error.code(),
                        check.expected
                    ));
                }
            }
            (Err(error), Some(_)) => failures.push(format!("{}: {error}", vector.name)),
        }
    }
    assert_no_failures(failures, checked, "vectors decoded");
}

#[test]
fn every_check_gets_its_verdict() {
    let (mut failures, mut checked) = (Vec::new(), 0);
    for vector in load() {
        for token in std::iter::once(&vector.token).chain(&vector.equivalent_tokens) {
            for check in &vector.checks {
                checked += 1;
                if let Err(why) = run_check(token, check) {
                    failures.push(format!(
                        "{} ({}…): {why}",
                        vector.name,
                        &token[..12.min(token.len())]
                    ));
                }
            }
        }
    }
    assert_no_failures(failures, checked, "checks");
}

#[test]
fn equivalent_tokens_inflate_to_the_same_payload() {
    let (mut failures, mut checked) = (Vec::new(), 0);
    for vector in load() {
        for token in &vector.equivalent_tokens {
            checked += 1;
            match decode(token) {
                Ok(decoded) => {
                    if let Err(why) = compare_decoded(&decoded, &vector) {
                        failures.push(format!("{} equivalent: {why}", vector.name));
                    }
                }
                Err(error) => failures.push(format!("{} equivalent: {error}", vector.name)),
            }
        }
    }
    assert_no_failures(failures, checked, "equivalent tokens");
}

#[test]
fn rebuilds_genuine_chat_vectors() {
    let (mut failures, mut checked) = (Vec::new(), 0);
    for vector in load() {
        let Some(inputs) = &vector.inputs else {
            continue;
        };
        let [service] = inputs.services.as_slice() else {
            continue;
        };
        if service.service_type != 5 {
            continue;
        }
        checked += 1;
        let user = service.user_id.as_deref().unwrap_or("");
        let token = build_chat_token_with_salt(
            &inputs.app_id,
            &inputs.app_certificate,
            user,
            &privilege_list(&service.privileges),
            inputs.issue_ts,
            inputs.expire,
            inputs.salt,
        );
        let payload = decode(&token).map(|d| hex::encode(d.payload()));
        if payload.as_ref().ok() != vector.payload_hex.as_ref() {
            failures.push(format!(
                "{}: rebuilt payload differs ({payload:?})",
                vector.name
            ));
            continue;
        }
        for check in &vector.checks {
            if let Err(why) = run_check(&token, check) {
                failures.push(format!("{} rebuilt: {why}", vector.name));
            }
        }
    }
    assert_no_failures(failures, checked, "rebuilt vectors");
}

/// The public builders write the official layout: same signed bytes as the vector but for the
/// random salt, and the same verdicts.
#[test]
fn public_builders_match_the_official_builders() {
    let (mut failures, mut checked) = (Vec::new(), 0);
    for vector in load() {
        let Some(inputs) = &vector.inputs else {
            continue;
        };
        let [service] = inputs.services.as_slice() else {
            continue;
        };
        let expire_only = |id: &str| {
            service.privileges.len() == 1 && service.privileges.get(id) == Some(&inputs.expire)
        };
        let token = match inputs.builder.as_deref() {
            Some("ChatTokenBuilder.buildUserToken") if expire_only("1") => build_user_token(
                &inputs.app_id,
                &inputs.app_certificate,
                service.user_id.as_deref().unwrap_or(""),
                inputs.issue_ts,
                inputs.expire,
            ),
            Some("ChatTokenBuilder.buildAppToken") if expire_only("2") => build_app_token(
                &inputs.app_id,
                &inputs.app_certificate,
                inputs.issue_ts,
                inputs.expire,
            ),
            _ => continue,
        };
        checked += 1;
        let Ok(decoded) = decode(&token) else {
            failures.push(format!("{}: built token does not decode", vector.name));
            continue;
        };
        let mut signed = decoded.signed_info().to_vec();
        let salt_at = 2 + inputs.app_id.len() + 8;
        signed[salt_at..salt_at + 4].copy_from_slice(&inputs.salt.to_le_bytes());
        if Some(hex::encode(&signed)) != vector.signed_bytes_hex {
            failures.push(format!(
                "{}: signed bytes differ beyond the salt",
                vector.name
            ));
        }
        for check in &vector.checks {
            if let Err(why) = run_check(&token, check) {
                failures.push(format!("{} built: {why}", vector.name));
            }
        }
    }
    assert_no_failures(failures, checked, "builder comparisons");
}

#[test]
fn mixed_base64_alphabets_are_malformed() {
    let vectors = load();
    let url_safe = vectors
        .iter()
        .find(|v| v.name == "url_safe_base64")
        .expect("url_safe_base64 vector");
    let check = &url_safe.checks[0];
    for (from, to) in [("-", "+"), ("_", "/")] {
        let mixed = url_safe.token.replacen(from, to, 1);
        assert_ne!(mixed, url_safe.token);
        let certificates = [check.app_certificate.as_deref().unwrap_or("")];
        let result = verify(
            &mixed,
            &check.app_id,
            &certificates,
            TokenUse::Parse,
            check.now,
        );
        assert_eq!(result.unwrap_err().code(), "malformed");
    }
}
