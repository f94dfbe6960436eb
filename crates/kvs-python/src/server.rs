//! `kvs_rs.LocalServer`: kvs-local in this process, on a free loopback port, for tests and
//! notebooks.

use std::path::PathBuf;
use std::sync::Mutex;

use kvs_endpoint::KvsConfig;
use pyo3::prelude::*;

use crate::config::Config;
use crate::errors::{Local, to_py};
use crate::runtime::{runtime, wait};

/// kvs-local in this process: the Kinesis Video Streams, Kinesis Data Streams and Rekognition
/// APIs on a free loopback port (http and https on the same port), with its own data
/// directory (a temporary one unless `data_dir` is given). A context manager; `stop()` ends
/// it, as does leaving the `with` block.
#[pyclass(module = "kvs_rs._native", subclass, frozen)]
pub(crate) struct LocalServer {
    server: Mutex<Option<kvs_local::Server>>,
    endpoint_url: String,
    https_url: Option<String>,
    ca_file: Option<PathBuf>,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    data_dir: PathBuf,
    // Deleted after the server stopped (fields drop in order).
    _scratch: Option<tempfile::TempDir>,
}

#[pymethods]
impl LocalServer {
    #[new]
    #[pyo3(signature = (data_dir=None))]
    fn new(py: Python<'_>, data_dir: Option<PathBuf>) -> PyResult<Self> {
        let (data_dir, scratch) = match data_dir {
            Some(d) => (d, None),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("kvs-local-")
                    .tempdir()
                    .map_err(|e| to_py(&e, Local::Server))?;
                (t.path().join("data"), Some(t))
            }
        };
        let config = kvs_local::Config::new(&data_dir);
        let server = wait(py, async move {
            // The server's tasks live on the shared runtime, not on this thread.
            runtime()
                .spawn(kvs_local::Server::start(config))
                .await
                .map_err(|e| e.to_string())
        });
        let server = server
            .map_err(crate::errors::ServerError::new_err)?
            .map_err(|e| to_py(&e, Local::Server))?;
        let creds = server.credentials().clone();
        Ok(Self {
            endpoint_url: server.url().to_owned(),
            https_url: server.https_url(),
            ca_file: server.ca_file().map(PathBuf::from),
            region: server.region().to_string(),
            access_key_id: creds.access_key_id,
            secret_access_key: creds.secret_access_key,
            data_dir,
            server: Mutex::new(Some(server)),
            _scratch: scratch,
        })
    }

    /// The http endpoint, e.g. `http://127.0.0.1:40123`.
    #[getter]
    fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    /// The https endpoint on the same port; trust `ca_file` to use it.
    #[getter]
    fn https_url(&self) -> Option<&str> {
        self.https_url.as_deref()
    }

    /// The CA certificate (PEM) of the https endpoint.
    #[getter]
    fn ca_file(&self) -> Option<String> {
        self.ca_file.as_ref().map(|p| p.display().to_string())
    }

    /// The region in this server's ARNs.
    #[getter]
    fn region(&self) -> &str {
        &self.region
    }

    /// The access key id requests must be signed with.
    #[getter]
    fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The matching secret access key.
    #[getter]
    fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The data directory (database and media).
    #[getter]
    fn data_dir(&self) -> String {
        self.data_dir.display().to_string()
    }

    /// Whether the server is running.
    #[getter]
    fn running(&self) -> bool {
        self.server.lock().map(|s| s.is_some()).unwrap_or(false)
    }

    /// A `Config` for this server (its endpoint, region and key pair).
    fn config(&self, py: Python<'_>) -> Config {
        let (url, region) = (self.endpoint_url.clone(), self.region.clone());
        let (key, secret) = (self.access_key_id.clone(), self.secret_access_key.clone());
        let inner = wait(py, async move {
            KvsConfig::for_endpoint(&url, &region, &key, &secret).await
        });
        Config { inner }
    }

    /// Stops the server and waits until it has (requests in flight finish). Idempotent.
    fn stop(&self, py: Python<'_>) {
        let server = self.server.lock().ok().and_then(|mut s| s.take());
        if let Some(server) = server {
            wait(py, async move {
                let _ = runtime().spawn(server.shutdown()).await;
            });
        }
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.stop(py);
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "LocalServer(endpoint_url={:?}, data_dir={:?}, running={})",
            self.endpoint_url,
            self.data_dir,
            self.running()
        )
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.get_mut().ok().and_then(Option::take) {
            // Without the GIL here: wait on the runtime from this thread.
            let _ = runtime().block_on(runtime().spawn(server.shutdown()));
        }
    }
}
