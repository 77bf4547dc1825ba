//! The figures of an app's overview page: users, users online now, messages per day.
//! `OverviewService` only reads them (user and message counts, presence).

use std::sync::Arc;

use crate::{
    app::AppService,
    ids::AppKey,
    now_ms,
    presence::Presence,
    store::{DayCount, LogStore, UserStore},
    Error,
};

const DAY_MS: u64 = 24 * 3600 * 1000;
/// Days shown in the chart, today included.
pub const CHART_DAYS: u64 = 7;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppOverview {
    pub users: u64,
    /// Users with a live session, on any node (`Presence`).
    pub online_now: u64,
    pub messages_today: u64,
    /// The last `CHART_DAYS` UTC days, oldest first, days without messages included.
    pub daily_messages: Vec<DayCount>,
}

/// The console's figures of an app; reads only.
pub struct OverviewService {
    apps: Arc<AppService>,
    logs: Arc<dyn LogStore>,
    users: Arc<dyn UserStore>,
    presence: Arc<dyn Presence>,
}

impl OverviewService {
    pub fn new(
        apps: Arc<AppService>,
        logs: Arc<dyn LogStore>,
        users: Arc<dyn UserStore>,
        presence: Arc<dyn Presence>,
    ) -> OverviewService {
        OverviewService {
            apps,
            logs,
            users,
            presence,
        }
    }

    pub async fn overview(&self, app: &AppKey) -> Result<AppOverview, Error> {
        self.apps.app(app).await?;
        let today = now_ms() / DAY_MS * DAY_MS;
        let first_day = today - (CHART_DAYS - 1) * DAY_MS;
        let stored = self.logs.daily_message_counts(app, first_day).await?;
        let daily_messages: Vec<DayCount> = (0..CHART_DAYS)
            .map(|index| {
                let day_start_ms = first_day + index * DAY_MS;
                let count = stored
                    .iter()
                    .find(|day| day.day_start_ms == day_start_ms)
                    .map_or(0, |day| day.count);
                DayCount {
                    day_start_ms,
                    count,
                }
            })
            .collect();
        Ok(AppOverview {
            users: self.users.count_users(app).await?,
            online_now: self.presence.online_users(app).await?,
            messages_today: daily_messages.last().map_or(0, |day| day.count),
            daily_messages,
        })
    }
}
