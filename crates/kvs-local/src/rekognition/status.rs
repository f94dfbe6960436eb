//! A stream processor's state: Rekognition's names for it, and how a change is recorded.
//!
//! The processor operations change it, and so does a running processor that has to give up;
//! both use this module, so neither depends on the other for it.

use super::store;
use crate::App;
use crate::clock::now_ms;
use crate::error::ApiError;

/// Created or stopped.
pub(super) const STOPPED: &str = "STOPPED";
/// Analysing video.
pub(super) const RUNNING: &str = "RUNNING";
/// Gave up; the status message says why.
pub(super) const FAILED: &str = "FAILED";

/// Records that processor `name` is now `status`, with a message (why it failed, or empty).
pub(super) async fn set(
    app: &App,
    name: &str,
    status: &'static str,
    message: &str,
) -> Result<(), ApiError> {
    let (name, message) = (name.to_owned(), message.to_owned());
    app.db
        .tx(move |tx| store::set_status(tx, &name, status, &message, now_ms()))
        .await
}
