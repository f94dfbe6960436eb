//! GetImages: still pictures sampled from a stream at an interval, as JPEG or PNG.

use serde::Deserialize;
use serde_json::{Value, json};

use super::request::{load_stream, timestamp_column};
use crate::App;
use crate::error::ApiError;
use crate::protocol::{
    PageSize, epoch_ms, epoch_seconds, parse_position_token, position_token, rest_json_body,
};

/// A NextToken is this prefix and the index of the page's first sample.
const PAGE_TOKEN: &str = "kvslocalimg";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetImagesInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    image_selector_type: Option<String>,
    start_timestamp: Option<f64>,
    end_timestamp: Option<f64>,
    sampling_interval: Option<i64>,
    format: Option<String>,
    #[serde(default)]
    format_config: std::collections::HashMap<String, String>,
    width_pixels: Option<i64>,
    height_pixels: Option<i64>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// `POST /getImages`.
pub(crate) async fn get_images(app: &App, body: &[u8]) -> Result<Value, ApiError> {
    let input: GetImagesInput = rest_json_body(body)?;
    let column = timestamp_column("ImageSelectorType", input.image_selector_type.as_deref())?;
    let (Some(start), Some(end)) = (
        input.start_timestamp.filter(|t| t.is_finite()),
        input.end_timestamp.filter(|t| t.is_finite()),
    ) else {
        return Err(ApiError::invalid_argument(
            "StartTimestamp and EndTimestamp are required",
        ));
    };
    if end < start {
        return Err(ApiError::invalid_argument(
            "EndTimestamp is before StartTimestamp",
        ));
    }
    if end - start > 300.0 {
        return Err(ApiError::invalid_argument(
            "GetImages covers at most 300 seconds per request",
        ));
    }
    let interval = input.sampling_interval.unwrap_or(3000);
    if !(200..=20_000).contains(&interval) {
        return Err(ApiError::invalid_argument(format!(
            "SamplingInterval {interval} ms must be 200 to 20000"
        )));
    }
    let format = match input.format.as_deref() {
        Some("JPEG") => {
            let quality = input
                .format_config
                .get("JPEGQuality")
                .map(|q| q.parse::<u8>().ok().filter(|q| (1..=100).contains(q)))
                .unwrap_or(Some(80))
                .ok_or_else(|| ApiError::invalid_argument("JPEGQuality must be 1 to 100"))?;
            Format::Jpeg(quality)
        }
        Some("PNG") => Format::Png,
        other => {
            return Err(ApiError::invalid_argument(format!(
                "Format {other:?} must be JPEG or PNG"
            )));
        }
    };
    let size = match (input.width_pixels, input.height_pixels) {
        (None, None) => None,
        (Some(w), Some(h)) if (1..=3840).contains(&w) && (1..=2160).contains(&h) => {
            Some((w as u32, h as u32))
        }
        (Some(w), None) if (1..=3840).contains(&w) => Some((w as u32, 0)),
        (None, Some(h)) if (1..=2160).contains(&h) => Some((0, h as u32)),
        _ => {
            return Err(ApiError::invalid_argument(
                "WidthPixels must be 1 to 3840 and HeightPixels 1 to 2160",
            ));
        }
    };
    let max = PageSize::max_results(100)
        .or(25)
        .archived_media()
        .of(input.max_results)?;
    let skip: usize = parse_position_token(PAGE_TOKEN, input.next_token.as_deref())?;
    let stream = load_stream(app, input.stream_name, input.stream_arn).await?;
    if stream.retention_hours == 0 {
        return Err(ApiError::new(
            http::StatusCode::BAD_REQUEST,
            "NoDataRetentionException",
            format!("stream {} keeps no media (retention 0)", stream.name),
        ));
    }
    let (start_ms, end_ms) = (epoch_ms(start), epoch_ms(end));
    let all: Vec<i64> = (0..)
        .map(|i| start_ms + i * interval)
        .take_while(|t| *t <= end_ms)
        .collect();
    let page: Vec<i64> = all.iter().copied().skip(skip).take(max).collect();
    let mut images = Vec::with_capacity(page.len());
    let mut i = 0;
    while i < page.len() {
        let t = page[i];
        let fragment = app
            .media
            .fragments_overlapping(&stream.arn, column, t, t, 1)
            .await?
            .into_iter()
            .next();
        let Some(f) = fragment else {
            images.push(json!({ "TimeStamp": epoch_seconds(t), "Error": "NO_MEDIA" }));
            i += 1;
            continue;
        };
        // Every sample inside this fragment is decoded in one pass.
        let column_start = if column == "server_ts_ms" {
            f.server_ts_ms
        } else {
            f.producer_ts_ms
        };
        let column_end = column_start + f.duration_ms;
        let mut samples = vec![t];
        while i + samples.len() < page.len() && page[i + samples.len()] <= column_end {
            samples.push(page[i + samples.len()]);
        }
        let pictures = decode(app, &f, &samples, column_start, format, size).await;
        for (t, picture) in samples.iter().zip(pictures) {
            images.push(match picture {
                Some(bytes) => {
                    use base64::Engine as _;
                    json!({ "TimeStamp": epoch_seconds(*t), "ImageContent": base64::engine::general_purpose::STANDARD.encode(bytes) })
                }
                None => json!({ "TimeStamp": epoch_seconds(*t), "Error": "MEDIA_ERROR" }),
            });
        }
        i += samples.len();
    }
    let mut out = json!({ "Images": images });
    if skip + max < all.len() {
        out["NextToken"] = json!(position_token(PAGE_TOKEN, skip + max));
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "images"), allow(dead_code))]
enum Format {
    Jpeg(u8),
    Png,
}

