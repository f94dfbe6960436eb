//! The background task that deletes media past its stream's retention.

use std::sync::Arc;
use std::time::Duration;

use super::now_ms;
use crate::App;

pub(crate) async fn run(app: Arc<App>, every: Duration, zero_retention_keep: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match app
            .media
            .expire(now_ms(), zero_retention_keep.as_millis() as i64)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(fragments = n, "expired media deleted"),
            Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
        }
    }
}
