//! AWS's C WebRTC SDK as a peer: the signaling messages its stock samples sent through
//! kvs-local, recorded on the wire (fixtures/c-sdk/README.md), replayed verbatim from raw
//! WebSockets. kvs-local must relay each one to the other side with the payload unchanged, byte
//! for byte, and say nothing back to the sender. (kvs-webrtc's tests/signaling.rs feeds the
//! same recording to our signaling client.)

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::start;

const WAIT: Duration = Duration::from_secs(10);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One recorded session: `kvsWebrtcClientViewer` offering to `kvsWebrtcClientMaster`.
#[derive(Deserialize)]
struct Session {
    channel: String,
    viewer_client_id: String,
    messages: Vec<Recorded>,
}

#[derive(Deserialize)]
struct Recorded {
    /// `viewer` or `master`: who sent it.
    from: String,
    /// The text frame the C SDK sent, exactly.
    sent: String,
    /// The text frame kvs-local delivered to the other side when it was recorded.
    delivered: String,
}

fn session() -> Session {
    serde_json::from_str(include_str!("fixtures/c-sdk/signaling-session.json")).unwrap()
}

/// A raw signaling WebSocket on `channel_arn`, presigned as the C SDK does it: the master with
/// no client id, a viewer with `X-Amz-ClientId`.
async fn open(l: &crate::Local, channel_arn: &str, client_id: Option<&str>) -> Socket {
    let arn = channel_arn.replace(':', "%3A").replace('/', "%2F");
    let mut url = format!(
        "{}/?X-Amz-ChannelARN={arn}",
        l.kvs.url().replacen("http", "ws", 1)
    );
    if let Some(id) = client_id {
        url.push_str(&format!("&X-Amz-ClientId={id}"));
    }
    let signed = l
        .kvs
        .config()
        .signer("kinesisvideo")
        .presign_url(&url, Duration::from_secs(299))
        .await
        .unwrap();
    tokio_tungstenite::connect_async(signed).await.unwrap().0
}

/// The next text frame within `wait`, skipping pings and pongs.
async fn next_text(socket: &mut Socket, wait: Duration) -> Option<String> {
    let read = async {
        loop {
            match socket.next().await.expect("the connection closed").unwrap() {
                Message::Text(t) => return t.as_str().to_owned(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected frame {other:?}"),
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok()
}

/// Nothing arrives on `socket` for a while (no STATUS_RESPONSE refusal, no echo).
async fn quiet(socket: &mut Socket, who: &str) {
    if let Some(t) = next_text(socket, Duration::from_millis(300)).await {
        panic!("the {who} was sent {t}");
    }
}

#[tokio::test]
async fn the_c_sdks_recorded_signaling_is_relayed_byte_for_byte() {
    let session = session();
    let l = start().await;
    let arn = l
        .client
        .create_signaling_channel()
        .channel_name(&session.channel)
        .send()
        .await
        .unwrap()
        .channel_arn
        .unwrap();
    let mut master = open(&l, &arn, None).await;
    let mut viewer = open(&l, &arn, Some(&session.viewer_client_id)).await;

    let mut kinds = Vec::new();
    for (i, m) in session.messages.iter().enumerate() {
        let sent: Value = serde_json::from_str(&m.sent).unwrap();
        // The C SDK's own spelling: `action` and PascalCase for the rest.
        let action = sent["action"].as_str().unwrap();
        let payload = sent["MessagePayload"].as_str().unwrap();
        assert!(sent.get("messagePayload").is_none(), "{}", m.sent);

        let (from, to, sender) = match m.from.as_str() {
            "viewer" => (
                &mut viewer,
                &mut master,
                Some(session.viewer_client_id.as_str()),
            ),
            "master" => (&mut master, &mut viewer, None),
            other => panic!("message {i} from {other:?}"),
        };
        from.send(Message::text(m.sent.clone())).await.unwrap();
        let Some(text) = next_text(to, WAIT).await else {
            // Refused? kvs-local answers the sender with a STATUS_RESPONSE.
            let reply = next_text(from, Duration::from_millis(300)).await;
            panic!(
                "message {i} ({action}) was not relayed; the {} got {reply:?}",
                m.from
            );
        };
        let got: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(got["messageType"], action, "message {i}: {text}");
        assert_eq!(
            got["messagePayload"].as_str(),
            Some(payload),
            "message {i}: the payload changed on the way"
        );
        assert_eq!(
            got.get("senderClientId").and_then(Value::as_str),
            sender,
            "message {i}: {text}"
        );
        // Nothing else differs from what the C peer was handed when this was recorded.
        let recorded: Value = serde_json::from_str(&m.delivered).unwrap();
        assert_eq!(got, recorded, "message {i}");

        kinds.push(format!("{} {action}", m.from));
    }
    // No refusal (STATUS_RESPONSE) went back to either C peer.
    quiet(&mut master, "master").await;
    quiet(&mut viewer, "viewer").await;
    // The recording holds the whole exchange: offer, answer and candidates both ways.
    for kind in [
        "viewer SDP_OFFER",
        "master SDP_ANSWER",
        "viewer ICE_CANDIDATE",
        "master ICE_CANDIDATE",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
}
