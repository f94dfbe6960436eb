//! The HTTP front: one router, SigV4 on every request, AWS-shaped errors, request ids.
//!
//! restJson1 operations (KVS) are found by path; awsJson operations (Kinesis Data Streams) are a
//! `POST /` whose `X-Amz-Target` names the service and operation.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode};

use crate::App;
use crate::auth::{self, Payload};
use crate::error::ApiError;
use crate::origin::Origin;
use crate::{control, cors, kinesis, media, rekognition, signaling};

/// The largest JSON request body accepted.
const MAX_JSON_BODY: usize = 1 << 20;

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new().fallback(dispatch).with_state(app)
}

async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response {
    let app = &app;
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let cors_origin = req.headers().get(http::header::ORIGIN).cloned();
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
    cors::allow(cors_origin, resp.headers_mut());
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
        "/v1/get-ice-server-config" => "GetIceServerConfig",
        _ => return None,
    })
}

async fn route(app: &Arc<App>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let origin = Origin::of(&parts, &app.config.authority);
    if let Some(preflight) = cors::preflight(&parts) {
        return Ok(preflight);
    }
    // The browser viewer page and its scripts: static files, opened without a signature.
    if parts.method == Method::GET
        && let Some(page) = crate::viewer::serve(parts.uri.path(), parts.uri.query()).await
    {
        return Ok(page);
    }
    // The web console at `/` and its files under `/console/`: static files too.
    if parts.method == Method::GET
        && let Some(page) = crate::console::serve(parts.uri.path(), parts.uri.query()).await
    {
        return Ok(page);
    }
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
        return media::playback::serve(app, file, &query).await;
    }
    if parts.method == Method::POST
        && parts.uri.path() == "/"
        && let Some(target) = parts.headers.get(AMZ_TARGET)
    {
        let target = target.to_str().unwrap_or_default().to_owned();
        return aws_json(app, &target, parts, body).await;
    }
    if parts.method == Method::GET {
        let query = auth::parse_query(parts.uri.query().unwrap_or(""));
        if signaling::is_connect(&query) {
            verify(app, &parts, Payload::Body(b""))?;
            app.stats.count(if query.contains_key("X-Amz-ClientId") {
                "ConnectAsViewer"
            } else {
                "ConnectAsMaster"
            });
            return signaling::connect(app.clone(), parts, query).await;
        }
    }
    if parts.method == Method::POST && parts.uri.path() == "/putMedia" {
        verify(app, &parts, Payload::Streaming)?;
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
    let body = read_body(body, MAX_JSON_BODY).await?;
    verify(app, &parts, Payload::Body(&body))?;
    app.stats.count(operation);
    tracing::debug!(operation, "request");
    match operation {
        "GetMedia" => media::get::get_media(app.clone(), &body).await,
        "GetMediaForFragmentList" => {
            media::get::get_media_for_fragment_list(app.clone(), &body).await
        }
        "GetClip" => media::clip::get_clip(app, &body).await,
        "GetHLSStreamingSessionURL" => {
            let url =
                media::playback::session_url(app, &origin, &body, media::playback::Protocol::Hls)
                    .await?;
            Ok(axum::Json(url).into_response())
        }
        "GetImages" => Ok(axum::Json(media::images::get_images(app, &body).await?).into_response()),
        "GetIceServerConfig" => Ok(axum::Json(
            signaling::ice::get_ice_server_config(app, &body).await?,
        )
        .into_response()),
        "GetDASHStreamingSessionURL" => {
            let url =
                media::playback::session_url(app, &origin, &body, media::playback::Protocol::Dash)
                    .await?;
            Ok(axum::Json(url).into_response())
        }
        "ListFragments" => {
            Ok(axum::Json(media::list::list_fragments(app, &body).await?).into_response())
        }
        _ => control::handle(app, &origin, operation, &body).await,
    }
}

/// The header naming an awsJson1.0/1.1 operation: `<ServicePrefix>.<Operation>`.
const AMZ_TARGET: &str = "x-amz-target";

/// The services spoken as awsJson (`POST /` with `X-Amz-Target`), by target prefix.
#[derive(Debug, Clone, Copy)]
enum JsonService {
    Kinesis,
    Rekognition,
}

impl JsonService {
    fn from_prefix(prefix: &str) -> Option<Self> {
        match prefix {
            kinesis::TARGET_PREFIX => Some(Self::Kinesis),
            rekognition::TARGET_PREFIX => Some(Self::Rekognition),
            _ => None,
        }
    }
}

/// An operation of one awsJson service.
#[derive(Debug, Clone, Copy)]
enum JsonOperation {
    Kinesis(kinesis::Operation),
    Rekognition(&'static str),
}

impl JsonOperation {
    fn find(service: JsonService, name: &str) -> Option<Self> {
        match service {
            JsonService::Kinesis => kinesis::Operation::from_target(name).map(Self::Kinesis),
            JsonService::Rekognition => rekognition::operation(name).map(Self::Rekognition),
        }
    }

    fn stats_name(self) -> &'static str {
        match self {
            Self::Kinesis(op) => op.stats_name(),
            Self::Rekognition(op) => op,
        }
    }

    fn max_body(self) -> usize {
        match self {
            Self::Kinesis(_) => kinesis::MAX_REQUEST_BODY,
            Self::Rekognition(_) => rekognition::MAX_REQUEST_BODY,
        }
    }
}

/// An awsJson call: the target resolved, the body read and its signature verified.
async fn aws_json(
    app: &Arc<App>,
    target: &str,
    parts: http::request::Parts,
    body: Body,
) -> Result<Response, ApiError> {
    let (prefix, name) = target.split_once('.').unwrap_or((target, ""));
    let operation = JsonService::from_prefix(prefix)
        .and_then(|service| JsonOperation::find(service, name))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                format!("kvs-local has no operation {target:?}"),
            )
        })?;
    let body = read_body(body, operation.max_body()).await?;
    verify(app, &parts, Payload::Body(&body))?;
    app.stats.count(operation.stats_name());
    tracing::debug!(operation = operation.stats_name(), "request");
    match operation {
        JsonOperation::Kinesis(op) => kinesis::handle(app, op, &body).await,
        JsonOperation::Rekognition(op) => rekognition::handle(app, op, &body).await,
    }
}

/// Checks the request's SigV4 signature against the server's credentials, now.
fn verify(app: &App, parts: &http::request::Parts, payload: Payload<'_>) -> Result<(), ApiError> {
    auth::verify(
        &app.config.credentials,
        &parts.method,
        &parts.uri,
        &parts.headers,
        payload,
        time::OffsetDateTime::now_utc(),
    )
}

async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "SerializationException",
            format!("request body unreadable or over {limit} bytes: {e}"),
        )
    })
}

fn request_id() -> String {
    crate::ids::uuid_v4()
}
