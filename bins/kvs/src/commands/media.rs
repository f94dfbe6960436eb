use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use kvs_endpoint::KvsConfig;
use kvs_media::{MediaClient, MkvFileWriter, TimestampKind};
use kvs_types::{StreamRef, TimeRange};
use serde_json::json;

use crate::cli::{
    ClipArgs, Clock, FragmentsArgs, GetMediaArgs, HlsUrlArgs, ImagesArgs, OutputFormat,
    StillFormatArg,
};
use crate::output;

fn spinner() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

pub(crate) async fn get_media(
    config: &KvsConfig,
    format: OutputFormat,
    args: GetMediaArgs,
) -> anyhow::Result<()> {
    let stream = StreamRef::parse(&args.stream)?;
    if args.output_file.exists() && !args.force {
        bail!(
            "{} exists; pass --force to replace it",
            args.output_file.display()
        );
    }
    let media = MediaClient::new(config);
    let mut reader = media.get_media(&stream, &args.start).await?;
    let file = std::fs::File::create(&args.output_file)
        .with_context(|| format!("cannot create {}", args.output_file.display()))?;
    let mut writer = MkvFileWriter::new(std::io::BufWriter::new(file));
    let bar = spinner();
    let (mut fragments, mut frames) = (0u64, 0u64);
    let mut last_token = None;
    while let Some(f) = reader.next_fragment().await? {
        writer.write_fragment(&f)?;
        fragments += 1;
        frames += f.frames.len() as u64;
        last_token = f.continuation_token.clone().or(last_token);
        bar.set_message(format!(
            "{fragments} fragments, {frames} frames, {:.1} MB",
            writer.bytes_written() as f64 / 1e6
        ));
        if args.max_fragments.is_some_and(|m| fragments >= m) {
            break;
        }
    }
    let bytes = writer.bytes_written();
    writer.finish()?;
    bar.finish_and_clear();
    if fragments == 0 {
        eprintln!(
            "kvs: no fragments from {} on; {} is empty",
            args.start,
            args.output_file.display()
        );
    }
    output::print(
        format,
        &json!({
            "File": args.output_file.display().to_string(),
            "Fragments": fragments,
            "Frames": frames,
            "Bytes": bytes,
            "ContinuationToken": last_token,
        }),
    );
    Ok(())
}

pub(crate) async fn fragments(
    config: &KvsConfig,
    format: OutputFormat,
    args: FragmentsArgs,
) -> anyhow::Result<()> {
    let stream = StreamRef::parse(&args.stream)?;
    let range = TimeRange::from_args(
        args.last.as_deref(),
        args.start.as_deref(),
        args.end.as_deref(),
        SystemTime::now(),
    )?;
    let clock = match args.clock {
        Clock::Producer => TimestampKind::Producer,
        Clock::Server => TimestampKind::Server,
    };
    let media = MediaClient::new(config);
    let list = media
        .list_fragments(&stream, Some((clock, range.start_secs(), range.end_secs())))
        .await?;
    output::print(format, &json!({ "Fragments": list }));
    Ok(())
}

pub(crate) async fn clip(
    config: &KvsConfig,
    format: OutputFormat,
    args: ClipArgs,
) -> anyhow::Result<()> {
    let stream = StreamRef::parse(&args.stream)?;
    let range = TimeRange::from_args(
        args.last.as_deref(),
        args.start.as_deref(),
        args.end.as_deref(),
        SystemTime::now(),
    )?;
    let clock = match args.clock {
        Clock::Producer => kvs_archive::Clock::Producer,
        Clock::Server => kvs_archive::Clock::Server,
    };
    let archive = kvs_archive::ArchiveClient::new(config);
    let bar = indicatif::ProgressBar::no_length();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {bytes_per_sec} [{elapsed}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let summary = archive
        .clip(&stream, range)
        .clock(clock)
        .overwrite(args.force)
        .progress(|done, total| {
            if let Some(t) = total {
                bar.set_length(t);
            }
            bar.set_position(done);
        })
        .to_file(&args.output_file)
        .await;
    bar.finish_and_clear();
    let summary = summary?;
    output::print(
        format,
        &json!({
            "File": summary.path.display().to_string(),
            "Bytes": summary.bytes,
            "Start": kvs_types::rfc3339(range.start()),
            "End": kvs_types::rfc3339(range.end()),
        }),
    );
    Ok(())
}

pub(crate) async fn session_url(
    config: &KvsConfig,
    format: OutputFormat,
    args: HlsUrlArgs,
    dash: bool,
) -> anyhow::Result<()> {
    use kvs_archive::{HlsOptions, PlaybackMode};
    let stream = StreamRef::parse(&args.stream)?;
    let mode = if args.on_demand {
        PlaybackMode::OnDemand
    } else if args.replay {
        PlaybackMode::LiveReplay
    } else {
        PlaybackMode::Live
    };
    let range = if args.last.is_some() || args.start.is_some() {
        Some(TimeRange::from_args(
            args.last.as_deref(),
            args.start.as_deref(),
            args.end.as_deref(),
            SystemTime::now(),
        )?)
    } else {
        None
    };
    if mode != PlaybackMode::Live && range.is_none() {
        bail!("--on-demand and --replay need --last or --start");
    }
    let mut options = HlsOptions::default();
    options.mode = mode;
    options.range = range;
    options.expires = args
        .expires
        .as_deref()
        .map(kvs_types::parse_duration)
        .transpose()?;
    let archive = kvs_archive::ArchiveClient::new(config);
    if dash && args.ts {
        bail!("--ts applies to HLS; DASH uses fragmented MP4");
    }
    if dash {
        let url = archive.dash_url(&stream, &options).await?;
        output::print(format, &json!({ "DASHStreamingSessionURL": url }));
    } else {
        let url = archive.hls_url(&stream, &options).await?;
        output::print(format, &json!({ "HLSStreamingSessionURL": url }));
    }
    Ok(())
}

pub(crate) async fn images(
    config: &KvsConfig,
    format: OutputFormat,
    args: ImagesArgs,
) -> anyhow::Result<()> {
    let stream = StreamRef::parse(&args.stream)?;
    let range = TimeRange::from_args(
        args.last.as_deref(),
        args.start.as_deref(),
        args.end.as_deref(),
        SystemTime::now(),
    )?;
    let every = kvs_types::parse_duration(&args.every)?;
    let (still, ext) = match args.format {
        StillFormatArg::Jpeg => (kvs_archive::StillFormat::Jpeg(80), "jpg"),
        StillFormatArg::Png => (kvs_archive::StillFormat::Png, "png"),
    };
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("cannot create {}", args.output_dir.display()))?;
    let archive = kvs_archive::ArchiveClient::new(config);
    let mut request = archive.images(&stream, range).every(every).format(still);
    if let Some(width) = args.width {
        request = request.width(width);
    }
    let stills = request.fetch().await?;
    let mut written = Vec::new();
    let mut missing = 0;
    for s in stills {
        match s.image {
            Ok(bytes) => {
                let name = kvs_types::rfc3339(s.timestamp).replace(':', "-");
                let path = args.output_dir.join(format!("{name}.{ext}"));
                std::fs::write(&path, bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                written.push(path.display().to_string());
            }
            Err(_) => missing += 1,
        }
    }
    output::print(format, &json!({ "Images": written, "Missing": missing }));
    Ok(())
}
