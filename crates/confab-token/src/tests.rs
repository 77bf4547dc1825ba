//! Unit tests: issue/verify round trips, the service walk, the caps and the lenient base64, and a fuzz-ish no-panic sweep.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use hmac::Mac;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;

use super::*;

const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
const CERT2: &str = "9f86d081884c7d659a2feaa0c55ad015";
const ISSUED: u32 = 1_700_000_000;

fn login<'a>(user: &'a str) -> TokenUse<'a> {
    TokenUse::Login {
        user,
        user_uuid: None,
    }
}

fn rest_user<'a>(user: &'a str) -> TokenUse<'a> {
    TokenUse::RestUser {
        user,
        user_uuid: None,
    }
}

fn check(token: &str, token_use: TokenUse<'_>, now: u64) -> Result<VerifiedToken, TokenError> {
    verify(token, APP_ID, &[CERT], token_use, now)
}

/// Signs `signed_info` with `CERT` the way the builders do and seals it into a token.
fn sign_and_seal(signed_info: &[u8], issue_ts: u32, salt: u32) -> String {
    let mut mac = signing_mac(CERT, issue_ts, salt).unwrap();
    mac.update(signed_info);
    let signature = mac.finalize().into_bytes();
    let mut content = Vec::new();
    put_str(&mut content, &signature);
    content.extend_from_slice(signed_info);
    zlib_base64(&content)
}

/// `"007"` + base64(zlib(content)): any bytes, signed or not, in token form.
fn zlib_base64(content: &[u8]) -> String {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(content).unwrap();
    format!("007{}", STANDARD.encode(encoder.finish().unwrap()))
}

fn put_str(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Header of signed info: app id, issue_ts, expire 3600, salt 7, `count` services.
fn header(count: u16) -> Vec<u8> {
    let mut out = Vec::new();
    put_str(&mut out, APP_ID.as_bytes());
    put_u32(&mut out, ISSUED);
    put_u32(&mut out, 3600);
    put_u32(&mut out, 7);
    put_u16(&mut out, count);
    out
}

/// A service with one privilege (1 = 3600) and the given body.
fn service(out: &mut Vec<u8>, service_type: u16, body: &[u8]) {
    put_u16(out, service_type);
    put_u16(out, 1);
    put_u16(out, 1);
    put_u32(out, 3600);
    out.extend_from_slice(body);
}

fn chat_body(user: &str) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, user.as_bytes());
    body
}

#[test]
fn reference_token_rebuilds_byte_for_byte() {
    // Official test inputs (TOKEN.md §4); payload and signature as in `agora_reference_user`.
    let token = build_chat_token_with_salt(
        APP_ID,
        CERT,
        "2882341273",
        &[(PRIVILEGE_USER, 600)],
        1_111_111,
        600,
        1,
    );
    let decoded = decode(&token).unwrap();
    assert_eq!(
        hex::encode(decoded.signature()),
        "28523b422bbfe03ceee4d0caef59d686fe2518eb70077dda27cdfcd448ff64ae"
    );
    assert_eq!(
        hex::encode(decoded.payload()),
        "200028523b422bbfe03ceee4d0caef59d686fe2518eb70077dda27cdfcd448ff64ae20003937304341333564\
         65363063343436343562626165386132313530363162333347f4100058020000010000000100050001000100\
         580200000a0032383832333431323733"
    );
    assert_eq!(
        hex::encode(signing_key(CERT, 1_111_111, 1).unwrap()),
        "cee2fa8dcbe868c30ca8c959d97fad4a5049c634da48449f1b8f59c14fa61073"
    );
}

