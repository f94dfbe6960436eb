//! https and wss beside http and ws on the same port: the certificate (a local CA's, or the
//! operator's files) and the listener that tells TLS connections from plain ones.

mod ca;
pub(crate) mod listener;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use ca::LocalCa;

/// Whether and with which certificate kvs-local serves https and wss.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tls {
    /// A certificate signed by the data directory's own CA ([`LocalCa`]), for localhost,
    /// 127.0.0.1, ::1, the machine's name and the listening address; created on first start
    /// and kept.
    #[default]
    LocalCa,
    /// The certificate chain (server certificate first) and private key in these PEM files.
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// Plain http and ws only.
    Disabled,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate or key file could not be read or written.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file holds no PEM certificate.
    #[error("{0} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate(PathBuf),
    /// A certificate file is not valid PEM.
    #[error("{path} is not a PEM certificate file: {reason}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A key file is not a usable PEM private key.
    #[error("{path} is not a usable PEM private key: {reason}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate and key do not go together, or use what TLS cannot.
    #[error("the TLS certificate and key cannot be used: {0}")]
    Rejected(String),
    /// A certificate could not be generated.
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
}

impl TlsError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn generate(e: rcgen::Error) -> Self {
        Self::Generate(e.to_string())
    }
}

/// The TLS side of a starting server: the acceptor, and the CA file when it is ours.
pub(crate) struct ServerTls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    pub(crate) ca_file: Option<PathBuf>,
}

impl ServerTls {
    /// Sets up `tls` for a server on `addr` with its data in `data_dir`; `None` when disabled.
    pub(crate) fn new(
        tls: &Tls,
        data_dir: &Path,
        addr: SocketAddr,
    ) -> Result<Option<Self>, TlsError> {
        let (identity, ca_file) = match tls {
            Tls::Disabled => return Ok(None),
            Tls::Files { cert, key } => (ca::Identity::from_files(cert, key)?, None),
            Tls::LocalCa => {
                let ca = LocalCa::open(data_dir)?;
                (
                    ca.server_identity(&server_names(addr.ip()))?,
                    Some(ca.cert_path()),
                )
            }
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rejected(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(identity.chain, identity.key)
            .map_err(|e| TlsError::Rejected(e.to_string()))?;
        // WebSockets (signaling) upgrade over HTTP/1.1.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            ca_file,
        }))
    }
}

/// The names a local certificate is for: loopback, the machine's host name (and its mDNS
/// `.local` form, how phones on the LAN find it) and a specific listening address.
fn server_names(ip: IpAddr) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = host_name() {
        if !host.contains('.') {
            names.push(format!("{host}.local"));
        }
        names.push(host);
    }
    if !ip.is_unspecified() && !ip.is_loopback() {
        names.push(ip.to_string());
    }
    names
}

fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()?;
    let name = name.trim().to_ascii_lowercase();
    let valid = !name.is_empty()
        && name != "localhost"
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    valid.then_some(name)
}
