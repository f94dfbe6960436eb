//! Face search end to end on a kvs-local process: a face indexed from one photo is found in a
//! video made from another photo of the same person, streamed with `kvs put`; videos of
//! another person and without a face match nothing; every record names a stored fragment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use kvs_e2e::{ServerProcess, json, ok};
use serde_json::Value;

/// The lowest similarity that counts as a match in this test (Rekognition's default).
const THRESHOLD: f64 = 80.0;

fn json_lines(out: Output) -> Vec<Value> {
    String::from_utf8(ok(out).stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The test photos `scripts/fetch-models` installs next to the face models.
fn photos() -> PathBuf {
    let dir = kvs_faces::FaceEngine::default_models_dir().join("test-images");
    assert!(
        dir.join("obama.jpg").exists(),
        "{} has no test photos: run scripts/fetch-models (make test does)",
        dir.display()
    );
    dir
}

/// A 3 s, 30 fps H.264 Matroska video of a still photo scaled to `size`, a key frame a second.
fn video_of_photo(photo: &Path, size: (u32, u32), out: &Path) {
    kvs_testkit::video_of_photo(photo, size, 90, out);
}

/// The same without a face: a test pattern.
fn video_without_face(out: &Path) {
    kvs_testkit::gst_launch(&format!(
        "videotestsrc num-buffers=90 ! video/x-raw,format=I420,framerate=30/1,width=320,height=240 \
         ! x264enc key-int-max=30 tune=zerolatency ! h264parse ! matroskamux \
         ! filesink location={}",
        out.display()
    ));
}

/// Every record on the data stream, grouped by the video stream (name) it analysed.
fn records_by_stream(server: &ServerProcess, d: &Path) -> BTreeMap<String, Vec<Value>> {
    let records = json_lines(
        server
            .kvs(d)
            .args([
                "faces",
                "watch",
                "--data-stream",
                "kvs-ml",
                "--from",
                "trim-horizon",
                "--records",
                "--duration",
                "2s",
            ])
            .output()
            .unwrap(),
    );
    let mut by_stream: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in records {
        let arn = r["InputInformation"]["KinesisVideo"]["StreamArn"]
            .as_str()
            .unwrap()
            .to_owned();
        let name = arn.split('/').nth(1).unwrap().to_owned();
        by_stream.entry(name).or_default().push(r);
    }
    by_stream
}

fn fragment_of(record: &Value) -> String {
    record["InputInformation"]["KinesisVideo"]["FragmentNumber"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_face_indexed_from_one_photo_is_found_in_a_video_of_another_photo_of_the_same_person() {
    let started = Instant::now();
    let scratch = tempfile::tempdir().unwrap();
    let d = scratch.path();
    let photos = photos();
    let faces = d.join("faces");
    std::fs::create_dir(&faces).unwrap();
    std::fs::copy(photos.join("obama.jpg"), faces.join("obama.jpg")).unwrap();
    let videos = [
        ("cam-obama", d.join("obama2.mkv")),
        ("cam-biden", d.join("biden.mkv")),
        ("cam-pattern", d.join("pattern.mkv")),
    ];
    video_of_photo(&photos.join("obama2.jpg"), (416, 800), &videos[0].1);
    video_of_photo(&photos.join("biden.jpg"), (352, 800), &videos[1].1);
    video_without_face(&videos[2].1);
    let server = ServerProcess::start(&d.join("data"), d);

    // One processor through a pipeline file (which also indexes the faces folder)...
    let config = d.join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            "collection = \"faces\"\nfaces_dir = \"faces\"\nvideo_stream = \"cam-obama\"\n\
             data_stream = \"kvs-ml\"\nprocessor = \"p-obama\"\nthreshold = {THRESHOLD}\n"
        ),
    )
    .unwrap();
    let up = json(
        server
            .kvs(d)
            .args(["faces", "pipeline", "up", "--config"])
            .arg(&config)
            .output()
            .unwrap(),
    );
    assert_eq!(up["Indexed"][0]["ExternalImageId"], "obama", "{up}");
    assert_eq!(up["Indexed"][0]["Status"], "INDEXED", "{up}");
    assert_eq!(up["Processor"]["Status"], "RUNNING", "{up}");
    assert_eq!(up["ProcessorAction"], "CREATED", "{up}");
    let again = json(
        server
            .kvs(d)
            .args(["faces", "pipeline", "up", "--config"])
            .arg(&config)
            .output()
            .unwrap(),
    );
    assert_eq!(again["Indexed"][0]["Status"], "ALREADY_INDEXED", "{again}");
    assert_eq!(again["ProcessorAction"], "ALREADY_RUNNING", "{again}");
    assert_eq!(again["Collection"]["FaceCount"], 1, "{again}");

    // ... and two with the processor commands.
    for (stream, processor) in [("cam-biden", "p-biden"), ("cam-pattern", "p-pattern")] {
        ok(server
            .kvs(d)
            .args(["stream", "create", stream, "--retention", "1h"])
            .output()
            .unwrap());
        let created = json(
            server
                .kvs(d)
                .args(["faces", "processor", "create", processor])
                .args(["--video-stream", stream, "--data-stream", "kvs-ml"])
                .args([
                    "--collection",
                    "faces",
                    "--threshold",
                    &THRESHOLD.to_string(),
                ])
                .output()
                .unwrap(),
        );
        assert!(
            created["StreamProcessorArn"]
                .as_str()
                .unwrap()
                .ends_with(processor),
            "{created}"
        );
        json(
            server
                .kvs(d)
                .args(["faces", "processor", "start", processor])
                .output()
                .unwrap(),
        );
    }
    let described = json(
        server
            .kvs(d)
            .args(["faces", "processor", "describe", "p-biden"])
            .output()
            .unwrap(),
    );
    assert_eq!(described["Status"], "RUNNING", "{described}");
    assert_eq!(
        described["Settings"]["FaceSearch"]["CollectionId"], "faces",
        "{described}"
    );

    // Processors start at NOW: stream after they run.
    for (stream, file) in &videos {
        let put = json(
            server
                .kvs(d)
                .args(["put", "--stream", stream, "--file"])
                .arg(file)
                .output()
                .unwrap(),
        );
        assert_eq!(put["Fragments"], put["Persisted"], "{put}");
    }
    let fragments: BTreeMap<&str, Vec<String>> = videos
        .iter()
        .map(|(stream, _)| {
            let listed = json(
                server
                    .kvs(d)
                    .args(["fragments", "--stream", stream, "--last", "1h"])
                    .output()
                    .unwrap(),
            );
            let mut list: Vec<(f64, String)> = listed["Fragments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    (
                        f["ProducerTimestamp"].as_f64().unwrap(),
                        f["FragmentNumber"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            list.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(list.len() >= 3, "3 s with a key frame a second: {listed}");
            (*stream, list.into_iter().map(|(_, n)| n).collect())
        })
        .collect();

    // Processors analyse fragments in order: once a record names a stream's last fragment,
    // every earlier one has its records.
    let deadline = Instant::now() + Duration::from_secs(45);
    let records = loop {
        let records = records_by_stream(&server, d);
        let done = fragments.iter().all(|(stream, list)| {
            let last = list.last().unwrap();
            records
                .get(*stream)
                .is_some_and(|rs| rs.iter().any(|r| fragment_of(r) == *last))
        });
        if done {
            break records;
        }
        assert!(
            Instant::now() < deadline,
            "the processors did not reach the last fragments in time: {:?}",
            records
                .iter()
                .map(|(s, rs)| (s, rs.len()))
                .collect::<Vec<_>>()
        );
    };

    for (stream, list) in &fragments {
        let rs = &records[*stream];
        let stored: BTreeSet<&String> = list.iter().collect();
        let analysed: BTreeSet<String> = rs.iter().map(fragment_of).collect();
        for f in &analysed {
            assert!(
                stored.contains(f),
                "{stream}: record names fragment {f}, not listed"
            );
        }
        assert_eq!(
            analysed.len(),
            stored.len(),
            "{stream}: every fragment analysed"
        );
    }
    let matches_of = |stream: &str| -> Vec<(String, f64)> {
        records[stream]
            .iter()
            .flat_map(|r| r["FaceSearchResponse"].as_array().unwrap().clone())
            .flat_map(|f| f["MatchedFaces"].as_array().unwrap().clone())
            .map(|m| {
                (
                    m["Face"]["ExternalImageId"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                    m["Similarity"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let obama = matches_of("cam-obama");
    assert!(
        obama
            .iter()
            .any(|(who, s)| who == "obama" && *s >= THRESHOLD),
        "{obama:?}"
    );
    assert!(obama.iter().all(|(who, _)| who == "obama"), "{obama:?}");
    let faces_seen = |stream: &str| -> usize {
        records[stream]
            .iter()
            .map(|r| r["FaceSearchResponse"].as_array().unwrap().len())
            .sum()
    };
    assert!(faces_seen("cam-biden") > 0, "Biden's face is detected");
    assert_eq!(
        matches_of("cam-biden"),
        [],
        "another person matches nothing"
    );
    assert_eq!(faces_seen("cam-pattern"), 0, "a test pattern has no face");

    // `watch` prints matches (JSON lines), saves their frames, and resumes from a checkpoint.
    let frames = d.join("frames");
    let checkpoint = d.join("watch.checkpoint");
    let watch = |extra: &[&str]| {
        server
            .kvs(d)
            .args([
                "faces",
                "watch",
                "--data-stream",
                "kvs-ml",
                "--from",
                "trim-horizon",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let first = json_lines(watch(&[
        "--max",
        "1",
        "--duration",
        "10s",
        "--frames",
        frames.to_str().unwrap(),
    ]));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["ExternalImageId"], "obama", "{}", first[0]);
    assert!(first[0]["Similarity"].as_f64().unwrap() >= THRESHOLD);
    assert!(
        fragments["cam-obama"].contains(&first[0]["FragmentNumber"].as_str().unwrap().to_owned())
    );
    let saved: Vec<_> = std::fs::read_dir(&frames).unwrap().collect();
    assert_eq!(saved.len(), 1, "the match's frame as a JPEG");
    let table = ok(server
        .kvs(d)
        .args([
            "--output",
            "table",
            "faces",
            "watch",
            "--data-stream",
            "kvs-ml",
        ])
        .args(["--from", "trim-horizon", "--duration", "1s"])
        .output()
        .unwrap());
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.lines().count() >= 1 && table.lines().all(|l| l.contains("  obama  ")),
        "{table}"
    );
    let checkpoint_arg = ["--checkpoint", checkpoint.to_str().unwrap()];
    let all = json_lines(watch(
        &[&["--records", "--duration", "2s"][..], &checkpoint_arg[..]].concat(),
    ));
    assert_eq!(all.len(), records.values().map(Vec::len).sum::<usize>());
    let rest = json_lines(watch(
        &[&["--records", "--duration", "1s"][..], &checkpoint_arg[..]].concat(),
    ));
    assert!(rest.is_empty(), "resumed after the checkpoint: {rest:?}");

    // Down: the processor goes, the collection and the records stay.
    let down = json(
        server
            .kvs(d)
            .args(["faces", "pipeline", "down", "--config"])
            .arg(&config)
            .output()
            .unwrap(),
    );
    assert_eq!(down["ProcessorStopped"], true, "{down}");
    assert_eq!(down["ProcessorDeleted"], true, "{down}");
    let listed = json(
        server
            .kvs(d)
            .args(["faces", "processor", "list"])
            .output()
            .unwrap(),
    );
    let names: Vec<&str> = listed["StreamProcessors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p-biden", "p-pattern"]);
    let collection = json(
        server
            .kvs(d)
            .args(["faces", "collection", "describe", "faces"])
            .output()
            .unwrap(),
    );
    assert_eq!(collection["FaceCount"], 1, "{collection}");
    eprintln!("face search end to end: {:.1?}", started.elapsed());
}
