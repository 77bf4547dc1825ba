//! Contacts and blocklists (`addContact`, `acceptContactInvite`, `declineContactInvite`,
//! `deleteContact`, `getContacts`, `getAllContacts`, `getContactsWithCursor`,
//! `setContactRemark`, `addUsersToBlocklist`, `removeUserFromBlocklist`, `getBlocklist`).
//! Each change reaches the users concerned as a ROSTER meta in the log of the two users, so a
//! user who is offline gets it at their next login (API-SURFACE.md, events: who gets which op):
//! a request `ADD` to the invitee; an acceptance `REMOTE_ACCEPT` to the inviter and `ACCEPT` to
//! the invitee's other devices; a refusal `REMOTE_DECLINE` to the inviter and `DECLINE` to the
//! invitee's other devices; a deletion `REMOVE` to the other party and the deleter's other
//! devices.

use std::sync::Arc;

use confab_proto::pb::{self, roster_body::Operation};

use crate::{
    appender::{jid, Appender},
    ids::{AppKey, UserName},
    now_ms,
    store::{Contact, ContactChange, ContactStore, UserStore},
    Error,
};

/// Longest remark, in characters (the hosted service's limit).
pub const MAX_REMARK_CHARS: usize = 100;
/// Longest request message, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Per-user limits; `confab-server` fills them from config.
#[derive(Debug, Clone, Copy)]
pub struct ContactLimits {
    /// Contacts of one user (config `max_contacts`).
    pub max_contacts: u32,
    /// Users on one user's blocklist (config `max_blocked_users`).
    pub max_blocked: u32,
}

impl Default for ContactLimits {
    fn default() -> ContactLimits {
        ContactLimits {
            max_contacts: 3000,
            max_blocked: 500,
        }
    }
}

pub struct ContactService {
    store: Arc<dyn ContactStore>,
    users: Arc<dyn UserStore>,
    appender: Arc<Appender>,
    limits: ContactLimits,
}

impl ContactService {
    pub fn new(
        store: Arc<dyn ContactStore>,
        users: Arc<dyn UserStore>,
        appender: Arc<Appender>,
        limits: ContactLimits,
    ) -> ContactService {
        ContactService {
            store,
            users,
            appender,
            limits,
        }
    }

    async fn check_exists(&self, app: &AppKey, user: &UserName) -> Result<(), Error> {
        match self.users.user(app, user).await? {
            Some(_) => Ok(()),
            None => Err(Error::UserNotFound(user.to_string())),
        }
    }

    /// `other` exists and is not `me`.
    async fn check_other(
        &self,
        app: &AppKey,
        me: &UserName,
        other: &UserName,
    ) -> Result<(), Error> {
        if other == me {
            return Err(Error::InvalidArgument(
                "a user cannot be their own contact".to_owned(),
            ));
        }
        self.check_exists(app, other).await
    }

