//! The signaling client against a real kvs-local over loopback.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kvs_control::{ChannelSpec, ControlPlane};
use kvs_endpoint::KvsConfig;
use kvs_local::SignalingLimits;
use kvs_testkit::LocalKvs;
use kvs_types::{Arn, ChannelName};
use kvs_webrtc::signaling::{
    ClientId, IceCandidate, Incoming, Outgoing, Role, Signal, SignalingClient, SignalingError,
    SignalingEvent, SignalingOptions,
};

const WAIT: Duration = Duration::from_secs(10);

/// kvs-local with `limits` and one signaling channel.
struct Local {
    kvs: LocalKvs,
    channel: Arn,
}

async fn local(limits: SignalingLimits) -> Local {
    let kvs = LocalKvs::builder()
        .configure(move |c| c.signaling = limits)
        .start()
        .await;
    let channel = ControlPlane::new(kvs.config())
        .ensure_channel(&ChannelSpec::new(ChannelName::new("door").unwrap()))
        .await
        .unwrap();
    Local {
        channel: Arn::parse(&channel.channel_arn).unwrap(),
        kvs,
    }
}

fn fast() -> SignalingOptions {
    let mut c = SignalingOptions::default();
    c.min_backoff = Duration::from_millis(50);
    c.max_backoff = Duration::from_millis(200);
    c
}

impl Local {
    fn config(&self) -> &KvsConfig {
        self.kvs.config()
    }

    async fn connect(&self, role: Role) -> SignalingClient {
        SignalingClient::connect(self.config(), self.channel.clone(), role, fast())
            .await
            .unwrap()
    }
}

fn viewer(id: &str) -> Role {
    Role::Viewer(ClientId::new(id).unwrap())
}

fn offer(sdp: &str) -> Outgoing {
    Outgoing {
        signal: Signal::Offer(sdp.into()),
        recipient: None,
        correlation_id: None,
    }
}

/// The next message, skipping connection events.
async fn next_message(client: &mut SignalingClient) -> Incoming {
    loop {
        match tokio::time::timeout(WAIT, client.recv()).await.unwrap() {
            Some(SignalingEvent::Message(m)) => return m,
            Some(_) => {}
            None => panic!("the client closed"),
        }
    }
}

