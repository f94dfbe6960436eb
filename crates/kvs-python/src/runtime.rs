//! The one tokio runtime every call runs on, and the way Python waits for it: with the GIL
//! released.

use std::future::Future;
use std::sync::OnceLock;

use pyo3::prelude::*;

/// The shared runtime: two workers, as many as the machines kvs-rs targets have cores.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kvs-rs")
            .enable_all()
            .build()
            .expect("the kvs-rs runtime starts (threads and timers are available)")
    })
}

/// Runs `future` to completion on the runtime while other Python threads run.
pub(crate) fn wait<F>(py: Python<'_>, future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    py.allow_threads(|| runtime().block_on(future))
}
