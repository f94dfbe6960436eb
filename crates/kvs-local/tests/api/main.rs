//! kvs-local driven by the official AWS SDK for Rust over loopback.

#![allow(clippy::unwrap_used)]

mod auth;
mod c_sdk;
mod channels;
mod clip;
mod cpp_kvssink;
mod hls;
mod images;
mod kinesis;
mod media;
mod rekognition;
mod restart;
mod streams;
mod tls;

use aws_sdk_kinesisvideo::Client;
use kvs_local::Server;
use kvs_testkit::LocalKvs;

/// A server on a fresh data directory (the shared fixture), and an SDK client signed with its
/// credentials.
pub(crate) struct Local {
    pub(crate) kvs: LocalKvs,
    pub(crate) client: Client,
}

impl Local {
    pub(crate) fn server(&self) -> &Server {
        self.kvs.server()
    }
}

pub(crate) async fn start() -> Local {
    with(LocalKvs::start().await)
}

/// `kvs` with a client for it.
pub(crate) fn with(kvs: LocalKvs) -> Local {
    let client = client_for(kvs.server(), &kvs.credentials().secret_access_key);
    Local { kvs, client }
}

pub(crate) fn client_for(server: &Server, secret: &str) -> Client {
    let creds = aws_credential_types::Credentials::new(
        server.credentials().access_key_id.clone(),
        secret.to_owned(),
        None,
        None,
        "test",
    );
    let config = aws_sdk_kinesisvideo::Config::builder()
        .behavior_version(aws_sdk_kinesisvideo::config::BehaviorVersion::latest())
        .region(aws_sdk_kinesisvideo::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(server.url())
        .build();
    Client::from_conf(config)
}
