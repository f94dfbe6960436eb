//! The browser viewer page: `GET /viewer/` and its scripts, as unauthenticated static files.
//!
//! `index.html`, `viewer.js` and `sigv4.js` are compiled in. `kvs-webrtc.min.js`, the official
//! `amazon-kinesis-video-streams-webrtc` npm package, is read at run time from `KVS_VIEWER_JS`
//! or from the npm install in the workspace's `web/` directory (`scripts/install-deps`), so
//! the page needs no CDN. The page signs its own requests with the credentials typed into it;
//! nothing secret is served.

use std::path::PathBuf;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

const INDEX_HTML: &str = include_str!("../assets/viewer/index.html");
const VIEWER_JS: &str = include_str!("../assets/viewer/viewer.js");
const SIGV4_JS: &str = include_str!("../assets/viewer/sigv4.js");

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// The environment variable naming the SDK script to serve instead of the npm install's.
pub(crate) const SDK_ENV: &str = "KVS_VIEWER_JS";

/// Where `npm ci` in `web/` puts the SDK's browser bundle.
const SDK_DEFAULT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../web/node_modules/amazon-kinesis-video-streams-webrtc/dist/kvs-webrtc.min.js"
);

/// The response to `GET path?query`, or `None` when `path` is not under `/viewer`.
pub(crate) async fn serve(path: &str, query: Option<&str>) -> Option<Response> {
    let file = path.strip_prefix("/viewer")?;
    if !file.is_empty() && !file.starts_with('/') {
        return None;
    }
    Some(match file {
        // Relative script URLs need the trailing slash; keep the form values in the query.
        "" => {
            let to = match query {
                Some(q) => format!("/viewer/?{q}"),
                None => "/viewer/".to_owned(),
            };
            let mut r = respond(StatusCode::PERMANENT_REDIRECT, TEXT, Body::empty());
            if let Ok(v) = HeaderValue::from_str(&to) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        "/" | "/index.html" => ok(HTML, INDEX_HTML),
        "/viewer.js" => ok(JAVASCRIPT, VIEWER_JS),
        "/sigv4.js" => ok(JAVASCRIPT, SIGV4_JS),
        "/kvs-webrtc.min.js" => sdk_script(&sdk_path()).await,
        _ => not_found(format!("the viewer has no file {path}")),
    })
}

fn sdk_path() -> PathBuf {
    std::env::var_os(SDK_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SDK_DEFAULT))
}

async fn sdk_script(path: &std::path::Path) -> Response {
    match tokio::fs::read(path).await {
        Ok(bytes) => respond(StatusCode::OK, JAVASCRIPT, Body::from(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => not_found(format!(
            "kvs-webrtc.min.js is not installed ({} is missing): run scripts/install-deps, \
             which runs npm ci in web/, or set {SDK_ENV} to the file",
            path.display()
        )),
        Err(e) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            TEXT,
            Body::from(format!("cannot read {}: {e}", path.display())),
        ),
    }
}

fn ok(content_type: &'static str, text: &'static str) -> Response {
    respond(StatusCode::OK, content_type, Body::from(text))
}

fn not_found(message: String) -> Response {
    tracing::debug!("{message}");
    respond(StatusCode::NOT_FOUND, TEXT, Body::from(message + "\n"))
}

fn respond(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The page may be opened with credentials in its query: never pass them on.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn get(path: &str, query: Option<&str>) -> (StatusCode, String, String) {
        let r = serve(path, query).await.unwrap();
        let status = r.status();
        let content_type = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn the_page_and_its_scripts_are_served() {
        let (status, content_type, body) = get("/viewer/", None).await;
        assert_eq!((status, content_type.as_str()), (StatusCode::OK, HTML));
        assert!(body.contains("<video id=\"video\" autoplay playsinline muted>"));
        for script in ["kvs-webrtc.min.js", "viewer.js"] {
            assert!(body.contains(&format!("src=\"{script}\"")), "{script}");
        }
        for (path, needle) in [
            ("/viewer/viewer.js", "KVSWebRTC.SignalingClient"),
            ("/viewer/sigv4.js", "AWS4-HMAC-SHA256"),
        ] {
            let (status, content_type, body) = get(path, None).await;
            assert_eq!(
                (status, content_type.as_str()),
                (StatusCode::OK, JAVASCRIPT)
            );
            assert!(body.contains(needle), "{path}");
        }
    }

    #[tokio::test]
    async fn the_bare_path_redirects_with_its_query() {
        let r = serve("/viewer", Some("channel=door&autoconnect=1"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            r.headers()[header::LOCATION],
            "/viewer/?channel=door&autoconnect=1"
        );
    }

    #[tokio::test]
    async fn other_paths_are_not_the_viewers() {
        assert!(serve("/", None).await.is_none());
        assert!(serve("/viewers", None).await.is_none());
        assert_eq!(
            get("/viewer/secret.txt", None).await.0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn a_missing_sdk_script_says_how_to_install_it() {
        let r = sdk_script(std::path::Path::new("/nonexistent/kvs-webrtc.min.js")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains("scripts/install-deps") && text.contains(SDK_ENV),
            "{text}"
        );
    }
}
