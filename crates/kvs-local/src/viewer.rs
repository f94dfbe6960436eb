//! The browser viewer page: `GET /viewer/` and its scripts, as unauthenticated static files.
//!
//! `index.html`, `viewer.js` and `sigv4.js` are compiled in. `kvs-webrtc.min.js`, the official
//! `amazon-kinesis-video-streams-webrtc` npm package, is read at run time from `KVS_VIEWER_JS`
//! or from the npm install in the workspace's `web/` directory (`scripts/install-deps`), so
//! the page needs no CDN. The page signs its own requests with the credentials typed into it;
//! nothing secret is served.

use axum::response::Response;

use crate::static_files::{HTML, JAVASCRIPT, installed_path, not_found, npm_script, ok, redirect};

const INDEX_HTML: &str = include_str!("../assets/viewer/index.html");
const VIEWER_JS: &str = include_str!("../assets/viewer/viewer.js");
const SIGV4_JS: &str = include_str!("../assets/viewer/sigv4.js");

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
        "" => redirect(&match query {
            Some(q) => format!("/viewer/?{q}"),
            None => "/viewer/".to_owned(),
        }),
        "/" | "/index.html" => ok(HTML, INDEX_HTML),
        "/viewer.js" => ok(JAVASCRIPT, VIEWER_JS),
        "/sigv4.js" => ok(JAVASCRIPT, SIGV4_JS),
        "/kvs-webrtc.min.js" => npm_script(&installed_path(SDK_ENV, SDK_DEFAULT), SDK_ENV).await,
        _ => not_found(format!("the viewer has no file {path}")),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use http::{StatusCode, header};

    use super::*;
    use crate::static_files::read;

    async fn get(path: &str, query: Option<&str>) -> (StatusCode, String, String) {
        read(serve(path, query).await.unwrap()).await
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
}
