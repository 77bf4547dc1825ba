//! Multipart upload of large attachments (PROTOCOL.md §2.7): init, parts, complete, abort.
//! The SDK uses it for files over 1.5 × the part size when `server.json` allows it.
//!
//! Parts stream to the `FileStore` as `<uuid>.part<seq>` objects as they arrive (the form sends
//! `part_file` before `part_number`, so a part is stored under its arrival number and mapped
//! to its part number after). Complete concatenates them in part order into the attachment,
//! then the metadata is written as for a one-request upload. The table of uploads in progress
//! lives in memory: an upload interrupted by a restart is lost, and the client starts over.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::{
    extract::{
        multipart::{Field, MultipartRejection},
        Multipart, Path, Query, State,
    },
    http::HeaderMap,
    Extension, Json,
};
use confab_core::{
    files::{ChatFile, ChatFileError, FileKey, DEFAULT_THUMBNAIL_SIDE},
    ids::AppKey,
    now_ms,
};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use super::chatfiles::{copy_field, drain, multipart_error, upload_body};
use crate::extract::caller_of_app;
use crate::{error::ApiError, extract::query_value, routes::dns::ListenerInfo, RestState};

/// The part size the SDK is told to use (`part_lower_limit`): the hosted default, 5 MiB.
pub(crate) const PART_BYTES: u64 = 5 * 1024 * 1024;
/// Uploads in progress at once, over all apps; an init beyond this answers 400.
const MAX_UPLOADS: usize = 1000;
/// Uploads idle longer than this are dropped (with their parts) at the next init.
const UPLOAD_TTL_MS: u64 = 3600 * 1000;
/// Highest part number accepted.
const MAX_PART_NUMBER: u32 = 10_000;

/// Multipart uploads in progress.
#[derive(Default)]
pub struct PartUploads {
    uploads: Mutex<HashMap<(AppKey, String), Upload>>,
}

struct Upload {
    uploader: String,
    /// part number → (arrival number, length)
    parts: BTreeMap<u32, (u32, u64)>,
    received: u32,
    touched_ms: u64,
}

