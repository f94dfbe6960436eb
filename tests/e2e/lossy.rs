//! `kvs webrtc master` and `kvs webrtc viewer` on two hosts whose link drops UDP packets at
//! random (two network namespaces, kvs_testkit::lossy): NACK, retransmission and key frame
//! requests must keep the video decodable.

use std::collections::BTreeSet;
use std::process::Stdio;

use kvs_e2e::{ServerProcess, in_netns, json};
use kvs_testkit::lossy::{self, LossyLink, MASTER_IP};

/// The test pattern's frame rate.
const FPS: u64 = 30;
/// Media time skipped at the start of the recording: the master's start-up burst.
const WARM_UP_NS: u64 = 2_000_000_000;
const WINDOW_SECONDS: u64 = 20;

#[test]
fn a_viewer_decodes_nearly_every_frame_at_five_percent_loss_both_ways() {
    if let Some(reason) = lossy::unavailable() {
        // CI runs as root with the tools installed; a developer's unprivileged run cannot
        // make namespaces.
        assert!(
            reason.starts_with("not root"),
            "the lossy-network test cannot run: {reason}"
        );
        eprintln!("skipped: {reason}");
        return;
    }
    let link = LossyLink::create(5, 5).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let d = scratch.path();
    let server = ServerProcess::start_in_netns(
        link.master_ns(),
        &d.join("data"),
        d,
        &format!("{MASTER_IP}:0"),
    );
    let status = in_netns(
        link.master_ns(),
        server.kvs(d).args(["channel", "create", "lossy"]),
    )
    .output()
    .unwrap();
    assert!(status.status.success(), "{status:?}");

    let master = in_netns(
        link.master_ns(),
        server.kvs(d).args([
            "webrtc",
            "master",
            "--channel",
            "lossy",
            "--test-pattern",
            "--size",
            "640x480",
            "--duration",
            "60s",
        ]),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let _master = KillOnDrop(master);

    let recording = d.join("lossy.mkv");
    let viewer = json(
        in_netns(
            link.viewer_ns(),
            server
                .kvs(d)
                .args([
                    "webrtc",
                    "viewer",
                    "--channel",
                    "lossy",
                    // 22 s of media are needed; the rest is room for a slow start (a lost
                    // DTLS flight is resent after 1 s, then 2 s).
                    "--duration",
                    "30s",
                    "--record",
                ])
                .arg(&recording),
        )
        .output()
        .unwrap(),
    );
    let (m_sent, m_dropped) = link.from_master().unwrap();
    let (v_sent, v_dropped) = link.from_viewer().unwrap();
    println!(
        "master sent {m_sent} UDP packets, {m_dropped} dropped; viewer sent {v_sent}, {v_dropped} dropped; {viewer}"
    );
    assert!(
        m_dropped * 100 >= m_sent * 3,
        "the link dropped too little to test anything"
    );

    // Unique source frames in a 20 s window after the warm-up: every frame the viewer could
    // decode was recorded, once.
    let (_, frames) = kvs_testkit::video::read_mkv(&recording);
    let window = WARM_UP_NS..WARM_UP_NS + WINDOW_SECONDS * 1_000_000_000;
    let decodable: BTreeSet<u64> = frames
        .iter()
        .filter(|f| f.track == 1 && window.contains(&f.timestamp_ns))
        .map(|f| f.timestamp_ns)
        .collect();
    let expected = WINDOW_SECONDS * FPS;
    println!("{} of {expected} source frames decodable", decodable.len());
    assert!(
        decodable.len() as u64 * 100 >= expected * 97,
        "only {} of {expected} source frames were decodable at 5% loss both ways ({viewer})",
        decodable.len()
    );
    // And ffmpeg decodes the recording.
    let probe = kvs_testkit::ffprobe(&recording);
    assert_eq!(probe["streams"][0]["codec_name"], "h264", "{probe}");
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
