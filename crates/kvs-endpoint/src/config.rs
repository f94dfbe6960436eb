//! Where requests go: AWS (the standard environment/profile chain), an explicit endpoint, or an
//! embedded kvs-local when nothing is configured.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use aws_config::meta::region::ProvideRegion;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;

use crate::trust::CaBundle;
use crate::{EndpointResolver, RequestSigner};
use std::time::Duration;

/// What the caller asked for; anything left `None` comes from the environment.
///
/// ```
/// let opts = kvs_endpoint::LoadOptions::default()
///     .region("eu-west-1")
///     .endpoint_url("http://127.0.0.1:4567");
/// assert_eq!(opts.region.as_deref(), Some("eu-west-1"));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LoadOptions {
    /// AWS region (else `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's region).
    pub region: Option<String>,
    /// Named profile from `~/.aws/config` (else `AWS_PROFILE`).
    pub profile: Option<String>,
    /// Endpoint URL for every service (else `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// Data directory of the embedded kvs-local (else `KVS_LOCAL_DATA_DIR`, else
    /// `$XDG_DATA_HOME/kvs-rs/local` or `~/.local/share/kvs-rs/local`).
    pub local_data_dir: Option<PathBuf>,
    /// PEM file of the certificate authorities https and wss endpoints are checked against,
    /// instead of the default roots (else `AWS_CA_BUNDLE`); e.g. a kvs-local's
    /// `<data dir>/tls/ca.pem`.
    pub ca_bundle: Option<PathBuf>,
}

impl LoadOptions {
    /// Sets the AWS region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets the named profile.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Sets the endpoint URL of every service.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Sets the CA bundle (PEM) that https and wss endpoints are checked against.
    pub fn ca_bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_bundle = Some(path.into());
        self
    }

    /// Sets the embedded kvs-local's data directory.
    pub fn local_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.local_data_dir = Some(dir.into());
        self
    }

    /// The endpoint given, else the environment's.
    fn endpoint_or_env(&self) -> Option<String> {
        self.endpoint_url
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_KINESIS_VIDEO"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
    }

    /// The region given, else the environment's (not the profile's).
    fn region_or_env(&self) -> Option<String> {
        self.region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
    }

    /// The CA bundle given, else `AWS_CA_BUNDLE`.
    fn ca_bundle_or_env(&self) -> Option<PathBuf> {
        self.ca_bundle
            .clone()
            .or_else(|| env("AWS_CA_BUNDLE").map(PathBuf::from))
    }
}

/// Where requests are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Amazon Kinesis Video Streams in a region.
    Aws {
        /// The region, e.g. `us-west-2`.
        region: String,
    },
    /// An explicitly configured endpoint (a kvs-local, a VPC endpoint, ...).
    Endpoint {
        /// The endpoint URL every client is pointed at.
        url: String,
        /// The region requests are signed for (`us-east-1` when none is configured).
        region: String,
    },
    /// kvs-local on a local data directory, started by this process or already running.
    Local {
        /// The server's URL, e.g. `http://127.0.0.1:4567`.
        url: String,
        /// The data directory it serves.
        data_dir: PathBuf,
        /// Whether this process started it (it stops when the process ends).
        started_here: bool,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Aws { region } => write!(f, "AWS region {region}"),
            Self::Endpoint { url, region } => write!(f, "endpoint {url} (region {region})"),
            Self::Local {
                url,
                data_dir,
                started_here: true,
            } => write!(
                f,
                "embedded kvs-local at {url} (data in {}; no AWS region or endpoint configured)",
                data_dir.display()
            ),
            Self::Local { url, data_dir, .. } => write!(
                f,
                "running kvs-local at {url} (data in {}; no AWS region or endpoint configured)",
                data_dir.display()
            ),
        }
    }
}

