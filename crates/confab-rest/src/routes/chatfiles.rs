//! Attachments (PROTOCOL.md §2.7): upload (`multipart/form-data`, streamed to the `FileStore`
//! with the size limit enforced while streaming) and download with the share secret.
//!
//! Thumbnails (`?thumbnail=true`) are made from png, jpeg, gif and webp images on first request
//! and kept beside the original; anything that does not decode is served as uploaded. Video
//! first frames (`?vframe=true`) come from `video_frame.rs`, scaled the same way and kept
//! likewise; when there is none the URL answers 404 `video_frame_not_available` (the SDK only
//! ever puts it in an `<img src>`). Large files may also come in parts: `part_upload.rs`.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{
        multipart::{Field, MultipartError},
        Multipart, Path, Query, State,
    },
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use confab_core::{
    app::App,
    files::{ChatFile, ChatFileError, FileKey, FileUpload, StoredFile, DEFAULT_THUMBNAIL_SIDE},
    now_ms,
};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use crate::{
    error::ApiError,
    extract::{caller_of_app, query_value, resolve_app},
    routes::dns::ListenerInfo,
    RestState,
};

/// Largest thumbnail box side a client may ask for.
const MAX_THUMBNAIL_SIDE: u32 = 2048;

/// # `POST /{org}/{app}/chatfiles`
///
/// Bearer: a user token of the app, or an app token. Multipart fields: `file` (the bytes),
/// optional `thumbnail-width` / `thumbnail-height`; header `restrict-access: true` makes the
/// download need the returned `share-secret`. Answers `{uri, entities:[{uuid, type,
/// share-secret, file-metadata}]}`. Over `max_attachment_bytes`: 413 (the SDK's
/// `WEBIM_UPLOADFILE_ERROR`, 101; see `error.rs` for why not 400).
pub(crate) async fn upload_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    listener: Option<Extension<ListenerInfo>>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let (app, uploader) = caller_of_app(&state, &org, &app, &headers).await?;
    let file = receive_upload(&state, &app, uploader, &headers, multipart).await?;
    tracing::debug!(uuid = %file.uuid, length = file.length, "attachment stored");
    Ok(Json(upload_body(&app, &file, &headers, listener)))
}

/// Streams the form's `file` into the `FileStore` (within `max_attachment_bytes`) and stores
/// its metadata: the attachment an upload makes, for `POST /chatfiles` and the shared files
/// of groups and rooms alike.
pub(crate) async fn receive_upload(
    state: &RestState,
    app: &App,
    uploader: String,
    headers: &HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<ChatFile, ApiError> {
    let mut multipart =
        multipart.map_err(|rejection| ChatFileError::Malformed(rejection.body_text()))?;
    let restricted = headers
        .get("restrict-access")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
    let limit = state.max_attachment_bytes;

    let uuid = uuid::Uuid::new_v4().to_string();
    let key = FileKey::original(&uuid).ok_or(ChatFileError::NotFound)?;
    let mut stored: Option<(u64, String, String)> = None;
    let mut thumbnail_width = DEFAULT_THUMBNAIL_SIDE;
    let mut thumbnail_height = DEFAULT_THUMBNAIL_SIDE;
    let read: Result<(), ApiError> = async {
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(multipart_error(limit))?
        {
            match field.name() {
                Some("file") if stored.is_none() => {
                    let filename = field.file_name().unwrap_or("file").to_owned();
                    let content_type = field
                        .content_type()
                        .unwrap_or("application/octet-stream")
                        .to_owned();
                    let upload = state.file_store.create(&key).await?;
                    let length = stream_field(field, upload, limit).await?;
                    stored = Some((length, filename, content_type));
                }
                Some("thumbnail-width") => {
                    thumbnail_width = thumbnail_side(field, limit)
                        .await?
                        .unwrap_or(thumbnail_width);
                }
                Some("thumbnail-height") => {
                    thumbnail_height = thumbnail_side(field, limit)
                        .await?
                        .unwrap_or(thumbnail_height);
                }
                // Other fields (and a second `file`) are read past and ignored.
                _ => drain(field, limit).await?,
            }
        }
        Ok(())
    }
    .await;
    if let Err(error) = read {
        // A form that breaks after its file leaves no file behind.
        if stored.is_some() {
            remove_bytes(state, &key).await;
        }
        return Err(error);
    }
    let Some((length, filename, content_type)) = stored else {
        return Err(ChatFileError::NoFile.into());
    };
    let file = ChatFile {
        app: app.key.clone(),
        uuid,
        share_secret: ChatFile::new_share_secret(),
        restricted,
        content_type,
        length,
        filename,
        uploader,
        thumbnail_width,
        thumbnail_height,
        created_ms: now_ms(),
    };
    if let Err(error) = state.chat_files.create_chat_file(&file).await {
        remove_bytes(state, &key).await;
        return Err(ChatFileError::Storage(error).into());
    }
    Ok(file)
}

/// The bytes of attachment `uuid` of `app` as a download (no secret asked: the caller checked
/// who may read it).
pub(crate) async fn serve_original(
    state: &RestState,
    app: &App,
    uuid: &str,
) -> Result<Response, ApiError> {
    let key = FileKey::original(uuid).ok_or(ChatFileError::NotFound)?;
    let file = state
        .chat_files
        .chat_file(&app.key, uuid)
        .await
        .map_err(ChatFileError::Storage)?
        .ok_or(ChatFileError::NotFound)?;
    let stored = state
        .file_store
        .open(&key)
        .await?
        .ok_or(ChatFileError::NotFound)?;
    Ok(bytes_response(
        stored,
        &file.content_type,
        Some(&file.filename),
    ))
}

/// # `GET /{org}/{app}/chatfiles/{uuid}`
///
/// The bytes, with the share secret in the query (`share-secret=`) or the `share-secret`
/// header when the file was uploaded with `restrict-access`. `thumbnail=true`: a thumbnail
/// of an image; `vframe=true`: the first frame of a video, as a JPEG thumbnail. Wrong secret: 403
/// `chatfile no permission` (SDK type 222); unknown uuid: 404 `file_expired` (223).
pub(crate) async fn download_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, uuid)): Path<(String, String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let app = resolve_app(&state.apps, &org, &app, &headers).await?;
    let key = FileKey::original(&uuid).ok_or(ChatFileError::NotFound)?;
    let file = state
        .chat_files
        .chat_file(&app.key, &uuid)
        .await
        .map_err(ChatFileError::Storage)?
        .ok_or(ChatFileError::NotFound)?;
    let secret = query_value(&query, "share-secret").or_else(|| {
        headers
            .get("share-secret")
            .and_then(|value| value.to_str().ok())
    });
    if !file.may_read(secret) {
        return Err(ChatFileError::NoPermission.into());
    }
    if query_value(&query, "vframe") == Some("true") {
        let stored = video_frame(state.clone(), file, key).await?;
        return Ok(bytes_response(stored, "image/jpeg", None));
    }
    if query_value(&query, "thumbnail") == Some("true") {
        if let Some((stored, content_type)) = thumbnail(&state, &file, &key).await? {
            return Ok(bytes_response(stored, content_type, None));
        }
    }
    let stored = state
        .file_store
        .open(&key)
        .await?
        .ok_or(ChatFileError::NotFound)?;
    Ok(bytes_response(
        stored,
        &file.content_type,
        Some(&file.filename),
    ))
}

