//! `kvs_rs._native`: the Rust half of the `kvs_rs` Python package. The Python half
//! (`python/kvs_rs/`) re-exports it, adds boto3 conveniences and the pytest fixture.
//!
//! Every call that waits (network, disk, the server) releases the GIL and runs on one shared
//! tokio runtime, so Python threads keep running beside it.

mod archive;
mod config;
mod encoder;
mod errors;
mod producer;
mod reader;
mod runtime;
mod server;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<config::Config>()?;
    m.add_class::<server::LocalServer>()?;
    m.add_class::<producer::Producer>()?;
    m.add_class::<encoder::H264Encoder>()?;
    m.add_class::<reader::Frame>()?;
    m.add_class::<reader::MediaReader>()?;
    m.add_function(wrap_pyfunction!(reader::get_media, m)?)?;
    m.add_function(wrap_pyfunction!(reader::list_fragments, m)?)?;
    m.add_function(wrap_pyfunction!(reader::read_mkv, m)?)?;
    m.add_function(wrap_pyfunction!(archive::clip, m)?)?;
    m.add_function(wrap_pyfunction!(archive::session_url, m)?)?;
    m.add_function(wrap_pyfunction!(archive::images, m)?)?;
    errors::register(m)?;
    Ok(())
}
