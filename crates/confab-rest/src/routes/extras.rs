//! Reporting, translation and speech to text (API-SURFACE.md section 10). Translation and
//! speech go to the providers of `confab_core::providers` when the deployment has them, and
//! otherwise answer the hosted "service not open!" (the SDK's 505).

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Multipart, Path, State},
    http::HeaderMap,
    Json,
};
use confab_core::{
    conversations::parse_message_id,
    files::FileKey,
    now_ms,
    providers::{AudioFormat, SpeechToText, Translator},
    Error,
};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use crate::{
    error::ApiError,
    extract::{app_for_user, caller_of_app, parse_json},
    RestState,
};

/// Most languages one translation asks for.
const MAX_LANGUAGES: usize = 10;
/// Longest text to translate, in bytes.
const MAX_TEXT_BYTES: usize = 5 * 1024;

#[derive(Debug, Deserialize)]
pub(crate) struct ReportBody {
    #[serde(rename = "reportType")]
    report_type: String,
    #[serde(rename = "reportReason", default)]
    report_reason: String,
}

/// # `POST /{org}/{app}/user/{user}/moderation/report/message/{id}`
///
/// `reportMessage` (`{username, reportType, reportReason}`): a party of the message reports
/// it; the console lists the reports.
pub(crate) async fn report_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user, message)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, reporter) = app_for_user(&state, &org, &app, user, &headers).await?;
    let body: ReportBody = parse_json(&body)?;
    let message = parse_message_id(&message)?;
    state
        .reports
        .report(
            &app.key,
            &reporter,
            message,
            &body.report_type,
            &body.report_reason,
        )
        .await?;
    Ok(Json(
        json!({ "status": "OK", "timestamp": now_ms(), "duration": 0 }),
    ))
}

fn translator(state: &RestState) -> Result<&dyn Translator, ApiError> {
    state
        .translator
        .as_deref()
        .ok_or_else(|| Error::ServiceNotOpen.into())
}

fn speech(state: &RestState) -> Result<&dyn SpeechToText, ApiError> {
    state
        .speech
        .as_deref()
        .ok_or_else(|| Error::ServiceNotOpen.into())
}

#[derive(Debug, Deserialize)]
pub(crate) struct TranslateBody {
    text: String,
    to: Vec<String>,
}

