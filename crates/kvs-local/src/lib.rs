#![doc = include_str!("../README.md")]

mod auth;
mod clock;
mod console;
mod control;
mod cors;
mod datadir;
mod db;
mod error;
mod http_api;
mod ids;
mod kinesis;
mod media;
mod origin;
mod protocol;
mod rekognition;
mod signaling;
mod static_files;
mod tls;
mod viewer;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kvs_types::{AccountId, Arn, Region, ResourceKind};
use tokio::sync::watch;

pub use auth::Credentials;
pub use datadir::RunningServer;
pub use error::ApiError;
pub use signaling::SignalingLimits;
pub use tls::{LocalCa, Tls, TlsError};

/// How to run a kvs-local server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Where the database and media live; created if missing.
    pub data_dir: PathBuf,
    /// The one key pair requests must be signed with.
    pub credentials: Credentials,
    /// The region written into ARNs.
    pub region: Region,
    /// The account id written into ARNs.
    pub account_id: AccountId,
    /// How often media past its stream's retention is deleted.
    pub retention_check: std::time::Duration,
    /// How long media of streams with zero retention is kept for live readers.
    pub zero_retention_keep: std::time::Duration,
    /// Limits of signaling connections.
    pub signaling: SignalingLimits,
    /// Where the face models are (default: `kvs_faces::FaceEngine::default_models_dir`).
    pub face_models: Option<PathBuf>,
    /// UDP port of the TURN/STUN server (on the same IP as `addr`); 0 picks a free one.
    pub turn_port: u16,
    /// How long the TURN credentials `GetIceServerConfig` hands out can be used to make an
    /// allocation (its `Ttl`; default 300 s, as KVS). An allocation made in time outlives
    /// them: its client keeps refreshing it with the same credentials.
    pub turn_credential_ttl: std::time::Duration,
    /// https and wss on the same port as http and ws (default: a certificate from the data
    /// directory's own CA, see [`LocalCa`]).
    pub tls: Tls,
}

impl Config {
    /// The default port of a standalone kvs-local.
    pub const DEFAULT_PORT: u16 = 4567;
    /// The region in ARNs unless configured.
    pub const DEFAULT_REGION: &'static str = "us-east-1";
    /// The account id in ARNs unless configured.
    pub const DEFAULT_ACCOUNT_ID: &'static str = "123456789012";

    /// Local defaults: loopback on a free port, the documented credentials, `us-east-1`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            credentials: Credentials::local_defaults(),
            region: Region::new(Self::DEFAULT_REGION).expect("the default region is valid"),
            account_id: AccountId::new(Self::DEFAULT_ACCOUNT_ID)
                .expect("the default account id is valid"),
            retention_check: std::time::Duration::from_secs(60),
            zero_retention_keep: std::time::Duration::from_secs(5 * 60),
            signaling: SignalingLimits::default(),
            turn_port: 0,
            turn_credential_ttl: std::time::Duration::from_secs(300),
            face_models: None,
            tls: Tls::default(),
        }
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory could not be created or read.
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        /// The data directory, as configured.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Another kvs-local already serves this data directory.
    #[error(
        "data directory {path} is in use by another kvs-local (pid {pid}, {url}); stop it or use another --data-dir"
    )]
    InUse {
        /// The data directory, as configured.
        path: PathBuf,
        /// The other server's process id, if known.
        pid: u32,
        /// The other server's URL, if known.
        url: String,
    },
    /// The database could not be opened.
    #[error("cannot open database {path}: {source}")]
    Database {
        /// The database file, `kvs-local.sqlite3` in the data directory.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The media store could not be opened.
    #[error("cannot open the media store: {0}")]
    Media(String),
    /// The TLS certificate could not be created or loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for ([`Config::addr`]).
        addr: SocketAddr,
        /// What the operating system said, e.g. that the address is in use.
        source: std::io::Error,
    },
}

/// Request counts per operation, for tests and diagnostics.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    calls: Mutex<HashMap<&'static str, u64>>,
}