async fn next_event(client: &mut SignalingClient) -> SignalingEvent {
    tokio::time::timeout(WAIT, client.recv())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn master_and_viewer_exchange_offer_answer_and_candidates() {
    let local = local(SignalingLimits::default()).await;
    let mut master = local.connect(Role::Master).await;
    let mut viewer = local.connect(viewer("viewer-1")).await;

    viewer.send(offer("v=0 offer"));
    assert_eq!(
        next_message(&mut master).await,
        Incoming::Signal {
            sender: Some(ClientId::new("viewer-1").unwrap()),
            signal: Signal::Offer("v=0 offer".into())
        }
    );
    let candidate = IceCandidate {
        candidate: "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    };
    for signal in [
        Signal::Answer("v=0 answer".into()),
        Signal::IceCandidate(candidate.clone()),
    ] {
        master.send(Outgoing {
            signal: signal.clone(),
            recipient: Some(ClientId::new("viewer-1").unwrap()),
            correlation_id: None,
        });
        assert_eq!(
            next_message(&mut viewer).await,
            Incoming::Signal {
                sender: None,
                signal
            }
        );
    }
    assert_eq!(local.kvs.server().calls("ConnectAsMaster"), 1);
    assert_eq!(local.kvs.server().calls("ConnectAsViewer"), 1);
}

#[tokio::test]
async fn an_offer_sent_before_the_master_connects_is_delivered_when_it_does() {
    let local = local(SignalingLimits::default()).await;
    let viewer = local.connect(viewer("early")).await;
    viewer.send(offer("first"));
    viewer.send(offer("second"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut master = local.connect(Role::Master).await;
    // a newer undelivered offer replaces the older one
    let Incoming::Signal { signal, .. } = next_message(&mut master).await else {
        panic!("not a signal")
    };
    assert_eq!(signal, Signal::Offer("second".into()));
}

#[tokio::test]
async fn a_master_message_without_recipient_gets_a_status_response() {
    let local = local(SignalingLimits::default()).await;
    let mut master = local.connect(Role::Master).await;
    master.send(Outgoing {
        signal: Signal::Answer("x".into()),
        recipient: None,
        correlation_id: Some("corr-7".into()),
    });
    let Incoming::Status(status) = next_message(&mut master).await else {
        panic!("not a status response")
    };
    assert_eq!(status.correlation_id.as_deref(), Some("corr-7"));
    assert_eq!(status.status_code.as_deref(), Some("400"));
    assert!(
        status
            .description
            .unwrap_or_default()
            .contains("recipientClientId")
    );
}

#[tokio::test]
async fn a_bad_presigned_url_is_refused() {
    let local = local(SignalingLimits::default()).await;
    // With the wrong key, the client stops at the endpoint lookup, saying why.
    let wrong = local.kvs.config_with_secret("not-the-secret").await;
    let err = SignalingClient::connect(&wrong, local.channel.clone(), Role::Master, fast())
        .await
        .unwrap_err();
    let SignalingError::Endpoint { source, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        source.service_error().kind(),
        kvs_endpoint::ErrorKind::NotAuthorized,
        "{err}"
    );

    // A URL presigned with the wrong key, a valid one with its signature tampered with, and
    // one naming another channel: the signaling endpoint refuses each.
    let endpoint = local.kvs.url().replacen("http", "ws", 1);
    let url = format!(
        "{endpoint}/?X-Amz-ChannelARN={}",
        local
            .channel
            .as_str()
            .replace(':', "%3A")
            .replace('/', "%2F")
    );
    let wrongly_signed = wrong
        .signer("kinesisvideo")
        .presign_url(&url, Duration::from_secs(299))
        .await
        .unwrap();
    let err = tokio_tungstenite::connect_async(wrongly_signed)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    let signer = local.config().signer("kinesisvideo");
    let signed = signer
        .presign_url(&url, Duration::from_secs(299))
        .await
        .unwrap();
    let (head, sig) = signed.rsplit_once("X-Amz-Signature=").unwrap();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    let tampered = format!("{head}X-Amz-Signature={flipped}{}", &sig[1..]);
    let err = tokio_tungstenite::connect_async(tampered)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    let other = signed.replace("door", "hall");
    assert!(tokio_tungstenite::connect_async(other).await.is_err());
    // and the untampered one works
    assert!(tokio_tungstenite::connect_async(signed).await.is_ok());
}

#[tokio::test]
async fn bad_client_ids_and_an_eleventh_viewer_are_refused() {
    let local = local(SignalingLimits::default()).await;
    let mut viewers = Vec::new();
    for i in 0..10 {
        viewers.push(local.connect(viewer(&format!("v{i}"))).await);
    }
    let err =
        SignalingClient::connect(local.config(), local.channel.clone(), viewer("v10"), fast())
            .await
            .unwrap_err();
    assert!(
        err.to_string().contains("ClientLimitExceededException"),
        "{err}"
    );
    drop(viewers);

    // Client ids the KVS rules forbid, sent by hand (ClientId refuses to build them).
    let signer = local.config().signer("kinesisvideo");
    let endpoint = local.kvs.url().replacen("http", "ws", 1);
    for bad in ["AWS_admin", "has%20space"] {
        let url = format!(
            "{endpoint}/?X-Amz-ChannelARN={}&X-Amz-ClientId={bad}",
            local
                .channel
                .as_str()
                .replace(':', "%3A")
                .replace('/', "%2F")
        );
        let signed = signer
            .presign_url(&url, Duration::from_secs(299))
            .await
            .unwrap();
        let err = tokio_tungstenite::connect_async(signed).await.unwrap_err();
        assert!(err.to_string().contains("400"), "{bad}: {err}");
    }
}

#[tokio::test]
async fn go_away_is_honoured_and_the_client_carries_on() {
    let local = local(SignalingLimits {
        max_connection: Duration::from_secs(2),
        go_away_grace: Duration::from_secs(1),
        ..SignalingLimits::default()
    })
    .await;
    let mut master = local.connect(Role::Master).await;
    assert_eq!(next_message(&mut master).await, Incoming::GoAway);
    assert_eq!(next_event(&mut master).await, SignalingEvent::Reconnected);
    assert_eq!(local.kvs.server().calls("ConnectAsMaster"), 2);
    let viewer = local.connect(viewer("after-go-away")).await;
    viewer.send(offer("hello"));
    assert!(matches!(
        next_message(&mut master).await,
        Incoming::Signal { .. }
    ));
}

#[tokio::test]
async fn a_dropped_connection_is_reconnected_and_a_new_viewer_can_then_connect() {
    let mut local = local(SignalingLimits::default()).await;
    let (config, channel) = (local.config().clone(), local.channel.clone());
    let mut master = SignalingClient::connect(&config, channel.clone(), Role::Master, fast())
        .await
        .unwrap();
    // kvs-local goes away under the connection, and comes back on the same port.
    local.kvs.stop().await;
    assert!(matches!(
        next_event(&mut master).await,
        SignalingEvent::Disconnected { .. }
    ));
    local.kvs.restart().await;
    assert_eq!(next_event(&mut master).await, SignalingEvent::Reconnected);

    let viewer = SignalingClient::connect(&config, channel.clone(), viewer("new-viewer"), fast())
        .await
        .unwrap();
    viewer.send(offer("after the drop"));
    let Incoming::Signal { sender, .. } = next_message(&mut master).await else {
        panic!("not a signal")
    };
    assert_eq!(sender.unwrap().as_str(), "new-viewer");
}

#[tokio::test]
async fn the_c_sdks_capitalised_message_keys_are_relayed() {
    use base64::Engine as _;
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;

    // AWS's C SDK sends `RecipientClientId`, `MessagePayload` and `CorrelationId` (KVS takes
    // both spellings); here a raw WebSocket viewer sends its offer that way.
    let local = local(SignalingLimits::default()).await;
    let mut master = local.connect(Role::Master).await;
    let url = format!(
        "{}/?X-Amz-ChannelARN={}&X-Amz-ClientId=ConsumerViewer_1",
        local.kvs.url().replacen("http", "ws", 1),
        local
            .channel
            .as_str()
            .replace(':', "%3A")
            .replace('/', "%2F")
    );
    let signed = local
        .config()
        .signer("kinesisvideo")
        .presign_url(&url, Duration::from_secs(299))
        .await
        .unwrap();
    let (mut socket, _) = tokio_tungstenite::connect_async(signed).await.unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let offer = b64.encode(r#"{"type":"offer","sdp":"v=0 c-sdk offer"}"#);
    socket
        .send(Message::text(format!(
            r#"{{"action":"SDP_OFFER","RecipientClientId":"","MessagePayload":"{offer}","CorrelationId":"7"}}"#
        )))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut master).await,
        Incoming::Signal {
            sender: Some(ClientId::new("ConsumerViewer_1").unwrap()),
            signal: Signal::Offer("v=0 c-sdk offer".into())
        }
    );
    master.send(Outgoing {
        signal: Signal::Answer("v=0 answer".into()),
        recipient: Some(ClientId::new("ConsumerViewer_1").unwrap()),
        correlation_id: None,
    });
    let reply = tokio::time::timeout(WAIT, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let reply: serde_json::Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(reply["messageType"], "SDP_ANSWER", "{reply}");
}

/// A raw signaling WebSocket on `local`'s channel, presigned as the C SDK does it: the master
/// without a client id, a viewer with `X-Amz-ClientId`.
async fn raw_socket(
    local: &Local,
    client_id: Option<&str>,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut url = format!(
        "{}/?X-Amz-ChannelARN={}",
        local.kvs.url().replacen("http", "ws", 1),
        local
            .channel
            .as_str()
            .replace(':', "%3A")
            .replace('/', "%2F")
    );
    if let Some(id) = client_id {
        url.push_str(&format!("&X-Amz-ClientId={id}"));
    }
    let signed = local
        .config()
        .signer("kinesisvideo")
        .presign_url(&url, Duration::from_secs(299))
        .await
        .unwrap();
    tokio_tungstenite::connect_async(signed).await.unwrap().0
}

#[tokio::test]
async fn the_c_sdks_recorded_messages_reach_our_clients_as_signals() {
    use base64::Engine as _;
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;

    // The frames AWS's C SDK samples sent through kvs-local, recorded on the wire (see the
    // fixture's README; kvs-local's tests/api/c_sdk.rs checks the relay byte for byte).
    let session: serde_json::Value = serde_json::from_str(include_str!(
        "../../kvs-local/tests/api/fixtures/c-sdk/signaling-session.json"
    ))
    .unwrap();
    let viewer_id = session["viewer_client_id"].as_str().unwrap();
    let messages = session["messages"].as_array().unwrap();
    let from = |who: &'static str| {
        messages
            .iter()
            .filter(move |m| m["from"] == who)
            .map(|m| m["sent"].as_str().unwrap())
    };
    // What a C frame says: its action and its decoded payload.
    let decode = |sent: &str| {
        let v: serde_json::Value = serde_json::from_str(sent).unwrap();
        let payload = base64::engine::general_purpose::STANDARD
            .decode(v["MessagePayload"].as_str().unwrap())
            .unwrap();
        let payload: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        (v["action"].as_str().unwrap().to_owned(), payload)
    };
    let expect = |signal: &Signal, action: &str, payload: &serde_json::Value| match signal {
        Signal::Offer(sdp) => {
            assert_eq!(action, "SDP_OFFER");
            assert_eq!(Some(sdp.as_str()), payload["sdp"].as_str());
        }
        Signal::Answer(sdp) => {
            assert_eq!(action, "SDP_ANSWER");
            assert_eq!(Some(sdp.as_str()), payload["sdp"].as_str());
        }
        Signal::IceCandidate(c) => {
            assert_eq!(action, "ICE_CANDIDATE");
            assert_eq!(Some(c.candidate.as_str()), payload["candidate"].as_str());
            assert_eq!(c.sdp_mid.as_deref(), payload["sdpMid"].as_str());
            assert_eq!(
                c.sdp_m_line_index.map(u64::from),
                payload["sdpMLineIndex"].as_u64()
            );
        }
    };
    let local = local(SignalingLimits::default()).await;

    // The C viewer's offer and candidates, to our master.
    let mut master = local.connect(Role::Master).await;
    let mut c_viewer = raw_socket(&local, Some(viewer_id)).await;
    let mut kinds = Vec::new();
    for sent in from("viewer") {
        c_viewer.send(Message::text(sent)).await.unwrap();
        let (action, payload) = decode(sent);
        let Incoming::Signal { sender, signal } = next_message(&mut master).await else {
            panic!("{action} did not arrive as a signal")
        };
        assert_eq!(sender.unwrap().as_str(), viewer_id);
        expect(&signal, &action, &payload);
        kinds.push(format!("viewer {action}"));
    }
    c_viewer.close(None).await.unwrap();
    master.close();

    // The C master's answer and candidates, to our viewer with that id.
    let mut viewer = local.connect(viewer(viewer_id)).await;
    let mut c_master = raw_socket(&local, None).await;
    for sent in from("master") {
        c_master.send(Message::text(sent)).await.unwrap();
        let (action, payload) = decode(sent);
        let Incoming::Signal { sender, signal } = next_message(&mut viewer).await else {
            panic!("{action} did not arrive as a signal")
        };
        assert_eq!(sender, None);
        expect(&signal, &action, &payload);
        kinds.push(format!("master {action}"));
    }
    for kind in [
        "viewer SDP_OFFER",
        "viewer ICE_CANDIDATE",
        "master SDP_ANSWER",
        "master ICE_CANDIDATE",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
}
