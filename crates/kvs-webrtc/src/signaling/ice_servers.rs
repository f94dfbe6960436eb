//! `GetIceServerConfig`: the channel's TURN servers, plus a STUN server.

use kvs_endpoint::{KvsConfig, Target};
use kvs_types::{Arn, ChannelProtocol, ChannelRole};

use super::client::Role;
use crate::peer::IceServer;

/// Why the ICE servers could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IceServerError {
    /// The channel's HTTPS endpoint could not be resolved.
    #[error("cannot find the HTTPS signaling endpoint of {channel}: {source}")]
    Endpoint {
        /// The channel's ARN.
        channel: String,
        /// Why `GetSignalingChannelEndpoint` failed.
        source: kvs_endpoint::ResolveError,
    },
    /// `GetIceServerConfig` failed.
    #[error("GetIceServerConfig for {channel} failed: {source}")]
    Service {
        /// The channel's ARN.
        channel: String,
        /// What the service said.
        source: kvs_endpoint::ServiceError,
    },
}

/// The STUN server and the short-lived TURN servers of `channel` for `role`.
///
/// On AWS the STUN server is the region's `stun.kinesisvideo` host; elsewhere (kvs-local, a
/// custom endpoint) it is the first TURN server, which answers STUN too.
pub async fn ice_servers(
    config: &KvsConfig,
    channel: &Arn,
    role: &Role,
) -> Result<Vec<IceServer>, IceServerError> {
    let channel_role = match role {
        Role::Master => ChannelRole::Master,
        Role::Viewer(_) => ChannelRole::Viewer,
    };
    let endpoint = config
        .resolver()
        .signaling_endpoint(channel, channel_role, ChannelProtocol::Https)
        .await
        .map_err(|source| IceServerError::Endpoint {
            channel: channel.to_string(),
            source,
        })?;
    let client = aws_sdk_kinesisvideosignaling::Client::from_conf(
        aws_sdk_kinesisvideosignaling::config::Builder::from(config.sdk_config())
            .endpoint_url(endpoint)
            .build(),
    );
    let mut request = client
        .get_ice_server_config()
        .channel_arn(channel.as_str())
        .service(aws_sdk_kinesisvideosignaling::types::Service::Turn);
    if let Role::Viewer(id) = role {
        request = request.client_id(id.as_str());
    }
    let out = request.send().await.map_err(|e| IceServerError::Service {
        channel: channel.to_string(),
        source: e.into(),
    })?;
    let turn: Vec<IceServer> = out
        .ice_server_list()
        .iter()
        .map(|s| IceServer {
            urls: s.uris().to_vec(),
            username: s.username().unwrap_or_default().to_owned(),
            credential: s.password().unwrap_or_default().to_owned(),
        })
        .collect();
    let stun = match config.target() {
        Target::Aws { region } => {
            Some(format!("stun:stun.kinesisvideo.{region}.amazonaws.com:443"))
        }
        _ => turn
            .iter()
            .flat_map(|s| &s.urls)
            .find_map(|u| u.strip_prefix("turn:"))
            .map(|rest| format!("stun:{}", rest.split('?').next().unwrap_or(rest))),
    };
    Ok(stun
        .map(|url| IceServer {
            urls: vec![url],
            ..IceServer::default()
        })
        .into_iter()
        .chain(turn)
        .collect())
}