#[test]
fn user_token_round_trip() {
    let token = build_user_token(APP_ID, CERT, "Alice", ISSUED, 3600);
    let body = &token[3..];
    assert!(token.starts_with("007eJ"));
    assert_eq!(body.len() % 4, 0, "padded standard base64");
    assert!(body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)));

    let verified = check(&token, login("alice"), u64::from(ISSUED) + 10).unwrap();
    assert_eq!(
        verified,
        VerifiedToken {
            app_id: APP_ID.to_owned(),
            issue_ts: ISSUED,
            privilege: Privilege::User,
            user_id: "Alice".to_owned(),
            expires_at: 1_700_003_600,
        }
    );
    assert_eq!(verified.expires_at_ms(), 1_700_003_600_000);

    assert!(check(&token, rest_user("ALICE"), u64::from(ISSUED)).is_ok());
    assert!(check(&token, TokenUse::Parse, u64::from(ISSUED)).is_ok());
    assert_eq!(
        check(&token, TokenUse::RestApp, u64::from(ISSUED)),
        Err(TokenError::NoPrivilege)
    );
    assert_eq!(
        check(&token, login("bob"), u64::from(ISSUED)),
        Err(TokenError::UserMismatch)
    );
    assert_eq!(
        check(&token, login("alice"), 1_700_003_600),
        Err(TokenError::Expired)
    );
    let by_uuid = TokenUse::Login {
        user: "someone",
        user_uuid: Some("ALICE"),
    };
    assert!(check(&token, by_uuid, u64::from(ISSUED)).is_ok());
    assert_eq!(
        verify(&token, APP_ID, &[CERT2], login("alice"), u64::from(ISSUED)),
        Err(TokenError::BadSignature)
    );
    assert!(verify(
        &token,
        APP_ID,
        &[CERT2, CERT],
        login("alice"),
        u64::from(ISSUED)
    )
    .is_ok());
    assert_eq!(
        verify(&token, APP_ID, &[], login("alice"), u64::from(ISSUED)),
        Err(TokenError::BadSignature)
    );
    assert_eq!(
        verify(&token, APP_ID, &[""], login("alice"), u64::from(ISSUED)),
        Err(TokenError::BadSignature)
    );
    assert_eq!(
        verify(&token, &APP_ID.to_lowercase(), &[CERT], login("alice"), 0),
        Err(TokenError::AppIdMismatch)
    );
    assert_eq!(peek_app_id(&token).unwrap(), APP_ID);
}

#[test]
fn app_token_round_trip() {
    let token = build_app_token(APP_ID, CERT, ISSUED, 600);
    let verified = check(&token, TokenUse::RestApp, u64::from(ISSUED) + 599).unwrap();
    assert_eq!(verified.privilege, Privilege::App);
    assert_eq!(verified.user_id, "");
    assert_eq!(verified.expires_at, u64::from(ISSUED) + 600);
    let for_user = check(&token, rest_user("alice"), u64::from(ISSUED)).unwrap();
    assert_eq!(for_user.privilege, Privilege::App);
    assert_eq!(
        check(&token, login("alice"), u64::from(ISSUED)),
        Err(TokenError::NoPrivilege)
    );
    assert_eq!(
        check(&token, TokenUse::RestApp, u64::from(ISSUED) + 600),
        Err(TokenError::Expired)
    );
}

#[test]
fn issued_salts_stay_in_the_builders_range() {
    for _ in 0..200 {
        let salt = decode(&build_app_token(APP_ID, CERT, ISSUED, 60))
            .unwrap()
            .salt();
        assert!((1..=99_999_999).contains(&salt));
    }
}

