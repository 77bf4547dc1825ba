//! Behaviour every `ChatFileStore` and `FileStore` backend shares (enable the `conformance`
//! feature and call these from the backend's tests, with fresh stores).

#![allow(clippy::unwrap_used)] // test support: a failed step should stop the suite loudly

use tokio::io::AsyncReadExt;

use super::{ChatFile, ChatFileStore, FileKey, FileStore};
use crate::{app::Secret, ids::AppKey, store::StoreError};

fn chat_file(app: &AppKey, uuid: &str) -> ChatFile {
    ChatFile {
        app: app.clone(),
        uuid: uuid.into(),
        share_secret: Secret::new("secret-of-".to_owned() + uuid),
        restricted: true,
        content_type: "image/png".into(),
        length: 1234,
        filename: "cat.png".into(),
        uploader: "leo".into(),
        thumbnail_width: 170,
        thumbnail_height: 120,
        created_ms: 42,
    }
}

/// Metadata: stored, read back per app, unique per app.
pub async fn chat_file_metadata(store: &dyn ChatFileStore) {
    let one = AppKey::new("files", "one").unwrap();
    let two = AppKey::new("files", "two").unwrap();
    let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
    assert_eq!(store.chat_file(&one, uuid).await.unwrap(), None);
    let file = chat_file(&one, uuid);
    store.create_chat_file(&file).await.unwrap();
    assert_eq!(
        store.chat_file(&one, uuid).await.unwrap(),
        Some(file.clone())
    );
    assert_eq!(store.chat_file(&two, uuid).await.unwrap(), None, "per app");
    assert!(matches!(
        store.create_chat_file(&file).await,
        Err(StoreError::Duplicate(_))
    ));
    let open = ChatFile {
        restricted: false,
        uploader: String::new(),
        ..chat_file(&two, uuid)
    };
    store.create_chat_file(&open).await.unwrap();
    assert_eq!(store.chat_file(&two, uuid).await.unwrap(), Some(open));
}

/// Bytes: invisible until committed, read back whole, discarded when dropped, deletable.
pub async fn file_bytes(files: &dyn FileStore) {
    let key = FileKey::original("7c9e6679-7425-40de-944b-e07fc1f90ae7").unwrap();
    assert!(files.open(&key).await.unwrap().is_none());
    let mut upload = files.create(&key).await.unwrap();
    let chunk: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    upload.write(&chunk).await.unwrap();
    assert!(
        files.open(&key).await.unwrap().is_none(),
        "not before commit"
    );
    upload.write(b"tail").await.unwrap();
    assert_eq!(upload.commit().await.unwrap(), 100_004);
    let mut stored = files.open(&key).await.unwrap().unwrap();
    assert_eq!(stored.length, 100_004);
    let mut read = Vec::new();
    stored.reader.read_to_end(&mut read).await.unwrap();
    assert_eq!(&read[..100_000], &chunk[..]);
    assert_eq!(&read[100_000..], b"tail");

    let dropped = key.thumbnail();
    let mut upload = files.create(&dropped).await.unwrap();
    upload.write(b"never committed").await.unwrap();
    drop(upload);
    assert!(files.open(&dropped).await.unwrap().is_none());

    let mut upload = files.create(&dropped).await.unwrap();
    upload.write(b"aborted").await.unwrap();
    upload.abort().await;
    assert!(files.open(&dropped).await.unwrap().is_none());

    files.delete(&key).await.unwrap();
    assert!(files.open(&key).await.unwrap().is_none());
    files.delete(&key).await.unwrap();
}