async fn remove_bytes(state: &RestState, key: &FileKey) {
    if let Err(error) = state.file_store.delete(key).await {
        tracing::warn!(%error, "could not remove the bytes of a failed upload");
    }
}

/// Writes the field to `upload` chunk by chunk and commits it; on any failure (over `limit`
/// included) what was written is discarded.
async fn stream_field(
    mut field: Field<'_>,
    mut upload: Box<dyn FileUpload>,
    limit: u64,
) -> Result<u64, ApiError> {
    match copy_field(&mut field, &mut *upload, limit).await {
        Ok(()) => Ok(upload.commit().await?),
        Err(error) => {
            upload.abort().await;
            if matches!(error, ApiError::ChatFile(ChatFileError::TooLarge { .. })) {
                // Read on (up to the route's body limit) so the client gets to read the
                // answer instead of a connection reset while it is still sending.
                while let Ok(Some(_)) = field.chunk().await {}
            }
            Err(error)
        }
    }
}

pub(super) async fn copy_field(
    field: &mut Field<'_>,
    upload: &mut dyn FileUpload,
    limit: u64,
) -> Result<(), ApiError> {
    let mut length: u64 = 0;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error(limit))? {
        length += chunk.len() as u64;
        if length > limit {
            return Err(ChatFileError::TooLarge { limit }.into());
        }
        upload.write(&chunk).await?;
    }
    Ok(())
}

async fn thumbnail_side(field: Field<'_>, limit: u64) -> Result<Option<u32>, ApiError> {
    let text = field.text().await.map_err(multipart_error(limit))?;
    Ok(text
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|side| *side > 0)
        .map(|side| side.min(MAX_THUMBNAIL_SIDE)))
}

pub(super) async fn drain(mut field: Field<'_>, limit: u64) -> Result<(), ApiError> {
    while field
        .chunk()
        .await
        .map_err(multipart_error(limit))?
        .is_some()
    {}
    Ok(())
}

/// A body over the route's limit is "too large"; anything else is a malformed upload.
pub(super) fn multipart_error(limit: u64) -> impl Fn(MultipartError) -> ApiError {
    move |error| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ChatFileError::TooLarge { limit }.into()
        } else {
            ChatFileError::Malformed(error.body_text()).into()
        }
    }
}

