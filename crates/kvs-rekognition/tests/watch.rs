//! `Watch` against a real kvs-local: records in order, a record that is not Rekognition's
//! skipped and reported, the checkpoint file kept current, stopping on a signal and at a
//! deadline, and a restart from the checkpoint reading only what is new.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use kvs_rekognition::{
    Checkpoint, DataStreams, StartPosition, Watch, WatchBuilder, WatchEvent, WatchStats,
};
use kvs_testkit::LocalKvs;

mod support;
use support::{STREAM, put, record};

fn watch(checkpoint: &Path) -> WatchBuilder {
    Watch::builder(STREAM)
        // The checkpoint file, once it exists, wins over where to start.
        .from(StartPosition::TrimHorizon)
        .checkpoint_file(checkpoint)
        .poll_interval(Duration::from_millis(50), Duration::from_millis(200))
}

/// Who each event matched, `None` for a skipped record.
fn who(event: &WatchEvent) -> Option<String> {
    match event {
        WatchEvent::Record(r) => Some(r.matches()[0].who().to_owned()),
        WatchEvent::Skipped(_) => None,
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_watch_skips_bad_records_keeps_its_checkpoint_and_resumes_after_a_restart() {
    let mut local = LocalKvs::start().await;
    let config = local.config().clone();
    let checkpoint = local.scratch_dir().join("watch.checkpoint");
    DataStreams::new(&config)
        .ensure(STREAM, 1, Duration::from_secs(10))
        .await
        .unwrap();
    put(&config, "door-faces", record(1, 0, Some("obama"))).await;
    put(&config, "door-faces", b"not json".to_vec()).await;
    put(&config, "door-faces", record(1, 1, Some("biden"))).await;

    // Stopped by a signal, fired once the three records are in.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut first = watch(&checkpoint)
        .stop_when(async {
            let _ = stopped.await;
        })
        .open(&config)
        .await
        .unwrap();
    let mut events = Vec::new();
    while events.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(10), first.next())
            .await
            .expect("a record within 10 s")
            .unwrap()
            .expect("not stopped yet");
        events.push(event);
    }
    let seen: Vec<_> = events.iter().map(who).collect();
    assert_eq!(
        seen,
        [Some("obama".to_owned()), None, Some("biden".to_owned())]
    );
    let WatchEvent::Skipped(bad) = &events[1] else {
        unreachable!()
    };
    assert!(
        bad.to_string().contains("is not a Rekognition record"),
        "{bad}"
    );
    let expected = {
        let mut s = WatchStats::default();
        s.records = 2;
        s.matches = 2;
        s.skipped = 1;
        s
    };
    assert_eq!(first.stats(), expected);

    // The last record counts as handled once the next one is asked for: the file names the
    // one before it until then.
    let before_last = Checkpoint::load(&checkpoint).unwrap().unwrap();
    assert_ne!(&before_last, first.checkpoint());
    stop.send(()).unwrap();
    assert!(
        first.next().await.unwrap().is_none(),
        "stopped by the signal"
    );
    assert!(first.next().await.unwrap().is_none(), "and stays stopped");
    assert_eq!(
        Checkpoint::load(&checkpoint).unwrap().as_ref(),
        Some(first.checkpoint()),
        "saved on stopping"
    );
    assert_eq!(first.close().unwrap(), expected);
    local.stop().await;

    // Restart: only what was written after the checkpoint, then the deadline stops it.
    local.restart().await;
    put(&config, "door-faces", record(2, 0, Some("harris"))).await;
    let opened = Instant::now();
    let mut second = watch(&checkpoint)
        .stop_after(Duration::from_secs(2))
        .open(&config)
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(10), second.next())
        .await
        .expect("the deadline stops the watch")
        .unwrap()
    {
        seen.push(who(&event));
    }
    assert!(opened.elapsed() >= Duration::from_secs(2));
    assert_eq!(seen, [Some("harris".to_owned())], "nothing old");
    assert_eq!(second.close().unwrap().records, 1);

    // And a third run finds nothing left: next_matches stops at the deadline with none.
    let mut third = watch(&checkpoint)
        .stop_after(Duration::from_millis(500))
        .open(&config)
        .await
        .unwrap();
    assert!(third.next_matches().await.unwrap().is_none());
    assert_eq!(third.close().unwrap(), WatchStats::default());
}

#[tokio::test]
async fn next_matches_passes_over_frames_without_a_match_and_bad_records() {
    let local = LocalKvs::start().await;
    let config = local.config();
    DataStreams::new(config)
        .ensure(STREAM, 1, Duration::from_secs(10))
        .await
        .unwrap();
    put(config, "door-faces", record(1, 0, None)).await;
    put(config, "door-faces", b"{}".to_vec()).await;
    put(config, "door-faces", record(1, 1, Some("obama"))).await;
    let mut watch = Watch::builder(STREAM)
        .from(StartPosition::TrimHorizon)
        .poll_interval(Duration::from_millis(50), Duration::from_millis(200))
        .open(config)
        .await
        .unwrap();
    let (record, matches) = tokio::time::timeout(Duration::from_secs(10), watch.next_matches())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0].who(), "obama");
    assert_eq!(record.matches(), matches);
    let stats = watch.close().unwrap();
    assert_eq!((stats.records, stats.matches, stats.skipped), (2, 1, 1));
}
