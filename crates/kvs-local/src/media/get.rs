//! GetMedia (a live-tailing stream of fragments from a start selector) and
//! GetMediaForFragmentList (named fragments). Each fragment goes out as its own MKV document,
//! with the tags KVS adds around its Cluster.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use kvs_mkv::SimpleTag;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::request::load_stream;
use super::{StoredFragment, fragment_seq, now_ms, seconds_text};
use crate::App;
use crate::db::StreamRecord;
use crate::error::ApiError;
use crate::protocol::{epoch_ms, rest_json_body};

/// With no producer connected, GetMedia ends after this long without a new fragment.
const TAIL_IDLE: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartSelector {
    start_selector_type: Option<String>,
    after_fragment_number: Option<String>,
    start_timestamp: Option<f64>,
    continuation_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetMediaInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    start_selector: Option<StartSelector>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FragmentListInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    #[serde(default)]
    fragments: Vec<String>,
}

/// One fragment as a standalone MKV document with KVS's tags.
pub(crate) async fn render(
    app: &App,
    f: &StoredFragment,
    trailer: bool,
) -> Result<Vec<u8>, ApiError> {
    let header = app.media.header(f.header_id).await?;
    let cluster = app.media.read_cluster(f).await?;
    let mut out = Vec::with_capacity(header.len() + cluster.len() + 512);
    out.extend_from_slice(&header);
    kvs_mkv::write_tags(
        &mut out,
        &[
            SimpleTag::new("AWS_KINESISVIDEO_FRAGMENT_NUMBER", f.number()),
            SimpleTag::new(
                "AWS_KINESISVIDEO_SERVER_TIMESTAMP",
                seconds_text(f.server_ts_ms),
            ),
            SimpleTag::new(
                "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP",
                seconds_text(f.producer_ts_ms),
            ),
        ],
    );
    out.extend_from_slice(&cluster);
    if trailer {
        kvs_mkv::write_tags(
            &mut out,
            &[
                SimpleTag::new(
                    "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW",
                    (now_ms() - f.server_ts_ms).max(0).to_string(),
                ),
                SimpleTag::new("AWS_KINESISVIDEO_CONTINUATION_TOKEN", f.number()),
            ],
        );
    }
    Ok(out)
}

fn mkv_response(rx: mpsc::Receiver<Bytes>) -> Result<Response, ApiError> {
    Response::builder()
        .status(200)
        .header("content-type", "video/webm")
        .body(Body::from_stream(
            ReceiverStream::new(rx).map(Ok::<_, Infallible>),
        ))
        .map_err(ApiError::internal)
}

fn fragment_ref(stream: &StreamRecord, number: &str) -> Result<u64, ApiError> {
    fragment_seq(number).ok_or_else(|| {
        ApiError::invalid_argument(format!(
            "fragment number {number:?} is not one of stream {}'s fragment numbers",
            stream.name
        ))
    })
}

/// Where GetMedia starts: it sends fragments with a sequence number above the returned one.
async fn start_after(
    app: &App,
    stream: &StreamRecord,
    sel: Option<StartSelector>,
) -> Result<u64, ApiError> {
    let sel = sel.ok_or_else(|| ApiError::invalid_argument("StartSelector is required"))?;
    let kind = sel
        .start_selector_type
        .as_deref()
        .ok_or_else(|| ApiError::invalid_argument("StartSelectorType is required"))?;
    let timestamp_ms = || {
        sel.start_timestamp
            .filter(|t| t.is_finite())
            .map(epoch_ms)
            .ok_or_else(|| ApiError::invalid_argument(format!("{kind} needs StartTimestamp")))
    };
    let missing =
        |n: &str| ApiError::not_found(format!("fragment {n} is not in stream {}", stream.name));
    match kind {
        "EARLIEST" => Ok(0),
        "NOW" => app.media.last_seq(&stream.arn).await,
        "FRAGMENT_NUMBER" => {
            let n = sel.after_fragment_number.as_deref().ok_or_else(|| {
                ApiError::invalid_argument("FRAGMENT_NUMBER needs AfterFragmentNumber")
            })?;
            let seq = fragment_ref(stream, n)?;
            app.media
                .fragment(&stream.arn, seq)
                .await?
                .ok_or_else(|| missing(n))?;
            Ok(seq - 1)
        }
        "CONTINUATION_TOKEN" => {
            let n = sel.continuation_token.as_deref().ok_or_else(|| {
                ApiError::invalid_argument("CONTINUATION_TOKEN needs ContinuationToken")
            })?;
            fragment_ref(stream, n)
        }
        "SERVER_TIMESTAMP" | "PRODUCER_TIMESTAMP" => {
            let column = if kind == "SERVER_TIMESTAMP" {
                "server_ts_ms"
            } else {
                "producer_ts_ms"
            };
            let ts = timestamp_ms()?;
            Ok(match app.media.first_from(&stream.arn, column, ts).await? {
                Some(f) => f.seq - 1,
                None => app.media.last_seq(&stream.arn).await?,
            })
        }
        other => Err(ApiError::invalid_argument(format!(
            "StartSelectorType {other:?} must be NOW, EARLIEST, FRAGMENT_NUMBER, SERVER_TIMESTAMP, PRODUCER_TIMESTAMP or CONTINUATION_TOKEN"
        ))),
    }
}

pub(crate) async fn get_media(app: Arc<App>, body: &[u8]) -> Result<Response, ApiError> {
    let input: GetMediaInput = rest_json_body(body)?;
    let stream = load_stream(&app, input.stream_name, input.stream_arn).await?;
    let mut cursor = start_after(&app, &stream, input.start_selector).await?;
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let live = app.media.live.stream(&stream.arn);
    let mut updates = live.subscribe();
    tokio::spawn(async move {
        loop {
            let batch = match app.media.fragments_after(&stream.arn, cursor, 16).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "GetMedia read failed");
                    return;
                }
            };
            if batch.is_empty() {
                updates.mark_unchanged();
                let waited = tokio::time::timeout(TAIL_IDLE, updates.changed()).await;
                if waited.is_err() && !live.has_producer() || matches!(waited, Ok(Err(_))) {
                    return;
                }
                continue;
            }
            for f in batch {
                cursor = f.seq;
                match render(&app, &f, true).await {
                    Ok(bytes) => {
                        if tx.send(Bytes::from(bytes)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        // Expired between listing and reading: skip it.
                        tracing::debug!(error = %e, "fragment vanished");
                    }
                }
            }
        }
    });
    mkv_response(rx)
}

pub(crate) async fn get_media_for_fragment_list(
    app: Arc<App>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let input: FragmentListInput = rest_json_body(body)?;
    if input.fragments.is_empty() || input.fragments.len() > 1000 {
        return Err(ApiError::invalid_argument(
            "Fragments must list 1 to 1000 fragment numbers",
        ));
    }
    let stream = load_stream(&app, input.stream_name, input.stream_arn).await?;
    let mut fragments = Vec::with_capacity(input.fragments.len());
    for n in &input.fragments {
        let seq = fragment_ref(&stream, n)?;
        let f = app.media.fragment(&stream.arn, seq).await?.ok_or_else(|| {
            ApiError::not_found(format!("fragment {n} is not in stream {}", stream.name))
        })?;
        fragments.push(f);
    }
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        for f in fragments {
            match render(&app, &f, false).await {
                Ok(bytes) => {
                    if tx.send(Bytes::from(bytes)).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "fragment vanished"),
            }
        }
    });
    mkv_response(rx)
}