#[test]
fn parse_reports_the_longest_lived_privilege() {
    let both = |user_value, app_value| {
        build_chat_token_with_salt(
            APP_ID,
            CERT,
            "alice",
            &[(PRIVILEGE_APP, app_value), (PRIVILEGE_USER, user_value)],
            ISSUED,
            3600,
            9,
        )
    };
    let longer_app = check(&both(600, 0), TokenUse::Parse, 0).unwrap();
    assert_eq!(
        (longer_app.privilege, longer_app.user_id.as_str()),
        (Privilege::App, "")
    );
    assert_eq!(longer_app.expires_at, u64::from(ISSUED) + 3600);
    let longer_user = check(&both(1200, 600), TokenUse::Parse, 0).unwrap();
    assert_eq!(
        (longer_user.privilege, longer_user.user_id.as_str()),
        (Privilege::User, "alice")
    );
    // rest-user takes the app privilege whenever the token carries it.
    let rest = check(&both(3600, 600), rest_user("bob"), u64::from(ISSUED)).unwrap();
    assert_eq!(
        (rest.privilege, rest.expires_at),
        (Privilege::App, u64::from(ISSUED) + 600)
    );

    let none = build_chat_token_with_salt(APP_ID, CERT, "alice", &[(3, 60)], ISSUED, 60, 9);
    assert_eq!(
        check(&none, TokenUse::Parse, 0),
        Err(TokenError::NoPrivilege)
    );
    assert_eq!(
        check(&none, rest_user("alice"), 0),
        Err(TokenError::NoPrivilege)
    );
}

#[test]
fn walks_every_known_layout_to_reach_chat() {
    let mut rtm2 = Vec::new();
    put_str(&mut rtm2, b"rtm2-user");
    put_u16(&mut rtm2, 2); // two resources
    for resource in [1u16, 2] {
        put_u16(&mut rtm2, resource);
        put_u16(&mut rtm2, 2); // two permissions
        for permission in [1u16, 2] {
            put_u16(&mut rtm2, permission);
            put_u16(&mut rtm2, 2);
            put_str(&mut rtm2, b"channel-a");
            put_str(&mut rtm2, b"");
        }
    }
    let two_strings = [chat_body("room-1"), chat_body("42")].concat();
    let mut apaas = [chat_body("room-1"), chat_body("user-uuid")].concat();
    apaas.extend_from_slice(&(-1i16).to_le_bytes());
    let layouts: Vec<(u16, Vec<u8>)> = vec![
        (1, two_strings.clone()),
        (2, chat_body("rtm-user")),
        (3, two_strings.clone()),
        (4, Vec::new()),
        (6, two_strings),
        (7, apaas),
        (8, rtm2),
        (9, Vec::new()),
        (10, Vec::new()),
    ];

    let mut all = header(u16::try_from(layouts.len()).unwrap() + 2);
    for (service_type, body) in &layouts {
        service(&mut all, *service_type, body);
    }
    service(&mut all, 5, &chat_body("alice"));
    service(&mut all, 5, &chat_body("bob")); // only the first Chat service counts
    let token = sign_and_seal(&all, ISSUED, 7);
    let verified = check(&token, login("alice"), u64::from(ISSUED)).unwrap();
    assert_eq!(verified.user_id, "alice");
    assert_eq!(
        check(&token, login("bob"), u64::from(ISSUED)),
        Err(TokenError::UserMismatch)
    );

    // Each layout alone before Chat, and each cut short: the walk must not misread the body.
    for (service_type, body) in &layouts {
        let mut one = header(2);
        service(&mut one, *service_type, body);
        service(&mut one, 5, &chat_body("alice"));
        let token = sign_and_seal(&one, ISSUED, 7);
        assert!(
            check(&token, login("alice"), u64::from(ISSUED)).is_ok(),
            "service type {service_type}"
        );
        if !body.is_empty() {
            let mut cut = header(2);
            service(&mut cut, *service_type, &body[..body.len() - 1]);
            let token = sign_and_seal(&cut, ISSUED, 7);
            assert_eq!(decode(&token).unwrap_err(), TokenError::Malformed);
        }
    }
}

