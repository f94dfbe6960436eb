//! kvs-local driven by the official AWS SDK for Rust over loopback.

#![allow(clippy::unwrap_used)]

mod auth;
mod channels;
mod clip;
mod hls;
mod images;
mod kinesis;
mod media;
mod rekognition;
mod restart;
mod streams;

use aws_sdk_kinesisvideo::Client;
use kvs_local::{Config, Server};

/// A server on a fresh data directory, and an SDK client signed with its credentials.
pub(crate) struct Local {
    pub(crate) server: Server,
    pub(crate) client: Client,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) async fn start() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(Config::new(dir.path())).await.unwrap();
    let client = client_for(&server, &server.credentials().secret_access_key);
    Local {
        server,
        client,
        _dir: dir,
    }
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
