//! Attachments: metadata in the `chat_files` table (through the writer thread like every write),
//! bytes as files under `<data_dir>/files/ab/cd/<key>` (`DiskFileStore`).
//!
//! An object is written to `files/tmp/` first; `commit` fsyncs it, renames it into place and
//! fsyncs the directory, so a committed object survives a crash and a half-written one is
//! never visible under its key.

use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use confab_core::{
    app::Secret,
    files::{ChatFile, ChatFileStore, FileKey, FileStore, FileStoreError, FileUpload, StoredFile},
    ids::AppKey,
    store::StoreError,
};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use tokio::io::AsyncWriteExt;

use crate::{
    backend,
    writer::{Outcome, WriteOp},
    EmbeddedStore,
};

/// A metadata write, applied by the writer thread.
pub(crate) enum FileWrite {
    Create(ChatFile),
}

pub(crate) fn apply(connection: &Connection, write: FileWrite) -> Result<Outcome, StoreError> {
    match write {
        FileWrite::Create(file) => {
            connection
                .execute(
                    "INSERT INTO chat_files (app_key, uuid, share_secret, restricted, content_type,
                         length, filename, uploader, thumbnail_width, thumbnail_height, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        file.app.to_string(),
                        file.uuid,
                        file.share_secret.expose(),
                        file.restricted,
                        file.content_type,
                        file.length as i64,
                        file.filename,
                        file.uploader,
                        file.thumbnail_width,
                        file.thumbnail_height,
                        file.created_ms as i64,
                    ],
                )
                .map_err(|error| match error.sqlite_error_code() {
                    Some(ErrorCode::ConstraintViolation) => {
                        StoreError::Duplicate(format!("chat file {}", file.uuid))
                    }
                    _ => backend(error),
                })?;
            Ok(Outcome::Done)
        }
    }
}

#[async_trait]
impl ChatFileStore for EmbeddedStore {
    async fn create_chat_file(&self, file: &ChatFile) -> Result<(), StoreError> {
        self.write(
            WriteOp::ChatFile(FileWrite::Create(file.clone())),
            |outcome| match outcome {
                Outcome::Done => Some(()),
                _ => None,
            },
        )
        .await
    }

    async fn chat_file(&self, app: &AppKey, uuid: &str) -> Result<Option<ChatFile>, StoreError> {
        let key = app.clone();
        let uuid = uuid.to_owned();
        self.read(move |connection| {
            connection
                .query_row(
                    "SELECT share_secret, restricted, content_type, length, filename, uploader,
                            thumbnail_width, thumbnail_height, created_ms
                     FROM chat_files WHERE app_key = ?1 AND uuid = ?2",
                    params![key.to_string(), uuid],
                    |row| {
                        Ok(ChatFile {
                            app: key.clone(),
                            uuid: uuid.clone(),
                            share_secret: Secret::new(row.get(0)?),
                            restricted: row.get(1)?,
                            content_type: row.get(2)?,
                            length: row.get::<_, i64>(3)? as u64,
                            filename: row.get(4)?,
                            uploader: row.get(5)?,
                            thumbnail_width: row.get(6)?,
                            thumbnail_height: row.get(7)?,
                            created_ms: row.get::<_, i64>(8)? as u64,
                        })
                    },
                )
                .optional()
        })
        .await
    }
}

/// Attachment bytes in a directory (`<data_dir>/files`).
pub struct DiskFileStore {
    root: PathBuf,
}

impl DiskFileStore {
    /// Uses (creating if needed) `root` and its `tmp/` staging directory. Leftovers of uploads
    /// interrupted by a crash are removed.
    pub fn open(root: &Path) -> io::Result<DiskFileStore> {
        let staging = root.join("tmp");
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        std::fs::create_dir_all(&staging)?;
        Ok(DiskFileStore {
            root: root.to_owned(),
        })
    }

    /// `ab/cd/<key>` from the key's first four characters (keys start with a UUID).
    fn path(&self, key: &FileKey) -> PathBuf {
        let text = key.as_str();
        self.root
            .join(text.get(0..2).unwrap_or("__"))
            .join(text.get(2..4).unwrap_or("__"))
            .join(text)
    }
}

#[async_trait]
impl FileStore for DiskFileStore {
    async fn create(&self, key: &FileKey) -> Result<Box<dyn FileUpload>, FileStoreError> {
        let staging = self
            .root
            .join("tmp")
            .join(format!("{}.{}", key.as_str(), uuid_suffix()));
        let file = tokio::fs::File::create(&staging).await?;
        Ok(Box::new(DiskUpload {
            file: Some(file),
            staging,
            target: self.path(key),
            written: 0,
        }))
    }

    async fn open(&self, key: &FileKey) -> Result<Option<StoredFile>, FileStoreError> {
        let file = match tokio::fs::File::open(self.path(key)).await {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let length = file.metadata().await?.len();
        Ok(Some(StoredFile {
            reader: Box::pin(file),
            length,
        }))
    }

    async fn delete(&self, key: &FileKey) -> Result<(), FileStoreError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

struct DiskUpload {
    /// `None` once committed.
    file: Option<tokio::fs::File>,
    staging: PathBuf,
    target: PathBuf,
    written: u64,
}

#[async_trait]
impl FileUpload for DiskUpload {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), FileStoreError> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("upload already committed"))?;
        file.write_all(chunk).await?;
        self.written += chunk.len() as u64;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<u64, FileStoreError> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("upload already committed"))?;
        file.flush().await?;
        file.sync_all().await?;
        drop(file);
        let (staging, target) = (self.staging.clone(), self.target.clone());
        tokio::task::spawn_blocking(move || publish(&staging, &target))
            .await
            .map_err(io::Error::other)??;
        // Published: nothing left for `Drop` to clean up.
        self.staging = PathBuf::new();
        Ok(self.written)
    }

    async fn abort(mut self: Box<Self>) {
        drop(self.file.take());
        let staging = std::mem::take(&mut self.staging);
        if let Err(error) = tokio::task::spawn_blocking(move || discard(&staging)).await {
            tracing::warn!(%error, "could not discard an unfinished upload");
        }
    }
}

impl Drop for DiskUpload {
    fn drop(&mut self) {
        if self.staging.as_os_str().is_empty() {
            return;
        }
        let staging = std::mem::take(&mut self.staging);
        drop(self.file.take());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || discard(&staging));
            }
            Err(_) => discard(&staging),
        }
    }
}

/// Moves the fsynced staging file into place and makes the rename durable.
fn publish(staging: &Path, target: &Path) -> io::Result<()> {
    let directory = target
        .parent()
        .ok_or_else(|| io::Error::other("object path has no directory"))?;
    std::fs::create_dir_all(directory)?;
    std::fs::rename(staging, target)?;
    std::fs::File::open(directory)?.sync_all()?;
    // A fresh `ab/cd` directory must itself be durable in its parent.
    if let Some(parent) = directory.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

fn discard(staging: &Path) {
    if let Err(error) = std::fs::remove_file(staging) {
        if error.kind() != io::ErrorKind::NotFound {
            tracing::warn!(%error, path = %staging.display(), "could not remove an unfinished upload");
        }
    }
}

/// Distinguishes two concurrent writes of the same key in the staging directory.
fn uuid_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
