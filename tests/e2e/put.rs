use kvs_e2e::{ServerProcess, json};
use kvs_mkv::Frame;
use kvs_testkit::video::read_mkv;

/// (track, ms from the first frame, key, payload) per track, in stream order.
fn per_track(frames: &[Frame]) -> Vec<Vec<(u64, bool, Vec<u8>)>> {
    let start = frames.iter().map(|f| f.timestamp_ns).min().unwrap_or(0);
    [1u64, 2]
        .iter()
        .map(|t| {
            frames
                .iter()
                .filter(|f| f.track == *t)
                .map(|f| ((f.timestamp_ns - start) / 1_000_000, f.key, f.data.to_vec()))
                .collect()
        })
        .collect()
}

#[test]
fn kvs_put_file_offline_then_get_media_returns_every_frame() {
    let scratch = tempfile::tempdir().unwrap();
    let d = scratch.path();
    let input = d.join("input.mkv");
    kvs_testkit::make_mkv(&input, 4);
    let server = ServerProcess::start(&d.join("data"), d);

    let put = json(
        server
            .kvs(d)
            .args([
                "put",
                "--stream",
                "cam",
                "--create",
                "--retention",
                "2h",
                "--file",
            ])
            .arg(&input)
            .output()
            .unwrap(),
    );
    assert_eq!(put["Fragments"], 4, "{put}");
    assert_eq!(put["Persisted"], 4, "{put}");
    assert_eq!(put["Dropped"], 0);

    let out = d.join("out.mkv");
    let got = json(
        server
            .kvs(d)
            .args(["get-media", "--stream", "cam", "-o"])
            .arg(&out)
            .output()
            .unwrap(),
    );
    assert_eq!(got["Fragments"], 4);

    let probe = kvs_testkit::ffprobe(&out);
    let streams = probe["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2);
    assert!(
        streams
            .iter()
            .any(|s| s["codec_name"] == "h264" && s["nb_read_frames"] == "120"),
        "{probe}"
    );
    assert!(streams.iter().any(|s| s["codec_name"] == "aac"), "{probe}");

    let (in_tracks, in_frames) = read_mkv(&input);
    let (out_tracks, out_frames) = read_mkv(&out);
    assert_eq!(out_tracks.len(), 2);
    assert_eq!(
        out_tracks[0].codec_private, in_tracks[0].codec_private,
        "the AVCC record"
    );
    let want = per_track(&in_frames);
    let have = per_track(&out_frames);
    for (t, (w, h)) in want.iter().zip(&have).enumerate() {
        assert_eq!(h.len(), w.len(), "track {} frame count", t + 1);
        for (i, (a, b)) in w.iter().zip(h).enumerate() {
            assert_eq!(a.0, b.0, "track {} frame {i}: time", t + 1);
            // matroskamux leaves the key flag off audio blocks; every AAC frame is a key frame
            assert!(t == 1 || a.1 == b.1, "track {} frame {i}: key flag", t + 1);
            assert!(
                a.2 == b.2,
                "track {} frame {i}: payload bytes differ",
                t + 1
            );
        }
    }

    let listed = json(
        server
            .kvs(d)
            .args(["fragments", "--stream", "cam", "--last", "1h"])
            .output()
            .unwrap(),
    );
    assert_eq!(listed["Fragments"].as_array().unwrap().len(), 4);
}

#[test]
fn kvs_put_rtsp_for_10_seconds_reaches_kvs_local() {
    let scratch = tempfile::tempdir().unwrap();
    let d = scratch.path();
    let camera = kvs_testkit::RtspServer::test_pattern();
    let server = ServerProcess::start(&d.join("data"), d);
    let put = json(
        server
            .kvs(d)
            .args([
                "put",
                "--stream",
                "door",
                "--create",
                "--duration",
                "10s",
                "--rtsp",
                &camera.url(),
            ])
            .output()
            .unwrap(),
    );
    let persisted = put["Persisted"].as_u64().unwrap();
    assert!(persisted >= 9, "a key frame a second for 10 s: {put}");
    assert_eq!(put["Fragments"], put["Persisted"]);
    let frames = put["Frames"].as_u64().unwrap();
    // about 10 s at 15 fps; a loaded machine may encode a few frames fewer
    assert!((120..=152).contains(&frames), "about 10 s at 15 fps: {put}");

    let out = d.join("door.mkv");
    json(
        server
            .kvs(d)
            .args(["get-media", "--stream", "door", "-o"])
            .arg(&out)
            .output()
            .unwrap(),
    );
    let (_, got) = read_mkv(&out);
    assert_eq!(got.len() as u64, frames, "every frame the camera sent");
    assert!(got[0].key);
    let probe = kvs_testkit::ffprobe(&out);
    assert_eq!(probe["streams"][0]["codec_name"], "h264");
}
