use kvs_control::ControlPlane;
use kvs_endpoint::KvsConfig;
use kvs_types::{ChannelRef, StreamRef};
use serde_json::json;

use crate::cli::{EndpointArgs, OutputFormat};
use crate::output;

pub(crate) async fn run(
    config: &KvsConfig,
    format: OutputFormat,
    args: EndpointArgs,
) -> anyhow::Result<()> {
    let resolver = config.resolver();
    if let Some(stream) = args.stream {
        let url = resolver
            .data_endpoint(&StreamRef::parse(&stream)?, args.api)
            .await?;
        output::print(format, &json!({ "DataEndpoint": url }));
    } else if let Some(channel) = args.channel {
        let arn = match ChannelRef::parse(&channel)? {
            ChannelRef::Arn(arn) => arn,
            by_name => ControlPlane::new(config)
                .describe_channel(&by_name)
                .await?
                .arn()?,
        };
        let mut list = Vec::new();
        for protocol in args.protocol {
            let url = resolver
                .signaling_endpoint(&arn, args.role, protocol)
                .await?;
            list.push(json!({ "Protocol": protocol.as_str(), "ResourceEndpoint": url }));
        }
        output::print(format, &json!({ "ResourceEndpointList": list }));
    }
    Ok(())
}