/// The pictures at `samples` (ms on the selector's clock, which starts the fragment at
/// `column_start`), `None` where decoding failed.
#[cfg(feature = "images")]
async fn decode(
    app: &App,
    f: &super::StoredFragment,
    samples: &[i64],
    column_start: i64,
    format: Format,
    size: Option<(u32, u32)>,
) -> Vec<Option<Vec<u8>>> {
    let media = super::fragment_media(app, f).await;
    let Ok((tracks, frames)) = media else {
        return vec![None; samples.len()];
    };
    let Some(video) = tracks.into_iter().find(|t| t.is_video()) else {
        return vec![None; samples.len()];
    };
    // Map the selector's clock onto the frames' producer time.
    let shift = f.producer_ts_ms - column_start;
    let at: Vec<u64> = samples
        .iter()
        .map(|t| ((t + shift).max(0) as u64) * 1_000_000 + 999_999)
        .collect();
    let format = match format {
        Format::Jpeg(quality) => kvs_gst::ImageFormat::Jpeg { quality },
        Format::Png => kvs_gst::ImageFormat::Png,
    };
    let size = size.map(|(w, h)| scale(&video, w, h));
    let n = samples.len();
    tokio::task::spawn_blocking(move || kvs_gst::still_images(&video, &frames, &at, format, size))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_else(|| vec![None; n])
}

/// A missing dimension follows the picture's aspect ratio.
#[cfg(feature = "images")]
fn scale(track: &kvs_mkv::TrackInfo, w: u32, h: u32) -> (u32, u32) {
    let (vw, vh) = match track.kind {
        kvs_mkv::TrackKind::Video { width, height } if width > 0 && height > 0 => (width, height),
        _ => (16, 9),
    };
    match (w, h) {
        (0, h) => (
            (u64::from(h) * u64::from(vw) / u64::from(vh)).max(1) as u32,
            h,
        ),
        (w, 0) => (
            w,
            (u64::from(w) * u64::from(vh) / u64::from(vw)).max(1) as u32,
        ),
        wh => wh,
    }
}

#[cfg(not(feature = "images"))]
async fn decode(
    _app: &App,
    _f: &super::StoredFragment,
    samples: &[i64],
    _column_start: i64,
    _format: Format,
    _size: Option<(u32, u32)>,
) -> Vec<Option<Vec<u8>>> {
    tracing::warn!("kvs-local was built without the `images` feature: GetImages has no decoder");
    vec![None; samples.len()]
}
