//! Embedded store throughput: durable appends with N in flight (group commit), then draining
//! the queue page by page with key acknowledgement, as a recipient's login does.
//!
//! `cargo run --release -p confab-bench --bin store-bench -- [messages] [in_flight]`

#![allow(clippy::print_stdout, clippy::unwrap_used)] // a tool that prints figures

use std::sync::Arc;
use std::time::Instant;

use confab_core::{
    ids::{AppKey, LogId, UserName},
    store::{
        AppendStore, Audience, Device, DeviceStore, EncodeMeta, LogStore, NewMessage, Pulled,
        UserStore,
    },
};
use confab_store_embedded::EmbeddedStore;

/// The server's default (`Limits::page_size`).
const PAGE_SIZE: u32 = 100;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n_messages: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let in_flight: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let app = AppKey::parse("bench#app").unwrap();
    let leo = UserName::parse("leo").unwrap();
    let roy = UserName::parse("roy").unwrap();
    let queue = LogId::pair(&leo, &roy);
    let meta = bytes::Bytes::from(vec![7u8; 160]);
    // Appends check that the recipient exists.
    let now = confab_core::now_ms();
    let recipient = confab_core::user::User {
        name: roy.clone(),
        uuid: "bench-roy".into(),
        password_hash: String::new(),
        nickname: String::new(),
        activated: true,
        created_ms: now,
        modified_ms: now,
        tokens_issued_from: 0,
    };
    store.create_users(&app, &[recipient]).await.unwrap();

    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..in_flight {
        let (store, app, leo, roy, queue, meta) = (
            store.clone(),
            app.clone(),
            leo.clone(),
            roy.clone(),
            queue.clone(),
            meta.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut i = worker;
            while i < n_messages {
                store
                    .append_message(NewMessage {
                        app: app.clone(),
                        log: queue.clone(),
                        audience: Audience::Members,
                        sender: leo.clone(),
                        sender_resource: "bench".into(),
                        client_id: Some(i),
                        body_digest: 0,
                        sent_ms: 1,
                        meta: EncodeMeta::new({
                            let meta = meta.clone();
                            move |_, _| meta
                        }),
                        kind: "txt",
                        history: confab_core::history::single_chat_entries("txt", &leo, &roy),
                    })
                    .await
                    .unwrap();
                i += in_flight;
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let stored_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let reader = Device {
        user: roy.clone(),
        resource: "bench".into(),
    };
    store.device_seen(&app, &reader, 1).await.unwrap();
    let mut key = None;
    let mut drained = 0;
    loop {
        let pulled = store
            .submit_pull(&app, &reader, &queue, key, PAGE_SIZE)
            .await
            .unwrap();
        let Pulled::Page(page) = pulled else {
            panic!("key beyond the end")
        };
        let Some(last) = page.last() else { break };
        drained += page.len();
        key = Some(last.id);
    }
    let drained_secs = started.elapsed().as_secs_f64();
    assert_eq!(drained as u64, n_messages);
    println!(
        "embedded store: {n_messages} durable appends with {in_flight} in flight: {:.0} msgs/s; drained in pages of {PAGE_SIZE}: {:.0} msgs/s",
        n_messages as f64 / stored_secs,
        n_messages as f64 / drained_secs
    );
}
