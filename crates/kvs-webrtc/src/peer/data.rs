//! Data channels: reading one into events, and sending on it once it is open.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::data_channel::{DataChannel, DataChannelEvent};

use super::error::{PeerError, Result};

/// The label the KVS SDKs give the viewer's data channel.
pub const KVS_DATA_CHANNEL: &str = "kvsDataChannel";

/// A message received on a data channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataMessage {
    /// The message's bytes, as sent.
    pub data: Bytes,
    /// Sent as text (`send(string)` in a browser) rather than binary.
    pub is_text: bool,
}

impl DataMessage {
    /// The payload as text, if it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }
}

pub(crate) enum DataEvent {
    Open,
    Message(DataMessage),
    Closed,
}

/// The open data channel of a peer connection, once there is one.
#[derive(Clone, Default)]
pub(crate) struct DataSlot(Arc<Mutex<Option<Arc<dyn DataChannel>>>>);

impl DataSlot {
    fn set(&self, channel: Option<Arc<dyn DataChannel>>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = channel;
    }

    fn get(&self) -> Result<Arc<dyn DataChannel>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(PeerError::DataChannelNotOpen)
    }

    pub(crate) async fn send(&self, data: &[u8]) -> Result<()> {
        self.get()?
            .send(BytesMut::from(data))
            .await
            .map_err(PeerError::webrtc("send on the data channel"))
    }

    pub(crate) async fn send_text(&self, text: &str) -> Result<()> {
        self.get()?
            .send_text(text)
            .await
            .map_err(PeerError::webrtc("send text on the data channel"))
    }
}

/// Reads `channel` until it closes, filling `slot` while it is open and handing each event,
/// mapped by `map`, to `events` (waiting when the receiver is slow, which holds the remote
/// sender back through SCTP flow control).
pub(crate) fn read<E: Send + 'static>(
    channel: Arc<dyn DataChannel>,
    slot: DataSlot,
    events: mpsc::Sender<E>,
    map: impl Fn(DataEvent) -> E + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = channel.poll().await {
            let event = match event {
                DataChannelEvent::OnOpen => {
                    slot.set(Some(Arc::clone(&channel)));
                    DataEvent::Open
                }
                DataChannelEvent::OnMessage(m) => DataEvent::Message(DataMessage {
                    data: m.data.freeze(),
                    is_text: m.is_string,
                }),
                DataChannelEvent::OnClose => break,
                _ => continue,
            };
            if events.send(map(event)).await.is_err() {
                // Nobody listens; keep the channel usable for sending.
                continue;
            }
        }
        slot.set(None);
        let _ = events.send(map(DataEvent::Closed)).await;
    })
}
