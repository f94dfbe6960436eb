//! A stored fragment read back as tracks and frames (for GetClip, GetImages, HLS/DASH segments
//! and stream processors).

use kvs_mkv::{Event, Frame, Parser, TrackInfo};

use super::StoredFragment;
use crate::App;
use crate::error::ApiError;

/// A stored fragment's tracks and frames.
pub(crate) async fn fragment_media(
    app: &App,
    f: &StoredFragment,
) -> Result<(Vec<TrackInfo>, Vec<Frame>), ApiError> {
    let header = app.media.header(f.header_id).await?;
    let cluster = app.media.read_cluster(f).await?;
    let mut parser = Parser::new();
    parser.feed(&header);
    parser.feed(&cluster);
    let (mut tracks, mut frames) = (Vec::new(), Vec::new());
    let mut events = Vec::new();
    loop {
        match parser.next_event() {
            Ok(Some(e)) => events.push(e),
            Ok(None) => break,
            Err(e) => {
                return Err(ApiError::internal(format!(
                    "stored fragment unreadable: {e}"
                )));
            }
        }
    }
    events.extend(
        parser
            .finish()
            .map_err(|e| ApiError::internal(format!("stored fragment unreadable: {e}")))?,
    );
    for e in events {
        match e {
            Event::Tracks(t) => tracks = t,
            Event::Frame(fr) => frames.push(fr),
            _ => {}
        }
    }
    Ok((tracks, frames))
}