impl Stats {
    pub(crate) fn count(&self, operation: &'static str) {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(operation).or_default() += 1;
        }
    }

    fn get(&self, operation: &str) -> u64 {
        self.calls
            .lock()
            .map(|c| c.get(operation).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// What the request handlers share.
pub(crate) struct App {
    pub(crate) config: ResolvedConfig,
    pub(crate) db: db::Db,
    pub(crate) media: media::MediaStore,
    pub(crate) stats: Stats,
    /// Signs playback session tokens (HLS/DASH); kept in the data directory.
    pub(crate) session_key: Vec<u8>,
    /// Expiry times (epoch ms) of the playback sessions handed out, by stream ARN.
    pub(crate) sessions: Mutex<HashMap<String, Vec<i64>>>,
    /// Connected signaling clients.
    pub(crate) signaling: signaling::Signaling,
    pub(crate) signaling_limits: SignalingLimits,
    /// The TURN server handed out by GetIceServerConfig.
    pub(crate) turn: signaling::turn::TurnServer,
    /// The face engine of the Rekognition operations.
    pub(crate) faces: rekognition::engine::Engine,
    /// Started stream processors.
    pub(crate) processors: rekognition::processors::Running,
}

pub(crate) struct ResolvedConfig {
    /// `host:port` of the listening address (loopback when it listens on every address).
    pub(crate) authority: String,
    pub(crate) credentials: Credentials,
    pub(crate) region: Region,
    pub(crate) account_id: AccountId,
}

impl App {
    pub(crate) fn arn(&self, kind: ResourceKind, name: &str, id: i64) -> Result<Arn, ApiError> {
        Arn::new(
            "aws",
            &self.config.region,
            &self.config.account_id,
            kind,
            name,
            id.max(0) as u64,
        )
        .map_err(|e| ApiError::invalid_argument(e.to_string()))
    }
}

/// A running kvs-local. Dropping it stops the server; [`Server::shutdown`] also waits for it.
pub struct Server {
    url: String,
    ca_file: Option<PathBuf>,
    tls: bool,
    addr: SocketAddr,
    app: Arc<App>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    data_dir: PathBuf,
}

impl Server {
    /// Starts a server on the current tokio runtime.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let data_dir = config.data_dir.clone();
        let lock = datadir::DataDirLock::acquire(&data_dir)?;
        let db_path = data_dir.join("kvs-local.sqlite3");
        let db = db::Db::open(&db_path).map_err(|source| StartError::Database {
            path: db_path,
            source,
        })?;
        let session_key = datadir::session_key(&data_dir)?;
        let media = media::MediaStore::open(&data_dir, db.clone())
            .await
            .map_err(|e| StartError::Media(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.addr,
            source,
        })?;
        let host = if addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        };
        let url = format!("http://{host}");
        let tls = tls::ServerTls::new(&config.tls, &data_dir, addr)?;
        let ca_file = tls.as_ref().and_then(|t| t.ca_file.clone());
        let serves_tls = tls.is_some();
        let listener = tls::listener::DualListener::new(listener, tls.map(|t| t.acceptor));
        let turn_secret = auth::hmac(&session_key, b"kvs-local TURN secret");
        let turn = signaling::turn::TurnServer::start(
            host.ip(),
            config.turn_port,
            turn_secret,
            config.turn_credential_ttl,
        )
        .await
        .map_err(|source| StartError::Bind {
            addr: SocketAddr::new(host.ip(), config.turn_port),
            source,
        })?;
        let app = Arc::new(App {
            config: ResolvedConfig {
                authority: host.to_string(),
                credentials: config.credentials.clone(),
                region: config.region.clone(),
                account_id: config.account_id.clone(),
            },
            db,
            media,
            stats: Stats::default(),
            session_key,
            sessions: Mutex::new(HashMap::new()),
            signaling: signaling::Signaling::default(),
            signaling_limits: config.signaling.clone(),
            turn,
            faces: rekognition::engine::Engine::new(config.face_models.clone()),
            processors: rekognition::processors::Running::default(),
        });
        lock.publish(&RunningServer {
            url: url.clone(),
            pid: std::process::id(),
            access_key_id: config.credentials.access_key_id.clone(),
            secret_access_key: config.credentials.secret_access_key.clone(),
            region: config.region.to_string(),
            ca_file: ca_file.clone(),
        })?;

        let (stop, mut stopped) = watch::channel(false);
        let router = http_api::router(app.clone());
        rekognition::resume_processors(&app).await;
        let sweeper = tokio::spawn(media::retention::run(
            app.clone(),
            config.retention_check,
            config.zero_retention_keep,
        ));
        let kinesis_sweeper = tokio::spawn(kinesis::retention_sweep(
            app.clone(),
            config.retention_check,
        ));
        let turn_app = app.clone();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            let service = router.into_make_service_with_connect_info::<tls::listener::Arrival>();
            if let Err(e) = axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "kvs-local server stopped");
            }
            sweeper.abort();
            kinesis_sweeper.abort();
            let _ = sweeper.await;
            let _ = kinesis_sweeper.await;
            turn_app.turn.close().await;
            drop(lock);
        });
        tracing::info!(%url, data_dir = %data_dir.display(), "kvs-local listening");
        Ok(Self {
            url,
            ca_file,
            tls: serves_tls,
            addr,
            app,
            stop,
            task: Some(task),
            data_dir,
        })
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:4567`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The https endpoint URL on the same port, e.g. `https://127.0.0.1:4567`; `None` when TLS
    /// is [`Tls::Disabled`].
    pub fn https_url(&self) -> Option<String> {
        self.tls
            .then(|| self.url.replacen("http://", "https://", 1))
    }

    /// The CA certificate file clients must trust for [`Server::https_url`], when the server
    /// certificate is its data directory's own ([`Tls::LocalCa`]).
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The credentials requests must be signed with.
    pub fn credentials(&self) -> &Credentials {
        &self.app.config.credentials
    }

    /// The region in this server's ARNs.
    pub fn region(&self) -> &Region {
        &self.app.config.region
    }

    /// How many authenticated requests for `operation` (e.g. `"GetDataEndpoint"`) were served.
    pub fn calls(&self, operation: &str) -> u64 {
        self.app.stats.get(operation)
    }

    /// Stops accepting requests, lets running ones finish and releases the data directory.
    pub async fn shutdown(mut self) {
        self.app.media.live.end_all();
        self.app.signaling.close_all();
        self.app.processors.stop_all();
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.app.media.live.end_all();
        self.app.signaling.close_all();
        self.app.processors.stop_all();
        let _ = self.stop.send(true);
    }
}
