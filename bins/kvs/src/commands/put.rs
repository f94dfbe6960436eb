use std::time::Duration;

use anyhow::{Context as _, bail};
use kvs_control::{ControlPlane, StreamSpec};
use kvs_endpoint::KvsConfig;
use kvs_gst::{MediaSource, Source, SourceOptions, TestPattern};
use kvs_media::{OverflowPolicy, Producer, ProducerConfig, ProducerEvent, Storage, UploadOptions};
use kvs_types::{StreamRef, parse_duration};
use serde_json::json;

use crate::cli::{OutputFormat, Overflow, PutArgs, SourceArgs};
use crate::output;

/// The GStreamer source the arguments name.
pub(crate) fn source(args: &SourceArgs) -> anyhow::Result<Source> {
    if let Some(f) = &args.file {
        return Ok(Source::File(f.clone()));
    }
    if let Some(url) = &args.rtsp {
        return Ok(Source::rtsp(url.clone()));
    }
    if let Some(d) = &args.device {
        return Ok(Source::Device(d.clone()));
    }
    let (w, h) = args
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .with_context(|| format!("--size {:?} must be WIDTHxHEIGHT, e.g. 1280x720", args.size))?;
    Ok(Source::TestPattern(TestPattern {
        width: w,
        height: h,
        fps: args.fps,
        bitrate_kbps: args.bitrate_kbps,
        audio: args.audio,
        // The upload stops at --duration; an endless pattern keeps a live feel until then.
        duration: None,
    }))
}

pub(crate) async fn run(
    config: &KvsConfig,
    format: OutputFormat,
    args: PutArgs,
) -> anyhow::Result<()> {
    let stream = StreamRef::parse(&args.stream)?;
    let duration = args.duration.as_deref().map(parse_duration).transpose()?;
    let fragment_duration = parse_duration(&args.fragment_duration)?;
    let ack_timeout = parse_duration(&args.ack_timeout)?;
    let storage: Storage = args
        .buffer
        .parse()
        .map_err(|e| anyhow::anyhow!("--buffer: {e}"))?;
    let src = source(&args.source)?;
    if args.create {
        let StreamRef::Name(name) = &stream else {
            bail!("--create needs a stream name, not an ARN");
        };
        ControlPlane::new(config)
            .ensure_stream(&StreamSpec::new(name.clone()).retention(args.retention))
            .await?;
    }
    let realtime = match (&src, args.offline, args.realtime) {
        (Source::File(_), false, false) => false,
        (_, offline, _) => !offline,
    };
    if args.offline && src.is_live() {
        bail!("--offline applies to files; {src} is live");
    }

    // Opening a GStreamer pipeline blocks (it waits for the tracks): keep it off the runtime.
    let opened = {
        let src = src.clone();
        tokio::task::spawn_blocking(move || {
            MediaSource::open(&src, SourceOptions::realtime(realtime))
        })
        .await?
    };
    let media = opened.with_context(|| format!("cannot open {src}"))?;
    let tracks = media.tracks().to_vec();
    eprintln!(
        "kvs: streaming {src} ({}) into {stream}",
        tracks
            .iter()
            .map(|t| t.codec_id.as_str())
            .collect::<Vec<_>>()
            .join(" + ")
    );

    let mut producer_config = ProducerConfig::default();
    producer_config.storage = storage;
    producer_config.overflow = match args.overflow {
        Overflow::DropOldest => OverflowPolicy::DropOldest,
        Overflow::Block => OverflowPolicy::Block,
    };
    producer_config.fragments.fragment_duration = fragment_duration;
    let producer = Producer::builder(config, stream.clone())
        .tracks(tracks)
        .options(producer_config)
        .start()?;

    let mut events = producer.events();
    let warnings = tokio::spawn(async move {
        while let Ok(e) = events.recv().await {
            match e {
                ProducerEvent::Dropped {
                    fragments,
                    bytes,
                    reason,
                } => {
                    eprintln!("kvs: dropped {fragments} fragment(s), {bytes} bytes: {reason}");
                }
                ProducerEvent::TimestampsRepaired { track, shift_ns } => {
                    eprintln!(
                        "kvs: track {track} went back in time; later frames shifted by {} ms",
                        shift_ns / 1_000_000
                    );
                }
                ProducerEvent::Reconnecting { error, delay } => {
                    eprintln!("kvs: {error}; reconnecting in {delay:?}");
                }
                _ => {}
            }
        }
    });

    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let started = std::time::Instant::now();
    let progress =
        {
            let bar = bar.clone();
            let producer = &producer;
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    let s = producer.stats();
                    let secs = started.elapsed().as_secs_f64().max(0.001);
                    bar.set_message(format!(
                    "{} frames, fragments {} sent / {} persisted, {:.1} Mbit/s, buffer {:.1} MB{}",
                    s.frames,
                    s.fragments,
                    s.persisted,
                    s.bytes_sent as f64 * 8.0 / secs / 1e6,
                    s.buffered_bytes as f64 / 1e6,
                    if s.dropped > 0 { format!(", {} dropped", s.dropped) } else { String::new() }
                ));
                }
            }
        };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let options = match (realtime, media.duration()) {
        (false, Some(length)) => UploadOptions::ending_now(length, duration),
        _ => UploadOptions::live(duration),
    };
    let mut media = media;
    let upload = kvs_media::upload(move || media.next_frame(), &producer, options, stop);
    let summary = tokio::select! {
        r = upload => r?,
        () = progress => unreachable!("the progress loop never ends"),
    };
    if summary.interrupted {
        eprintln!("kvs: interrupted; waiting for the buffered fragments to be acknowledged");
    }
    bar.set_message("waiting for the last acknowledgements");
    let finished = producer.finish(ack_timeout).await;
    bar.finish_and_clear();
    warnings.abort();
    let stats = finished?;
    output::print(
        format,
        &json!({
            "Stream": stream.to_string(),
            "Frames": stats.frames,
            "MediaSeconds": summary.media.as_secs_f64(),
            "Fragments": stats.fragments,
            "Persisted": stats.persisted,
            "BytesSent": stats.bytes_sent,
            "Dropped": stats.dropped,
            "Errors": stats.errors,
            "Reconnects": stats.reconnects,
        }),
    );
    Ok(())
}