impl PartUploads {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(AppKey, String), Upload>> {
        match self.uploads.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// # `POST /{org}/{app}/sdk/chatfiles/part-upload`
///
/// Starts an upload: `entities[0]` = `{uuid, file_upper_limit, part_lower_limit}`.
pub(crate) async fn init_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, uploader) = caller_of_app(&state, &org, &app, &headers).await?;
    let uuid = uuid::Uuid::new_v4().to_string();
    let expired = {
        let mut uploads = state.part_uploads.lock();
        let now = now_ms();
        let expired: Vec<_> = uploads
            .iter()
            .filter(|(_, upload)| now.saturating_sub(upload.touched_ms) > UPLOAD_TTL_MS)
            .map(|(key, _)| key.clone())
            .collect();
        let expired: Vec<_> = expired
            .into_iter()
            .filter_map(|key| uploads.remove(&key).map(|upload| (key.1, upload)))
            .collect();
        if uploads.len() >= MAX_UPLOADS {
            return Err(ChatFileError::Malformed("too many uploads in progress".into()).into());
        }
        uploads.insert(
            (app.key.clone(), uuid.clone()),
            Upload {
                uploader,
                parts: BTreeMap::new(),
                received: 0,
                touched_ms: now,
            },
        );
        expired
    };
    for (uuid, upload) in expired {
        delete_parts(&state, &uuid, &upload).await;
    }
    Ok(Json(json!({
        "action": "post",
        "entities": [{
            "uuid": uuid,
            "file_upper_limit": state.max_attachment_bytes,
            "part_lower_limit": PART_BYTES.min(state.max_attachment_bytes),
        }],
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

/// # `PUT /{org}/{app}/sdk/chatfiles/part-upload/{uuid}`
///
/// Form fields `part_file` (the bytes) and `part_number` (1-based; `?part_number=` also works).
pub(crate) async fn part_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, uuid)): Path<(String, String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let (app, uploader) = caller_of_app(&state, &org, &app, &headers).await?;
    let key = FileKey::original(&uuid).ok_or(ChatFileError::NotFound)?;
    let mut multipart =
        multipart.map_err(|rejection| ChatFileError::Malformed(rejection.body_text()))?;
    let limit = state.max_attachment_bytes;
    let seq = {
        let mut uploads = state.part_uploads.lock();
        let upload = uploads
            .get_mut(&(app.key.clone(), uuid.clone()))
            .filter(|upload| upload.uploader == uploader)
            .ok_or(ChatFileError::NotFound)?;
        upload.received += 1;
        upload.touched_ms = now_ms();
        upload.received
    };
    let part_key = key.part(seq);
    let mut number = query_value(&query, "part_number").and_then(parse_part_number);
    let mut length = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(multipart_error(limit))?
    {
        match field.name() {
            Some("part_file") if length.is_none() => {
                length = Some(store_part(&state, &part_key, field, limit).await?);
            }
            Some("part_number") => {
                let text = field.text().await.map_err(multipart_error(limit))?;
                number = parse_part_number(&text).or(number);
            }
            _ => drain(field, limit).await?,
        }
    }
    let (Some(number), Some(length)) = (number, length) else {
        discard(&state, &part_key).await;
        return Err(
            ChatFileError::Malformed("part_file and part_number are required".into()).into(),
        );
    };
    let replaced = {
        let mut uploads = state.part_uploads.lock();
        match uploads.get_mut(&(app.key.clone(), uuid.clone())) {
            Some(upload) => Ok(upload.parts.insert(number, (seq, length))),
            None => Err(ChatFileError::NotFound),
        }
    };
    match replaced {
        Ok(Some((old_seq, _))) => discard(&state, &key.part(old_seq)).await,
        Ok(None) => {}
        Err(error) => {
            // Aborted meanwhile.
            discard(&state, &part_key).await;
            return Err(error.into());
        }
    }
    Ok(Json(json!({
        "action": "put",
        "entities": [{"uuid": uuid, "part_number": number, "size": length}],
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

/// # `POST /{org}/{app}/sdk/chatfiles/part-upload/{uuid}`
///
/// Completes the upload; query `restrict-access`, `thumbnail-width`, `thumbnail-height`.
/// Answers as `POST /chatfiles` does. Parts must be numbered 1..=n without gaps.
pub(crate) async fn complete_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, uuid)): Path<(String, String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    listener: Option<Extension<ListenerInfo>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, uploader) = caller_of_app(&state, &org, &app, &headers).await?;
    let key = FileKey::original(&uuid).ok_or(ChatFileError::NotFound)?;
    let upload = {
        let mut uploads = state.part_uploads.lock();
        let entry = (app.key.clone(), uuid.clone());
        match uploads.get(&entry) {
            Some(upload) if upload.uploader == uploader => uploads.remove(&entry),
            _ => None,
        }
    }
    .ok_or(ChatFileError::NotFound)?;
    let result = assemble(&state, &key, &upload).await;
    delete_parts(&state, &uuid, &upload).await;
    let (length, content_type) = result?;
    let side = |name: &str| {
        query_value(&query, name)
            .and_then(|text| text.trim().parse::<u32>().ok())
            .filter(|side| *side > 0)
            .map_or(DEFAULT_THUMBNAIL_SIDE, |side| side.min(2048))
    };
    let file = ChatFile {
        app: app.key.clone(),
        uuid,
        share_secret: ChatFile::new_share_secret(),
        restricted: query_value(&query, "restrict-access") == Some("true")
            || headers
                .get("restrict-access")
                .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"true")),
        content_type,
        length,
        filename: "file".into(),
        uploader,
        thumbnail_width: side("thumbnail-width"),
        thumbnail_height: side("thumbnail-height"),
        created_ms: now_ms(),
    };
    if let Err(error) = state.chat_files.create_chat_file(&file).await {
        discard(&state, &key).await;
        return Err(ChatFileError::Storage(error).into());
    }
    tracing::debug!(uuid = %file.uuid, length, parts = upload.parts.len(), "attachment stored in parts");
    Ok(Json(upload_body(&app, &file, &headers, listener)))
}

/// # `DELETE /{org}/{app}/sdk/chatfiles/part-upload/{uuid}`
pub(crate) async fn abort_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, uuid)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, uploader) = caller_of_app(&state, &org, &app, &headers).await?;
    let upload = {
        let mut uploads = state.part_uploads.lock();
        let entry = (app.key.clone(), uuid.clone());
        match uploads.get(&entry) {
            Some(upload) if upload.uploader == uploader => uploads.remove(&entry),
            _ => None,
        }
    }
    .ok_or(ChatFileError::NotFound)?;
    delete_parts(&state, &uuid, &upload).await;
    Ok(Json(json!({
        "action": "delete",
        "entities": [{"uuid": uuid}],
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

fn parse_part_number(text: &str) -> Option<u32> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|number| (1..=MAX_PART_NUMBER).contains(number))
}

async fn store_part(
    state: &RestState,
    key: &FileKey,
    mut field: Field<'_>,
    limit: u64,
) -> Result<u64, ApiError> {
    let mut upload = state.file_store.create(key).await?;
    match copy_field(&mut field, &mut *upload, limit).await {
        Ok(()) => Ok(upload.commit().await?),
        Err(error) => {
            upload.abort().await;
            Err(error)
        }
    }
}

/// Concatenates the parts into the attachment; returns its length and sniffed content type.
async fn assemble(
    state: &RestState,
    key: &FileKey,
    upload: &Upload,
) -> Result<(u64, String), ApiError> {
    let limit = state.max_attachment_bytes;
    let count = upload.parts.len();
    if count == 0 || upload.parts.keys().copied().ne(1..=count as u32) {
        return Err(
            ChatFileError::Malformed("parts must be numbered 1..n without gaps".into()).into(),
        );
    }
    let total: u64 = upload.parts.values().map(|(_, length)| length).sum();
    if total > limit {
        return Err(ChatFileError::TooLarge { limit }.into());
    }
    let mut target = state.file_store.create(key).await?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut head: Vec<u8> = Vec::new();
    let copied: Result<(), ApiError> = async {
        for (seq, _) in upload.parts.values() {
            let mut part = state
                .file_store
                .open(&key.part(*seq))
                .await?
                .ok_or(ChatFileError::NotFound)?;
            loop {
                let read = part
                    .reader
                    .read(&mut buffer)
                    .await
                    .map_err(confab_core::files::FileStoreError::from)?;
                if read == 0 {
                    break;
                }
                if head.len() < 64 {
                    head.extend_from_slice(&buffer[..read.min(64 - head.len())]);
                }
                target.write(&buffer[..read]).await?;
            }
        }
        Ok(())
    }
    .await;
    if let Err(error) = copied {
        target.abort().await;
        return Err(error);
    }
    let length = target.commit().await?;
    Ok((length, sniff_content_type(&head)))
}

/// Parts carry no content type; images are recognised by their first bytes.
fn sniff_content_type(head: &[u8]) -> String {
    match image::guess_format(head) {
        Ok(image::ImageFormat::Png) => "image/png",
        Ok(image::ImageFormat::Jpeg) => "image/jpeg",
        Ok(image::ImageFormat::Gif) => "image/gif",
        Ok(image::ImageFormat::WebP) => "image/webp",
        _ => "application/octet-stream",
    }
    .to_owned()
}

async fn delete_parts(state: &RestState, uuid: &str, upload: &Upload) {
    let Some(key) = FileKey::original(uuid) else {
        return;
    };
    for (seq, _) in upload.parts.values() {
        discard(state, &key.part(*seq)).await;
    }
}

async fn discard(state: &RestState, key: &FileKey) {
    if let Err(error) = state.file_store.delete(key).await {
        tracing::warn!(%error, "could not remove an upload part");
    }
}
