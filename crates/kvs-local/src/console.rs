//! The web console: `GET /` and its files under `/console/`, as unauthenticated static files.
//!
//! The console's own pages and scripts are compiled in. The libraries it runs on, the AWS SDK
//! for JavaScript v2 (which signs every API call in the page with the credentials typed into
//! it), `hls.js` and the official KVS WebRTC SDK, are read at run time from the npm install in
//! the workspace's `web/` directory (`scripts/install-deps`), or from the `node_modules`
//! directory `KVS_CONSOLE_NODE_MODULES` names, so the console needs no CDN. Nothing secret is
//! served: the page calls the same signed APIs as any other client.

use std::path::Path;

use axum::response::Response;

use crate::static_files::{
    CSS, HTML, JAVASCRIPT, NODE_MODULES, installed_path, not_found, npm_script, ok, redirect,
};

const INDEX_HTML: &str = include_str!("../assets/console/index.html");
const OWN_FILES: [(&str, &str, &str); 5] = [
    (
        "console.css",
        CSS,
        include_str!("../assets/console/console.css"),
    ),
    (
        "app.js",
        JAVASCRIPT,
        include_str!("../assets/console/app.js"),
    ),
    (
        "streams.js",
        JAVASCRIPT,
        include_str!("../assets/console/streams.js"),
    ),
    (
        "channels.js",
        JAVASCRIPT,
        include_str!("../assets/console/channels.js"),
    ),
    (
        "faces.js",
        JAVASCRIPT,
        include_str!("../assets/console/faces.js"),
    ),
];

/// The npm files the console loads, by their name under `/console/vendor/`, with their path in
/// `node_modules`.
const VENDOR_FILES: [(&str, &str); 3] = [
    ("aws-sdk.min.js", "aws-sdk/dist/aws-sdk.min.js"),
    ("hls.min.js", "hls.js/dist/hls.min.js"),
    (
        "kvs-webrtc.min.js",
        "amazon-kinesis-video-streams-webrtc/dist/kvs-webrtc.min.js",
    ),
];

/// The environment variable naming the `node_modules` directory to serve the libraries from.
pub(crate) const NODE_MODULES_ENV: &str = "KVS_CONSOLE_NODE_MODULES";

/// The response to `GET path?query`, or `None` when the request is not the console's.
pub(crate) async fn serve(path: &str, query: Option<&str>) -> Option<Response> {
    if path == "/" {
        // `GET /?X-Amz-ChannelARN=...` is a signaling connection, not a page view.
        if query.is_some_and(|q| q.contains("X-Amz-")) {
            return None;
        }
        return Some(ok(HTML, INDEX_HTML));
    }
    let file = path.strip_prefix("/console")?;
    if file.is_empty() || file == "/" {
        return Some(redirect("/"));
    }
    let file = file.strip_prefix('/')?;
    if let Some(name) = file.strip_prefix("vendor/") {
        return Some(match VENDOR_FILES.iter().find(|(n, _)| *n == name) {
            Some((_, rel)) => {
                let dir = installed_path(NODE_MODULES_ENV, NODE_MODULES);
                npm_script(&Path::new(&dir).join(rel), NODE_MODULES_ENV).await
            }
            None => not_found(format!("the console has no file {path}")),
        });
    }
    Some(match OWN_FILES.iter().find(|(n, _, _)| *n == file) {
        Some((_, content_type, text)) => ok(content_type, text),
        None => not_found(format!("the console has no file {path}")),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use http::StatusCode;

    use super::*;
    use crate::static_files::read;

    async fn get(path: &str, query: Option<&str>) -> (StatusCode, String, String) {
        read(serve(path, query).await.unwrap()).await
    }

    #[tokio::test]
    async fn the_page_and_its_own_scripts_are_served() {
        let (status, content_type, body) = get("/", None).await;
        assert_eq!((status, content_type.as_str()), (StatusCode::OK, HTML));
        for script in [
            "/console/vendor/aws-sdk.min.js",
            "/console/vendor/hls.min.js",
            "/console/vendor/kvs-webrtc.min.js",
            "/console/app.js",
        ] {
            assert!(body.contains(&format!("src=\"{script}\"")), "{script}");
        }
        for (name, _, _) in OWN_FILES {
            let (status, _, _) = get(&format!("/console/{name}"), None).await;
            assert_eq!(status, StatusCode::OK, "{name}");
        }
        assert!(
            !body.contains("AKIDKVSLOCAL") && !body.contains("kvs-local-secret"),
            "no credentials in the page"
        );
    }

    #[tokio::test]
    async fn a_signaling_connection_and_other_paths_are_not_the_consoles() {
        assert!(serve("/", Some("X-Amz-ChannelARN=arn")).await.is_none());
        assert!(serve("/viewer/", None).await.is_none());
        assert!(serve("/consoles", None).await.is_none());
        assert_eq!(
            get("/console/secret.txt", None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get("/console/vendor/../../Cargo.toml", None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get("/console", None).await.0,
            StatusCode::PERMANENT_REDIRECT
        );
    }
}
