//! Who is connected to which channel, and where each message goes.
//!
//! Pure state behind one mutex: connection tasks register, route and leave; nothing here awaits.
//! A message whose recipient is not connected waits up to the channel's message TTL, and a newer
//! undelivered offer or answer from the same sender replaces the older one, as KVS does.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// The most viewers one channel may have connected at once.
pub(crate) const MAX_VIEWERS: usize = 10;

/// Who a connection is on its channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    Master,
    Viewer(String),
}

/// What a connection task is told to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToClient {
    /// Send this text frame.
    Text(String),
    /// A newer connection took this one's place: close.
    Replaced,
}

/// A message on its way to a recipient.
#[derive(Debug, Clone)]
pub(crate) struct Relayed {
    pub(crate) action: String,
    /// The viewer that sent it; `None` from the master.
    pub(crate) sender: Option<String>,
    pub(crate) payload: String,
}

impl Relayed {
    fn to_json(&self) -> String {
        let mut v = serde_json::json!({
            "messageType": self.action,
            "messagePayload": self.payload,
        });
        if let Some(sender) = &self.sender {
            v["senderClientId"] = sender.as_str().into();
        }
        v.to_string()
    }

    fn replaces(&self, older: &Relayed) -> bool {
        self.action != "ICE_CANDIDATE" && self.action == older.action && self.sender == older.sender
    }
}

struct Peer {
    connection: u64,
    tx: mpsc::UnboundedSender<ToClient>,
}

#[derive(Default)]
struct Channel {
    peers: HashMap<Role, Peer>,
    waiting: HashMap<Role, VecDeque<(Instant, Relayed)>>,
}

/// Why a connection may not join.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JoinError {
    TooManyViewers,
}

#[derive(Default)]
pub(crate) struct Relay {
    channels: HashMap<String, Channel>,
    next_connection: u64,
}

impl Relay {
    /// Adds a connection; the newest master (or viewer with the same id) replaces the older.
    /// Returns the connection's id and the messages that waited for it.
    pub(crate) fn join(
        &mut self,
        channel: &str,
        role: Role,
        tx: mpsc::UnboundedSender<ToClient>,
        ttl: Duration,
    ) -> Result<u64, JoinError> {
        let ch = self.channels.entry(channel.to_owned()).or_default();
        let viewers = ch
            .peers
            .keys()
            .filter(|r| matches!(r, Role::Viewer(_)) && **r != role)
            .count();
        if matches!(role, Role::Viewer(_)) && viewers >= MAX_VIEWERS {
            return Err(JoinError::TooManyViewers);
        }
        self.next_connection += 1;
        let connection = self.next_connection;
        if let Some(waiting) = ch.waiting.remove(&role) {
            for (at, msg) in waiting {
                if at.elapsed() <= ttl {
                    let _ = tx.send(ToClient::Text(msg.to_json()));
                }
            }
        }
        if let Some(old) = ch.peers.insert(role, Peer { connection, tx }) {
            let _ = old.tx.send(ToClient::Replaced);
        }
        Ok(connection)
    }

    /// Removes a connection, unless a newer one already took its place.
    pub(crate) fn leave(&mut self, channel: &str, role: &Role, connection: u64) {
        if let Some(ch) = self.channels.get_mut(channel) {
            if ch
                .peers
                .get(role)
                .is_some_and(|p| p.connection == connection)
            {
                ch.peers.remove(role);
            }
            if ch.peers.is_empty() && ch.waiting.is_empty() {
                self.channels.remove(channel);
            }
        }
    }

    /// Delivers `msg` to `to`, or keeps it until `to` connects (for at most `ttl`).
    pub(crate) fn route(&mut self, channel: &str, to: Role, msg: Relayed, ttl: Duration) {
        let ch = self.channels.entry(channel.to_owned()).or_default();
        if let Some(peer) = ch.peers.get(&to)
            && peer.tx.send(ToClient::Text(msg.to_json())).is_ok()
        {
            return;
        }
        let queue = ch.waiting.entry(to).or_default();
        queue.retain(|(at, old)| at.elapsed() <= ttl && !msg.replaces(old));
        queue.push_back((Instant::now(), msg));
    }

    /// Closes every connection of a deleted channel.
    pub(crate) fn remove_channel(&mut self, channel: &str) {
        if let Some(ch) = self.channels.remove(channel) {
            for peer in ch.peers.values() {
                let _ = peer.tx.send(ToClient::Replaced);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn offer(sender: &str, sdp: &str) -> Relayed {
        Relayed {
            action: "SDP_OFFER".into(),
            sender: Some(sender.into()),
            payload: sdp.into(),
        }
    }

    fn texts(rx: &mut mpsc::UnboundedReceiver<ToClient>) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        while let Ok(ToClient::Text(t)) = rx.try_recv() {
            out.push(serde_json::from_str(&t).unwrap());
        }
        out
    }

    #[test]
    fn a_viewer_message_reaches_the_master_with_the_sender_id() {
        let mut relay = Relay::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        relay.join("c", Role::Master, tx, TTL).unwrap();
        relay.route("c", Role::Master, offer("v1", "p"), TTL);
        let got = texts(&mut rx);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["senderClientId"], "v1");
        assert_eq!(got[0]["messageType"], "SDP_OFFER");
    }

    #[test]
    fn undelivered_offers_wait_and_a_newer_one_replaces_the_older() {
        let mut relay = Relay::default();
        relay.route("c", Role::Master, offer("v1", "old"), TTL);
        relay.route("c", Role::Master, offer("v2", "other"), TTL);
        relay.route("c", Role::Master, offer("v1", "new"), TTL);
        let (tx, mut rx) = mpsc::unbounded_channel();
        relay.join("c", Role::Master, tx, TTL).unwrap();
        let payloads: Vec<_> = texts(&mut rx)
            .iter()
            .map(|m| m["messagePayload"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(payloads, ["other", "new"]);
    }

    #[test]
    fn the_newest_master_wins() {
        let mut relay = Relay::default();
        let (tx1, mut rx1) = mpsc::unbounded_channel();
        let first = relay.join("c", Role::Master, tx1, TTL).unwrap();
        let (tx2, mut rx2) = mpsc::unbounded_channel();
        relay.join("c", Role::Master, tx2, TTL).unwrap();
        assert_eq!(rx1.try_recv().unwrap(), ToClient::Replaced);
        relay.leave("c", &Role::Master, first);
        relay.route("c", Role::Master, offer("v", "p"), TTL);
        assert_eq!(
            texts(&mut rx2).len(),
            1,
            "the old master's leave kept the new one"
        );
    }

    #[test]
    fn at_most_ten_viewers() {
        let mut relay = Relay::default();
        let mut keep = Vec::new();
        for i in 0..MAX_VIEWERS {
            let (tx, rx) = mpsc::unbounded_channel();
            keep.push(rx);
            relay
                .join("c", Role::Viewer(format!("v{i}")), tx, TTL)
                .unwrap();
        }
        let (tx, _rx) = mpsc::unbounded_channel();
        assert_eq!(
            relay.join("c", Role::Viewer("v10".into()), tx.clone(), TTL),
            Err(JoinError::TooManyViewers)
        );
        // a viewer reconnecting with its own id takes its own place
        assert!(relay.join("c", Role::Viewer("v3".into()), tx, TTL).is_ok());
    }
}
