use kvs_control::{ChannelSpec, ControlPlane, Error};
use kvs_endpoint::KvsConfig;
use kvs_types::{ChannelName, ChannelRef};
use serde_json::json;

use crate::cli::{ChannelCommand, OutputFormat};
use crate::output;

pub(crate) async fn run(
    config: &KvsConfig,
    format: OutputFormat,
    cmd: ChannelCommand,
) -> anyhow::Result<()> {
    let cp = ControlPlane::new(config);
    match cmd {
        ChannelCommand::Create {
            name,
            message_ttl,
            tags,
            if_not_exists,
        } => {
            let mut spec = ChannelSpec::new(ChannelName::new(name)?);
            if let Some(ttl) = message_ttl {
                spec = spec.message_ttl_seconds(ttl)?;
            }
            for (k, v) in super::stream::tags(&tags)? {
                spec = spec.tag(k, v);
            }
            let arn = match cp.create_channel(&spec).await {
                Ok(arn) => arn.to_string(),
                Err(Error::ChannelExists(_)) if if_not_exists => {
                    cp.describe_channel(&ChannelRef::Name(spec.name().clone()))
                        .await?
                        .channel_arn
                }
                Err(e) => return Err(e.into()),
            };
            output::print(format, &json!({ "ChannelARN": arn }));
        }
        ChannelCommand::Describe { channel } => {
            let info = cp.describe_channel(&ChannelRef::parse(&channel)?).await?;
            output::print(format, &json!({ "ChannelInfo": info }));
        }
        ChannelCommand::List { prefix } => {
            let list = cp.list_channels(prefix.as_deref()).await?;
            output::print(format, &json!({ "ChannelInfoList": list }));
        }
        ChannelCommand::Delete { channel } => {
            let channel = ChannelRef::parse(&channel)?;
            cp.delete_channel(&channel).await?;
            eprintln!("kvs: deleted signaling channel {channel}");
        }
    }
    Ok(())
}
