//! Push-notification settings (API-SURFACE.md section 9): silent mode for the account and per
//! conversation (`setSilentModeForAll`, `setSilentModeForConversation`,
//! `clearRemindTypeForConversation`, and their reads), the push language and push tokens.
//! Confab sends no push notifications itself; the settings round-trip and survive restarts for
//! a push gateway to read. A change reaches the user's other devices as a
//! `user_notification_mute` NOTIFY (`onMultiDeviceEvent`).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::{
    appender::Appender,
    ids::{AppKey, UserName},
    now_ms,
    store::{NotificationScope, NotificationSetting, NotificationStore, PushToken},
    Error,
};

/// Most conversations one `getSilentModeForConversations` names.
pub const MAX_SCOPES_PER_READ: usize = 100;
/// Most conversations per page of `getSilentModeRemindTypeConversations`.
pub const MAX_REMIND_TYPE_PAGE: u32 = 100;
/// Longest do-not-disturb duration, in ms (the hosted limit: 7 days).
pub const MAX_IGNORE_DURATION_MS: u64 = 7 * 24 * 3600 * 1000;

/// One change of a scope's setting, as a `PUT …/notification/…` body names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingChange {
    /// `ALL`, `AT` or `NONE`.
    RemindType(String),
    /// Do not disturb for this long from now; 0 ends it.
    IgnoreDuration(u64),
    /// Do not disturb daily, `H:M-H:M`; `""` ends it.
    IgnoreInterval(String),
    /// `{type: "DEFAULT"}`: the scope's setting goes.
    Clear,
}

pub struct NotificationService {
    store: Arc<dyn NotificationStore>,
    appender: Arc<Appender>,
}

/// The JSON of a setting, as the SDK reads it: only the parts set.
pub fn setting_json(setting: &NotificationSetting) -> Value {
    let mut object = Map::new();
    if let Some(remind_type) = &setting.remind_type {
        object.insert("type".into(), json!(remind_type));
    }
    if let Some(until) = setting.ignore_until_ms {
        object.insert("ignoreDuration".into(), json!(until));
    }
    if let Some(interval) = &setting.ignore_interval {
        object.insert("ignoreInterval".into(), json!(interval));
    }
    Value::Object(object)
}

/// `H:M-H:M`, each hour 0–23 and minute 0–59.
fn valid_interval(interval: &str) -> bool {
    let time = |text: &str| {
        let Some((hour, minute)) = text.split_once(':') else {
            return false;
        };
        matches!((hour.parse::<u8>(), minute.parse::<u8>()), (Ok(h), Ok(m)) if h < 24 && m < 60)
    };
    interval
        .split_once('-')
        .is_some_and(|(from, to)| time(from) && time(to))
}

impl NotificationService {
    pub fn new(store: Arc<dyn NotificationStore>, appender: Arc<Appender>) -> NotificationService {
        NotificationService { store, appender }
    }

