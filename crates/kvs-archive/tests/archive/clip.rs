use std::time::Duration;

use kvs_archive::{ArchiveError, Clock};
use kvs_endpoint::ErrorKind;
use kvs_testkit::probe_video;
use kvs_types::TimeRange;

use crate::support::{FPS, Recording, listing};

#[tokio::test]
async fn a_clip_holds_the_fragments_of_its_range_and_plays() {
    let rec = Recording::new(10).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let mut reports = Vec::new();
    // 2.5 s to 5.5 s overlaps the fragments starting at 2, 3, 4 and 5 s: whole fragments
    // come back, as from KVS.
    let summary = rec
        .archive()
        .clip(&rec.stream, rec.range(2.5, 5.5))
        .progress(|bytes, total| reports.push((bytes, total)))
        .to_file(&path)
        .await
        .unwrap();
    assert_eq!(summary.path, path);
    assert_eq!(summary.bytes, std::fs::metadata(&path).unwrap().len());
    let &(last, total) = reports.last().expect("progress was reported");
    assert_eq!(last, summary.bytes);
    assert!(reports.windows(2).all(|w| w[0].0 < w[1].0), "{reports:?}");
    if let Some(total) = total {
        assert_eq!(total, summary.bytes);
    }
    assert_eq!(
        listing(dir.path()),
        ["clip.mp4"],
        "no temporary file is left"
    );

    let probe = probe_video(&path);
    assert_eq!(probe.codec, "h264");
    assert_eq!((probe.width, probe.height), (64, 48));
    assert_eq!(probe.frames, 4 * FPS, "{}", probe.json);
    assert!(
        (probe.duration - 4.0).abs() <= 0.15,
        "duration {} s, not about 4 s: {}",
        probe.duration,
        probe.json
    );
}

#[tokio::test]
async fn a_server_clock_range_finds_what_arrived_in_it() {
    let rec = Recording::new(6).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arrived.mp4");
    let (before, after) = rec.uploaded;
    let range = TimeRange::between(
        before - Duration::from_secs(1),
        after + Duration::from_secs(1),
    )
    .unwrap();
    rec.archive()
        .clip(&rec.stream, range)
        .clock(Clock::Server)
        .to_file(&path)
        .await
        .unwrap();
    assert_eq!(probe_video(&path).frames, 6 * FPS);

    // The producer clock an hour earlier holds nothing: a typed service error, no file.
    let empty = dir.path().join("empty.mp4");
    let an_hour_earlier = TimeRange::between(
        rec.at(0.0) - Duration::from_secs(3600),
        rec.at(0.0) - Duration::from_secs(3000),
    )
    .unwrap();
    let err = rec
        .archive()
        .clip(&rec.stream, an_hour_earlier)
        .clock(Clock::Producer)
        .to_file(&empty)
        .await
        .unwrap_err();
    match &err {
        ArchiveError::Service { operation, source } => {
            assert_eq!(*operation, "GetClip");
            assert_eq!(source.kind(), ErrorKind::NotFound, "{err}");
        }
        other => panic!("not a service error: {other:?}"),
    }
    assert_eq!(listing(dir.path()), ["arrived.mp4"]);
}

#[tokio::test]
async fn an_existing_file_is_replaced_only_when_asked() {
    let rec = Recording::new(3).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keep.mp4");
    std::fs::write(&path, b"precious").unwrap();
    let archive = rec.archive();
    let range = rec.range(0.0, 3.0);

    let err = archive
        .clip(&rec.stream, range)
        .progress(|_, _| panic!("nothing is downloaded"))
        .to_file(&path)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Exists(p) if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains("keep.mp4"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    assert_eq!(listing(dir.path()), ["keep.mp4"]);

    archive
        .clip(&rec.stream, range)
        .overwrite(true)
        .to_file(&path)
        .await
        .unwrap();
    assert_eq!(probe_video(&path).frames, 3 * FPS);
    assert_eq!(listing(dir.path()), ["keep.mp4"]);
}
