//! GetIceServerConfig and the TURN server of kvs-local: credentials, and allocations that
//! outlive them.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kvs_control::{ChannelSpec, ControlPlane};
use kvs_testkit::{LocalKvs, SyntheticVideo};
use kvs_types::{Arn, ChannelName, ChannelRef};
use kvs_webrtc::peer::{IceConfig, IceServer};
use kvs_webrtc::session::{MasterSession, SessionOptions, ViewerSession};
use kvs_webrtc::signaling::{ClientId, Role, ice_servers};
use rtc::crypto::RTCCryptoProvider;
use rtc::stun::attributes::{ATTR_NONCE, ATTR_REALM, ATTR_USERNAME};
use rtc::stun::error_code::ErrorCodeAttribute;
use rtc::stun::fingerprint::FINGERPRINT;
use rtc::stun::integrity::MessageIntegrity;
use rtc::stun::message::{
    CLASS_REQUEST, CLASS_SUCCESS_RESPONSE, Getter, METHOD_ALLOCATE, METHOD_CHANNEL_BIND,
    METHOD_CREATE_PERMISSION, METHOD_REFRESH, Message, MessageType, Method, Setter, TransactionId,
    is_stun_message,
};
use rtc::stun::textattrs::TextAttribute;
use rtc::turn::proto::PROTO_UDP;
use rtc::turn::proto::channum::ChannelNumber;
use rtc::turn::proto::lifetime::Lifetime;
use rtc::turn::proto::peeraddr::PeerAddress;
use rtc::turn::proto::relayaddr::RelayedAddress;
use rtc::turn::proto::reqtrans::RequestedTransport;
use tokio::net::UdpSocket;
use tokio::time::{sleep, timeout};
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

/// kvs-local whose TURN credentials are valid for `ttl`, with a signaling channel `name`.
async fn local_with_credential_ttl(ttl: Duration, name: &str) -> (LocalKvs, Arn, ChannelRef) {
    let local = LocalKvs::builder()
        .configure(move |c| c.turn_credential_ttl = ttl)
        .start()
        .await;
    let name = ChannelName::new(name).unwrap();
    let info = ControlPlane::new(local.config())
        .ensure_channel(&ChannelSpec::new(name.clone()))
        .await
        .unwrap();
    let arn = Arn::parse(&info.channel_arn).unwrap();
    (local, arn, ChannelRef::Name(name))
}

fn turn_server_of(servers: &[IceServer]) -> (SocketAddr, &IceServer) {
    let turn = servers
        .iter()
        .find(|s| s.urls.iter().any(|u| u.starts_with("turn:")))
        .unwrap();
    let addr = turn.urls[0]
        .strip_prefix("turn:")
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (addr, turn)
}

fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A bare TURN client on one UDP port, sending the requests a WebRTC peer's TURN client sends
/// (Allocate, Refresh, CreatePermission, ChannelBind), one at a time and when told to.
struct RawTurn {
    socket: UdpSocket,
    server: SocketAddr,
    username: String,
    password: String,
    realm: String,
    nonce: String,
    crypto: Arc<dyn RTCCryptoProvider>,
}

