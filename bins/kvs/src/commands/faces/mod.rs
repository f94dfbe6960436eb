//! `kvs faces`: collections, indexing, stream processors, watching matches, pipelines.

mod watch;

use anyhow::bail;
use kvs_endpoint::KvsConfig;
use kvs_rekognition::{
    FaceSearchPipeline, IndexOutcome, IndexStatus, PipelineConfig, ProcessorSpec, Rekognition,
    StartAt, Teardown,
};
use kvs_types::parse_instant;
use serde_json::json;

use crate::cli::{
    CollectionCommand, FacesCommand, OutputFormat, PipelineCommand, ProcessorCommand,
};
use crate::output;

pub(crate) async fn run(
    config: &KvsConfig,
    format: OutputFormat,
    cmd: FacesCommand,
) -> anyhow::Result<()> {
    match cmd {
        FacesCommand::Collection(cmd) => collection(config, format, cmd).await,
        FacesCommand::Index(args) => {
            let rek = Rekognition::new(config);
            if args.create {
                rek.ensure_collection(&args.collection).await?;
            }
            let outcomes = rek
                .index_folder(&args.collection, &args.dir, print_progress)
                .await?;
            if outcomes.is_empty() {
                eprintln!(
                    "kvs: no .jpg, .jpeg or .png files in {}",
                    args.dir.display()
                );
            }
            output::print(format, &json!({ "Images": outcomes }));
            Ok(())
        }
        FacesCommand::Processor(cmd) => processor(config, format, cmd).await,
        FacesCommand::Watch(args) => watch::run(config, format, args).await,
        FacesCommand::Pipeline(cmd) => pipeline(config, format, cmd).await,
    }
}

/// One line per photo on stderr, so a long folder shows where it is.
fn print_progress(done: usize, total: usize, o: &IndexOutcome) {
    let file = o.file.file_name().map_or_else(
        || o.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let what = match o.status {
        IndexStatus::Indexed => format!("indexed as {}", o.external_image_id),
        IndexStatus::AlreadyIndexed => format!("{} is indexed already", o.external_image_id),
        IndexStatus::NoFace => "no face found".to_owned(),
        IndexStatus::Rejected => format!("rejected: {}", o.reason.as_deref().unwrap_or("")),
    };
    eprintln!("kvs: [{done}/{total}] {file}: {what}");
}

async fn collection(
    config: &KvsConfig,
    format: OutputFormat,
    cmd: CollectionCommand,
) -> anyhow::Result<()> {
    let rek = Rekognition::new(config);
    match cmd {
        CollectionCommand::Create { name } => {
            let created = rek.create_collection(&name).await?;
            output::print(format, &serde_json::to_value(created)?);
        }
        CollectionCommand::List => {
            let list = rek.list_collections().await?;
            let value = match format {
                OutputFormat::Json => json!({
                    "CollectionIds": list.iter().map(|c| &c.collection_id).collect::<Vec<_>>(),
                    "FaceModelVersions": list.iter().filter_map(|c| c.face_model_version.as_ref()).collect::<Vec<_>>(),
                }),
                OutputFormat::Table => json!({ "Collections": list }),
            };
            output::print(format, &value);
        }
        CollectionCommand::Describe { name } => {
            let info = rek.describe_collection(&name).await?;
            output::print(format, &serde_json::to_value(info)?);
        }
        CollectionCommand::Delete { name } => {
            rek.delete_collection(&name).await?;
            eprintln!("kvs: deleted face collection {name}");
        }
    }
    Ok(())
}

fn start_at(s: &str) -> anyhow::Result<StartAt> {
    Ok(match s.split_once(':') {
        None if s.eq_ignore_ascii_case("now") => StartAt::Now,
        Some(("fragment", n)) => StartAt::FragmentNumber(n.to_owned()),
        Some(("producer", t)) => StartAt::ProducerTimestamp(parse_instant(t)?),
        _ => bail!("--start {s:?} must be now, fragment:NUMBER or producer:TIME (RFC 3339)"),
    })
}

async fn processor(
    config: &KvsConfig,
    format: OutputFormat,
    cmd: ProcessorCommand,
) -> anyhow::Result<()> {
    let rek = Rekognition::new(config);
    match cmd {
        ProcessorCommand::Create {
            name,
            video_stream,
            data_stream,
            collection,
            threshold,
            role_arn,
        } => {
            let mut spec =
                ProcessorSpec::resolve(config, &name, &video_stream, &data_stream, &collection)
                    .await?
                    .threshold(threshold);
            spec.role_arn = role_arn;
            let arn = rek.create_processor(&spec).await?;
            output::print(format, &json!({ "StreamProcessorArn": arn }));
        }
        ProcessorCommand::List => {
            let list = rek.list_processors().await?;
            output::print(format, &json!({ "StreamProcessors": list }));
        }
        ProcessorCommand::Describe { name } => {
            let info = rek.describe_processor(&name).await?;
            output::print(format, &serde_json::to_value(info)?);
        }
        ProcessorCommand::Start { name, start } => {
            let session = rek.start_processor(&name, &start_at(&start)?).await?;
            output::print(format, &json!({ "SessionId": session }));
        }
        ProcessorCommand::Stop { name } => {
            rek.stop_processor(&name).await?;
            eprintln!("kvs: stopping stream processor {name}");
        }
        ProcessorCommand::Delete { name } => {
            rek.delete_processor(&name).await?;
            eprintln!("kvs: deleted stream processor {name}");
        }
    }
    Ok(())
}

async fn pipeline(
    config: &KvsConfig,
    format: OutputFormat,
    cmd: PipelineCommand,
) -> anyhow::Result<()> {
    match cmd {
        PipelineCommand::Up { config: file } => {
            let pipeline = FaceSearchPipeline::from_config(config, &PipelineConfig::load(&file)?);
            let status = pipeline.up_with_progress(print_progress).await?;
            let value = match format {
                OutputFormat::Json => serde_json::to_value(&status)?,
                OutputFormat::Table => json!({
                    "CollectionId": status.collection.collection_id,
                    "FaceCount": status.collection.face_count,
                    "NewlyIndexed": status.indexed.iter().filter(|o| o.status == IndexStatus::Indexed).count(),
                    "VideoStreamARN": status.video_stream_arn,
                    "DataStreamARN": status.data_stream.stream_arn,
                    "Processor": status.processor.name,
                    "Status": status.processor.status,
                    "Action": status.processor_action,
                }),
            };
            output::print(format, &value);
        }
        PipelineCommand::Down {
            config: file,
            delete_collection,
            delete_data_stream,
        } => {
            let pipeline = FaceSearchPipeline::from_config(config, &PipelineConfig::load(&file)?);
            let status = pipeline
                .down_with(Teardown {
                    delete_collection,
                    delete_data_stream,
                })
                .await?;
            output::print(format, &serde_json::to_value(status)?);
        }
    }
    Ok(())
}
