//! An in-process kvs-local for tests, with a [`KvsConfig`] that points at it.
//!
//! ```no_run
//! # async fn example() {
//! let local = kvs_testkit::local::LocalKvs::start().await;
//! let stream = local.create_stream("cam").await;
//! let control = local.config().kinesis_video();
//! # let _ = (stream, control);
//! # }
//! ```
//!
//! The server runs on a runtime of its own (two worker threads), not the test's: it keeps
//! answering while a `#[tokio::test]` (a single-threaded runtime) blocks on something else,
//! it works in tests without any runtime ([`LocalKvsBuilder::start_blocking`]), and dropping
//! the fixture can wait for the server to stop from any thread.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use kvs_endpoint::KvsConfig;
use kvs_local::{Credentials, Server};
use kvs_types::StreamRef;

/// How long stopping waits for requests in flight (a PutMedia or GetMedia that nobody ends)
/// before the server's tasks are dropped.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A kvs-local on a free loopback port, in a temporary directory of its own, with a client
/// configuration for it. Dropping it stops the server and then deletes the directory.
pub struct LocalKvs {
    runtime: Option<tokio::runtime::Runtime>,
    server: Option<Server>,
    /// The configuration it was started with, its address fixed to the one bound, so a
    /// restart comes back where clients look.
    server_config: kvs_local::Config,
    config: KvsConfig,
    url: String,
    addr: SocketAddr,
    credentials: Credentials,
    region: String,
    // Last: deleted once the server has stopped.
    dir: tempfile::TempDir,
}

/// A change to the server's configuration before it starts.
type Configure = Box<dyn FnOnce(&mut kvs_local::Config) + Send>;

/// Options of a [`LocalKvs`]: see [`LocalKvs::builder`].
#[must_use]
pub struct LocalKvsBuilder {
    configure: Vec<Configure>,
}

impl std::fmt::Debug for LocalKvsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKvsBuilder")
            .field("configure", &self.configure.len())
            .finish()
    }
}

impl LocalKvsBuilder {
    /// Changes the server's [`kvs_local::Config`] before it starts (its defaults:
    /// `kvs_local::Config::new(<temp dir>/data)`, loopback port 0). Closures run in order.
    pub fn configure(mut self, f: impl FnOnce(&mut kvs_local::Config) + Send + 'static) -> Self {
        self.configure.push(Box::new(f));
        self
    }

    /// Listens on `addr` instead of a free port (e.g. one a client was already given).
    pub fn addr(self, addr: SocketAddr) -> Self {
        self.configure(move |c| c.addr = addr)
    }

    /// Starts the server; call from within a tokio runtime (any flavour).
    pub async fn start(self) -> LocalKvs {
        let (runtime, dir, server_config) = self.prepare();
        let server = spawn_start(&runtime, server_config.clone()).await;
        LocalKvs::new(runtime, server, server_config, dir).await
    }

    /// Starts the server from a thread outside any tokio runtime (a plain `#[test]`); the
    /// client configuration is made on the server's runtime.
    ///
    /// # Panics
    /// When called from within a runtime: use [`LocalKvsBuilder::start`] there.
    pub fn start_blocking(self) -> LocalKvs {
        let (runtime, dir, server_config) = self.prepare();
        let server = runtime
            .block_on(Server::start(server_config.clone()))
            .unwrap_or_else(|e| panic!("kvs-local did not start: {e}"));
        let handle = runtime.handle().clone();
        handle.block_on(LocalKvs::new(runtime, server, server_config, dir))
    }