#[test]
fn unknown_type_stops_the_walk_and_trailing_bytes_are_signed() {
    let mut unknown_first = header(2);
    service(&mut unknown_first, 11, &[]);
    service(&mut unknown_first, 5, &chat_body("alice"));
    let token = sign_and_seal(&unknown_first, ISSUED, 7);
    assert_eq!(
        check(&token, login("alice"), u64::from(ISSUED)),
        Err(TokenError::NoChatService)
    );

    // Bytes after the last service are covered by the signature but otherwise ignored.
    let mut trailing = header(1);
    service(&mut trailing, 5, &chat_body("alice"));
    trailing.extend_from_slice(b"extra");
    let token = sign_and_seal(&trailing, ISSUED, 7);
    assert!(check(&token, login("alice"), u64::from(ISSUED)).is_ok());

    // A declared service that is not there is a truncation.
    let token = sign_and_seal(&header(1), ISSUED, 7);
    assert_eq!(decode(&token).unwrap_err(), TokenError::Malformed);
    let no_services = sign_and_seal(&header(0), ISSUED, 7);
    assert_eq!(
        check(&no_services, TokenUse::Parse, 0),
        Err(TokenError::NoChatService)
    );
}

/// Issue 15, defect 16: the official parsers read every declared service, so a count above
/// the services present is a truncation even when Chat came first.
#[test]
fn declaring_more_services_than_present_is_malformed() {
    for declared in [2u16, 65_535] {
        let mut only_chat = header(declared);
        service(&mut only_chat, 5, &chat_body("alice"));
        let token = sign_and_seal(&only_chat, ISSUED, 7);
        assert_eq!(
            decode(&token).unwrap_err(),
            TokenError::Malformed,
            "count {declared}"
        );
        assert_eq!(
            check(&token, login("alice"), u64::from(ISSUED)),
            Err(TokenError::Malformed),
            "count {declared}"
        );
    }
    // Chat, then a second declared service cut short: also a truncation.
    let mut cut_after_chat = header(2);
    service(&mut cut_after_chat, 5, &chat_body("alice"));
    put_u16(&mut cut_after_chat, 2); // RTM, with no privileges map
    let token = sign_and_seal(&cut_after_chat, ISSUED, 7);
    assert_eq!(decode(&token).unwrap_err(), TokenError::Malformed);
    // Chat, then a complete second service: fine, and the first Chat service counts.
    let mut chat_then_rtm = header(2);
    service(&mut chat_then_rtm, 5, &chat_body("alice"));
    service(&mut chat_then_rtm, 2, &chat_body("rtm-user"));
    let token = sign_and_seal(&chat_then_rtm, ISSUED, 7);
    let verified = check(&token, login("alice"), u64::from(ISSUED)).unwrap();
    assert_eq!(verified.user_id, "alice");
    assert_eq!(decode(&token).unwrap().service_count(), 2);
}

#[test]
fn base64_leniency_is_exactly_the_documented_one() {
    let token = build_user_token(APP_ID, CERT, "alice", ISSUED, 3600);
    let ok = |text: &str| check(text, login("alice"), u64::from(ISSUED));

    assert!(ok(token.trim_end_matches('=')).is_ok());
    let url_safe = token.replace('+', "-").replace('/', "_");
    assert!(ok(&url_safe).is_ok());
    assert!(ok(url_safe.trim_end_matches('=')).is_ok());

    for bad in [
        format!("{} ", token),
        format!(" {}", token),
        format!("{}\n{}", &token[..40], &token[40..]),
        one_digit_too_many(&token),
        format!("{}=", &token[..20]),
        token.replacen('J', "*", 1),
        token.replacen('0', "O", 1),
    ] {
        assert_eq!(ok(&bad), Err(TokenError::Malformed), "{bad:?}");
    }
    assert_eq!(
        ok(&token.replacen("007", "006", 1)),
        Err(TokenError::UnsupportedVersion)
    );
    assert_eq!(
        ok(&token.replacen("007", "123", 1)),
        Err(TokenError::UnsupportedVersion)
    );
    for short in ["", "0", "00", "007", "7", "\u{e9}07", "0\u{e9}"] {
        let expected = TokenError::Malformed;
        assert_eq!(ok(short), Err(expected), "{short:?}");
    }
}

