//! A peer's messages to the other side, in the order the other side can use them: the offer or
//! answer first, then the candidates gathered for it.
//!
//! Candidates are gathered as soon as the local description is applied, which is before the
//! code that applied it has sent the description; a browser refuses a candidate that arrives
//! before the description it belongs to, so candidates wait behind a gate that sending the
//! description opens.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use webrtc::peer_connection::RTCIceCandidateInit;

use crate::signaling::{ClientId, IceCandidate, Outgoing, Signal};

#[derive(Default)]
struct Gate {
    open: bool,
    mid: Option<String>,
    held: Vec<RTCIceCandidateInit>,
}

/// The ordered outbound message queue of one peer connection.
pub(crate) struct Outbound {
    gate: Mutex<Gate>,
    queue: mpsc::UnboundedSender<Signal>,
}

impl Outbound {
    /// Starts the task that forwards this connection's messages to `transport`, addressed to
    /// `recipient` (the viewer, when a master sends).
    pub(crate) fn start(
        transport: mpsc::Sender<Outgoing>,
        recipient: Option<ClientId>,
    ) -> Arc<Self> {
        let (queue, mut rx) = mpsc::unbounded_channel::<Signal>();
        tokio::spawn(async move {
            while let Some(signal) = rx.recv().await {
                let message = Outgoing {
                    signal,
                    recipient: recipient.clone(),
                    correlation_id: None,
                };
                if transport.send(message).await.is_err() {
                    tracing::warn!("signaling transport closed; dropping outbound messages");
                    break;
                }
            }
        });
        Arc::new(Self {
            gate: Mutex::new(Gate::default()),
            queue,
        })
    }

    /// Sends the offer or answer, then every candidate held back for it.
    pub(crate) fn description(&self, signal: Signal) {
        let mut gate = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        if let Signal::Offer(sdp) | Signal::Answer(sdp) = &signal {
            gate.mid = first_mid(sdp);
        }
        let _ = self.queue.send(signal);
        gate.open = true;
        let held = std::mem::take(&mut gate.held);
        for candidate in held {
            let _ = self.queue.send(to_signal(candidate, gate.mid.as_deref()));
        }
    }

    /// Sends a locally gathered candidate, or holds it until the description has gone.
    pub(crate) fn candidate(&self, candidate: RTCIceCandidateInit) {
        let mut gate = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        if gate.open {
            let _ = self.queue.send(to_signal(candidate, gate.mid.as_deref()));
        } else {
            gate.held.push(candidate);
        }
    }
}

/// The webrtc crate names no m-line (`sdpMid: ""`), which browsers cannot place; with BUNDLE
/// every candidate belongs to the first m-line.
fn to_signal(c: RTCIceCandidateInit, mid: Option<&str>) -> Signal {
    let sdp_mid = match c.sdp_mid {
        Some(m) if !m.is_empty() => Some(m),
        _ => mid.map(str::to_owned),
    };
    Signal::IceCandidate(IceCandidate {
        candidate: c.candidate,
        sdp_m_line_index: if sdp_mid.is_some() {
            Some(0)
        } else {
            c.sdp_mline_index
        },
        sdp_mid,
    })
}

/// A remote candidate for the webrtc crate; `None` for the empty end-of-candidates marker.
pub(crate) fn from_signal(c: IceCandidate) -> Option<RTCIceCandidateInit> {
    if c.candidate.trim().is_empty() {
        return None;
    }
    Some(RTCIceCandidateInit {
        candidate: c.candidate,
        sdp_mid: c.sdp_mid,
        sdp_mline_index: c.sdp_m_line_index,
        username_fragment: None,
        url: None,
    })
}

fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=mid:"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn candidate(n: u32) -> RTCIceCandidateInit {
        RTCIceCandidateInit {
            candidate: format!("candidate:{n} 1 udp 1 127.0.0.1 5000 typ host"),
            sdp_mid: Some(String::new()),
            sdp_mline_index: Some(0),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn candidates_wait_for_the_description() {
        let (tx, mut rx) = mpsc::channel(16);
        let viewer = ClientId::new("v1").unwrap();
        let out = Outbound::start(tx, Some(viewer.clone()));
        out.candidate(candidate(1));
        out.description(Signal::Answer("v=0\r\na=mid:video0\r\n".into()));
        out.candidate(candidate(2));

        let first = rx.recv().await.unwrap();
        assert!(matches!(first.signal, Signal::Answer(_)));
        assert_eq!(first.recipient, Some(viewer));
        for n in [1, 2] {
            let Signal::IceCandidate(c) = rx.recv().await.unwrap().signal else {
                panic!("not a candidate")
            };
            assert!(c.candidate.starts_with(&format!("candidate:{n} ")));
            assert_eq!(c.sdp_mid.as_deref(), Some("video0"));
            assert_eq!(c.sdp_m_line_index, Some(0));
        }
    }

    #[test]
    fn end_of_candidates_is_not_a_candidate() {
        let end = IceCandidate {
            candidate: String::new(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        };
        assert!(from_signal(end).is_none());
    }
}
