//! The HTTP front: one router, SigV4 on every request, AWS-shaped errors, request ids.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode};

use crate::App;
use crate::auth::{self, Payload};
use crate::error::ApiError;
use crate::{control, media};

/// The largest JSON request body accepted.
const MAX_JSON_BODY: usize = 1 << 20;

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new().fallback(dispatch).with_state(app)
}

async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response {
    let app = &app;
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = match route(app, req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(%method, %path, error = %e, "request refused");
            e.into_response()
        }
    };
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        resp.headers_mut().insert("x-amzn-RequestId", id);
    }
    resp
}

/// Data-plane operations, by path.
fn media_operation(path: &str) -> Option<&'static str> {
    Some(match path {
        "/putMedia" => "PutMedia",
        "/getMedia" => "GetMedia",
        "/listFragments" => "ListFragments",
        "/getMediaForFragmentList" => "GetMediaForFragmentList",
        "/getClip" => "GetClip",
        "/getHLSStreamingSessionURL" => "GetHLSStreamingSessionURL",
        "/getDASHStreamingSessionURL" => "GetDASHStreamingSessionURL",
        "/getImages" => "GetImages",
        _ => return None,
    })
}

async fn route(app: &Arc<App>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    // Playback URLs are opened by players: the session token in the query is the credential.
    if parts.method == Method::GET
        && let Some(file) = parts
            .uri
            .path()
            .strip_prefix("/hls/v1/")
            .or_else(|| parts.uri.path().strip_prefix("/dash/v1/"))
    {
        let query = auth::parse_query(parts.uri.query().unwrap_or(""));
        app.stats.count("HLS");
        return media::hls::serve(app, file, &query).await;
    }
    if parts.method == Method::POST && parts.uri.path() == "/putMedia" {
        auth::verify(
            &app.config.credentials,
            &parts.method,
            &parts.uri,
            &parts.headers,
            Payload::Streaming,
            time::OffsetDateTime::now_utc(),
        )?;
        app.stats.count("PutMedia");
        return media::put::put_media(app.clone(), parts, body).await;
    }
    let operation = control::operation_for_path(parts.uri.path())
        .or_else(|| media_operation(parts.uri.path()))
        .filter(|_| parts.method == Method::POST)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                format!(
                    "kvs-local has no operation at {} {}",
                    parts.method,
                    parts.uri.path()
                ),
            )
        })?;
    let body = read_body(body).await?;
    auth::verify(
        &app.config.credentials,
        &parts.method,
        &parts.uri,
        &parts.headers,
        Payload::Body(&body),
        time::OffsetDateTime::now_utc(),
    )?;
    app.stats.count(operation);
    tracing::debug!(operation, "request");
    match operation {
        "GetMedia" => media::get::get_media(app.clone(), &body).await,
        "GetMediaForFragmentList" => {
            media::get::get_media_for_fragment_list(app.clone(), &body).await
        }
        "GetClip" => media::clip::get_clip(app, &body).await,
        "GetHLSStreamingSessionURL" => {
            let url = media::hls::session_url(app, &body, media::hls::Protocol::Hls).await?;
            Ok(axum::Json(url).into_response())
        }
        "GetImages" => Ok(axum::Json(media::images::get_images(app, &body).await?).into_response()),
        "GetDASHStreamingSessionURL" => {
            let url = media::hls::session_url(app, &body, media::hls::Protocol::Dash).await?;
            Ok(axum::Json(url).into_response())
        }
        "ListFragments" => {
            Ok(axum::Json(media::list::list_fragments(app, &body).await?).into_response())
        }
        _ => control::handle(app, operation, &body).await,
    }
}

async fn read_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_JSON_BODY)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "SerializationException",
                format!("request body unreadable or over {MAX_JSON_BODY} bytes: {e}"),
            )
        })
}

fn request_id() -> String {
    use rand::Rng;
    let b: [u8; 16] = rand::rng().random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
