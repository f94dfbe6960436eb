//! `kvs faces watch`: matches (or every record) from a processor's data stream, live.

use std::path::Path;

use anyhow::Context as _;
use kvs_archive::{ArchiveClient, StillFormat};
use kvs_endpoint::KvsConfig;
use kvs_rekognition::{FaceMatch, ReadRecord, StartPosition, Watch, WatchEvent};
use kvs_types::{Arn, parse_duration, rfc3339};

use crate::cli::{OutputFormat, ReadFrom, WatchArgs};

pub(crate) async fn run(
    config: &KvsConfig,
    format: OutputFormat,
    args: WatchArgs,
) -> anyhow::Result<()> {
    let mut builder = Watch::builder(&args.data_stream)
        .from(match args.from {
            ReadFrom::Latest => StartPosition::Latest,
            ReadFrom::TrimHorizon => StartPosition::TrimHorizon,
        })
        .stop_when(async {
            let _ = tokio::signal::ctrl_c().await;
        });
    if let Some(d) = args.duration.as_deref() {
        builder = builder.stop_after(parse_duration(d)?);
    }
    if let Some(path) = &args.checkpoint {
        builder = builder.checkpoint_file(path);
    }
    let archive = args
        .frames
        .as_ref()
        .map(|dir| {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))
                .map(|()| ArchiveClient::new(config))
        })
        .transpose()?;
    let mut watch = builder.open(config).await?;

    while let Some(event) = watch.next().await? {
        let record = match event {
            WatchEvent::Record(r) => r,
            WatchEvent::Skipped(bad) => {
                eprintln!("kvs: skipping a record: {bad}");
                continue;
            }
            _ => continue,
        };
        let found = record.matches();
        if args.records {
            print_record(format, &record)?;
        } else {
            for m in &found {
                print_match(format, m)?;
            }
        }
        // One picture per frame, named after its best match.
        let best = found
            .iter()
            .max_by(|a, b| a.similarity.total_cmp(&b.similarity));
        if let (Some(archive), Some(dir), Some(best)) = (&archive, &args.frames, best) {
            save_frame(archive, dir, best).await;
        }
        let stats = watch.stats();
        let count = if args.records {
            stats.records
        } else {
            stats.matches
        };
        if args.max.is_some_and(|max| count >= max) {
            break;
        }
    }
    let stats = watch.close()?;
    eprintln!(
        "kvs: {} records, {} matches from {}",
        stats.records, stats.matches, args.data_stream
    );
    Ok(())
}

/// The stream's name out of its ARN, for people.
fn stream_name(arn: &str) -> String {
    Arn::parse(arn).map_or_else(|_| arn.to_owned(), |a| a.resource_name().to_owned())
}

fn print_match(format: OutputFormat, m: &FaceMatch) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string(m)?),
        OutputFormat::Table => println!(
            "{}  {}  {:.1}%  {}  fragment {} +{:.1}s",
            rfc3339(m.frame_time()),
            m.who(),
            m.similarity,
            stream_name(&m.stream_arn),
            m.fragment_number,
            m.frame_offset,
        ),
    }
    Ok(())
}

fn print_record(format: OutputFormat, r: &ReadRecord) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string(&r.record)?),
        OutputFormat::Table => {
            let Some(video) = r.record.kinesis_video() else {
                return Ok(());
            };
            let at = video.frame_time();
            let who: Vec<String> = r
                .matches()
                .iter()
                .map(|m| format!("{} {:.1}%", m.who(), m.similarity))
                .collect();
            println!(
                "{}  {}  fragment {} +{:.1}s  {} face(s)  {}",
                rfc3339(at),
                stream_name(&video.stream_arn),
                video.fragment_number,
                video.frame_offset_in_seconds,
                r.record.face_search_response.len(),
                if who.is_empty() {
                    "no match".to_owned()
                } else {
                    who.join(", ")
                },
            );
        }
    }
    Ok(())
}

async fn save_frame(archive: &ArchiveClient, dir: &Path, m: &FaceMatch) {
    let name = format!(
        "{}_{}.jpg",
        m.who(),
        rfc3339(m.frame_time()).replace(':', "-")
    );
    let path = dir.join(name);
    match kvs_rekognition::frame_image(archive, m, StillFormat::Jpeg(90)).await {
        Ok(bytes) => match std::fs::write(&path, bytes) {
            Ok(()) => eprintln!("kvs: saved {}", path.display()),
            Err(e) => eprintln!("kvs: cannot write {}: {e}", path.display()),
        },
        Err(e) => eprintln!("kvs: no frame for {}: {e}", m.who()),
    }
}
