use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kvs_archive::ArchiveError;
use kvs_testkit::net::{CutAfter, CutProxy};

use crate::support::{Recording, archive, listing};

/// Body bytes passed on before the cut: a fraction of the 10 s clip (about 50 kB).
const CUT: u64 = 20_000;

#[tokio::test]
async fn a_download_cut_mid_body_is_interrupted_and_leaves_no_file() {
    let rec = Recording::new(10).await;
    let proxy = CutProxy::start(rec.local.addr(), CutAfter::close("/getClip", CUT)).await;
    let client = archive(&rec.local.config_via(proxy.url()).await);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let mut received = 0;
    let err = client
        .clip(&rec.stream, rec.range(0.0, 10.0))
        .progress(|bytes, _| received = bytes)
        .to_file(&path)
        .await
        .unwrap_err();

    let report = proxy.report();
    assert!(report.cut, "{report:?}");
    assert!(
        report
            .requests
            .iter()
            .any(|r| r.starts_with("POST /getClip ")),
        "GetClip went through the proxy: {report:?}"
    );
    let full = report.cut_content_length.expect("GetClip has a length");
    assert!(
        full > 2 * CUT,
        "the clip ({full} bytes) is cut in the middle"
    );
    match &err {
        &ArchiveError::Interrupted { bytes, ref reason } => {
            assert!(bytes <= CUT, "{err}");
            assert_eq!(bytes, received, "progress saw every byte written");
            assert!(!reason.is_empty());
        }
        other => panic!("not an interruption: {other:?}"),
    }
    assert!(!path.exists(), "nothing under the target name");
    assert_eq!(
        listing(dir.path()),
        Vec::<String>::new(),
        "no temporary file either"
    );

    // The same download without the cut completes.
    client
        .clip(&rec.stream, rec.range(0.0, 10.0))
        .to_file(&path)
        .await
        .unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), full);
}

#[tokio::test]
async fn an_abandoned_download_leaves_no_file() {
    let rec = Recording::new(10).await;
    let proxy = CutProxy::start(rec.local.addr(), CutAfter::stall("/getClip", CUT)).await;
    let client = archive(&rec.local.config_via(proxy.url()).await);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let received = Arc::new(AtomicU64::new(0));
    let download = client
        .clip(&rec.stream, rec.range(0.0, 10.0))
        .progress({
            let received = received.clone();
            move |bytes, _| received.store(bytes, Ordering::SeqCst)
        })
        .to_file(&path);
    // Wait until everything before the stall is on disk, then give up on the download (as
    // a timeout or Ctrl-C would) by dropping it.
    let stalled = async {
        proxy.cut().await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while received.load(Ordering::SeqCst) < CUT {
            assert!(
                Instant::now() < deadline,
                "the bytes before the stall never arrived"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        result = download => panic!("the download ended despite the stall: {result:?}"),
        () = stalled => {}
    }
    assert!(!path.exists(), "nothing under the target name");
    assert_eq!(
        listing(dir.path()),
        Vec::<String>::new(),
        "the partial download is removed when abandoned"
    );
}
