//! Message reports (the embedded store's `reports` table).

use async_trait::async_trait;
use confab_core::{
    ids::AppKey,
    store::{Report, ReportStore, StoreError},
};

use crate::MemoryStore;

#[derive(Debug, Default)]
pub(crate) struct Reports {
    /// Every app's, in id order.
    all: Vec<(AppKey, Report)>,
}

#[async_trait]
impl ReportStore for MemoryStore {
    async fn add_report(&self, app: &AppKey, report: &Report) -> Result<u64, StoreError> {
        self.with(|state| {
            let id = state.reports.all.len() as u64 + 1;
            state.reports.all.push((
                app.clone(),
                Report {
                    id,
                    ..report.clone()
                },
            ));
            id
        })
    }

    async fn reports(
        &self,
        app: &AppKey,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Report>, StoreError> {
        self.with(|state| {
            state
                .reports
                .all
                .iter()
                .rev()
                .filter(|(of, report)| of == app && before.is_none_or(|before| report.id < before))
                .take(limit as usize)
                .map(|(_, report)| report.clone())
                .collect()
        })
    }
}