impl RawTurn {
    /// A client on a new local port; an unauthenticated Allocate gets it the realm and nonce.
    async fn connect(server: SocketAddr, credentials: &IceServer) -> Self {
        let mut client = Self {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server,
            username: credentials.username.clone(),
            password: credentials.credential.clone(),
            realm: String::new(),
            nonce: String::new(),
            crypto: rtc::crypto::default_provider().unwrap(),
        };
        let mut challenge = Message::new();
        challenge
            .build(&[
                Box::new(TransactionId::new()),
                Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST)),
                Box::new(RequestedTransport {
                    protocol: PROTO_UDP,
                }),
                Box::new(FINGERPRINT),
            ])
            .unwrap();
        let answer = client.transact(&challenge).await;
        assert_eq!(outcome(&answer), Err(401));
        client.realm = TextAttribute::get_from_as(&answer, ATTR_REALM)
            .unwrap()
            .text;
        client.nonce = TextAttribute::get_from_as(&answer, ATTR_NONCE)
            .unwrap()
            .text;
        client
    }

    /// Sends an authenticated `method` request with `attributes`; returns the answer.
    async fn request(&self, method: Method, attributes: Vec<Box<dyn Setter>>) -> Message {
        let mut setters: Vec<Box<dyn Setter + '_>> = vec![
            Box::new(TransactionId::new()),
            Box::new(MessageType::new(method, CLASS_REQUEST)),
        ];
        setters.extend(attributes);
        setters.push(Box::new(TextAttribute::new(
            ATTR_USERNAME,
            self.username.clone(),
        )));
        setters.push(Box::new(TextAttribute::new(ATTR_REALM, self.realm.clone())));
        setters.push(Box::new(TextAttribute::new(ATTR_NONCE, self.nonce.clone())));
        setters.push(Box::new(
            MessageIntegrity::new_long_term_integrity_with_provider(
                self.username.clone(),
                self.realm.clone(),
                self.password.clone(),
                self.crypto.crypto(),
            )
            .unwrap(),
        ));
        setters.push(Box::new(FINGERPRINT));
        let mut message = Message::new();
        message.build(&setters).unwrap();
        self.transact(&message).await
    }

    async fn transact(&self, message: &Message) -> Message {
        self.socket
            .send_to(&message.raw, self.server)
            .await
            .unwrap();
        let mut buf = vec![0; 2048];
        loop {
            let (n, _) = timeout(Duration::from_secs(5), self.socket.recv_from(&mut buf))
                .await
                .expect("the TURN server answers")
                .unwrap();
            if !is_stun_message(&buf[..n]) {
                continue;
            }
            let mut answer = Message::new();
            answer.unmarshal_binary(&buf[..n]).unwrap();
            if answer.transaction_id == message.transaction_id {
                return answer;
            }
        }
    }

    async fn allocate(&self, lifetime: Duration) -> Result<SocketAddr, u16> {
        let answer = self
            .request(
                METHOD_ALLOCATE,
                vec![
                    Box::new(RequestedTransport {
                        protocol: PROTO_UDP,
                    }),
                    Box::new(Lifetime(lifetime)),
                ],
            )
            .await;
        outcome(&answer)?;
        let mut relayed = RelayedAddress::default();
        relayed.get_from(&answer).unwrap();
        assert_eq!(granted_lifetime(&answer), lifetime);
        Ok(SocketAddr::new(relayed.ip, relayed.port))
    }

    async fn refresh(&self, lifetime: Duration) -> Result<(), u16> {
        let answer = self
            .request(METHOD_REFRESH, vec![Box::new(Lifetime(lifetime))])
            .await;
        outcome(&answer)?;
        assert_eq!(granted_lifetime(&answer), lifetime);
        Ok(())
    }

    async fn create_permission(&self, peer: SocketAddr) -> Result<(), u16> {
        let answer = self
            .request(METHOD_CREATE_PERMISSION, vec![peer_address(peer)])
            .await;
        outcome(&answer)
    }

    async fn channel_bind(&self, channel: u16, peer: SocketAddr) -> Result<(), u16> {
        let answer = self
            .request(
                METHOD_CHANNEL_BIND,
                vec![Box::new(ChannelNumber(channel)), peer_address(peer)],
            )
            .await;
        outcome(&answer)
    }

    /// Sends `data` to the peer bound to `channel` (a ChannelData message).
    async fn send_channel_data(&self, channel: u16, data: &[u8]) {
        let mut packet = channel.to_be_bytes().to_vec();
        packet.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        packet.extend_from_slice(data);
        self.socket.send_to(&packet, self.server).await.unwrap();
    }

    /// The next ChannelData message: its channel and data.
    async fn recv_channel_data(&self) -> (u16, Vec<u8>) {
        let mut buf = vec![0; 2048];
        loop {
            let (n, _) = timeout(Duration::from_secs(5), self.socket.recv_from(&mut buf))
                .await
                .expect("data relayed from the peer")
                .unwrap();
            if n >= 4 && buf[0] & 0xC0 == 0x40 {
                let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
                return (
                    u16::from_be_bytes([buf[0], buf[1]]),
                    buf[4..4 + len].to_vec(),
                );
            }
        }
    }
}

fn peer_address(peer: SocketAddr) -> Box<dyn Setter> {
    Box::new(PeerAddress {
        ip: peer.ip(),
        port: peer.port(),
    })
}

fn granted_lifetime(answer: &Message) -> Duration {
    let mut lifetime = Lifetime::default();
    lifetime.get_from(answer).unwrap();
    lifetime.0
}

/// `Ok` for a success answer, else its error code.
fn outcome(answer: &Message) -> Result<(), u16> {
    if answer.typ.class == CLASS_SUCCESS_RESPONSE {
        return Ok(());
    }
    let mut code = ErrorCodeAttribute::default();
    code.get_from(answer).unwrap();
    Err(code.code.0)
}