/// The unpadded token plus enough 'A's that the body length is 1 mod 4 (never valid base64).
fn one_digit_too_many(token: &str) -> String {
    let unpadded = token.trim_end_matches('=');
    let missing = (5 - (unpadded.len() - 3) % 4) % 4;
    format!(
        "{unpadded}{}",
        "A".repeat(if missing == 0 { 4 } else { missing })
    )
}

#[test]
fn mixed_alphabets_are_refused() {
    // Find a token whose text holds both '+' and '/', then rewrite just one of them.
    for salt in 1..1000 {
        let token =
            build_chat_token_with_salt(APP_ID, CERT, "alice", &[(1, 3600)], ISSUED, 3600, salt);
        if let (Some(plus), Some(_)) = (token.find('+'), token.find('/')) {
            let mixed = format!("{}-{}", &token[..plus], &token[plus + 1..]);
            assert_eq!(
                check(&mixed, login("alice"), u64::from(ISSUED)),
                Err(TokenError::Malformed)
            );
            return;
        }
    }
    panic!("no token with both '+' and '/' in 1000 salts");
}

#[test]
fn zlib_trailing_garbage_is_ignored() {
    let token = build_user_token(APP_ID, CERT, "alice", ISSUED, 3600);
    let mut compressed = STANDARD.decode(&token[3..]).unwrap();
    compressed.extend_from_slice(b"garbage");
    let padded = format!("007{}", STANDARD.encode(&compressed));
    assert!(check(&padded, login("alice"), u64::from(ISSUED)).is_ok());
}

#[test]
fn size_caps() {
    assert_eq!(
        decode(&format!("007{}", "A".repeat(codec::MAX_TOKEN_CHARS))).unwrap_err(),
        TokenError::Malformed
    );
    // Compresses well below 16 KiB of text but inflates past 64 KiB.
    let huge_user = "a".repeat(70_000);
    let token = build_user_token(APP_ID, CERT, &huge_user, ISSUED, 3600);
    assert!(token.len() <= codec::MAX_TOKEN_CHARS);
    assert_eq!(decode(&token).unwrap_err(), TokenError::Malformed);
    // Just under the cap still parses.
    let big_user = "b".repeat(codec::MAX_PAYLOAD_BYTES - 200);
    let token = build_user_token(APP_ID, CERT, &big_user, ISSUED, 3600);
    assert!(check(&token, login(&big_user), u64::from(ISSUED)).is_ok());
    // A zip bomb: 1 MiB of zeros behind a valid header.
    let mut bomb = header(1);
    bomb.resize(1 << 20, 0);
    assert_eq!(
        decode(&zlib_base64(&bomb)).unwrap_err(),
        TokenError::Malformed
    );
}

#[test]
fn every_strict_payload_prefix_is_malformed() {
    let token = build_user_token(APP_ID, CERT, "alice", ISSUED, 3600);
    let payload = decode(&token).unwrap().payload().to_vec();
    for len in 0..payload.len() {
        let cut = zlib_base64(&payload[..len]);
        assert_eq!(
            decode(&cut).unwrap_err(),
            TokenError::Malformed,
            "prefix {len}"
        );
    }
}

#[test]
fn any_changed_payload_byte_is_refused() {
    let token = build_user_token(APP_ID, CERT, "alice", ISSUED, 3600);
    let payload = decode(&token).unwrap().payload().to_vec();
    for index in 0..payload.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut changed = payload.clone();
            changed[index] ^= flip;
            let changed = zlib_base64(&changed);
            assert!(
                check(&changed, login("alice"), u64::from(ISSUED)).is_err(),
                "byte {index} ^ {flip:#x}"
            );
        }
    }
}