/// # `POST /{org}/{app}/users/{user}/translate` `{text, to: [languages]}`
///
/// `translateMessage`: `data: [{translations: [{to, text}]}]`.
pub(crate) async fn translate_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    app_for_user(&state, &org, &app, user, &headers).await?;
    let translator = translator(&state)?;
    let body: TranslateBody = parse_json(&body)?;
    if body.text.is_empty() || body.text.len() > MAX_TEXT_BYTES {
        return Err(
            Error::InvalidArgument(format!("text must be 1 to {MAX_TEXT_BYTES} bytes")).into(),
        );
    }
    if body.to.is_empty() || body.to.len() > MAX_LANGUAGES {
        return Err(
            Error::InvalidArgument(format!("to must name 1 to {MAX_LANGUAGES} languages")).into(),
        );
    }
    let translations = translator
        .translate(&body.text, &body.to)
        .await
        .map_err(Error::from)?;
    let translations: Vec<Value> = translations
        .iter()
        .map(|translation| json!({ "to": translation.to, "text": translation.text }))
        .collect();
    Ok(Json(json!({
        "data": [{ "translations": translations }],
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

/// # `GET /{org}/{app}/users/{user}/translate/support/language`
///
/// `getSupportedLanguages`: `data: [{code, name, nativeName}]`.
pub(crate) async fn languages_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    app_for_user(&state, &org, &app, user, &headers).await?;
    let languages = translator(&state)?.languages().await.map_err(Error::from)?;
    let data: Vec<Value> = languages
        .iter()
        .map(|language| {
            json!({ "code": language.code, "name": language.name, "nativeName": language.native_name })
        })
        .collect();
    Ok(Json(
        json!({ "data": data, "timestamp": now_ms(), "duration": 0 }),
    ))
}

#[derive(Debug, Default, Deserialize)]
struct AudioBody {
    format: Option<String>,
    #[serde(rename = "sampleRate")]
    sample_rate: Option<u32>,
    #[serde(rename = "bitsPerSample")]
    bits_per_sample: Option<u32>,
    channels: Option<u32>,
}

impl From<AudioBody> for AudioFormat {
    fn from(audio: AudioBody) -> AudioFormat {
        AudioFormat {
            format: audio.format,
            sample_rate: audio.sample_rate,
            bits_per_sample: audio.bits_per_sample,
            channels: audio.channels,
        }
    }
}

#[derive(Debug, Deserialize)]
struct TranscriptionData {
    #[serde(rename = "fileId")]
    file_id: String,
    #[serde(default)]
    audio: Option<AudioBody>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TranscriptionBody {
    data: TranscriptionData,
}

fn spoken(text: String) -> Json<Value> {
    Json(json!({ "data": { "text": text }, "timestamp": now_ms(), "duration": 0 }))
}

/// # `POST /api/sdk/v1/{org}/{app}/speech/transcriptions` `{data: {fileId, username, audio?}}`
///
/// `voiceMessageToText` (easemob only): the words of an uploaded voice message, `data.text`.
pub(crate) async fn transcription_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, _) = caller_of_app(&state, &org, &app, &headers).await?;
    let speech = speech(&state)?;
    let body: TranscriptionBody = parse_json(&body)?;
    let not_found = || Error::InvalidArgument(format!("file {} does not exist", body.data.file_id));
    let key = FileKey::original(&body.data.file_id).ok_or_else(not_found)?;
    // Only this app's attachments: the bytes of every app share one store.
    state
        .chat_files
        .chat_file(&app.key, &body.data.file_id)
        .await
        .map_err(Error::from)?
        .ok_or_else(not_found)?;
    let stored = state
        .file_store
        .open(&key)
        .await
        .map_err(|error| ApiError::ChatFile(confab_core::files::ChatFileError::Files(error)))?
        .ok_or_else(not_found)?;
    if stored.length > state.max_attachment_bytes {
        return Err(Error::InvalidArgument("the voice message is too large".to_owned()).into());
    }
    let mut audio = Vec::with_capacity(stored.length as usize);
    stored
        .reader
        .take(state.max_attachment_bytes)
        .read_to_end(&mut audio)
        .await
        .map_err(|error| {
            Error::Provider(confab_core::providers::ProviderError(error.to_string()))
        })?;
    let format = body.data.audio.unwrap_or_default().into();
    let text = speech
        .transcribe(&audio, &format)
        .await
        .map_err(Error::from)?;
    Ok(spoken(text))
}

/// # `POST /api/sdk/v1/{org}/{app}/speech/recognitions` (multipart: `file`, `username`, `audio.*`)
///
/// `voiceFileToText` (easemob only): the words of an audio file, `data.text`.
pub(crate) async fn recognition_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Result<Json<Value>, ApiError> {
    caller_of_app(&state, &org, &app, &headers).await?;
    let speech = speech(&state)?;
    let bad = |what: String| ApiError::from(Error::InvalidArgument(what));
    let mut audio = None;
    let mut format = AudioFormat::default();
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|e| bad(e.body_text()))? {
                if (bytes.len() + chunk.len()) as u64 > state.max_attachment_bytes {
                    return Err(bad("the audio file is too large".to_owned()));
                }
                bytes.extend_from_slice(&chunk);
            }
            audio = Some(bytes);
            continue;
        }
        let value = field.text().await.map_err(|e| bad(e.body_text()))?;
        let number = || value.parse::<u32>().ok();
        match name.as_str() {
            "audio.format" => format.format = Some(value.clone()),
            "audio.sampleRate" => format.sample_rate = number(),
            "audio.bitsPerSample" => format.bits_per_sample = number(),
            "audio.channels" => format.channels = number(),
            _ => {}
        }
    }
    let audio = audio.ok_or_else(|| bad("no file".to_owned()))?;
    let text = speech
        .transcribe(&audio, &format)
        .await
        .map_err(Error::from)?;
    Ok(spoken(text))
}
