//! Data-plane and signaling endpoint resolution with a shared TTL cache.

use std::time::Duration;

use aws_sdk_kinesisvideo::types::SingleMasterChannelEndpointConfiguration;
use kvs_types::{ApiName, Arn, ChannelProtocol, ChannelRole, StreamRef};

#[cfg(doc)]
use crate::KvsConfig;
use crate::cache::TtlCache;
use crate::{ErrorKind, ServiceError};

/// Why an endpoint could not be resolved.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The service call failed.
    #[error("cannot resolve the {what} endpoint for {resource}: {source}")]
    Service {
        /// Which endpoint was asked for: the API (`GET_MEDIA`) or the signaling protocol and
        /// role (`WSS signaling (VIEWER)`).
        what: String,
        /// The stream or channel, by name or ARN as the caller gave it.
        resource: String,
        /// The service's error.
        source: ServiceError,
    },
}

impl ResolveError {
    /// The service's error, to branch on its [`ErrorKind`].
    pub fn service_error(&self) -> &ServiceError {
        match self {
            Self::Service { source, .. } => source,
        }
    }
}

/// Resolves and caches endpoints. Every [`KvsConfig`] owns one, shared by all the clients built
/// from it and its clones ([`KvsConfig::resolver`]), so one lookup serves them all.
pub struct EndpointResolver {
    client: aws_sdk_kinesisvideo::Client,
    data: TtlCache<(StreamRef, ApiName)>,
    signaling: TtlCache<(Arn, ChannelRole, ChannelProtocol)>,
}

impl std::fmt::Debug for EndpointResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointResolver").finish_non_exhaustive()
    }
}

impl EndpointResolver {
    /// How long a resolved endpoint is used before asking again (KVS advises refreshing PutMedia
    /// endpoints about every 45 minutes).
    pub const DEFAULT_TTL: Duration = Duration::from_secs(45 * 60);

    /// A resolver asking `client`, whose cached endpoints live for `ttl`.
    pub(crate) fn new(client: aws_sdk_kinesisvideo::Client, ttl: Duration) -> Self {
        Self {
            client,
            data: TtlCache::new(ttl),
            signaling: TtlCache::new(ttl),
        }
    }

    /// How long resolved endpoints are kept.
    pub(crate) fn ttl(&self) -> Duration {
        self.data.ttl()
    }

    /// The endpoint serving `api` for `stream` (`GetDataEndpoint`).
    pub async fn data_endpoint(
        &self,
        stream: &StreamRef,
        api: ApiName,
    ) -> Result<String, ResolveError> {
        let key = (stream.clone(), api);
        self.data
            .get_or_fetch(&key, || async {
                let mut req = self
                    .client
                    .get_data_endpoint()
                    .api_name(aws_sdk_kinesisvideo::types::ApiName::from(api.as_str()));
                req = match stream {
                    StreamRef::Name(n) => req.stream_name(n.as_str()),
                    StreamRef::Arn(a) => req.stream_arn(a.as_str()),
                };
                let out = req.send().await.map_err(|e| ResolveError::Service {
                    what: api.to_string(),
                    resource: stream.to_string(),
                    source: e.into(),
                })?;
                out.data_endpoint.ok_or_else(|| ResolveError::Service {
                    what: api.to_string(),
                    resource: stream.to_string(),
                    source: ServiceError::new(
                        ErrorKind::Other,
                        None,
                        "GetDataEndpoint answered without a DataEndpoint",
                    ),
                })
            })
            .await
    }

    /// The `protocol` endpoint of `channel` for `role` (`GetSignalingChannelEndpoint`).
    pub async fn signaling_endpoint(
        &self,
        channel: &Arn,
        role: ChannelRole,
        protocol: ChannelProtocol,
    ) -> Result<String, ResolveError> {
        let key = (channel.clone(), role, protocol);
        let what = format!("{protocol} signaling ({role})");
        self.signaling
            .get_or_fetch(&key, || async {
                let config = SingleMasterChannelEndpointConfiguration::builder()
                    .protocols(protocol.as_str().into())
                    .role(role.as_str().into())
                    .build();
                let out = self
                    .client
                    .get_signaling_channel_endpoint()
                    .channel_arn(channel.as_str())
                    .single_master_channel_endpoint_configuration(config)
                    .send()
                    .await
                    .map_err(|e| ResolveError::Service {
                        what: what.clone(),
                        resource: channel.to_string(),
                        source: e.into(),
                    })?;
                out.resource_endpoint_list()
                    .iter()
                    .find(|e| e.protocol().map(|p| p.as_str()) == Some(protocol.as_str()))
                    .and_then(|e| e.resource_endpoint().map(str::to_owned))
                    .ok_or_else(|| ResolveError::Service {
                        what: what.clone(),
                        resource: channel.to_string(),
                        source: ServiceError::new(
                            ErrorKind::Other,
                            None,
                            format!("GetSignalingChannelEndpoint returned no {protocol} endpoint"),
                        ),
                    })
            })
            .await
    }

    /// Forgets a data endpoint, e.g. after it stopped answering.
    pub fn invalidate_data_endpoint(&self, stream: &StreamRef, api: ApiName) {
        self.data.invalidate(&(stream.clone(), api));
    }

    /// Forgets a signaling endpoint, e.g. after GO_AWAY.
    pub fn invalidate_signaling_endpoint(
        &self,
        channel: &Arn,
        role: ChannelRole,
        protocol: ChannelProtocol,
    ) {
        self.signaling
            .invalidate(&(channel.clone(), role, protocol));
    }
}
