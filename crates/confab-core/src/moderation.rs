//! Message reports (`reportMessage`): a party of a message reports it to the app's moderators,
//! who read the reports in the console.

use std::sync::Arc;

use crate::{
    ids::{AppKey, MessageId, UserName},
    messages::MessageService,
    now_ms,
    store::{Report, ReportStore},
    Error,
};

/// Longest `reportType`, in characters.
pub const MAX_REPORT_TYPE_CHARS: usize = 64;
/// Longest `reportReason`, in characters.
pub const MAX_REPORT_REASON_CHARS: usize = 1000;
/// Most reports per page of the list.
pub const MAX_REPORTS_PER_PAGE: u32 = 100;

pub struct ReportService {
    store: Arc<dyn ReportStore>,
    /// Whether the reporter is a party of the message.
    messages: Arc<MessageService>,
}

impl ReportService {
    pub fn new(store: Arc<dyn ReportStore>, messages: Arc<MessageService>) -> ReportService {
        ReportService { store, messages }
    }

    /// Stores `reporter`'s report of `message`, which they sent or received.
    pub async fn report(
        &self,
        app: &AppKey,
        reporter: &UserName,
        message: MessageId,
        report_type: &str,
        reason: &str,
    ) -> Result<u64, Error> {
        if report_type.is_empty() || report_type.chars().count() > MAX_REPORT_TYPE_CHARS {
            return Err(Error::InvalidArgument(format!(
                "reportType must be 1 to {MAX_REPORT_TYPE_CHARS} characters"
            )));
        }
        if reason.chars().count() > MAX_REPORT_REASON_CHARS {
            return Err(Error::InvalidArgument(format!(
                "reportReason must be at most {MAX_REPORT_REASON_CHARS} characters"
            )));
        }
        self.messages.message_place(app, reporter, message).await?;
        let report = Report {
            id: 0,
            reporter: reporter.clone(),
            message,
            report_type: report_type.to_owned(),
            reason: reason.to_owned(),
            created_ms: now_ms(),
        };
        Ok(self.store.add_report(app, &report).await?)
    }

    /// Up to `limit` (at most `MAX_REPORTS_PER_PAGE`) reports before `before`, newest first.
    pub async fn reports(
        &self,
        app: &AppKey,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Report>, Error> {
        Ok(self
            .store
            .reports(app, before, limit.clamp(1, MAX_REPORTS_PER_PAGE))
            .await?)
    }
}
