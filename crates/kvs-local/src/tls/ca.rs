//! The local certificate authority and the server certificate it signs, kept in
//! `<data dir>/tls/` so that a restart serves the same certificate and clients trust it once.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::TlsError;

const DIR: &str = "tls";
const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca-key.pem";
const SERVER_CERT: &str = "server.pem";
const SERVER_KEY: &str = "server-key.pem";
const SERVER_META: &str = "server-names.json";

/// How long the CA is valid.
const CA_LIFETIME: Duration = Duration::days(10 * 365);
/// How long a server certificate is valid (mkcert's choice; browsers cap publicly trusted
/// certificates at 398 days, not those of a locally trusted CA).
const SERVER_LIFETIME: Duration = Duration::days(825);
/// A server certificate this close to its end is replaced at start.
const RENEW_BEFORE: Duration = Duration::days(30);

/// The certificate authority of one kvs-local data directory: created on first use, kept in
/// `<data dir>/tls/ca.pem` (the key beside it, readable only by its owner).
///
/// Clients trust it with that file: `AWS_CA_BUNDLE`, the AWS CLI's `--ca-bundle`, the system
/// store, a browser's certificate store (see docs/kvs-local.md).
pub struct LocalCa {
    dir: PathBuf,
    cert: CertificateDer<'static>,
    key: KeyPair,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa")
            .field("cert", &self.cert_path())
            .finish_non_exhaustive()
    }
}

impl LocalCa {
    /// The CA of `data_dir`, created (with its directory) if there is none yet.
    pub fn open(data_dir: &Path) -> Result<Self, TlsError> {
        let dir = data_dir.join(DIR);
        if !dir.join(CA_CERT).exists() {
            create_ca(data_dir, &dir)?;
        }
        let cert = read_certs(&dir.join(CA_CERT))?
            .into_iter()
            .next()
            .ok_or_else(|| TlsError::NoCertificate(dir.join(CA_CERT)))?;
        let key_path = dir.join(CA_KEY);
        let pem = std::fs::read_to_string(&key_path).map_err(|e| TlsError::io(&key_path, e))?;
        let key = KeyPair::from_pem(&pem).map_err(|e| TlsError::BadKey {
            path: key_path,
            reason: e.to_string(),
        })?;
        Ok(Self { dir, cert, key })
    }

    /// The CA certificate (PEM), the file clients are told to trust.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    /// The SHA-256 fingerprint of the CA certificate, as `openssl x509 -fingerprint -sha256`
    /// and browsers show it: `AB:CD:...`.
    pub fn sha256_fingerprint(&self) -> String {
        Sha256::digest(self.cert.as_ref())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// Base64 of the SHA-256 of the CA's public key (its SubjectPublicKeyInfo), what
    /// Chromium's `--ignore-certificate-errors-spki-list` takes.
    pub fn spki_sha256_base64(&self) -> String {
        use base64::Engine as _;
        let spki = self.key.subject_public_key_info();
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&spki))
    }

    /// The server certificate chain (server certificate, then this CA) and its key for
    /// `names`: the stored one when it covers every name and is not about to expire, else a
    /// new one, stored for the next start.
    pub(crate) fn server_identity(&self, names: &[String]) -> Result<Identity, TlsError> {
        let meta_path = self.dir.join(SERVER_META);
        let stored: Option<ServerMeta> = std::fs::read(&meta_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let fresh = stored.as_ref().is_some_and(|m| {
            names.iter().all(|n| m.names.contains(n))
                && m.not_after > (OffsetDateTime::now_utc() + RENEW_BEFORE).unix_timestamp()
        });
        if fresh && let Ok(identity) = Identity::load(&self.dir) {
            return Ok(identity);
        }
        let mut all: Vec<String> = stored.map(|m| m.names).unwrap_or_default();
        for n in names {
            if !all.contains(n) {
                all.push(n.clone());
            }
        }
        self.issue_server_cert(&all)?;
        Identity::load(&self.dir)
    }

    fn issue_server_cert(&self, names: &[String]) -> Result<(), TlsError> {
        let mut params = CertificateParams::new(names.to_vec()).map_err(TlsError::generate)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "kvs-local");
        dn.push(DnType::CommonName, "kvs-local server");
        params.distinguished_name = dn;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + SERVER_LIFETIME;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(TlsError::generate)?;
        let issuer = Issuer::new(ca_params(now), &self.key);
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(TlsError::generate)?;
        let ca_pem = std::fs::read_to_string(self.cert_path())
            .map_err(|e| TlsError::io(&self.cert_path(), e))?;
        write_atomic(&self.dir.join(SERVER_KEY), &key.serialize_pem(), true)?;
        write_atomic(
            &self.dir.join(SERVER_CERT),
            &format!("{}{ca_pem}", cert.pem()),
            false,
        )?;
        let meta = ServerMeta {
            names: names.to_vec(),
            not_after: params.not_after.unix_timestamp(),
        };
        let json = serde_json::to_string_pretty(&meta).unwrap_or_default();
        write_atomic(&self.dir.join(SERVER_META), &json, false)?;
        tracing::info!(names = ?names, "kvs-local: new server certificate");
        Ok(())
    }
}

