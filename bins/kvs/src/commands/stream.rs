use std::collections::BTreeMap;

use kvs_control::{ControlPlane, Error, StreamSpec};
use kvs_endpoint::KvsConfig;
use kvs_types::{StreamName, StreamRef, TagKey, TagValue};
use serde_json::json;

use crate::cli::{OutputFormat, StreamCommand};
use crate::output;

pub(crate) fn tags(pairs: &[(String, String)]) -> anyhow::Result<BTreeMap<TagKey, TagValue>> {
    pairs
        .iter()
        .map(|(k, v)| Ok((TagKey::new(k.as_str())?, TagValue::new(v.as_str())?)))
        .collect()
}

pub(crate) async fn run(
    config: &KvsConfig,
    format: OutputFormat,
    cmd: StreamCommand,
) -> anyhow::Result<()> {
    let cp = ControlPlane::new(config);
    match cmd {
        StreamCommand::Create {
            name,
            retention,
            media_type,
            device_name,
            kms_key_id,
            tags: tag_pairs,
            if_not_exists,
        } => {
            let mut spec = StreamSpec::new(StreamName::new(name)?).retention(retention);
            if let Some(m) = media_type {
                spec = spec.media_type(m);
            }
            if let Some(d) = device_name {
                spec = spec.device_name(d);
            }
            if let Some(k) = kms_key_id {
                spec = spec.kms_key_id(k);
            }
            for (k, v) in tags(&tag_pairs)? {
                spec = spec.tag(k, v);
            }
            let arn = match cp.create_stream(&spec).await {
                Ok(arn) => arn.to_string(),
                Err(Error::StreamExists(_)) if if_not_exists => {
                    cp.describe_stream(&StreamRef::Name(spec.name().clone()))
                        .await?
                        .stream_arn
                }
                Err(e) => return Err(e.into()),
            };
            output::print(format, &json!({ "StreamARN": arn }));
        }
        StreamCommand::Describe { stream } => {
            let info = cp.describe_stream(&StreamRef::parse(&stream)?).await?;
            output::print(format, &json!({ "StreamInfo": info }));
        }
        StreamCommand::List { prefix } => {
            let list = cp.list_streams(prefix.as_deref()).await?;
            output::print(format, &json!({ "StreamInfoList": list }));
        }
        StreamCommand::Delete { stream } => {
            let stream = StreamRef::parse(&stream)?;
            cp.delete_stream(&stream).await?;
            eprintln!("kvs: deleted stream {stream}");
        }
        StreamCommand::Retention { stream, retention } => {
            let stream = StreamRef::parse(&stream)?;
            let info = cp.set_retention(&stream, retention).await?;
            output::print(format, &json!({ "StreamInfo": info }));
        }
        StreamCommand::Tag {
            stream,
            add,
            remove,
        } => {
            let stream = StreamRef::parse(&stream)?;
            let add = tags(&add)?;
            let remove = remove
                .iter()
                .map(|k| TagKey::new(k.as_str()))
                .collect::<Result<Vec<_>, _>>()?;
            if !add.is_empty() {
                cp.tag_stream(&stream, &add).await?;
            }
            if !remove.is_empty() {
                cp.untag_stream(&stream, &remove).await?;
            }
            let tags = cp.stream_tags(&stream).await?;
            output::print(format, &json!({ "Tags": tags }));
        }
    }
    Ok(())
}
