//! The attachment conformance cases on a fresh embedded database and data directory.

use confab_store_embedded::{DiskFileStore, EmbeddedStore};

#[tokio::test]
async fn embedded_store_keeps_chat_file_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    confab_core::files::conformance::chat_file_metadata(&store).await;
}

#[tokio::test]
async fn disk_file_store_round_trips_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let files = DiskFileStore::open(&dir.path().join("files")).unwrap();
    confab_core::files::conformance::file_bytes(&files).await;
    // Nothing is left in the staging directory (a dropped upload is removed in the background).
    let staging = dir.path().join("files").join("tmp");
    for _ in 0..100 {
        if std::fs::read_dir(&staging).unwrap().count() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("uploads left in {}", staging.display());
}
