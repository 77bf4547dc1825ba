//! The domain error every edge maps to its wire, once, with an exhaustive match.

use crate::{bus::BusError, presence::PresenceError, store::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("app not found")]
    AppNotFound,
    #[error("app {0} already exists")]
    AppExists(String),
    #[error("user {0} not found")]
    UserNotFound(String),
    #[error("user {0} is deactivated")]
    UserDeactivated(String),
    #[error("user {0} already exists")]
    UserExists(String),
    #[error("invalid username: {0}")]
    InvalidUsername(String),
    #[error("invalid password")]
    InvalidPassword,
    #[error("password is empty or too long")]
    UnacceptablePassword,
    #[error("token rejected: {0}")]
    Token(#[from] confab_token::TokenError),
    #[error("token was revoked")]
    TokenRevoked,
    /// A user token changing its own password without the right old one.
    #[error("the old password is missing or wrong")]
    WrongOldPassword,
    /// Too many password checks at once, or too many wrong passwords for this account or
    /// from this address (`password.rs`).
    #[error("too many requests")]
    TooManyRequests,
    #[error("client credentials do not match")]
    BadClientCredentials,
    #[error("open registration is off")]
    RegistrationClosed,
    #[error("message is {size} bytes, over the limit of {limit}")]
    MessageTooLarge { size: usize, limit: usize },
    #[error("message is missing {0}")]
    MissingField(&'static str),
    #[error("recipient {0} does not exist")]
    RecipientNotFound(String),
    /// The recipient blocked the sender.
    #[error("blocked")]
    Blocked,
    /// The app lets users message their contacts only, and this user is not one.
    #[error("{0} is not a contact")]
    NotContact(String),
    #[error(transparent)]
    Group(#[from] crate::groups::GroupError),
    #[error(transparent)]
    Room(#[from] crate::rooms::RoomError),
    #[error(transparent)]
    Thread(#[from] crate::threads::ThreadError),
    /// A request the caller may not make (over a limit, …); the text is the hosted one.
    #[error("{0}")]
    Forbidden(String),
    /// A feature that needs an outside provider none is configured for (translation, speech).
    #[error("service not open!")]
    ServiceNotOpen,
    #[error(transparent)]
    Provider(#[from] crate::providers::ProviderError),
    /// A message body that names someone other than the session as its sender, or someone
    /// other than the meta's recipient as its recipient: the SDK shows the body's names.
    #[error("the message body's {0} does not match the session")]
    ImpersonatedParty(&'static str),
    /// A request parameter the route cannot use (a bad cursor, an unknown message type).
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Receipt(#[from] crate::receipts::ReceiptError),
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    #[error(transparent)]
    Storage(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Presence(#[from] PresenceError),
}

impl From<crate::password::PasswordError> for Error {
    fn from(error: crate::password::PasswordError) -> Error {
        use crate::password::PasswordError;
        match error {
            PasswordError::Busy | PasswordError::Locked { .. } => Error::TooManyRequests,
            PasswordError::Unacceptable => Error::UnacceptablePassword,
        }
    }
}
