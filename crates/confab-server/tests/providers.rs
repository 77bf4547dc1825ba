//! Translation and speech to text are ports (`confab_core::providers`): without a provider each
//! route answers the hosted "service not open!" (403, the SDK's 505); with one, the route hands
//! it the request and answers in the shape the SDK reads.

#![allow(clippy::unwrap_used)] // test: a failed step should stop the test loudly

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::TestServer;
use confab_core::providers::{
    AudioFormat, Language, ProviderError, Providers, SpeechToText, Translation, Translator,
};
use serde_json::json;

#[derive(Default)]
struct FakeTranslator {
    asked: Mutex<Vec<(String, Vec<String>)>>,
}

#[async_trait]
impl Translator for FakeTranslator {
    async fn translate(
        &self,
        text: &str,
        to: &[String],
    ) -> Result<Vec<Translation>, ProviderError> {
        if text == "fail" {
            return Err(ProviderError("the provider is down".into()));
        }
        self.asked
            .lock()
            .unwrap()
            .push((text.to_owned(), to.to_vec()));
        Ok(to
            .iter()
            .map(|language| Translation {
                to: language.clone(),
                text: format!("{text} [{language}]"),
            })
            .collect())
    }

    async fn languages(&self) -> Result<Vec<Language>, ProviderError> {
        Ok(vec![Language {
            code: "fr".into(),
            name: "French".into(),
            native_name: "Français".into(),
        }])
    }
}

struct FakeSpeech;

#[async_trait]
impl SpeechToText for FakeSpeech {
    async fn transcribe(
        &self,
        audio: &[u8],
        format: &AudioFormat,
    ) -> Result<String, ProviderError> {
        Ok(format!(
            "{} bytes of {}",
            audio.len(),
            format.format.as_deref().unwrap_or("?")
        ))
    }
}

#[tokio::test]
async fn without_providers_translation_and_speech_answer_service_not_open() {
    let server = TestServer::start().await;
    let token = server.user_token("leo", 600);
    let not_open = (403, "forbidden_op", "service not open!");
    for (method, path, body) in [
        (
            "POST",
            "/org1/app1/users/leo/translate",
            r#"{"text":"hi","to":["fr"]}"#,
        ),
        ("GET", "/org1/app1/users/leo/translate/support/language", ""),
        (
            "POST",
            "/api/sdk/v1/org1/app1/speech/transcriptions",
            r#"{"data":{"fileId":"x"}}"#,
        ),
    ] {
        let (status, answer) = server.http(method, path, Some(&token), body).await;
        assert_eq!(
            (
                status,
                answer["error"].as_str().unwrap(),
                answer["error_description"].as_str().unwrap()
            ),
            not_open,
            "{method} {path}"
        );
    }
    // A token is still needed.
    let (status, _) = server
        .http(
            "POST",
            "/org1/app1/users/leo/translate",
            None,
            r#"{"text":"hi","to":["fr"]}"#,
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_translator_answers_in_the_sdk_shape_and_bad_input_never_reaches_it() {
    let translator = Arc::new(FakeTranslator::default());
    let server = TestServer::start_with_providers(Providers {
        translator: Some(translator.clone()),
        speech: Some(Arc::new(FakeSpeech)),
    })
    .await;
    let token = server.user_token("leo", 600);
    let (status, answer) = server
        .http(
            "POST",
            "/org1/app1/users/leo/translate",
            Some(&token),
            r#"{"text":"hello","to":["fr","de"]}"#,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["data"],
        json!([{ "translations": [{ "to": "fr", "text": "hello [fr]" }, { "to": "de", "text": "hello [de]" }] }])
    );
    let (status, answer) = server
        .http(
            "GET",
            "/org1/app1/users/leo/translate/support/language",
            Some(&token),
            "",
        )
        .await;
    assert_eq!(
        (status, answer["data"].clone()),
        (
            200,
            json!([{ "code": "fr", "name": "French", "nativeName": "Français" }])
        )
    );

    for (body, error) in [
        (r#"{"text":"","to":["fr"]}"#, "illegal_argument"),
        (r#"{"text":"hi","to":[]}"#, "illegal_argument"),
        (r#"{"text":"hi""#, "json_parse"),
    ] {
        let (status, answer) = server
            .http("POST", "/org1/app1/users/leo/translate", Some(&token), body)
            .await;
        assert_eq!(
            (status, answer["error"].as_str().unwrap()),
            (400, error),
            "{body}"
        );
    }
    assert_eq!(
        translator.asked.lock().unwrap().len(),
        1,
        "bad input never reaches the provider"
    );
    let (status, answer) = server
        .http(
            "POST",
            "/org1/app1/users/leo/translate",
            Some(&token),
            r#"{"text":"fail","to":["fr"]}"#,
        )
        .await;
    assert_eq!(
        (status, answer["error"].as_str().unwrap()),
        (503, "service_unavailable")
    );
    assert!(
        !answer.to_string().contains("down"),
        "the provider's detail is not sent: {answer}"
    );

    // Speech: an attachment that does not exist.
    let (status, answer) = server
        .http(
            "POST",
            "/api/sdk/v1/org1/app1/speech/transcriptions",
            Some(&token),
            r#"{"data":{"fileId":"00000000-0000-0000-0000-000000000000"}}"#,
        )
        .await;
    assert_eq!(
        (status, answer["error"].as_str().unwrap()),
        (400, "illegal_argument")
    );
}
