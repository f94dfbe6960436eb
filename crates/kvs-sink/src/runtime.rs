//! The one tokio runtime every kvssink instance shares, as gst-plugins-rs's AWS elements do.
//!
//! GStreamer calls the element from its own threads (streaming threads, the application's
//! thread for state changes), which may themselves be inside some other tokio runtime (an
//! application calling `set_state` from async code). `Runtime::block_on` panics there, so futures
//! are spawned onto the shared runtime and waited for over a channel instead, which blocks the
//! calling thread (the back-pressure a sink should give) and works from any thread.

use std::future::Future;
use std::sync::LazyLock;

use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

static RUNTIME: LazyLock<Result<Runtime, String>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kvssink-runtime")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
});

/// Why a future gave no result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// The element is stopping (or flushing) and cancelled the wait.
    #[error("cancelled: the element is stopping")]
    Cancelled,
    /// The runtime could not be created.
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(String),
}

/// The shared runtime.
pub(crate) fn runtime() -> Result<&'static Runtime, RunError> {
    RUNTIME.as_ref().map_err(|e| RunError::Runtime(e.clone()))
}

/// Runs `fut` on the shared runtime and blocks until it completes or `cancel` fires (then the
/// future is dropped).
pub(crate) fn run<F, T>(cancel: &CancellationToken, fut: F) -> Result<T, RunError>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let rt = runtime()?;
    if cancel.is_cancelled() {
        return Err(RunError::Cancelled);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let cancel = cancel.clone();
    rt.spawn(async move {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => {}
            out = fut => {
                let _ = tx.send(out);
            }
        }
    });
    rx.recv().map_err(|_| RunError::Cancelled)
}
