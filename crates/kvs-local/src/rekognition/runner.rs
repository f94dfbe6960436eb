//! A started stream processor: tail the video stream, analyse frames, write one Kinesis record
//! per analysed frame in Rekognition's output format.
//!
//! Frames are sampled [`SAMPLE_EVERY_MS`] apart within each fragment, decoded with GStreamer
//! (the GetImages decoder), and searched against the collection with the processor's threshold.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::collections::{DEFAULT_THRESHOLD, search};
use super::model::{CreateProcessorInput, StartSelector};
use super::status;
use super::store;
use crate::App;
use crate::db;
use crate::error::ApiError;
use crate::media::{StoredFragment, fragment_seq};
use crate::protocol::epoch_seconds;

/// How far apart analysed frames are within a fragment.
const SAMPLE_EVERY_MS: u64 = 200;
/// The most faces matched per detected face.
const MAX_MATCHES: usize = 10;
/// How many fragments are read at a time.
const BATCH: usize = 8;

/// Everything a runner needs, checked before the processor is marked RUNNING.
pub(crate) struct Plan {
    video_arn: String,
    data_arn: String,
    collection: String,
    threshold: f32,
    /// Fragments after this sequence number are analysed.
    after: u64,
}

fn failed_precondition(message: String) -> ApiError {
    ApiError::new(
        http::StatusCode::BAD_REQUEST,
        "ResourceNotFoundException",
        message,
    )
}

impl Plan {
    pub(crate) async fn resolve(
        app: &App,
        def: &CreateProcessorInput,
        start: StartSelector,
    ) -> Result<Self, ApiError> {
        let arn = |r: &Option<super::model::ArnRef>| {
            r.as_ref().and_then(|a| a.arn.clone()).unwrap_or_default()
        };
        let video_arn = arn(&def.input.kinesis_video_stream);
        let data_arn = arn(&def.output.kinesis_data_stream);
        let search = def.settings.face_search.clone();
        let collection = search
            .as_ref()
            .and_then(|s| s.collection_id.clone())
            .unwrap_or_default();
        let threshold = search
            .and_then(|s| s.face_match_threshold)
            .unwrap_or(DEFAULT_THRESHOLD);

        let va = video_arn.clone();
        app.db
            .tx(move |tx| db::find_stream(tx, None, Some(&va)))
            .await?
            .ok_or_else(|| {
                failed_precondition(format!("Kinesis video stream {video_arn} not found"))
            })?;
        if !crate::kinesis::stream_exists(app, &data_arn).await? {
            return Err(failed_precondition(format!(
                "Kinesis data stream {data_arn} not found"
            )));
        }
        let c = collection.clone();
        if app
            .db
            .tx(move |tx| store::find_collection(tx, &c))
            .await?
            .is_none()
        {
            return Err(failed_precondition(format!(
                "The collection id: {collection} does not exist"
            )));
        }
        let selector = start.kvs_stream_start_selector.unwrap_or_default();
        let after = if let Some(number) = selector.fragment_number {
            fragment_seq(&number)
                .ok_or_else(|| {
                    super::invalid_parameter(format!("FragmentNumber {number:?} is not valid"))
                })?
                .saturating_sub(1)
        } else if let Some(ms) = selector.producer_timestamp {
            match app
                .media
                .first_from(&video_arn, "producer_ts_ms", ms)
                .await?
            {
                Some(f) => f.seq.saturating_sub(1),
                None => app.media.last_seq(&video_arn).await?,
            }
        } else {
            app.media.last_seq(&video_arn).await?
        };
        Ok(Self {
            video_arn,
            data_arn,
            collection,
            threshold,
            after,
        })
    }
}

/// Runs until `stop` is cancelled, or marks the processor FAILED.
pub(crate) async fn run(app: Arc<App>, name: String, plan: Plan, stop: CancellationToken) {
    let result = tokio::select! {
        r = tail(&app, &name, plan) => r,
        _ = stop.cancelled() => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(processor = %name, error = %e, "stream processor failed");
        let _ = status::set(&app, &name, status::FAILED, &e.to_string()).await;
    }
}

