//! User attributes (`updateUserInfo` / `updateOwnUserInfo`, `fetchUserInfoById`) and the
//! nickname (`updateCurrentUserNick`): what the app shows of a user, set by the user (or an
//! app token) and read by any user of the app.

use crate::{
    accounts::AccountService,
    ids::{AppKey, UserName},
    now_ms,
    store::{AttributesUpdate, UserAttributes},
    Error,
};

/// Most users one `fetchUserInfoById` names (the hosted limit).
pub const MAX_USERS_PER_FETCH: usize = 100;
/// Longest nickname, in characters.
pub const MAX_NICKNAME_CHARS: usize = 100;

impl AccountService {
    /// Sets `changes` in `name`'s attributes (the others stay); all of them together may take
    /// at most `max_user_attribute_bytes`. Returns the changes as set.
    pub async fn update_user_attributes(
        &self,
        app: &AppKey,
        name: &UserName,
        changes: Vec<(String, String)>,
    ) -> Result<UserAttributes, Error> {
        if changes.is_empty() {
            return Err(Error::InvalidArgument("no attribute to set".to_owned()));
        }
        if changes.iter().any(|(key, _)| key.is_empty()) {
            return Err(Error::InvalidArgument(
                "an attribute needs a name".to_owned(),
            ));
        }
        let max = self.limits.max_user_attribute_bytes;
        match self
            .users
            .update_user_attributes(app, name, &changes, max)
            .await?
        {
            AttributesUpdate::Updated(_) => Ok(changes.into_iter().collect()),
            AttributesUpdate::TooLarge => Err(Error::InvalidArgument(format!(
                "the user's attributes would take more than {max} bytes"
            ))),
            AttributesUpdate::NoUser => Err(Error::UserNotFound(name.to_string())),
        }
    }

    /// The attributes named in `keys` (all of them when empty) of each of `names` that exists.
    pub async fn user_attributes(
        &self,
        app: &AppKey,
        names: &[UserName],
        keys: &[String],
    ) -> Result<Vec<(UserName, UserAttributes)>, Error> {
        if names.is_empty() || names.len() > MAX_USERS_PER_FETCH {
            return Err(Error::InvalidArgument(format!(
                "targets must name 1 to {MAX_USERS_PER_FETCH} users"
            )));
        }
        let mut found = self.users.user_attributes(app, names).await?;
        if !keys.is_empty() {
            for (_, attributes) in &mut found {
                attributes.retain(|key, _| keys.contains(key));
            }
        }
        Ok(found)
    }

    /// Sets `name`'s nickname (the push display name).
    pub async fn set_nickname(
        &self,
        app: &AppKey,
        name: &UserName,
        nickname: &str,
    ) -> Result<crate::user::User, Error> {
        if nickname.chars().count() > MAX_NICKNAME_CHARS {
            return Err(Error::InvalidArgument(format!(
                "nickname is longer than {MAX_NICKNAME_CHARS} characters"
            )));
        }
        if !self
            .users
            .set_nickname(app, name, nickname, now_ms())
            .await?
        {
            return Err(Error::UserNotFound(name.to_string()));
        }
        self.user(app, name).await
    }
}