/// Why no configuration could be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A profile was named but gives no region.
    #[error(
        "AWS profile {0:?} names no region; add one to the profile, set AWS_REGION, or give LoadOptions::region"
    )]
    ProfileWithoutRegion(String),
    /// Nothing is configured and the embedded kvs-local is compiled out.
    #[error(
        "no AWS region or endpoint is configured: set AWS_REGION or AWS_ENDPOINT_URL (or LoadOptions::region / endpoint_url), or build kvs-endpoint with its `embedded` feature to start a local kvs-local"
    )]
    NothingConfigured,
    /// The embedded kvs-local could not start.
    #[cfg(feature = "embedded")]
    #[error("cannot start the embedded kvs-local: {0}")]
    Embedded(#[from] kvs_local::StartError),
    /// The CA bundle cannot be used.
    #[error("cannot use the CA bundle {path} (AWS_CA_BUNDLE or --ca-bundle): {reason}")]
    CaBundle {
        /// The file, as given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No home directory to put the embedded kvs-local's data in.
    #[error(
        "no data directory for the embedded kvs-local: set KVS_LOCAL_DATA_DIR or HOME, or give LoadOptions::local_data_dir"
    )]
    NoDataDir,
}

/// The configuration every kvs-rs client is built from. Cheap to clone.
#[derive(Clone)]
pub struct KvsConfig {
    sdk: SdkConfig,
    target: Target,
    resolver: Arc<EndpointResolver>,
    ca: Option<Arc<CaBundle>>,
    #[cfg(feature = "embedded")]
    _embedded: Option<Arc<kvs_local::Server>>,
}

impl fmt::Debug for KvsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvsConfig")
            .field("target", &self.target)
            .field("ca_bundle", &self.ca_bundle())
            .finish_non_exhaustive()
    }
}

/// Static credentials: an access key and its secret, and a session token for temporary ones.
#[derive(Clone)]
pub struct StaticKeys {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl StaticKeys {
    /// Long-term keys.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    /// Adds the session token of temporary keys.
    pub fn session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }
}

impl fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeys")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// An SDK configuration from static keys, built by hand: `aws_config`'s loader would read
/// profile files and the environment for settings that static keys make moot.
fn static_sdk(region: &str, endpoint: Option<&str>, keys: StaticKeys) -> SdkConfig {
    let credentials = aws_credential_types::Credentials::new(
        keys.access_key_id,
        keys.secret_access_key,
        keys.session_token,
        None,
        "kvs-rs",
    );
    let mut sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(url) = endpoint {
        sdk = sdk.endpoint_url(url);
    }
    sdk.build()
}

