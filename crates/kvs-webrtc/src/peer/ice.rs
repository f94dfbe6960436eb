//! ICE settings: STUN/TURN servers, relay-only mode, and the local addresses to gather host
//! candidates on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use webrtc::peer_connection::{
    RTCConfiguration, RTCConfigurationBuilder, RTCIceServer, RTCIceTransportPolicy, SettingEngine,
    SettingEngineBuilder,
};

const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);
const ICE_CHECKS: u16 = 28;
/// SRTP packets a retransmission may arrive behind and still be accepted: the default (64)
/// throws away any packet repaired after a burst, such as a large key frame.
const SRTP_REPLAY_WINDOW: usize = 4096;

/// A STUN or TURN server, as `GetIceServerConfig` returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port?transport=udp`, ...
    pub urls: Vec<String>,
    /// The TURN user name (empty for STUN).
    pub username: String,
    /// The TURN password (empty for STUN).
    pub credential: String,
}

/// How a peer finds a path to the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IceConfig {
    /// STUN and TURN servers.
    pub servers: Vec<IceServer>,
    /// Use only relayed (TURN) candidates, as a browser's `iceTransportPolicy: "relay"`.
    pub relay_only: bool,
    /// Local addresses to bind the UDP sockets on, one host candidate each. An unspecified
    /// address (`0.0.0.0`) stands for every non-loopback interface; loopback addresses must be
    /// listed to be used, because the webrtc crate skips them when it expands `0.0.0.0`.
    pub host_addresses: Vec<IpAddr>,
    /// Resolve the `.local` host candidates browsers send (mDNS queries); gathering never
    /// hides our own addresses behind mDNS names.
    pub mdns: bool,
}

impl Default for IceConfig {
    /// Every interface plus loopback, no servers, all candidate types, mDNS queries on.
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            relay_only: false,
            host_addresses: vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V4(Ipv4Addr::LOCALHOST),
            ],
            mdns: true,
        }
    }
}

impl IceConfig {
    /// Host candidates on 127.0.0.1 only and no mDNS: for peers on one machine (tests, a
    /// local kvs-local).
    pub fn loopback() -> Self {
        Self {
            host_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            mdns: false,
            ..Self::default()
        }
    }

    pub(crate) fn rtc_configuration(&self) -> RTCConfiguration {
        RTCConfigurationBuilder::new()
            .with_ice_servers(
                self.servers
                    .iter()
                    .map(|s| RTCIceServer {
                        urls: s.urls.clone(),
                        username: s.username.clone(),
                        credential: s.credential.clone(),
                    })
                    .collect(),
            )
            .with_ice_transport_policy(if self.relay_only {
                RTCIceTransportPolicy::Relay
            } else {
                RTCIceTransportPolicy::All
            })
            .build()
    }

    pub(crate) fn setting_engine(&self) -> SettingEngine {
        use rtc::ice::mdns::MulticastDnsMode;
        let mut builder = SettingEngineBuilder::new();
        if self.relay_only {
            // A relayed pair is otherwise held back 2 s in case a direct one turns up, which
            // relay-only mode rules out.
            builder = builder.with_relay_acceptance_min_wait(Some(Duration::ZERO));
        }
        builder
            // A peer's check often arrives before its trickled candidate, so the pair it
            // makes is peer-reflexive, which the crate holds back 1 s in case a better one
            // turns up: a second on the first frame of those connections. The candidate that
            // follows is the same address.
            .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
            .with_srtp_replay_protection_window(SRTP_REPLAY_WINDOW)
            .with_srtcp_replay_protection_window(SRTP_REPLAY_WINDOW)
            // The crate checks a candidate pair every 200 ms, which alone puts 200-400 ms into
            // every connection; RFC 8445's pacing (Ta) is 50 ms. The attempts are scaled so a
            // pair is still given up on after the same 1.4 s.
            .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_CHECKS))
            .with_multicast_dns_mode(if self.mdns {
                MulticastDnsMode::QueryOnly
            } else {
                MulticastDnsMode::Disabled
            })
            .build()
    }

    pub(crate) fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.host_addresses
            .iter()
            .map(|ip| SocketAddr::new(*ip, 0))
            .collect()
    }
}
