//! GetIceServerConfig and the TURN server of kvs-local.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use kvs_control::{ChannelSpec, ControlPlane};
use kvs_testkit::LocalKvs;
use kvs_types::{Arn, ChannelName};
use kvs_webrtc::signaling::{ClientId, Role, ice_servers};
use webrtc_util::Conn;

/// Allocates a relay on the TURN server at `addr`; returns the relayed address.
async fn allocate(addr: &str, username: &str, password: &str) -> Result<String, String> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let client = turn::client::Client::new(turn::client::ClientConfig {
        stun_serv_addr: addr.to_owned(),
        turn_serv_addr: addr.to_owned(),
        username: username.to_owned(),
        password: password.to_owned(),
        realm: String::new(),
        software: String::new(),
        rto_in_ms: 0,
        conn: Arc::new(socket),
        vnet: None,
    })
    .await
    .map_err(|e| e.to_string())?;
    client.listen().await.map_err(|e| e.to_string())?;
    let result = tokio::time::timeout(Duration::from_secs(10), client.allocate())
        .await
        .map_err(|_| "allocation timed out".to_owned())?
        .map_err(|e| e.to_string())
        .and_then(|relay| {
            relay
                .local_addr()
                .map(|a| a.to_string())
                .map_err(|e| e.to_string())
        });
    let _ = client.close().await;
    result
}

#[tokio::test]
async fn turn_credentials_from_get_ice_server_config_allocate_and_wrong_ones_fail() {
    let local = LocalKvs::start().await;
    let config = local.config();
    let info = ControlPlane::new(config)
        .ensure_channel(&ChannelSpec::new(ChannelName::new("porch").unwrap()))
        .await
        .unwrap();
    let channel = Arn::parse(&info.channel_arn).unwrap();
    let role = Role::Viewer(ClientId::new("viewer-7").unwrap());

    let servers = ice_servers(config, &channel, &role).await.unwrap();
    let stun = &servers[0];
    assert!(stun.urls[0].starts_with("stun:127.0.0.1:"), "{servers:?}");
    let turn = servers
        .iter()
        .find(|s| s.urls.iter().any(|u| u.starts_with("turn:")))
        .unwrap();
    assert!(turn.username.ends_with(":viewer-7"), "{turn:?}");
    let addr = turn.urls[0]
        .strip_prefix("turn:")
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(stun.urls[0], format!("stun:{addr}"));

    let relayed = allocate(&addr, &turn.username, &turn.credential)
        .await
        .unwrap();
    assert!(relayed.starts_with("127.0.0.1:"), "{relayed}");
    assert!(
        allocate(&addr, &turn.username, "wrong-password")
            .await
            .is_err()
    );
    let other_user = turn.username.replace("viewer-7", "viewer-8");
    assert!(
        allocate(&addr, &other_user, &turn.credential)
            .await
            .is_err()
    );

    // a channel that does not exist is a typed error
    let missing = Arn::parse(&info.channel_arn.replace("porch", "nope")).unwrap();
    let err = ice_servers(config, &missing, &role).await.unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    assert_eq!(local.server().calls("GetIceServerConfig"), 1);
}
