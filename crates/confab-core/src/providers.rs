//! Ports to outside services the hosted service offers as paid extras: machine translation
//! (`translateMessage`, `getSupportedLanguages`) and speech to text (`voiceMessageToText`,
//! `voiceFileToText`). Confab ships no provider; a deployment that has one implements the
//! trait and passes it to the REST state. Without one, each call answers the hosted "service
//! not open" error (the SDK's 505).

use std::sync::Arc;

use async_trait::async_trait;

/// The providers a deployment has; none by default.
#[derive(Clone, Default)]
pub struct Providers {
    pub translator: Option<Arc<dyn Translator>>,
    pub speech: Option<Arc<dyn SpeechToText>>,
}

/// A failure of a provider; the caller sees "server busy" and may retry.
#[derive(Debug, thiserror::Error)]
#[error("provider failed: {0}")]
pub struct ProviderError(pub String);

/// One text in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The language code, as asked (`zh-Hans`, `en`, …).
    pub to: String,
    pub text: String,
}

/// A language a translator offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language {
    pub code: String,
    pub name: String,
    pub native_name: String,
}

#[async_trait]
pub trait Translator: Send + Sync {
    /// `text` in each of `to`, in that order.
    async fn translate(&self, text: &str, to: &[String])
        -> Result<Vec<Translation>, ProviderError>;
    async fn languages(&self) -> Result<Vec<Language>, ProviderError>;
}

/// Audio as the SDK describes it (`audio` of `voiceMessageToText`); all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AudioFormat {
    pub format: Option<String>,
    pub sample_rate: Option<u32>,
    pub bits_per_sample: Option<u32>,
    pub channels: Option<u32>,
}

#[async_trait]
pub trait SpeechToText: Send + Sync {
    /// The words spoken in `audio`.
    async fn transcribe(&self, audio: &[u8], format: &AudioFormat)
        -> Result<String, ProviderError>;
}
