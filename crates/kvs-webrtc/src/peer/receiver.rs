//! Receiving a viewer's video track: RTP to access units to [`Frame`]s, asking the master for
//! a key frame (PLI) while the stream cannot be decoded.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kvs_mkv::{Frame, TrackInfo};
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;

use super::audio::ticks_to_ns;
use super::clock::MediaClock;
use super::depacketize::Assembler;
use super::h264::{avc_sps, sps_dimensions};
use super::reorder::Reorder;
use super::stats::MediaCounters;

/// The track number frames are given.
pub(crate) const VIDEO_TRACK: u64 = 1;
/// Key frame requests are repeated this often while the stream stays undecodable (the master
/// answers one every 500 ms at most).
const PLI_INTERVAL: Duration = Duration::from_millis(500);
const RTP_CLOCK: u32 = 90_000;

/// The video track and its SSRC.
type VideoTrack = (Arc<dyn TrackRemote>, u32);

/// Asks the master for a key frame (RTCP PLI) on the video track, once there is one.
#[derive(Clone, Default)]
pub(crate) struct KeyFrameRequester(Arc<Mutex<Option<VideoTrack>>>);

impl KeyFrameRequester {
    fn attach(&self, track: Arc<dyn TrackRemote>, media_ssrc: u32) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((track, media_ssrc));
    }

    /// `false` if there is no video track yet or the request could not be sent.
    pub(crate) async fn request(&self) -> bool {
        let Some((track, media_ssrc)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
        else {
            return false;
        };
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc,
        };
        match track.write_rtcp(vec![Box::new(pli)]).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!("key frame request (PLI) not sent: {e}");
                false
            }
        }
    }
}

pub(crate) struct VideoReceiver {
    pub(crate) track: Arc<dyn TrackRemote>,
    pub(crate) frames: mpsc::Sender<Frame>,
    pub(crate) counters: Arc<MediaCounters>,
    pub(crate) track_info: Arc<Mutex<Option<TrackInfo>>>,
    pub(crate) key_frames: KeyFrameRequester,
    pub(crate) jitter_buffer: Duration,
    pub(crate) clock: MediaClock,
}

impl VideoReceiver {
    pub(crate) async fn run(self) {
        let media_ssrc = self.track.ssrcs().await.first().copied().unwrap_or(0);
        self.key_frames.attach(Arc::clone(&self.track), media_ssrc);
        let mut reorder = Reorder::new(self.jitter_buffer);
        let mut assembler = Assembler::default();
        let mut in_order = Vec::new();
        let mut units = Vec::new();
        // The first frame's RTP time and its place on the viewer's timeline.
        let mut origin: Option<(i64, u64)> = None;
        let mut reader_behind = false;
        let mut lost_packets = 0;
        let mut lost_frames = 0;
        // The master starts each viewer at a key frame, whose packets may still be arriving:
        // without a loss, a request is only worth sending once that has had time.
        let started = Instant::now();
        let mut last_pli: Option<Instant> = None;
        while let Some(event) = self.track.poll().await {
            let packet = match event {
                TrackRemoteEvent::OnRtpPacket(p) => p,
                TrackRemoteEvent::OnEnded => break,
                _ => continue,
            };
            reorder.push(packet, Instant::now(), &mut in_order);
            for packet in in_order.drain(..) {
                assembler.push(&packet, &mut units);
            }
            let losses = assembler.losses();
            self.counters.lost(losses.packets - lost_packets);
            for _ in lost_frames..losses.frames {
                self.counters.dropped();
            }
            (lost_packets, lost_frames) = (losses.packets, losses.frames);

            for unit in units.drain(..) {
                if unit.key {
                    self.learn_track(&unit.data);
                }
                let (rtp0, ns0) = *origin
                    .get_or_insert_with(|| (unit.rtp_time, self.clock.now_ns(Instant::now())));
                let frame = Frame {
                    track: VIDEO_TRACK,
                    timestamp_ns: ns0 + ticks_to_ns(unit.rtp_time - rtp0, RTP_CLOCK),
                    key: unit.key,
                    data: unit.data,
                };
                self.counters.frame(frame.data.len(), frame.key);
                if reader_behind && !frame.key {
                    self.counters.dropped();
                    continue;
                }
                // The driver drops packets when this loop falls behind, so a slow reader loses
                // frames here, up to the next key frame, instead.
                reader_behind = match self.frames.try_send(frame) {
                    Ok(()) => false,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        self.counters.dropped();
                        true
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                };
            }

            // A loss the jitter buffer gave up on (the stream's first packets included, which
            // no NACK asks for) is worth a request at once.
            let lost = losses.packets > 0 || losses.frames > 0;
            let waited = lost || started.elapsed() >= PLI_INTERVAL;
            let undecodable = (assembler.needs_key_frame() && waited) || reader_behind;
            if undecodable && last_pli.is_none_or(|t| t.elapsed() >= PLI_INTERVAL) {
                last_pli = Some(Instant::now());
                let sent = self.key_frames.request().await;
                tracing::debug!("stream undecodable; key frame requested: {sent}");
            }
        }
    }

    /// The track's codec data, from the first key frame's SPS and PPS.
    fn learn_track(&self, access_unit: &[u8]) {
        let mut info = self.track_info.lock().unwrap_or_else(|p| p.into_inner());
        if info.is_some() {
            return;
        }
        let Ok(avcc) = kvs_mkv::codec::avcc_from_access_unit(access_unit) else {
            return;
        };
        let (width, height) = avc_sps(access_unit)
            .and_then(sps_dimensions)
            .unwrap_or((0, 0));
        *info = Some(TrackInfo::h264(VIDEO_TRACK, width, height, avcc));
    }
}