#[test]
fn fuzz_truncated_and_mutated_tokens_never_panic() {
    let user_token = build_user_token(APP_ID, CERT, "alice", ISSUED, 3600);
    let app_token = build_app_token(APP_ID, CERT, ISSUED, 3600);
    let mut multi = header(3);
    service(&mut multi, 8, &{
        let mut body = chat_body("u");
        put_u16(&mut body, 1);
        put_u16(&mut body, 1);
        put_u16(&mut body, 1);
        put_u16(&mut body, 1);
        put_u16(&mut body, 1);
        put_str(&mut body, b"x");
        body
    });
    service(
        &mut multi,
        7,
        &[chat_body("r"), chat_body("u"), vec![2, 0]].concat(),
    );
    service(&mut multi, 5, &chat_body("alice"));
    let multi_token = sign_and_seal(&multi, ISSUED, 7);

    let uses = [
        TokenUse::Parse,
        login("alice"),
        rest_user("alice"),
        TokenUse::RestApp,
    ];
    let run = |text: &str| {
        let _ = decode(text);
        let _ = peek_app_id(text);
        for token_use in uses {
            let _ = verify(text, APP_ID, &[CERT, CERT2], token_use, u64::from(ISSUED));
        }
    };

    let mut rng = StdRng::seed_from_u64(0x007);
    for token in [&user_token, &app_token, &multi_token] {
        for end in 0..=token.len() {
            run(&token[..end]);
        }
        // Character-level mutations of the text.
        let alphabet =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=\n \xff";
        for _ in 0..2000 {
            let mut bytes = token.as_bytes().to_vec();
            for _ in 0..rng.gen_range(1..4) {
                let index = rng.gen_range(0..bytes.len());
                match rng.gen_range(0..3) {
                    0 => bytes[index] = alphabet[rng.gen_range(0..alphabet.len())],
                    1 => bytes[index] ^= 1 << rng.gen_range(0..8),
                    _ => {
                        bytes.remove(index);
                    }
                }
            }
            run(&String::from_utf8_lossy(&bytes));
        }
        // Payload-level mutations, recompressed so they reach the field parser.
        let payload = decode(token).unwrap().payload().to_vec();
        for _ in 0..3000 {
            let mut bytes = payload.clone();
            for _ in 0..rng.gen_range(1..4) {
                let index = rng.gen_range(0..bytes.len());
                match rng.gen_range(0..4) {
                    0 => bytes[index] = rng.gen(),
                    1 => bytes[index] ^= 1 << rng.gen_range(0..8),
                    2 => bytes.truncate(index),
                    _ => bytes.insert(index, rng.gen()),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            run(&zlib_base64(&bytes));
        }
    }
    // Random payloads of random length.
    for _ in 0..2000 {
        let len = rng.gen_range(0..200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        run(&zlib_base64(&bytes));
        run(&format!("007{}", STANDARD.encode(&bytes)));
    }
}

#[test]
fn errors_have_codes_and_plain_messages() {
    let all = [
        (TokenError::Malformed, "malformed"),
        (TokenError::UnsupportedVersion, "unsupported_version"),
        (TokenError::AppIdMismatch, "app_id_mismatch"),
        (TokenError::BadSignature, "bad_signature"),
        (TokenError::NoChatService, "no_chat_service"),
        (TokenError::NoPrivilege, "no_privilege"),
        (TokenError::Expired, "expired"),
        (TokenError::UserMismatch, "user_mismatch"),
    ];
    for (error, code) in all {
        assert_eq!(error.code(), code);
        let message = error.to_string();
        assert!(message.starts_with(|c: char| c.is_ascii_lowercase()));
        assert!(!message.ends_with('.'));
    }
}

#[test]
fn debug_output_hides_the_signature() {
    let token = build_user_token(APP_ID, CERT, "alice", ISSUED, 3600);
    let decoded = decode(&token).unwrap();
    let debug = format!("{decoded:?}");
    assert!(debug.contains("alice") || debug.contains("97, 108"));
    assert!(!debug.contains(&hex::encode(decoded.signature())));
    assert!(!debug.contains(CERT));
    let verified = check(&token, login("alice"), u64::from(ISSUED)).unwrap();
    assert!(!format!("{verified:?}").contains(CERT));
}