async fn tail(app: &App, name: &str, mut plan: Plan) -> Result<(), ApiError> {
    let mut latest = app.media.live.stream(&plan.video_arn).subscribe();
    loop {
        let fragments = app
            .media
            .fragments_after(&plan.video_arn, plan.after, BATCH)
            .await?;
        if fragments.is_empty() {
            // Wake on a new fragment, and now and then in case a notification was missed.
            let _ = tokio::time::timeout(Duration::from_secs(1), latest.changed()).await;
            continue;
        }
        for f in fragments {
            for record in analyse(app, &plan, &f).await? {
                let data = record.to_string().into_bytes();
                crate::kinesis::put_internal(app, &plan.data_arn, name, data).await?;
            }
            plan.after = f.seq;
        }
    }
}

/// The output records of one fragment: one per analysed frame.
async fn analyse(app: &App, plan: &Plan, f: &StoredFragment) -> Result<Vec<Value>, ApiError> {
    let (tracks, frames) = crate::media::fragment_media(app, f).await?;
    let Some(video) = tracks.into_iter().find(|t| t.is_video()) else {
        return Ok(Vec::new());
    };
    let samples = sample_times(
        frames
            .iter()
            .filter(|fr| fr.track == video.number)
            .map(|fr| fr.timestamp_ns),
    );
    if samples.is_empty() {
        return Ok(Vec::new());
    }
    let first = samples[0];
    let pictures = decode(video, frames, samples.clone()).await;
    let mut records = Vec::with_capacity(samples.len());
    for (at, picture) in samples.iter().zip(pictures) {
        let Some(jpeg) = picture else { continue };
        let faces = app.faces.analyze_encoded(jpeg).await?;
        let mut responses = Vec::with_capacity(faces.len());
        for face in faces {
            let matches = search(
                app,
                &plan.collection,
                &face.embedding,
                plan.threshold,
                MAX_MATCHES,
            )
            .await?;
            responses.push(json!({ "DetectedFace": face.detail, "MatchedFaces": matches }));
        }
        let offset_s = (at - first) as f64 / 1e9;
        records.push(json!({
            "InputInformation": { "KinesisVideo": {
                "StreamArn": plan.video_arn,
                "FragmentNumber": f.number(),
                "ServerTimestamp": epoch_seconds(f.server_ts_ms),
                "ProducerTimestamp": epoch_seconds(f.producer_ts_ms),
                "FrameOffsetInSeconds": offset_s,
            }},
            "StreamProcessorInformation": { "Status": status::RUNNING },
            "FaceSearchResponse": responses,
        }));
    }
    Ok(records)
}

/// Frame times (ns) at least [`SAMPLE_EVERY_MS`] apart, starting with the first frame.
fn sample_times(frames: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for t in frames {
        if out
            .last()
            .is_none_or(|last| t >= last + SAMPLE_EVERY_MS * 1_000_000)
        {
            out.push(t);
        }
    }
    out
}

#[cfg(feature = "images")]
async fn decode(
    video: kvs_mkv::TrackInfo,
    frames: Vec<kvs_mkv::Frame>,
    at: Vec<u64>,
) -> Vec<Option<Vec<u8>>> {
    let n = at.len();
    tokio::task::spawn_blocking(move || {
        kvs_gst::still_images(
            &video,
            &frames,
            &at,
            kvs_gst::ImageFormat::Jpeg { quality: 90 },
            None,
        )
    })
    .await
    .ok()
    .and_then(Result::ok)
    .unwrap_or_else(|| vec![None; n])
}

#[cfg(not(feature = "images"))]
async fn decode(
    _video: kvs_mkv::TrackInfo,
    _frames: Vec<kvs_mkv::Frame>,
    at: Vec<u64>,
) -> Vec<Option<Vec<u8>>> {
    tracing::warn!("kvs-local was built without the `images` feature: processors see no frames");
    vec![None; at.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_at_least_200_ms_apart() {
        let frames = (0..30u64).map(|i| i * 33_333_333);
        let got = sample_times(frames);
        assert_eq!(got.len(), 5);
        assert!(got.windows(2).all(|w| w[1] - w[0] >= 200_000_000));
        assert_eq!(got[0], 0);
    }
}
