//! https and wss beside http and ws on one port, with the data directory's own CA.

use aws_sdk_kinesisvideo::types::{ApiName, ChannelProtocol, ChannelRole};
use kvs_local::{Config, Server, Tls};
use kvs_testkit::LocalKvs;
use kvs_testkit::kvs_endpoint::{ErrorKind, KvsConfig, ServiceError};

/// The (WSS, HTTPS) endpoints and the data endpoint a client of `config` is handed.
async fn endpoints(config: &KvsConfig, channel: &str, stream: &str) -> (String, String, String) {
    let c = config.kinesis_video();
    let arn = c
        .describe_signaling_channel()
        .channel_name(channel)
        .send()
        .await
        .unwrap()
        .channel_info
        .unwrap()
        .channel_arn
        .unwrap();
    let list = c
        .get_signaling_channel_endpoint()
        .channel_arn(arn)
        .single_master_channel_endpoint_configuration(
            aws_sdk_kinesisvideo::types::SingleMasterChannelEndpointConfiguration::builder()
                .protocols(ChannelProtocol::Wss)
                .protocols(ChannelProtocol::Https)
                .role(ChannelRole::Viewer)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .resource_endpoint_list
        .unwrap();
    let of = |p: ChannelProtocol| {
        list.iter()
            .find(|e| e.protocol() == Some(&p))
            .and_then(|e| e.resource_endpoint().map(str::to_owned))
            .unwrap()
    };
    let data = c
        .get_data_endpoint()
        .stream_name(stream)
        .api_name(ApiName::PutMedia)
        .send()
        .await
        .unwrap()
        .data_endpoint
        .unwrap();
    (of(ChannelProtocol::Wss), of(ChannelProtocol::Https), data)
}

#[tokio::test]
async fn one_port_serves_http_and_https_and_endpoints_keep_the_clients_scheme_and_host() {
    let local = LocalKvs::start().await;
    let https = local.https_config().await;
    let c = https.kinesis_video();
    c.create_signaling_channel()
        .channel_name("door")
        .send()
        .await
        .unwrap();
    local.create_stream("cam").await;
    let port = local.addr().port();

    let (wss, https_endpoint, data) = endpoints(&https, "door", "cam").await;
    assert_eq!(wss, format!("wss://127.0.0.1:{port}"));
    assert_eq!(https_endpoint, format!("https://127.0.0.1:{port}"));
    assert_eq!(data, format!("https://127.0.0.1:{port}"));

    let (ws, http_endpoint, data) = endpoints(local.config(), "door", "cam").await;
    assert_eq!(ws, format!("ws://127.0.0.1:{port}"));
    assert_eq!(http_endpoint, format!("http://127.0.0.1:{port}"));
    assert_eq!(data, format!("http://127.0.0.1:{port}"));

    // The certificate names localhost too, and endpoints keep the name the client used.
    let ca = local.server().ca_file().unwrap().to_owned();
    let by_name = local
        .config_via(&format!("https://localhost:{port}"))
        .await
        .with_ca_bundle(&ca)
        .unwrap();
    let (wss, _, data) = endpoints(&by_name, "door", "cam").await;
    assert_eq!(wss, format!("wss://localhost:{port}"));
    assert_eq!(data, format!("https://localhost:{port}"));
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_gets_a_certificate_error() {
    let local = LocalKvs::start().await;
    // the default roots: the kvs-local CA is not among them
    let untrusting = local.config_via(&local.https_url()).await;
    let err = untrusting
        .kinesis_video()
        .list_streams()
        .send()
        .await
        .unwrap_err();
    let err = ServiceError::from(err);
    assert_eq!(err.kind(), ErrorKind::Certificate, "{err}");
    assert!(err.to_string().contains("AWS_CA_BUNDLE"), "{err}");

    // and a bundle that is not the server's CA is refused the same way
    let other = LocalKvs::start().await;
    let wrong = local
        .config_via(&local.https_url())
        .await
        .with_ca_bundle(other.server().ca_file().unwrap())
        .unwrap();
    let err = ServiceError::from(
        wrong
            .kinesis_video()
            .list_streams()
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(err.kind(), ErrorKind::Certificate, "{err}");
}

#[tokio::test]
async fn a_restart_keeps_the_ca_and_the_certificate() {
    let mut local = LocalKvs::start().await;
    let https = local.https_config().await;
    let tls_dir = local.data_dir().join("tls");
    let read = |f: &str| std::fs::read(tls_dir.join(f)).unwrap();
    let (ca, cert, key) = (read("ca.pem"), read("server.pem"), read("server-key.pem"));
    https
        .kinesis_video()
        .create_stream()
        .stream_name("before")
        .send()
        .await
        .unwrap();

    local.restart().await;
    assert_eq!(read("ca.pem"), ca);
    assert_eq!(read("server.pem"), cert);
    assert_eq!(read("server-key.pem"), key);
    // a client set up before the restart still trusts what the server presents
    https
        .kinesis_video()
        .create_stream()
        .stream_name("after")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_operators_certificate_files_are_served_instead() {
    let first = LocalKvs::start().await;
    let tls_dir = first.data_dir().join("tls");
    let (cert, key) = (tls_dir.join("server.pem"), tls_dir.join("server-key.pem"));
    let second = LocalKvs::builder()
        .configure(move |c| c.tls = Tls::Files { cert, key })
        .start()
        .await;
    assert_eq!(second.server().ca_file(), None, "no CA of its own");
    assert!(!second.data_dir().join("tls").exists());
    let config = second
        .config_via(&second.https_url())
        .await
        .with_ca_bundle(first.server().ca_file().unwrap())
        .unwrap();
    config.kinesis_video().list_streams().send().await.unwrap();
}

#[tokio::test]
async fn without_tls_only_http_is_served() {
    let local = LocalKvs::builder()
        .configure(|c| c.tls = Tls::Disabled)
        .start()
        .await;
    assert_eq!(local.server().https_url(), None);
    assert!(!local.data_dir().join("tls").exists());
    local
        .config()
        .kinesis_video()
        .list_streams()
        .send()
        .await
        .unwrap();
    let https = local
        .config_via(&local.url().replacen("http://", "https://", 1))
        .await;
    let err = ServiceError::from(
        https
            .kinesis_video()
            .list_streams()
            .send()
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(err.kind(), ErrorKind::Transport | ErrorKind::Certificate),
        "{err}"
    );
}

#[tokio::test]
async fn unusable_certificate_files_stop_the_start_and_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    let mut config = Config::new(dir.path().join("data"));
    config.tls = Tls::Files {
        cert: cert.clone(),
        key: dir.path().join("missing-key.pem"),
    };
    let err = Server::start(config).await.err().unwrap().to_string();
    assert!(err.contains("cert.pem"), "{err}");
}
