//! `kvs webrtc master|viewer`: a KVS WebRTC master fed by a GStreamer source, or a viewer
//! that prints statistics and can record what it receives.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use kvs_control::{ChannelSpec, ControlPlane};
use kvs_endpoint::KvsConfig;
use kvs_types::{ChannelName, ChannelRef, parse_duration};
use kvs_webrtc::peer::{GstSource, IceConfig, MasterEvent, MkvRecorder, PeerStats};
use kvs_webrtc::session::{MasterSession, SessionOptions, ViewerSession};
use kvs_webrtc::signaling::ClientId;
use serde_json::{Value, json};

use crate::cli::{OutputFormat, WebrtcMasterArgs, WebrtcViewerArgs};
use crate::commands::put::source;
use crate::output;

fn options(relay_only: bool) -> SessionOptions {
    let mut c = SessionOptions::default();
    c.ice = IceConfig::default();
    c.relay_only = relay_only;
    c
}

async fn channel(config: &KvsConfig, name: &str, create: bool) -> anyhow::Result<ChannelRef> {
    let channel = ChannelRef::parse(name)?;
    if create {
        let ChannelRef::Name(n) = &channel else {
            anyhow::bail!("--create needs a channel name, not an ARN");
        };
        ControlPlane::new(config)
            .ensure_channel(&ChannelSpec::new(ChannelName::new(n.as_str())?))
            .await?;
    }
    Ok(channel)
}

fn stats_json(s: &PeerStats) -> Value {
    json!({
        "Connected": s.connected,
        "TimeToFirstFrameMs": s.time_to_first_frame.map(|d| d.as_secs_f64() * 1000.0),
        "Frames": s.frames,
        "KeyFrames": s.key_frames,
        "Bytes": s.bytes,
        "FramesPerSecond": (s.frames_per_second * 10.0).round() / 10.0,
        "BitrateBps": s.bitrate_bps.round(),
        "FramesDropped": s.frames_dropped,
        "PacketsLost": s.packets_lost,
        "RoundTripTimeMs": s.round_trip_time.map(|d| d.as_secs_f64() * 1000.0),
        "LocalCandidateType": s.local_candidate_type,
    })
}

/// Waits for Ctrl-C, or for `duration` when given.
async fn stop_signal(duration: Option<Duration>) {
    match duration {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

pub(crate) async fn master(
    config: &KvsConfig,
    format: OutputFormat,
    args: WebrtcMasterArgs,
) -> anyhow::Result<()> {
    let channel = channel(config, &args.channel, args.create).await?;
    let duration = args.duration.as_deref().map(parse_duration).transpose()?;
    let source = GstSource::open(source(&args.source)?)
        .await
        .context("cannot open the video source")?;
    let mut session =
        MasterSession::start(config, &channel, source.tracks(), options(args.relay_only)).await?;
    let mut feeding = source.start(session.frame_sink());
    eprintln!("kvs: master of {channel}: waiting for viewers (Ctrl-C to stop)");
    let stop = stop_signal(duration);
    tokio::pin!(stop);
    let mut served = Vec::new();
    loop {
        tokio::select! {
            event = session.next_event() => match event {
                Some(MasterEvent::ViewerConnected(id)) => {
                    eprintln!("kvs: viewer {id} connected");
                    served.push(id);
                }
                Some(MasterEvent::ViewerLeft(id)) => eprintln!("kvs: viewer {id} left"),
                Some(MasterEvent::SignalingError(s)) => {
                    eprintln!("kvs: signaling refused a message: {}", s.description.unwrap_or_default());
                }
                Some(_) => {}
                None => break,
            },
            done = &mut feeding => {
                match done {
                    Ok(Ok(frames)) => eprintln!("kvs: the source ended after {frames} frames"),
                    Ok(Err(e)) => eprintln!("kvs: the source failed: {e}"),
                    Err(e) => eprintln!("kvs: the source thread failed: {e}"),
                }
                break;
            }
            _ = &mut stop => break,
        }
    }
    let mut viewers = Vec::new();
    for id in session.master().viewers() {
        if let Ok(stats) = session.master().stats(&id).await {
            viewers.push(json!({ "ClientId": id.as_str(), "Stats": stats_json(&stats) }));
        }
    }
    session.close().await;
    output::print(
        format,
        &json!({ "ViewersServed": served.len(), "Viewers": viewers }),
    );
    Ok(())
}

pub(crate) async fn viewer(
    config: &KvsConfig,
    format: OutputFormat,
    args: WebrtcViewerArgs,
) -> anyhow::Result<()> {
    let channel = channel(config, &args.channel, false).await?;
    let duration = args.duration.as_deref().map(parse_duration).transpose()?;
    let client_id = match &args.client_id {
        Some(id) => ClientId::new(id.as_str())?,
        None => ClientId::random("kvs-viewer"),
    };
    let started = Instant::now();
    let (session, mut output) =
        ViewerSession::start(config, &channel, client_id, options(args.relay_only)).await?;
    eprintln!(
        "kvs: viewer {} of {channel}: connecting",
        session.client_id()
    );
    // Created at the first video frame, when the viewer knows its tracks.
    let mut recorder: Option<MkvRecorder> = None;
    let stop = stop_signal(duration);
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            frame = output.frames.recv() => match frame {
                Some(frame) => {
                    if let Some(path) = &args.record {
                        let ready = frame.track == 1 && frame.key;
                        let r = match &mut recorder {
                            Some(r) => Some(r),
                            None if ready => Some(
                                recorder.insert(MkvRecorder::create(path, session.viewer().tracks())?),
                            ),
                            None => None,
                        };
                        if let Some(r) = r {
                            r.write(frame)?;
                        }
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                let s = session.viewer().stats().await;
                eprint!(
                    "\rkvs: {:>5} frames, {:>5.1} fps, {:>7.0} kbit/s, {} lost   ",
                    s.frames, s.frames_per_second, s.bitrate_bps / 1000.0, s.packets_lost
                );
            }
            _ = &mut stop => break,
        }
    }
    eprintln!();
    let stats = session.viewer().stats().await;
    let client_id = session.client_id().as_str().to_owned();
    session.close().await;
    let mut out = json!({
        "ClientId": client_id,
        "Seconds": started.elapsed().as_secs_f64(),
        "Stats": stats_json(&stats),
    });
    if let (Some(r), Some(path)) = (recorder, &args.record) {
        let summary = r.finish()?;
        out["Recording"] = json!({
            "Path": path.display().to_string(),
            "Frames": summary.frames,
            "DurationSeconds": summary.duration.as_secs_f64(),
        });
    }
    output::print(format, &out);
    if stats.time_to_first_frame.is_none() {
        anyhow::bail!("no video arrived from the master of {channel}");
    }
    Ok(())
}
