//! Python exceptions: one `KvsError` base, and subclasses named after the AWS error codes (as
//! boto3's are) and after what went wrong locally. Messages are the Rust errors' own.

use std::error::Error;

use kvs_endpoint::{ErrorKind, ServiceError};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _native,
    KvsError,
    PyException,
    "Base of every kvs-rs error. `code` is the AWS error code when the service gave one."
);
create_exception!(
    _native,
    ResourceNotFoundException,
    KvsError,
    "The stream, channel or other resource does not exist."
);
create_exception!(
    _native,
    ResourceInUseException,
    KvsError,
    "The resource exists already or is busy."
);
create_exception!(
    _native,
    InvalidArgumentException,
    KvsError,
    "The service refused a parameter."
);
create_exception!(
    _native,
    NotAuthorizedException,
    KvsError,
    "The credentials were refused or lack permission."
);
create_exception!(
    _native,
    ClientLimitExceededException,
    KvsError,
    "A rate or count limit was hit."
);
create_exception!(
    _native,
    NoDataRetentionException,
    KvsError,
    "The stream keeps no media (retention 0)."
);
create_exception!(
    _native,
    InvalidCodecPrivateDataException,
    KvsError,
    "The track's codec private data cannot be packaged."
);
create_exception!(
    _native,
    EndpointError,
    KvsError,
    "The endpoint gave no answer (DNS, refused, timeout)."
);
create_exception!(
    _native,
    CertificateError,
    KvsError,
    "The endpoint's TLS certificate is not trusted."
);
create_exception!(
    _native,
    ConfigError,
    KvsError,
    "The configuration is incomplete or invalid."
);
create_exception!(
    _native,
    FrameError,
    KvsError,
    "A frame was refused (unknown track, timestamp going back, not H.264)."
);
create_exception!(
    _native,
    ServerError,
    KvsError,
    "The in-process kvs-local could not start."
);

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("KvsError", py.get_type::<KvsError>())?;
    m.add(
        "ResourceNotFoundException",
        py.get_type::<ResourceNotFoundException>(),
    )?;
    m.add(
        "ResourceInUseException",
        py.get_type::<ResourceInUseException>(),
    )?;
    m.add(
        "InvalidArgumentException",
        py.get_type::<InvalidArgumentException>(),
    )?;
    m.add(
        "NotAuthorizedException",
        py.get_type::<NotAuthorizedException>(),
    )?;
    m.add(
        "ClientLimitExceededException",
        py.get_type::<ClientLimitExceededException>(),
    )?;
    m.add(
        "NoDataRetentionException",
        py.get_type::<NoDataRetentionException>(),
    )?;
    m.add(
        "InvalidCodecPrivateDataException",
        py.get_type::<InvalidCodecPrivateDataException>(),
    )?;
    m.add("EndpointError", py.get_type::<EndpointError>())?;
    m.add("CertificateError", py.get_type::<CertificateError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("FrameError", py.get_type::<FrameError>())?;
    m.add("ServerError", py.get_type::<ServerError>())?;
    Ok(())
}

/// What a local failure (no service error in its chain) becomes.
#[derive(Clone, Copy)]
pub(crate) enum Local {
    Config,
    Frame,
    Server,
    Other,
}

/// `err` as a Python exception: by the AWS error code of the service error in its chain, else
/// as `local` says.
pub(crate) fn to_py(err: &(dyn Error + 'static), local: Local) -> PyErr {
    let message = err.to_string();
    let Some(service) = service_error(err) else {
        return match local {
            Local::Config => ConfigError::new_err(message),
            Local::Frame => FrameError::new_err(message),
            Local::Server => ServerError::new_err(message),
            Local::Other => KvsError::new_err(message),
        };
    };
    let code = service.code().map(str::to_owned);
    let err = match (service.kind(), code.as_deref()) {
        (ErrorKind::Certificate, _) => CertificateError::new_err(message),
        (ErrorKind::Transport, _) => EndpointError::new_err(message),
        (_, Some("ResourceNotFoundException" | "NotFoundException")) => {
            ResourceNotFoundException::new_err(message)
        }
        (_, Some("ResourceInUseException")) => ResourceInUseException::new_err(message),
        (_, Some("InvalidArgumentException")) => InvalidArgumentException::new_err(message),
        (_, Some("NotAuthorizedException" | "AccessDeniedException")) => {
            NotAuthorizedException::new_err(message)
        }
        (_, Some("ClientLimitExceededException")) => ClientLimitExceededException::new_err(message),
        (_, Some("NoDataRetentionException")) => NoDataRetentionException::new_err(message),
        (_, Some("InvalidCodecPrivateDataException")) => {
            InvalidCodecPrivateDataException::new_err(message)
        }
        _ => KvsError::new_err(message),
    };
    Python::with_gil(|py| {
        let _ = err.value(py).setattr("code", code);
    });
    err
}

fn service_error<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a ServiceError> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(s) = e.downcast_ref::<ServiceError>() {
            return Some(s);
        }
        next = e.source();
    }
    None
}