/// The control-plane client endpoint lookups use. Its retries start at 50 ms instead of the
/// SDK's 1 s: callers (a producer reconnecting, a reader) wait on a lookup before they can go
/// on, and own the long back-off themselves; with 1 s, a producer's first ack after a
/// restarted endpoint came up to 1.3 s late.
fn resolver_client(sdk: &SdkConfig) -> aws_sdk_kinesisvideo::Client {
    let retry =
        aws_config::retry::RetryConfig::standard().with_initial_backoff(Duration::from_millis(50));
    let config = aws_sdk_kinesisvideo::config::Builder::from(sdk)
        .retry_config(retry)
        .build();
    aws_sdk_kinesisvideo::Client::from_conf(config)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl KvsConfig {
    /// Builds the configuration: an explicit endpoint wins, then a configured region (AWS),
    /// else the embedded kvs-local.
    pub async fn load(opts: LoadOptions) -> Result<Self, ConfigError> {
        let ca_bundle = opts.ca_bundle_or_env();
        let config = Self::load_target(opts).await?;
        match ca_bundle {
            Some(path) => config.with_ca_bundle(path),
            None => Ok(config),
        }
    }

    async fn load_target(opts: LoadOptions) -> Result<Self, ConfigError> {
        let profile = opts.profile.clone().or_else(|| env("AWS_PROFILE"));
        let endpoint = opts.endpoint_or_env();
        let mut region = opts.region_or_env();
        if region.is_none() {
            let mut provider = aws_config::profile::ProfileFileRegionProvider::builder();
            if let Some(p) = &profile {
                provider = provider.profile_name(p);
            }
            region = provider.build().region().await.map(|r| r.to_string());
        }

        match (endpoint, region) {
            (Some(url), region) => {
                let region = region.unwrap_or_else(|| "us-east-1".to_owned());
                let sdk = Self::loader(&region, profile.as_deref())
                    .endpoint_url(&url)
                    .load()
                    .await;
                Ok(Self::new(sdk, Target::Endpoint { url, region }))
            }
            (None, Some(region)) => {
                let sdk = Self::loader(&region, profile.as_deref()).load().await;
                Ok(Self::new(sdk, Target::Aws { region }))
            }
            (None, None) => match profile {
                Some(p) if opts.profile.is_some() => Err(ConfigError::ProfileWithoutRegion(p)),
                _ => Self::local(opts.local_data_dir).await,
            },
        }
    }

    fn loader(region: &str, profile: Option<&str>) -> aws_config::ConfigLoader {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()));
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        loader
    }

    /// Wraps an SDK configuration the caller built.
    pub fn from_sdk_config(sdk: SdkConfig) -> Self {
        let region = sdk
            .region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
        let target = match sdk.endpoint_url() {
            Some(url) => Target::Endpoint {
                url: url.to_owned(),
                region,
            },
            None => Target::Aws { region },
        };
        Self::new(sdk, target)
    }

    /// A configuration for a kvs-local (or any endpoint) at `url` with static credentials.
    pub async fn for_endpoint(
        url: &str,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Self {
        let keys = StaticKeys::new(access_key_id, secret_access_key);
        Self::new(
            static_sdk(region, Some(url), keys),
            Target::Endpoint {
                url: url.to_owned(),
                region: region.to_owned(),
            },
        )
    }

    /// A configuration with static keys, set up without the AWS configuration chain: no
    /// profile files or credential providers are read. The endpoint is `opts.endpoint_url`
    /// (else `AWS_ENDPOINT_URL_KINESIS_VIDEO`, `AWS_ENDPOINT_URL`; else AWS), the region
    /// `opts.region` (else `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`), the CA bundle
    /// `opts.ca_bundle` (else `AWS_CA_BUNDLE`). `opts.profile` and `opts.local_data_dir` are
    /// not used.
    ///
    /// ```
    /// use kvs_endpoint::{KvsConfig, LoadOptions, StaticKeys};
    ///
    /// let opts = LoadOptions::default()
    ///     .region("eu-west-1")
    ///     .endpoint_url("http://127.0.0.1:4567");
    /// let config = KvsConfig::with_static_keys(opts, StaticKeys::new("AKID", "secret"))?;
    /// assert_eq!(config.region(), "eu-west-1");
    /// # Ok::<(), kvs_endpoint::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::CaBundle`] when the CA bundle cannot be read.
    pub fn with_static_keys(opts: LoadOptions, keys: StaticKeys) -> Result<Self, ConfigError> {
        let endpoint = opts.endpoint_or_env();
        let region = opts
            .region_or_env()
            .unwrap_or_else(|| "us-east-1".to_owned());
        let sdk = static_sdk(&region, endpoint.as_deref(), keys);
        let target = match endpoint {
            Some(url) => Target::Endpoint { url, region },
            None => Target::Aws { region },
        };
        let config = Self::new(sdk, target);
        match opts.ca_bundle_or_env() {
            Some(path) => config.with_ca_bundle(path),
            None => Ok(config),
        }
    }

    fn new(sdk: SdkConfig, target: Target) -> Self {
        let resolver = EndpointResolver::new(resolver_client(&sdk), EndpointResolver::DEFAULT_TTL);
        Self {
            sdk,
            target,
            resolver: Arc::new(resolver),
            ca: None,
            #[cfg(feature = "embedded")]
            _embedded: None,
        }
    }

    #[cfg(feature = "embedded")]
    async fn local(data_dir: Option<PathBuf>) -> Result<Self, ConfigError> {
        let data_dir = match data_dir.or_else(|| env("KVS_LOCAL_DATA_DIR").map(PathBuf::from)) {
            Some(d) => d,
            None => default_data_dir().ok_or(ConfigError::NoDataDir)?,
        };
        if let Some(running) = kvs_local::RunningServer::find(&data_dir) {
            let mut config = Self::for_endpoint(
                &running.url,
                &running.region,
                &running.access_key_id,
                &running.secret_access_key,
            )
            .await;
            config.target = Target::Local {
                url: running.url,
                data_dir,
                started_here: false,
            };
            return match running.ca_file {
                Some(ca) => config.with_ca_bundle(ca),
                None => Ok(config),
            };
        }
        let server = kvs_local::Server::start(kvs_local::Config::new(&data_dir)).await?;
        let creds = server.credentials().clone();
        let mut config = Self::for_endpoint(
            server.url(),
            server.region().as_str(),
            &creds.access_key_id,
            &creds.secret_access_key,
        )
        .await;
        config.target = Target::Local {
            url: server.url().to_owned(),
            data_dir,
            started_here: true,
        };
        let ca_file = server.ca_file().map(PathBuf::from);
        config._embedded = Some(Arc::new(server));
        match ca_file {
            Some(ca) => config.with_ca_bundle(ca),
            None => Ok(config),
        }
    }

    #[cfg(not(feature = "embedded"))]
    async fn local(_data_dir: Option<PathBuf>) -> Result<Self, ConfigError> {
        Err(ConfigError::NothingConfigured)
    }

    /// The AWS SDK configuration, for building any SDK client.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    /// Where requests go.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The region requests are signed for (`us-east-1` when the SDK configuration has none).
    pub fn region(&self) -> &str {
        self.sdk.region().map_or("us-east-1", |r| r.as_ref())
    }

    /// The endpoint resolver shared by every client built from this configuration and its
    /// clones: `GetDataEndpoint` and `GetSignalingChannelEndpoint` answers, cached for
    /// [`EndpointResolver::DEFAULT_TTL`].
    pub fn resolver(&self) -> &Arc<EndpointResolver> {
        &self.resolver
    }

    /// This configuration with a fresh resolver whose endpoints live for `ttl` (the default is
    /// [`EndpointResolver::DEFAULT_TTL`]); clients built from it share that resolver.
    pub fn with_endpoint_ttl(mut self, ttl: Duration) -> Self {
        self.resolver = Arc::new(EndpointResolver::new(resolver_client(&self.sdk), ttl));
        self
    }

    /// This configuration checking https and wss endpoints against the certificate
    /// authorities in `path` (PEM) instead of the default roots, as `AWS_CA_BUNDLE` does:
    /// every SDK client, the PutMedia client and the signaling WebSocket.
    pub fn with_ca_bundle(mut self, path: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let bundle = CaBundle::read(&path.into())?;
        self.sdk = self
            .sdk
            .to_builder()
            .http_client(bundle.http_client())
            .build();
        self.ca = Some(Arc::new(bundle));
        let ttl = self.resolver.ttl();
        self.resolver = Arc::new(EndpointResolver::new(resolver_client(&self.sdk), ttl));
        Ok(self)
    }

    /// The CA bundle https and wss endpoints are checked against, if one replaces the default
    /// roots.
    pub fn ca_bundle(&self) -> Option<&std::path::Path> {
        self.ca.as_deref().map(CaBundle::path)
    }

    /// TLS settings for clients made outside the AWS SDK (HTTP streams, WebSockets) that
    /// trust what this configuration trusts; `None` means the default roots.
    pub fn tls_client_config(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.ca.as_deref().map(CaBundle::tls_client_config)
    }

    /// A Kinesis Video Streams control-plane client.
    pub fn kinesis_video(&self) -> aws_sdk_kinesisvideo::Client {
        aws_sdk_kinesisvideo::Client::new(&self.sdk)
    }

    /// A SigV4 signer for hand-made requests to `service` (e.g. `kinesisvideo`).
    pub fn signer(&self, service: &'static str) -> RequestSigner {
        RequestSigner::new(
            self.sdk.credentials_provider(),
            self.region().to_owned(),
            service,
        )
    }
}

#[cfg(feature = "embedded")]
fn default_data_dir() -> Option<PathBuf> {
    let base = env("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("kvs-rs").join("local"))
}
