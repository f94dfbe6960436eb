//! Ownership of a data directory: one server at a time, and a note saying where it listens so
//! other processes (the `kvs` CLI) can use it instead of starting their own.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::StartError;

const LOCK_FILE: &str = "kvs-local.lock";
const SERVER_FILE: &str = "server.json";

/// Where the server that owns a data directory listens, and how to sign requests to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningServer {
    /// The endpoint URL.
    pub url: String,
    /// The server's process id.
    pub pid: u32,
    /// The access key id it accepts.
    pub access_key_id: String,
    /// The matching secret.
    pub secret_access_key: String,
    /// The region in its ARNs.
    pub region: String,
    /// The CA certificate that signed its https certificate (same port as `url`), when it is
    /// the data directory's own.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

impl RunningServer {
    /// The server running on `data_dir` in another process or task, if there is one.
    pub fn find(data_dir: &Path) -> Option<Self> {
        let lock = File::open(data_dir.join(LOCK_FILE)).ok()?;
        match lock.try_lock() {
            // Nobody holds it: any server.json there is stale.
            Ok(()) => None,
            Err(TryLockError::WouldBlock) => read_server_file(data_dir),
            Err(TryLockError::Error(_)) => None,
        }
    }
}

fn read_server_file(data_dir: &Path) -> Option<RunningServer> {
    let text = std::fs::read_to_string(data_dir.join(SERVER_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// An exclusive lock on a data directory, held for the server's lifetime.
pub(crate) struct DataDirLock {
    dir: PathBuf,
    _file: File,
}

impl DataDirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<Self, StartError> {
        let io_err = |source| StartError::DataDir {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => Ok(Self {
                dir: dir.to_path_buf(),
                _file: file,
            }),
            Err(TryLockError::WouldBlock) => {
                let other = read_server_file(dir);
                Err(StartError::InUse {
                    path: dir.to_path_buf(),
                    pid: other.as_ref().map_or(0, |o| o.pid),
                    url: other.map_or_else(|| "address unknown".into(), |o| o.url),
                })
            }
            Err(TryLockError::Error(e)) => Err(io_err(e)),
        }
    }

    /// Writes `server.json` (owner-only, replaced atomically).
    pub(crate) fn publish(&self, server: &RunningServer) -> Result<(), StartError> {
        let io_err = |source| StartError::DataDir {
            path: self.dir.clone(),
            source,
        };
        let text = serde_json::to_string_pretty(server).map_err(|e| io_err(e.into()))?;
        write_atomic(&self.dir.join(SERVER_FILE), text.as_bytes(), true).map_err(io_err)
    }
}

/// Replaces `path` with `bytes` as a whole (written and synced beside it, then renamed), so a
/// reader never sees half a file; `private` makes it readable by its owner only.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Drop for DataDirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join(SERVER_FILE));
    }
}

/// The key that signs playback session tokens: made once per data directory, so tokens stay
/// valid across restarts.
pub(crate) fn session_key(dir: &Path) -> Result<Vec<u8>, StartError> {
    let path = dir.join("session.key");
    let io_err = |source| StartError::DataDir {
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(key) if key.len() == 32 => return Ok(key),
        Ok(_) | Err(_) => {}
    }
    use rand::Rng;
    let key: [u8; 32] = rand::rng().random();
    let mut opts = OpenOptions::new();
    opts.create(true).truncate(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&path).map_err(io_err)?;
    std::io::Write::write_all(&mut f, &key).map_err(io_err)?;
    f.sync_all().map_err(io_err)?;
    Ok(key.to_vec())
}
