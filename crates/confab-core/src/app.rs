//! Apps: the unit of tenancy. Each has an app key (`org#app`), Agora credentials (App ID and
//! certificates, for 007 tokens) and Easemob client credentials (for app tokens).

use std::fmt;

use rand::{rngs::OsRng, RngCore};

use crate::ids::AppKey;

/// A string that must never reach a log or a listing. `Debug`/`Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub key: AppKey,
    /// Easemob's application UUID, returned as `application` by the token endpoint.
    pub uuid: String,
    /// Agora App ID: 32 hex characters, inside every 007 token.
    pub app_id: String,
    /// Primary certificate, then an optional secondary one (TOKEN.md §6).
    pub certificates: Vec<Secret>,
    pub client_id: String,
    pub client_secret: Secret,
    pub created_ms: u64,
}

/// What `confab app create` asks for; credentials are generated unless imported.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub key: AppKey,
    pub imported: Option<(String, Secret)>,
}

impl App {
    /// Builds an app with fresh credentials from the OS RNG, or with an existing App ID and
    /// certificate imported from the hosted service (so tokens minted there keep working).
    pub fn create(new: NewApp, now_ms: u64) -> Result<App, crate::Error> {
        let (app_id, certificate) = match new.imported {
            Some((app_id, certificate)) => {
                if !is_hex32(&app_id) || !is_hex32(certificate.expose()) {
                    return Err(crate::Error::Unsupported(
                        "app id and certificate must be 32 hexadecimal characters",
                    ));
                }
                (app_id, certificate)
            }
            None => (random_hex(16), Secret::new(random_hex(16))),
        };
        Ok(App {
            key: new.key,
            uuid: uuid::Uuid::new_v4().to_string(),
            app_id,
            certificates: vec![certificate],
            client_id: format!("YXA6{}", random_base62(22)),
            client_secret: Secret::new(format!("YXA6{}", random_base62(27))),
            created_ms: now_ms,
        })
    }

    pub fn certificate_texts(&self) -> Vec<&str> {
        self.certificates.iter().map(Secret::expose).collect()
    }

    /// Primary certificate, used to sign the tokens Confab issues.
    pub fn signing_certificate(&self) -> &str {
        self.certificates.first().map(Secret::expose).unwrap_or("")
    }
}

fn is_hex32(text: &str) -> bool {
    text.len() == 32 && text.chars().all(|c| c.is_ascii_hexdigit())
}

fn random_hex(n_bytes: usize) -> String {
    let mut bytes = vec![0u8; n_bytes];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_base62(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let byte = (OsRng.next_u32() & 0xff) as usize;
        // Rejection sampling keeps every character equally likely.
        if byte < 62 * 4 {
            out.push(char::from(ALPHABET[byte % 62]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let app = App::create(
            NewApp {
                key: AppKey::parse("org#app").unwrap(),
                imported: None,
            },
            0,
        )
        .unwrap();
        let printed = format!("{app:?}");
        assert!(!printed.contains(app.signing_certificate()));
        assert!(!printed.contains(app.client_secret.expose()));
        assert!(is_hex32(&app.app_id) && is_hex32(app.signing_certificate()));
    }

    #[test]
    fn imported_credentials_are_checked() {
        let key = AppKey::parse("org#app").unwrap();
        let bad = NewApp {
            key: key.clone(),
            imported: Some(("xyz".into(), Secret::new("abc".into()))),
        };
        assert!(App::create(bad, 0).is_err());
        let good = NewApp {
            key,
            imported: Some((
                "970CA35de60c44645bbae8a215061b33".into(),
                Secret::new("5CFd2fd1755d40ecb72977518be15d3b".into()),
            )),
        };
        assert_eq!(
            App::create(good, 0).unwrap().app_id,
            "970CA35de60c44645bbae8a215061b33"
        );
    }
}
