//! Chat attachments (PROTOCOL.md §2.7): what is known about an uploaded file, and the two ports
//! behind it: `ChatFileStore` for the metadata (a table of the store) and `FileStore` for the
//! bytes (a directory on disk by default; an object store can implement it later).
//!
//! Bytes stream through `FileStore` in chunks, so no upload or download is held in memory.

use std::pin::Pin;

use async_trait::async_trait;
use rand::{distributions::Alphanumeric, rngs::OsRng, Rng};
use tokio::io::AsyncRead;

use crate::{admin::constant_time_eq, app::Secret, ids::AppKey, store::StoreError};

/// Side of the box a thumbnail fits in when the uploader named none.
pub const DEFAULT_THUMBNAIL_SIDE: u32 = 170;

/// One uploaded attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatFile {
    pub app: AppKey,
    /// A v4 UUID, hyphenated; also the key of the bytes in the `FileStore` (`FileKey::original`).
    pub uuid: String,
    /// The `share-secret` a download must present when `restricted`.
    pub share_secret: Secret,
    /// `restrict-access: true` at upload (the SDK always sends it).
    pub restricted: bool,
    pub content_type: String,
    pub length: u64,
    /// The name of the uploaded part, as the client sent it.
    pub filename: String,
    /// The uploading user; empty for an app token.
    pub uploader: String,
    /// The box a thumbnail is scaled into (`thumbnail-width`/`-height` of the upload).
    pub thumbnail_width: u32,
    pub thumbnail_height: u32,
    pub created_ms: u64,
}

impl ChatFile {
    /// A fresh share secret: 32 alphanumerics (safe in a URL query without escaping).
    pub fn new_share_secret() -> Secret {
        Secret::new(
            OsRng
                .sample_iter(&Alphanumeric)
                .take(32)
                .map(char::from)
                .collect(),
        )
    }

    /// Whether a download presenting `secret` may read the file (constant-time comparison).
    pub fn may_read(&self, secret: Option<&str>) -> bool {
        if !self.restricted {
            return true;
        }
        secret.is_some_and(|secret| {
            constant_time_eq(self.share_secret.expose().as_bytes(), secret.as_bytes())
        })
    }
}

/// Why an upload or a download failed, in the attachment routes' terms.
#[derive(Debug, thiserror::Error)]
pub enum ChatFileError {
    #[error("file is over the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("no file in the upload")]
    NoFile,
    #[error("malformed upload: {0}")]
    Malformed(String),
    #[error("file not found")]
    NotFound,
    #[error("wrong or missing share secret")]
    NoPermission,
    #[error("no first frame is available for this video")]
    NoVideoFrame,
    #[error(transparent)]
    Storage(#[from] StoreError),
    #[error(transparent)]
    Files(#[from] FileStoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    #[error("invalid file key")]
    InvalidKey,
    #[error("file storage failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The name of an object in a `FileStore`: a UUID, optionally with a derived-variant suffix.
/// Only `[0-9a-f-]` and the known suffixes, so it is safe as a path component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKey(String);

impl FileKey {
    /// The uploaded bytes of the attachment `uuid`; `None` unless `uuid` is a hyphenated UUID.
    pub fn original(uuid: &str) -> Option<FileKey> {
        let valid = uuid.len() == 36
            && uuid
                .bytes()
                .all(|byte| byte == b'-' || byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
        valid.then(|| FileKey(uuid.to_owned()))
    }

    /// The thumbnail derived from this object.
    pub fn thumbnail(&self) -> FileKey {
        FileKey(format!("{}.thumb", self.0))
    }

    /// The first frame of a video, scaled like a thumbnail.
    pub fn video_frame(&self) -> FileKey {
        FileKey(format!("{}.vframe", self.0))
    }

    /// One received part of a multipart upload of this object (`seq` counts received parts).
    pub fn part(&self, seq: u32) -> FileKey {
        FileKey(format!("{}.part{seq}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Bytes being read from a `FileStore`.
pub type FileReader = Pin<Box<dyn AsyncRead + Send>>;

/// An object opened for reading, with its length.
pub struct StoredFile {
    pub reader: FileReader,
    pub length: u64,
}

/// Where attachment bytes live. Objects are written once and then only read or deleted.
#[async_trait]
pub trait FileStore: Send + Sync {
    /// Starts writing `key`; nothing is readable under it until `FileUpload::commit` returns.
    async fn create(&self, key: &FileKey) -> Result<Box<dyn FileUpload>, FileStoreError>;
    /// `None` when no object was committed under `key`.
    async fn open(&self, key: &FileKey) -> Result<Option<StoredFile>, FileStoreError>;
    /// Removes the object; removing a missing one is not an error.
    async fn delete(&self, key: &FileKey) -> Result<(), FileStoreError>;
}

/// One object being written. Dropping it without `commit` discards what was written.
#[async_trait]
pub trait FileUpload: Send {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), FileStoreError>;
    /// Makes the object durable and readable; returns its length.
    async fn commit(self: Box<Self>) -> Result<u64, FileStoreError>;
    /// Discards what was written, before returning (dropping discards it in the background).
    async fn abort(self: Box<Self>);
}

/// Attachment metadata.
#[async_trait]
pub trait ChatFileStore: Send + Sync {
    /// Fails with `Duplicate` when the app already has a file with this uuid.
    async fn create_chat_file(&self, file: &ChatFile) -> Result<(), StoreError>;
    async fn chat_file(&self, app: &AppKey, uuid: &str) -> Result<Option<ChatFile>, StoreError>;
}

#[cfg(feature = "conformance")]
pub mod conformance;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_uuids_only() {
        let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(FileKey::original(uuid).map(|key| key.0), Some(uuid.into()));
        for bad in [
            "../etc/passwd",
            "",
            "0F8FAD5B-D9CB-469F-A165-70867728950E",
            "a/b",
        ] {
            assert!(FileKey::original(bad).is_none(), "{bad}");
        }
        let thumb = FileKey::original(uuid).map(|key| key.thumbnail().0);
        assert_eq!(thumb, Some(format!("{uuid}.thumb")));
    }

    #[test]
    fn restricted_files_need_the_secret() {
        let file = ChatFile {
            app: AppKey::new("org", "app").expect("key"),
            uuid: "u".into(),
            share_secret: Secret::new("s3cret".into()),
            restricted: true,
            content_type: "text/plain".into(),
            length: 1,
            filename: "a.txt".into(),
            uploader: "leo".into(),
            thumbnail_width: 1,
            thumbnail_height: 1,
            created_ms: 1,
        };
        assert!(file.may_read(Some("s3cret")));
        assert!(!file.may_read(Some("s3cre")));
        assert!(!file.may_read(None));
        let open = ChatFile {
            restricted: false,
            ..file
        };
        assert!(open.may_read(None));
        assert_eq!(ChatFile::new_share_secret().expose().len(), 32);
    }
}