    fn prepare(
        self,
    ) -> (
        tokio::runtime::Runtime,
        tempfile::TempDir,
        kvs_local::Config,
    ) {
        let dir = tempfile::Builder::new()
            .prefix("kvs-local-")
            .tempdir()
            .expect("a temporary directory");
        let mut server_config = kvs_local::Config::new(dir.path().join("data"));
        for f in self.configure {
            f(&mut server_config);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kvs-local")
            .enable_all()
            .build()
            .expect("a tokio runtime for kvs-local");
        (runtime, dir, server_config)
    }
}

/// Creates stream `name` where `config` points, keeping media for an hour, and returns it by
/// name.
pub async fn create_stream(config: &KvsConfig, name: &str) -> StreamRef {
    config
        .kinesis_video()
        .create_stream()
        .stream_name(name)
        .data_retention_in_hours(1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateStream {name}: {e:?}"));
    StreamRef::parse(name).expect("a valid stream name")
}

/// A client configuration with kvs-local's default region and key pair for the endpoint
/// `url`: a kvs-local that is not a [`LocalKvs`] (a `kvs-local serve` process), one that has
/// not started yet, or an address where nothing listens.
pub async fn config_at(url: &str) -> KvsConfig {
    let credentials = Credentials::local_defaults();
    KvsConfig::for_endpoint(
        url,
        kvs_local::Config::DEFAULT_REGION,
        &credentials.access_key_id,
        &credentials.secret_access_key,
    )
    .await
}

async fn spawn_start(runtime: &tokio::runtime::Runtime, config: kvs_local::Config) -> Server {
    runtime
        .spawn(Server::start(config))
        .await
        .expect("starting kvs-local did not panic")
        .unwrap_or_else(|e| panic!("kvs-local did not start: {e}"))
}

impl LocalKvs {
    /// A kvs-local with local defaults (`kvs_local::Config::new`) on a free loopback port.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// Options: [`kvs_local::Config`] changes, a fixed address, or a start without a
    /// runtime.
    pub fn builder() -> LocalKvsBuilder {
        LocalKvsBuilder {
            configure: Vec::new(),
        }
    }

    async fn new(
        runtime: tokio::runtime::Runtime,
        server: Server,
        mut server_config: kvs_local::Config,
        dir: tempfile::TempDir,
    ) -> Self {
        server_config.addr = server.addr();
        let credentials = server.credentials().clone();
        let region = server.region().to_string();
        let url = server.url().to_owned();
        let config = KvsConfig::for_endpoint(
            &url,
            &region,
            &credentials.access_key_id,
            &credentials.secret_access_key,
        )
        .await;
        Self {
            runtime: Some(runtime),
            addr: server.addr(),
            server: Some(server),
            server_config,
            config,
            url,
            credentials,
            region,
            dir,
        }
    }

    /// A client configuration for this server (its URL, region and key pair).
    pub fn config(&self) -> &KvsConfig {
        &self.config
    }

    /// A client configuration with this server's region and key pair for another endpoint
    /// URL, such as a proxy in front of the server.
    pub async fn config_via(&self, url: &str) -> KvsConfig {
        KvsConfig::for_endpoint(
            url,
            &self.region,
            &self.credentials.access_key_id,
            &self.credentials.secret_access_key,
        )
        .await
    }

    /// A client configuration for this server's https endpoint (same port), trusting the
    /// data directory's CA and nothing else.
    ///
    /// # Panics
    /// When the server was configured without TLS.
    pub async fn https_config(&self) -> KvsConfig {
        let ca = self
            .server()
            .ca_file()
            .expect("kvs-local serves https with its data directory's CA");
        self.config_via(&self.https_url())
            .await
            .with_ca_bundle(ca)
            .unwrap_or_else(|e| panic!("the kvs-local CA is a usable bundle: {e}"))
    }

    /// The https endpoint URL on the same port, `https://127.0.0.1:<port>`.
    ///
    /// # Panics
    /// When the server was configured without TLS.
    pub fn https_url(&self) -> String {
        self.server()
            .https_url()
            .expect("kvs-local serves https (kvs_local::Tls is not Disabled)")
    }

    /// A client configuration for this server whose requests are signed with `secret`
    /// instead of the server's secret key, for tests of refused signatures.
    pub async fn config_with_secret(&self, secret: &str) -> KvsConfig {
        KvsConfig::for_endpoint(
            &self.url,
            &self.region,
            &self.credentials.access_key_id,
            secret,
        )
        .await
    }

    /// The running server (request counts: [`Server::calls`]).
    ///
    /// # Panics
    /// Between [`LocalKvs::stop`] and [`LocalKvs::restart`].
    pub fn server(&self) -> &Server {
        self.server
            .as_ref()
            .expect("kvs-local is stopped; restart() it first")
    }

    /// The endpoint URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the server listens on (kept across restarts).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The region of the server's ARNs and of the client configuration.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The key pair requests are signed with.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.server_config.data_dir
    }

    /// A temporary directory for the test's own files, deleted with the fixture (the data
    /// directory is its `data` subdirectory unless configured otherwise).
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `future` to completion on the server's runtime, for tests without a runtime of
    /// their own.
    ///
    /// # Panics
    /// When called from within a runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime().block_on(future)
    }

    /// Creates stream `name` keeping media for an hour (so archived media APIs have
    /// something to serve) and returns it by name.
    pub async fn create_stream(&self, name: &str) -> StreamRef {
        create_stream(&self.config, name).await
    }

    /// Stops the server (requests in flight get a few seconds to finish) and keeps its data
    /// directory and address for [`LocalKvs::restart`]. Clients see connections refused
    /// meanwhile.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = self
                .runtime()
                .spawn(async move {
                    let _ = tokio::time::timeout(STOP_GRACE, server.shutdown()).await;
                })
                .await;
        }
    }

    /// Starts the server again (stopping it first if it runs) on the same address, with the
    /// same data directory and configuration.
    pub async fn restart(&mut self) {
        self.stop().await;
        let server = spawn_start(self.runtime(), self.server_config.clone()).await;
        self.server = Some(server);
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime lives until drop")
    }
}

impl std::fmt::Debug for LocalKvs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKvs")
            .field("url", &self.url)
            .field("data_dir", &self.server_config.data_dir)
            .field("running", &self.server.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for LocalKvs {
    fn drop(&mut self) {
        let server = self.server.take();
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        // A runtime can be neither blocked on nor dropped from a thread that runs another
        // runtime, which is where async tests drop the fixture: stop it from a thread of
        // its own and wait, so the data directory is deleted only after the server let go.
        let stopper = std::thread::spawn(move || {
            if let Some(server) = server {
                runtime.block_on(async {
                    let _ = tokio::time::timeout(STOP_GRACE, server.shutdown()).await;
                });
            }
            runtime.shutdown_timeout(Duration::from_secs(1));
        });
        let _ = stopper.join();
    }
}
