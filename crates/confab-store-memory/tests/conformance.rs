//! The store conformance suite against the in-memory reference store: one test per case.

use confab_store_memory::MemoryStore;

async fn fresh_store() -> (std::sync::Arc<MemoryStore>, ()) {
    (std::sync::Arc::new(MemoryStore::new()), ())
}

confab_core::store_conformance_tests!(fresh_store);
