//! Endpoints: GetDataEndpoint (a stream's media endpoint) and GetSignalingChannelEndpoint.
//! Both answer with the scheme and host the request came with: an https client gets https and
//! wss endpoints, a plain one http and ws (the same port serves both).

use kvs_types::{ApiName, ChannelProtocol, ChannelRole};
use serde::Deserialize;
use serde_json::{Value, json};

use super::channels::ChannelSelector;
use super::streams::StreamSelector;
use crate::App;
use crate::error::ApiError;
use crate::origin::Origin;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetDataEndpointInput {
    #[serde(flatten)]
    stream: StreamSelector,
    #[serde(rename = "APIName")]
    api_name: Option<String>,
}

pub(super) async fn get_data_endpoint(
    app: &App,
    origin: &Origin,
    input: GetDataEndpointInput,
) -> Result<Value, ApiError> {
    let api = input
        .api_name
        .ok_or_else(|| ApiError::invalid_argument("APIName is required"))?;
    ApiName::ALL
        .iter()
        .find(|a| a.as_str() == api)
        .ok_or_else(|| ApiError::invalid_argument(format!("APIName {api:?} is not valid")))?;
    input.stream.load(app).await?;
    Ok(json!({ "DataEndpoint": origin.http_url() }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointConfiguration {
    #[serde(default)]
    protocols: Vec<String>,
    role: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetSignalingEndpointInput {
    #[serde(rename = "ChannelARN")]
    channel_arn: Option<String>,
    single_master_channel_endpoint_configuration: Option<EndpointConfiguration>,
}

pub(super) async fn get_signaling_endpoint(
    app: &App,
    origin: &Origin,
    input: GetSignalingEndpointInput,
) -> Result<Value, ApiError> {
    let arn = input
        .channel_arn
        .ok_or_else(|| ApiError::invalid_argument("ChannelARN is required"))?;
    let config = input.single_master_channel_endpoint_configuration;
    let (protocols, role) = match &config {
        Some(c) => (c.protocols.clone(), c.role.clone()),
        None => (Vec::new(), None),
    };
    let role = role.unwrap_or_else(|| "MASTER".into());
    role.parse::<ChannelRole>()
        .ok()
        .filter(|r| r.as_str() == role)
        .ok_or_else(|| {
            ApiError::invalid_argument(format!("Role {role:?} must be MASTER or VIEWER"))
        })?;
    let protocols: Vec<ChannelProtocol> = if protocols.is_empty() {
        vec![ChannelProtocol::Wss, ChannelProtocol::Https]
    } else {
        protocols
            .iter()
            .map(|p| {
                p.parse::<ChannelProtocol>()
                    .ok()
                    .filter(|q| q.as_str() == p)
                    .ok_or_else(|| {
                        ApiError::invalid_argument(format!(
                            "Protocol {p:?} must be WSS, HTTPS or WEBRTC"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?
    };
    ChannelSelector::by_arn(arn).load(app).await?;
    let mut list = Vec::new();
    for p in protocols {
        let endpoint = match p {
            ChannelProtocol::Wss => origin.ws_url(),
            ChannelProtocol::Https => origin.http_url(),
            ChannelProtocol::Webrtc => {
                return Err(ApiError::invalid_argument(
                    "The WEBRTC protocol needs a channel with media storage, which kvs-local does not offer",
                ));
            }
        };
        list.push(json!({ "Protocol": p.as_str(), "ResourceEndpoint": endpoint }));
    }
    Ok(json!({ "ResourceEndpointList": list }))
}
