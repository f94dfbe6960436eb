//! `kvs faces watch`: matches (or every record) from a processor's data stream, live.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use kvs_archive::{ArchiveClient, StillFormat};
use kvs_endpoint::{EndpointResolver, KvsConfig};
use kvs_rekognition::{Checkpoint, FaceMatch, ReadRecord, RecordReader, StartPosition};
use kvs_types::{Arn, parse_duration, rfc3339};

use crate::cli::{OutputFormat, ReadFrom, WatchArgs};

pub(crate) async fn run(
    config: &KvsConfig,
    format: OutputFormat,
    args: WatchArgs,
) -> anyhow::Result<()> {
    let duration = args.duration.as_deref().map(parse_duration).transpose()?;
    let saved = match &args.checkpoint {
        Some(path) => Checkpoint::load(path)?,
        None => None,
    };
    let start = match (saved, args.from) {
        (Some(c), _) => StartPosition::After(c),
        (None, ReadFrom::Latest) => StartPosition::Latest,
        (None, ReadFrom::TrimHorizon) => StartPosition::TrimHorizon,
    };
    let mut reader = RecordReader::open(config, &args.data_stream, start).await?;
    let archive = args
        .frames
        .as_ref()
        .map(|dir| {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))
                .map(|()| ArchiveClient::new(config, Arc::new(EndpointResolver::new(config))))
        })
        .transpose()?;

    let deadline = duration.map(|d| tokio::time::Instant::now() + d);
    let until_deadline = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until_deadline);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    let (mut records, mut matches) = (0u64, 0u64);
    loop {
        let got = tokio::select! {
            got = reader.next() => got,
            () = &mut until_deadline => break,
            _ = &mut ctrl_c => break,
        };
        let record = match got {
            Ok(r) => r,
            Err(e) if e.is_per_record() => {
                eprintln!("kvs: skipping a record: {e}");
                save(&args.checkpoint, reader.checkpoint())?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        records += 1;
        let found = record.matches();
        matches += found.len() as u64;
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
        save(&args.checkpoint, reader.checkpoint())?;
        let count = if args.records { records } else { matches };
        if args.max.is_some_and(|max| count >= max) {
            break;
        }
    }
    eprintln!(
        "kvs: {records} records, {matches} matches from {}",
        args.data_stream
    );
    Ok(())
}

fn save(path: &Option<std::path::PathBuf>, checkpoint: &Checkpoint) -> anyhow::Result<()> {
    if let Some(path) = path {
        checkpoint.save(path)?;
    }
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
