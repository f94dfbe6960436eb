use std::path::Path;
use std::time::{Duration, SystemTime};

use kvs_archive::ArchiveClient;
use kvs_endpoint::KvsConfig;
use kvs_media::Producer;
use kvs_testkit::{LocalKvs, SyntheticVideo};
use kvs_types::{StreamRef, TimeRange};

/// Frames per second of the recordings; a key frame (and so a fragment) every second.
pub(crate) const FPS: u64 = 10;

/// A stream on a fresh kvs-local holding `seconds` of synthetic video, recorded a minute
/// ago (producer clock) and uploaded just now (server clock).
pub(crate) struct Recording {
    pub(crate) local: LocalKvs,
    pub(crate) stream: StreamRef,
    /// Producer time of the first frame.
    pub(crate) start: SystemTime,
    /// Server time just before the upload began and just after it was persisted.
    pub(crate) uploaded: (SystemTime, SystemTime),
}

impl Recording {
    pub(crate) async fn new(seconds: u64) -> Self {
        let local = LocalKvs::start().await;
        let stream = local.create_stream("cam").await;
        // Whole milliseconds, as KVS stores timecodes.
        let start_ms = kvs_testkit::video::epoch_ns(SystemTime::now()) / 1_000_000 - 60_000;
        let video = SyntheticVideo {
            fps: FPS as u32,
            key_every: FPS as u32,
            ..SyntheticVideo::starting_at(start_ms * 1_000_000)
        };
        let producer = Producer::builder(local.config(), stream.clone())
            .track(video.track_info())
            .start()
            .unwrap();
        let before = SystemTime::now();
        for frame in video.frames(0..seconds * FPS) {
            producer.push(frame).await.unwrap();
        }
        let stats = producer.finish(Duration::from_secs(30)).await.unwrap();
        assert_eq!(stats.fragments, seconds, "{stats:?}");
        assert_eq!(stats.persisted, seconds, "{stats:?}");
        Self {
            local,
            stream,
            start: SystemTime::UNIX_EPOCH + Duration::from_millis(start_ms),
            uploaded: (before, SystemTime::now()),
        }
    }

    /// Producer time `seconds` into the recording.
    pub(crate) fn at(&self, seconds: f64) -> SystemTime {
        self.start + Duration::from_secs_f64(seconds)
    }

    /// The producer-clock range from `from` to `to` seconds into the recording.
    pub(crate) fn range(&self, from: f64, to: f64) -> TimeRange {
        TimeRange::between(self.at(from), self.at(to)).unwrap()
    }

    /// A client of this kvs-local.
    pub(crate) fn archive(&self) -> ArchiveClient {
        archive(self.local.config())
    }
}

pub(crate) fn archive(config: &KvsConfig) -> ArchiveClient {
    ArchiveClient::new(config)
}

/// The names in `dir`, sorted.
pub(crate) fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
