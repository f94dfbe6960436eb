//! What the browser pages (the WebRTC viewer at `/viewer/`, the web console at `/`) are served
//! with: compiled-in files, and the npm libraries they load read at run time from the npm
//! install in the workspace's `web/` directory (`scripts/install-deps`).

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

pub(crate) const HTML: &str = "text/html; charset=utf-8";
pub(crate) const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
pub(crate) const CSS: &str = "text/css; charset=utf-8";
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";

/// Where `npm ci` in `web/` installs the pages' libraries.
pub(crate) const NODE_MODULES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/node_modules");

/// `default` (under [`NODE_MODULES`]), or the path the environment variable `env` names.
pub(crate) fn installed_path(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// A JavaScript file installed by npm; a missing one is a 404 that says how to install it
/// (`npm ci` in `web/`) or, `env`, which variable points elsewhere.
pub(crate) async fn npm_script(path: &Path, env: &str) -> Response {
    match tokio::fs::read(path).await {
        Ok(bytes) => respond(StatusCode::OK, JAVASCRIPT, Body::from(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => not_found(format!(
            "{} is not installed: run scripts/install-deps, which runs npm ci in web/, or set \
             {env} to where it is",
            path.display()
        )),
        Err(e) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            TEXT,
            Body::from(format!("cannot read {}: {e}", path.display())),
        ),
    }
}

pub(crate) fn ok(content_type: &'static str, text: &'static str) -> Response {
    respond(StatusCode::OK, content_type, Body::from(text))
}

pub(crate) fn not_found(message: String) -> Response {
    tracing::debug!("{message}");
    respond(StatusCode::NOT_FOUND, TEXT, Body::from(message + "\n"))
}

/// A permanent redirect to `to`.
pub(crate) fn redirect(to: &str) -> Response {
    let mut r = respond(StatusCode::PERMANENT_REDIRECT, TEXT, Body::empty());
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

pub(crate) fn respond(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A page may be opened with credentials in its query: never pass them on.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// A response's status, content type and body, for tests.
#[cfg(test)]
pub(crate) async fn read(r: Response) -> (StatusCode, String, String) {
    let status = r.status();
    let content_type = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(r.into_body(), 16 << 20)
        .await
        .unwrap_or_default();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_library_says_how_to_install_it() {
        let (status, _, text) =
            read(npm_script(Path::new("/nonexistent/hls.min.js"), "KVS_SOME_ENV").await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            text.contains("scripts/install-deps") && text.contains("KVS_SOME_ENV"),
            "{text}"
        );
    }
}
