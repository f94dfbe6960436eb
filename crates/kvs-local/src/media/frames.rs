//! A stored fragment read back as tracks and frames (for GetClip, GetImages, HLS/DASH segments
//! and stream processors).

use bytes::Bytes;
use kvs_mkv::{Event, Frame, Parser, TrackInfo};

use super::StoredFragment;
use crate::App;
use crate::error::ApiError;

/// A stored fragment's tracks and frames. The cluster is read once into one buffer that the
/// parser adopts, so frame payloads are slices of it (no copy).
pub(crate) async fn fragment_media(
    app: &App,
    f: &StoredFragment,
) -> Result<(Vec<TrackInfo>, Vec<Frame>), ApiError> {
    let header = app.media.header(f.header_id).await?;
    let cluster = Bytes::from(app.media.read_cluster(f).await?);
    let unreadable =
        |e: kvs_mkv::ParseError| ApiError::internal(format!("stored fragment unreadable: {e}"));
    let mut parser = Parser::new();
    let mut events = Vec::new();
    parser.feed(&header);
    // The header is parsed first, so the parser holds nothing else when the cluster is fed
    // and can share it whole.
    while let Some(e) = parser.next_event().map_err(unreadable)? {
        events.push(e);
    }
    parser.feed_bytes(cluster);
    while let Some(e) = parser.next_event().map_err(unreadable)? {
        events.push(e);
    }
    events.extend(parser.finish().map_err(unreadable)?);
    let (mut tracks, mut frames) = (Vec::new(), Vec::new());
    for e in events {
        match e {
            Event::Tracks(t) => tracks = t,
            Event::Frame(fr) => frames.push(fr),
            _ => {}
        }
    }
    Ok((tracks, frames))
}