/// The stored thumbnail, made now if there is none yet; `None` when the file is not an image
/// this server decodes (then the original is served).
async fn thumbnail(
    state: &RestState,
    file: &ChatFile,
    key: &FileKey,
) -> Result<Option<(StoredFile, &'static str)>, ApiError> {
    let thumb_key = key.thumbnail();
    let is_jpeg = file.content_type.eq_ignore_ascii_case("image/jpeg");
    let content_type = if is_jpeg { "image/jpeg" } else { "image/png" };
    if let Some(stored) = state.file_store.open(&thumb_key).await? {
        return Ok(Some((stored, content_type)));
    }
    let original = async {
        let Some(mut original) = state.file_store.open(key).await? else {
            return Err(ApiError::from(ChatFileError::NotFound));
        };
        // Bounded by the upload limit.
        let mut bytes = Vec::with_capacity(usize::try_from(original.length).unwrap_or(0));
        original
            .reader
            .read_to_end(&mut bytes)
            .await
            .map_err(confab_core::files::FileStoreError::from)?;
        Ok(bytes)
    };
    let (width, height) = (file.thumbnail_width, file.thumbnail_height);
    let encoded = match state
        .thumbnails
        .scale(original, width, height, is_jpeg)
        .await?
    {
        Ok(encoded) => encoded,
        Err(error) => {
            tracing::debug!(%error, uuid = %file.uuid, "no thumbnail; serving the original");
            return Ok(None);
        }
    };
    let stored = store_derived(state, &thumb_key, &encoded).await?;
    Ok(Some((stored, content_type)))
}

/// The stored first frame of the video, extracted now if there is none yet. Extraction runs
/// on a task of its own, so a client that goes away mid-decode still leaves the frame stored
/// and the scratch copy removed.
async fn video_frame(
    state: Arc<RestState>,
    file: ChatFile,
    key: FileKey,
) -> Result<StoredFile, ApiError> {
    let frame_key = key.video_frame();
    if let Some(stored) = state.file_store.open(&frame_key).await? {
        return Ok(stored);
    }
    let extraction = tokio::spawn(async move {
        let Some(original) = state.file_store.open(&key).await? else {
            return Err(ChatFileError::NotFound.into());
        };
        let frame = match state.video_frames.first_frame(original.reader).await {
            Ok(frame) => frame,
            Err(error) => {
                tracing::debug!(%error, uuid = %file.uuid, "no video frame");
                return Err(ChatFileError::NoVideoFrame.into());
            }
        };
        let (width, height) = (file.thumbnail_width, file.thumbnail_height);
        let frame = async { Ok::<_, ApiError>(frame) };
        let encoded = state
            .thumbnails
            .scale(frame, width, height, true)
            .await?
            .map_err(|error| {
                tracing::debug!(%error, uuid = %file.uuid, "the video frame does not decode");
                ChatFileError::NoVideoFrame
            })?;
        store_derived(&state, &frame_key, &encoded).await
    });
    extraction.await.map_err(task_failed)?
}

/// Stores something made from an attachment (a thumbnail, a video frame) and opens it.
async fn store_derived(
    state: &RestState,
    key: &FileKey,
    bytes: &[u8],
) -> Result<StoredFile, ApiError> {
    let mut upload = state.file_store.create(key).await?;
    upload.write(bytes).await?;
    upload.commit().await?;
    Ok(state
        .file_store
        .open(key)
        .await?
        .ok_or(ChatFileError::NotFound)?)
}

fn task_failed(error: tokio::task::JoinError) -> ApiError {
    confab_core::files::FileStoreError::Io(std::io::Error::other(error)).into()
}

fn bytes_response(stored: StoredFile, content_type: &str, filename: Option<&str>) -> Response {
    let mut response = Body::from_stream(ReaderStream::new(stored.reader)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(stored.length));
    // The content type is the uploader's word: never sniffed, and a document opened from this
    // origin runs no script.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    if let Some(disposition) = filename.and_then(|name| {
        // Only names that fit a quoted header value as they are; others go without.
        let plain = name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ');
        plain
            .then(|| HeaderValue::from_str(&format!("inline; filename=\"{name}\"")).ok())
            .flatten()
    }) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    response
}

pub(super) fn upload_body(
    app: &App,
    file: &ChatFile,
    headers: &HeaderMap,
    listener: Option<Extension<ListenerInfo>>,
) -> Value {
    let scheme = match listener {
        Some(Extension(ListenerInfo { tls: true, .. })) => "https",
        _ => "http",
    };
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost");
    let (org, name) = (app.key.org(), app.key.app());
    json!({
        "action": "post",
        "application": app.uuid,
        "path": "/chatfiles",
        "uri": format!("{scheme}://{host}/{org}/{name}/chatfiles"),
        "entities": [{
            "uuid": file.uuid,
            "type": "chatfile",
            "share-secret": file.share_secret.expose(),
            "file-metadata": {
                "content-length": file.length,
                "content-type": file.content_type,
            },
        }],
        "timestamp": now_ms(),
        "duration": 0,
        "organization": org,
        "applicationName": name,
    })
}

impl From<ChatFileError> for ApiError {
    fn from(error: ChatFileError) -> ApiError {
        ApiError::ChatFile(error)
    }
}

impl From<confab_core::files::FileStoreError> for ApiError {
    fn from(error: confab_core::files::FileStoreError) -> ApiError {
        ApiError::ChatFile(ChatFileError::Files(error))
    }
}