#[tokio::test]
async fn an_allocation_is_refreshed_with_its_credentials_after_they_expire_and_only_it() {
    // Credentials valid for a second (to the end of the next whole second), and an allocation
    // that lives 3 s unless refreshed: it can only outlive them through refreshes made with
    // them after their expiry.
    let (local, arn, _) = local_with_credential_ttl(Duration::from_secs(1), "long-relay").await;
    let role = Role::Viewer(ClientId::new("relayed").unwrap());
    let servers = ice_servers(local.config(), &arn, &role).await.unwrap();
    let (server, credentials) = turn_server_of(&servers);
    let expiry: u64 = credentials
        .username
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let lifetime = Duration::from_secs(3);

    let client = RawTurn::connect(server, credentials).await;
    let relayed = client.allocate(lifetime).await.unwrap();
    // Refreshed every second until 4 s after the credentials stopped being valid (they are
    // refused from `expiry + 1` on), that is past the allocation's own lifetime.
    let mut late_refreshes = 0;
    while epoch_secs() < expiry + 1 + 4 {
        sleep(Duration::from_secs(1)).await;
        let now = epoch_secs();
        client.refresh(lifetime).await.unwrap_or_else(|code| {
            panic!("refresh {}s past the expiry: error {code}", now - expiry)
        });
        if now > expiry {
            late_refreshes += 1;
        }
    }
    assert!(
        late_refreshes >= 3,
        "{late_refreshes} refreshes after the expiry"
    );

    // A permission and a channel made after the expiry, and data both ways through them.
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    client.create_permission(peer_addr).await.unwrap();
    client.channel_bind(0x4000, peer_addr).await.unwrap();
    client.send_channel_data(0x4000, b"to the peer").await;
    let mut buf = [0; 64];
    let (n, from) = timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
        .await
        .expect("data relayed to the peer")
        .unwrap();
    assert_eq!((&buf[..n], from), (&b"to the peer"[..], relayed));
    peer.send_to(b"to the client", relayed).await.unwrap();
    assert_eq!(
        client.recv_channel_data().await,
        (0x4000, b"to the client".to_vec())
    );

    // Nobody else can allocate with the expired credentials ...
    let other = RawTurn::connect(server, credentials).await;
    assert!(other.allocate(lifetime).await.is_err());
    // ... nor the same client once its allocation is released (which the server hears of
    // asynchronously, hence the pause).
    client.refresh(Duration::ZERO).await.unwrap();
    sleep(Duration::from_millis(500)).await;
    assert!(client.allocate(lifetime).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_session_keeps_its_media_flowing_after_its_turn_credentials_expire() {
    const TTL: Duration = Duration::from_secs(2);
    let (local, _, channel) = local_with_credential_ttl(TTL, "long-session").await;
    let mut options = SessionOptions::default();
    options.ice = IceConfig::loopback();
    options.relay_only = true;
    let video = SyntheticVideo::default();
    let master = MasterSession::start(
        local.config(),
        &channel,
        &[video.track_info()],
        options.clone(),
    )
    .await
    .unwrap();
    let sink = master.frame_sink();
    let fps = u64::from(video.fps);
    let feeding = tokio::spawn(async move {
        for index in 0.. {
            if sink.send(video.frame(index)).is_err() {
                break;
            }
            sleep(Duration::from_millis(1000 / fps)).await;
        }
    });
    let (viewer, mut output) = ViewerSession::start(
        local.config(),
        &channel,
        ClientId::new("long-viewer").unwrap(),
        options,
    )
    .await
    .unwrap();
    // Every credential either peer was given has expired by then (whole seconds).
    let expired = Instant::now() + TTL + Duration::from_secs(1);
    timeout(Duration::from_secs(30), output.frames.recv())
        .await
        .expect("the relayed session comes up")
        .unwrap();
    let end = expired.max(Instant::now()) + Duration::from_secs(8);
    let mut late_frames = 0;
    while Instant::now() < end {
        timeout(Duration::from_secs(5), output.frames.recv())
            .await
            .expect("frames keep arriving")
            .unwrap();
        if Instant::now() > expired {
            late_frames += 1;
        }
    }
    assert!(
        late_frames >= 8 * fps / 2,
        "{late_frames} frames after the expiry"
    );
    let stats = viewer.viewer().stats().await;
    assert!(stats.connected, "{stats:?}");
    assert_eq!(
        stats.local_candidate_type.as_deref(),
        Some("relay"),
        "{stats:?}"
    );
    viewer.close().await;
    master.close().await;
    feeding.abort();
}
