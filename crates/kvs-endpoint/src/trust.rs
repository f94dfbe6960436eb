//! Extra certificate authorities (`AWS_CA_BUNDLE`, [`LoadOptions::ca_bundle`]): the trust every
//! client of a [`KvsConfig`] uses for https and wss, e.g. a kvs-local's own CA or a company
//! proxy's.
//!
//! As with the AWS CLI's `--ca-bundle`, a bundle replaces the default roots rather than adding
//! to them: the endpoint is known, and so is what it presents.
//!
//! [`LoadOptions::ca_bundle`]: crate::LoadOptions::ca_bundle
//! [`KvsConfig`]: crate::KvsConfig

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_smithy_http_client::tls;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::ConfigError;

/// A CA bundle read from a PEM file, with the TLS client settings that trust only it.
#[derive(Debug)]
pub(crate) struct CaBundle {
    path: PathBuf,
    tls: Arc<rustls::ClientConfig>,
    http: aws_smithy_runtime_api::client::http::SharedHttpClient,
}

impl CaBundle {
    /// Reads `path`: one or more PEM certificates.
    pub(crate) fn read(path: &Path) -> Result<Self, ConfigError> {
        let bad = |reason: String| ConfigError::CaBundle {
            path: path.to_path_buf(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not a PEM file: {e}")))?;
        if certs.is_empty() {
            return Err(bad(
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| bad(format!("a certificate in it cannot be a root: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let context = tls::TlsContext::builder()
            .with_trust_store(
                tls::TrustStore::empty()
                    .with_native_roots(false)
                    .with_pem_certificate(pem),
            )
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(context)
            .build_https();
        Ok(Self {
            path: path.to_path_buf(),
            tls: Arc::new(tls),
            http,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn tls_client_config(&self) -> Arc<rustls::ClientConfig> {
        Arc::clone(&self.tls)
    }

    /// The HTTP client for the AWS SDK clients.
    pub(crate) fn http_client(&self) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
        self.http.clone()
    }
}