    /// `me` (on the device on `resource`) asks `invitee` to become a contact, with `reason`.
    /// Contacts already: nothing happens.
    pub async fn request(
        &self,
        app: &AppKey,
        (me, resource): (&UserName, &str),
        invitee: &UserName,
        reason: &str,
    ) -> Result<(), Error> {
        self.check_other(app, me, invitee).await?;
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(Error::InvalidArgument(format!(
                "reason length must less than {MAX_REASON_CHARS}"
            )));
        }
        if !self
            .store
            .request_contact(app, me, invitee, reason, now_ms())
            .await?
        {
            return Ok(());
        }
        let body = roster_body(app, Operation::Add, me, invitee, reason);
        self.appender
            .roster(app, (me, resource), invitee.clone(), invitee, body)
            .await
    }

    /// `me` accepts (`accept`) or declines the request of `inviter`.
    pub async fn answer(
        &self,
        app: &AppKey,
        (me, resource): (&UserName, &str),
        inviter: &UserName,
        accept: bool,
    ) -> Result<(), Error> {
        self.check_other(app, me, inviter).await?;
        let answered = self
            .store
            .answer_contact_request(
                app,
                (me, inviter),
                accept,
                self.limits.max_contacts,
                now_ms(),
            )
            .await?;
        match answered {
            ContactChange::Done => {}
            ContactChange::Unchanged => {
                return Err(Error::InvalidArgument(format!(
                    "no contact request from {inviter}"
                )))
            }
            ContactChange::Full(user) => return Err(contacts_full(&user, me)),
        }
        let (remote, own) = if accept {
            (Operation::RemoteAccept, Operation::Accept)
        } else {
            (Operation::RemoteDecline, Operation::Decline)
        };
        let to_inviter = roster_body(app, remote, me, inviter, "");
        self.appender
            .roster(app, (me, ""), inviter.clone(), inviter, to_inviter)
            .await?;
        let to_my_devices = roster_body(app, own, inviter, me, "");
        self.appender
            .roster(app, (me, resource), me.clone(), inviter, to_my_devices)
            .await
    }

    /// Makes `owner` and `contact` contacts at once (the REST admin API, an app token): no
    /// request, and no event, as an administrator's change of data.
    pub async fn add(
        &self,
        app: &AppKey,
        owner: &UserName,
        contact: &UserName,
    ) -> Result<(), Error> {
        self.check_exists(app, owner).await?;
        self.check_other(app, owner, contact).await?;
        let added = self
            .store
            .add_contact(app, (owner, contact), self.limits.max_contacts, now_ms())
            .await?;
        match added {
            ContactChange::Done | ContactChange::Unchanged => Ok(()),
            ContactChange::Full(user) => Err(contacts_full(&user, contact)),
        }
    }

    /// Ends the contact of `me` and `contact`, for both.
    pub async fn delete(
        &self,
        app: &AppKey,
        (me, resource): (&UserName, &str),
        contact: &UserName,
    ) -> Result<(), Error> {
        self.check_other(app, me, contact).await?;
        if !self.store.delete_contact(app, me, contact).await? {
            return Err(Error::InvalidArgument(format!(
                "{contact} is not a contact of {me}"
            )));
        }
        let to_contact = roster_body(app, Operation::Remove, me, contact, "");
        self.appender
            .roster(app, (me, ""), contact.clone(), contact, to_contact)
            .await?;
        let to_my_devices = roster_body(app, Operation::Remove, contact, me, "");
        self.appender
            .roster(app, (me, resource), me.clone(), contact, to_my_devices)
            .await
    }

    pub async fn set_remark(
        &self,
        app: &AppKey,
        me: &UserName,
        contact: &UserName,
        remark: &str,
    ) -> Result<(), Error> {
        if remark.chars().count() > MAX_REMARK_CHARS {
            return Err(Error::InvalidArgument(format!(
                "remark length must less than {MAX_REMARK_CHARS}"
            )));
        }
        if !self
            .store
            .set_contact_remark(app, me, contact, remark)
            .await?
        {
            return Err(Error::InvalidArgument(
                "updateRemark | they are not friends, please add as a friend first.".to_owned(),
            ));
        }
        Ok(())
    }

    /// Up to `limit` contacts of `me` after `after`, by name.
    pub async fn contacts(
        &self,
        app: &AppKey,
        me: &UserName,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<Vec<Contact>, Error> {
        Ok(self
            .store
            .contacts(app, me, after, limit.min(self.limits.max_contacts))
            .await?)
    }

    /// Every contact of `me` (at most the limit), by name.
    pub async fn all_contacts(&self, app: &AppKey, me: &UserName) -> Result<Vec<Contact>, Error> {
        self.contacts(app, me, None, self.limits.max_contacts).await
    }

    /// Adds `users` to `me`'s blocklist (`block`) or removes them.
    pub async fn change_blocks(
        &self,
        app: &AppKey,
        me: &UserName,
        users: &[UserName],
        block: bool,
    ) -> Result<(), Error> {
        if users.is_empty() {
            return Err(Error::InvalidArgument("usernames is empty".to_owned()));
        }
        self.check_exists(app, me).await?;
        if block {
            if users.contains(me) {
                return Err(Error::InvalidArgument(
                    "a user cannot block themself".to_owned(),
                ));
            }
            for user in users {
                self.check_exists(app, user).await?;
            }
        }
        let max = self.limits.max_blocked;
        match self
            .store
            .change_blocks(app, me, (users, block), max, now_ms())
            .await?
        {
            ContactChange::Done | ContactChange::Unchanged => Ok(()),
            ContactChange::Full(_) => Err(Error::Forbidden(format!(
                "the blocklist holds at most {max} users"
            ))),
        }
    }

    pub async fn blocked(&self, app: &AppKey, me: &UserName) -> Result<Vec<UserName>, Error> {
        Ok(self
            .store
            .blocked_users(app, me, self.limits.max_blocked)
            .await?)
    }

    /// Whether `owner` blocked `user` (a send from `user` to `owner` is refused).
    pub async fn is_blocked(
        &self,
        app: &AppKey,
        owner: &UserName,
        user: &UserName,
    ) -> Result<bool, Error> {
        Ok(self.store.is_blocked(app, owner, user).await?)
    }
}

/// The hosted text for a contact limit: whose list is full, the one who was asked or the one
/// who asked.
fn contacts_full(user: &UserName, invitee: &UserName) -> Error {
    Error::Forbidden(if user == invitee {
        "Invitee's contact max count".to_owned()
    } else {
        "Inviter's contact max count".to_owned()
    })
}

/// A ROSTER body as the SDK reads it: `from`, `to[0]`, and `reason` as the event's `status`.
fn roster_body(
    app: &AppKey,
    operation: Operation,
    from: &UserName,
    to: &UserName,
    reason: &str,
) -> pb::RosterBody {
    pb::RosterBody {
        operation: Some(operation as i32),
        from: Some(jid(app, from)),
        to: vec![jid(app, to)],
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
        ..Default::default()
    }
}