    /// Applies `change` to `owner`'s setting of `scope` (made on the device on `resource`) and
    /// returns the setting now; the user's other devices hear of it.
    pub async fn change(
        &self,
        app: &AppKey,
        (owner, resource): (&UserName, &str),
        scope: &NotificationScope,
        change: SettingChange,
    ) -> Result<NotificationSetting, Error> {
        let mut setting = self
            .store
            .notification_settings(app, owner, std::slice::from_ref(scope))
            .await?
            .pop()
            .map(|(_, setting)| setting)
            .unwrap_or_default();
        let cleared = match change {
            SettingChange::RemindType(kind) => {
                if !matches!(kind.as_str(), "ALL" | "AT" | "NONE") {
                    return Err(Error::InvalidArgument(format!("invalid type {kind}")));
                }
                setting.remind_type = Some(kind);
                false
            }
            SettingChange::IgnoreDuration(0) => {
                setting.ignore_until_ms = None;
                false
            }
            SettingChange::IgnoreDuration(duration) => {
                if duration > MAX_IGNORE_DURATION_MS {
                    return Err(Error::InvalidArgument(format!(
                        "ignoreDuration must be at most {MAX_IGNORE_DURATION_MS} ms"
                    )));
                }
                setting.ignore_until_ms = Some(now_ms() + duration);
                false
            }
            SettingChange::IgnoreInterval(interval) if interval.is_empty() => {
                setting.ignore_interval = None;
                false
            }
            SettingChange::IgnoreInterval(interval) => {
                if !valid_interval(&interval) {
                    return Err(Error::InvalidArgument(format!(
                        "invalid ignoreInterval {interval}"
                    )));
                }
                setting.ignore_interval = Some(interval);
                false
            }
            SettingChange::Clear => true,
        };
        if cleared {
            setting = NotificationSetting::default();
        }
        let stored = (setting != NotificationSetting::default()).then_some(&setting);
        self.store
            .set_notification_setting(app, owner, scope, stored)
            .await?;
        let mut data = setting_json(&setting);
        let mut value = json!({ "operator_resource": resource });
        match scope {
            // The SDK tells the account's setting by the key (`setSilentModeForUser`).
            NotificationScope::Account => {
                if data.get("ignoreInterval").is_none() {
                    data["ignoreInterval"] = json!("");
                }
                value["user"] = json!(owner.as_str());
            }
            NotificationScope::User(peer) => value["user"] = json!(peer),
            NotificationScope::Group(group) => value["group"] = json!(group),
        }
        value["data"] = data;
        let payload = json!({ "type": "user_notification_mute", "values": [value] });
        self.appender
            .notify_other_devices(app, owner, resource, owner, payload)
            .await?;
        Ok(setting)
    }

    /// `owner`'s settings of `scopes` that exist.
    pub async fn settings(
        &self,
        app: &AppKey,
        owner: &UserName,
        scopes: &[NotificationScope],
    ) -> Result<Vec<(NotificationScope, NotificationSetting)>, Error> {
        if scopes.len() > MAX_SCOPES_PER_READ {
            return Err(Error::InvalidArgument(format!(
                "at most {MAX_SCOPES_PER_READ} conversations at a time"
            )));
        }
        Ok(self.store.notification_settings(app, owner, scopes).await?)
    }

    /// Conversations with a remind type, `limit` (1 to `MAX_REMIND_TYPE_PAGE`) after `after`.
    pub async fn remind_types(
        &self,
        app: &AppKey,
        owner: &UserName,
        after: Option<&NotificationScope>,
        limit: u32,
    ) -> Result<Vec<(NotificationScope, NotificationSetting)>, Error> {
        Ok(self
            .store
            .conversations_with_remind_type(app, owner, after, limit.clamp(1, MAX_REMIND_TYPE_PAGE))
            .await?)
    }

    pub async fn set_language(
        &self,
        app: &AppKey,
        owner: &UserName,
        language: &str,
    ) -> Result<(), Error> {
        if language.is_empty() || language.len() > 32 {
            return Err(Error::InvalidArgument(
                "translationLanguage must be 1 to 32 bytes".to_owned(),
            ));
        }
        Ok(self
            .store
            .set_push_language(app, owner, Some(language))
            .await?)
    }

    pub async fn language(&self, app: &AppKey, owner: &UserName) -> Result<Option<String>, Error> {
        Ok(self.store.push_language(app, owner).await?)
    }

    /// Binds (or, with an empty token, unbinds) a device's push token.
    pub async fn set_push_token(
        &self,
        app: &AppKey,
        owner: &UserName,
        token: &PushToken,
    ) -> Result<(), Error> {
        if token.device_id.is_empty() || token.device_id.len() > 128 {
            return Err(Error::InvalidArgument(
                "device_id must be 1 to 128 bytes".to_owned(),
            ));
        }
        if token.device_token.len() > 512 || token.notifier.len() > 128 {
            return Err(Error::InvalidArgument(
                "device_token or notifier_name is too long".to_owned(),
            ));
        }
        Ok(self.store.set_push_token(app, owner, token).await?)
    }
}
