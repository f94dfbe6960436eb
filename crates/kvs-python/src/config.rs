//! `kvs_rs.Config`: where requests go and how they are signed, as the Rust `KvsConfig`.

use std::path::PathBuf;

use kvs_endpoint::{KvsConfig, LoadOptions, StaticKeys, Target};
use pyo3::prelude::*;

use crate::errors::{Local, to_py};
use crate::runtime::wait;

/// Where requests go and how they are signed.
///
/// `Config()` follows the AWS chain as the Rust `KvsConfig::load` does: `endpoint_url` (else
/// `AWS_ENDPOINT_URL`), `region` (else `AWS_REGION`, the profile), credentials from the
/// environment or profile. With `access_key_id` and `secret_access_key` those static
/// credentials sign every request. `ca_bundle` (else `AWS_CA_BUNDLE`) is the PEM file https
/// endpoints are checked against, e.g. a kvs-local's CA.
#[pyclass(module = "kvs_rs._native", frozen)]
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) inner: KvsConfig,
}

#[pymethods]
impl Config {
    #[new]
    #[pyo3(signature = (*, region=None, endpoint_url=None, access_key_id=None, secret_access_key=None, profile=None, ca_bundle=None))]
    fn new(
        py: Python<'_>,
        region: Option<String>,
        endpoint_url: Option<String>,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        profile: Option<String>,
        ca_bundle: Option<PathBuf>,
    ) -> PyResult<Self> {
        let keys = match (access_key_id, secret_access_key) {
            (Some(k), Some(s)) => Some((k, s)),
            (None, None) => None,
            _ => {
                return Err(crate::errors::ConfigError::new_err(
                    "give both access_key_id and secret_access_key, or neither",
                ));
            }
        };
        let inner = wait(py, async move {
            match keys {
                Some((key, secret)) => {
                    let mut opts = LoadOptions::default();
                    opts.region = region;
                    opts.endpoint_url = endpoint_url;
                    opts.ca_bundle = ca_bundle;
                    KvsConfig::with_static_keys(opts, StaticKeys::new(key, secret))
                }
                None => {
                    let mut opts = LoadOptions::default();
                    opts.region = region;
                    opts.endpoint_url = endpoint_url;
                    opts.profile = profile;
                    opts.ca_bundle = ca_bundle;
                    KvsConfig::load(opts).await
                }
            }
        })
        .map_err(|e| to_py(&e, Local::Config))?;
        Ok(Self { inner })
    }

    /// The region requests are signed for.
    #[getter]
    fn region(&self) -> String {
        self.inner.region().to_owned()
    }

    /// The endpoint every request goes to, or `None` for AWS's own endpoints.
    #[getter]
    fn endpoint_url(&self) -> Option<String> {
        match self.inner.target() {
            Target::Aws { .. } => None,
            Target::Endpoint { url, .. } | Target::Local { url, .. } => Some(url.clone()),
        }
    }

    /// The CA bundle https endpoints are checked against, if one replaces the default roots.
    #[getter]
    fn ca_bundle(&self) -> Option<String> {
        self.inner.ca_bundle().map(|p| p.display().to_string())
    }

    fn __repr__(&self) -> String {
        format!("Config({})", self.inner.target())
    }
}

/// A stream name or ARN as Python code gives it.
pub(crate) fn stream_ref(stream: &str) -> PyResult<kvs_types::StreamRef> {
    kvs_types::StreamRef::parse(stream).map_err(|e| to_py(&e, Local::Config))
}

/// Epoch seconds as nanoseconds, through whole microseconds: an f64 holds epoch microseconds
/// exactly, not epoch nanoseconds, and a frame at 12.757 s must stay at 12.757 s.
pub(crate) fn epoch_ns(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1e6).round() as u64 * 1000
}