/// What the stored server certificate covers.
#[derive(Serialize, Deserialize)]
struct ServerMeta {
    names: Vec<String>,
    /// Unix seconds.
    not_after: i64,
}

/// A certificate chain and its private key, ready for a TLS server.
pub(crate) struct Identity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

impl Identity {
    fn load(dir: &Path) -> Result<Self, TlsError> {
        Self::from_files(&dir.join(SERVER_CERT), &dir.join(SERVER_KEY))
    }

    /// A chain and key from PEM files (`--tls-cert`, `--tls-key`).
    pub(crate) fn from_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let chain = read_certs(cert)?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(cert.to_path_buf()));
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::BadKey {
            path: key.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            chain,
            key: key_der,
        })
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| TlsError::io(path, e))?;
    CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// The CA's subject and usages; the same every time, so that an [`Issuer`] built from them
/// and the stored key names the stored CA certificate.
fn ca_params(now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "kvs-local");
    dn.push(DnType::CommonName, "kvs-local development CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - Duration::days(1);
    params.not_after = now + CA_LIFETIME;
    params
}

/// Creates the CA in a temporary directory and renames it into place, so that two servers
/// (or `kvs-local ca` beside a starting server) never see half a CA or make two.
fn create_ca(data_dir: &Path, dir: &Path) -> Result<(), TlsError> {
    std::fs::create_dir_all(data_dir).map_err(|e| TlsError::io(data_dir, e))?;
    let tmp = data_dir.join(format!(
        ".tls-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir(&tmp).map_err(|e| TlsError::io(&tmp, e))?;
    let result = (|| {
        let key = KeyPair::generate().map_err(TlsError::generate)?;
        let cert = ca_params(OffsetDateTime::now_utc())
            .self_signed(&key)
            .map_err(TlsError::generate)?;
        write_atomic(&tmp.join(CA_KEY), &key.serialize_pem(), true)?;
        write_atomic(&tmp.join(CA_CERT), &cert.pem(), false)?;
        match std::fs::rename(&tmp, dir) {
            Ok(()) => Ok(()),
            // Someone else's CA got there first (or an empty tls/ exists): use theirs if whole.
            Err(_) if dir.join(CA_CERT).exists() => Ok(()),
            Err(e) => Err(TlsError::io(dir, e)),
        }
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    tracing::info!(dir = %dir.display(), "kvs-local: created a local certificate authority");
    result
}

fn write_atomic(path: &Path, text: &str, private: bool) -> Result<(), TlsError> {
    crate::datadir::write_atomic(path, text.as_bytes(), private).map_err(|e| TlsError::io(path, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_ca_and_server_certificate_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::open(dir.path()).unwrap();
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let first = ca.server_identity(&names).unwrap();
        assert_eq!(first.chain.len(), 2, "server certificate, then the CA");

        let again = LocalCa::open(dir.path()).unwrap();
        assert_eq!(again.sha256_fingerprint(), ca.sha256_fingerprint());
        assert_eq!(again.spki_sha256_base64(), ca.spki_sha256_base64());
        let second = again.server_identity(&names[..1]).unwrap();
        assert_eq!(
            second.chain, first.chain,
            "a subset of the names keeps the certificate"
        );

        let third = again.server_identity(&["kvs.example".to_owned()]).unwrap();
        assert_ne!(
            third.chain[0], first.chain[0],
            "a new name means a new certificate"
        );
        assert_eq!(third.chain[1], first.chain[1], "signed by the same CA");
    }

    #[test]
    fn the_fingerprint_looks_like_openssls() {
        let dir = tempfile::tempdir().unwrap();
        let fp = LocalCa::open(dir.path()).unwrap().sha256_fingerprint();
        assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");
        assert!(fp.split(':').all(|b| b.len() == 2), "{fp}");
    }

    #[test]
    fn a_broken_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        LocalCa::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("tls/ca-key.pem"), "not a key").unwrap();
        let e = LocalCa::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("ca-key.pem"), "{e}");
    }
}
