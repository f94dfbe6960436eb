//! The TURN/STUN server kvs-local runs for relayed WebRTC (the `turn` crate of webrtc-rs).
//!
//! Credentials are the TURN REST API kind: the user name is `<expiry epoch seconds>:<client>`
//! and the password is base64(HMAC-SHA1(secret, user name)), so any server holding the secret
//! can check them without storing anything.
//!
//! As with KVS's own TURN servers and coturn's `use-auth-secret`, the expiry bounds when an
//! allocation can be *made*, not how long it lives: a client keeps refreshing its allocation,
//! permissions and channel bindings with the credentials it allocated with, after they have
//! expired. The `turn` crate asks [`Auth`] for a key for every authenticated request without
//! saying which request it is, so the rule is kept per client address (the 5-tuple of an
//! allocation, there being one UDP listener): credentials seen while valid from an address stay
//! accepted from that address while an allocation made with them lives there, and expired
//! credentials are refused everywhere else.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use turn::allocation::AllocationInfo;

/// The TURN realm.
const REALM: &str = "kvs-local";

/// How often the record of who may use expired credentials is matched against the live
/// allocations (it is also trimmed whenever an allocation closes).
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// A running TURN server.
pub(crate) struct TurnServer {
    server: Arc<turn::server::Server>,
    addr: SocketAddr,
    secret: Arc<Vec<u8>>,
    credential_ttl: Duration,
    sweeper: tokio::task::JoinHandle<()>,
}

/// One set of TURN credentials.
pub(crate) struct TurnCredentials {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl TurnServer {
    /// Listens for TURN over UDP on `ip:port` (port 0 picks one) and relays on `ip`; hands
    /// out credentials valid for `credential_ttl`.
    pub(crate) async fn start(
        ip: IpAddr,
        port: u16,
        secret: Vec<u8>,
        credential_ttl: Duration,
    ) -> std::io::Result<Self> {
        let socket = tokio::net::UdpSocket::bind(SocketAddr::new(ip, port)).await?;
        let addr = socket.local_addr()?;
        let secret = Arc::new(secret);
        let auth = Arc::new(Auth::new(secret.clone()));
        let (closed_tx, mut closed_rx) = tokio::sync::mpsc::channel::<AllocationInfo>(64);
        let server = turn::server::Server::new(turn::server::config::ServerConfig {
            conn_configs: vec![turn::server::config::ConnConfig {
                conn: Arc::new(socket),
                relay_addr_generator: Box::new(
                    turn::relay::relay_static::RelayAddressGeneratorStatic {
                        relay_address: ip,
                        address: ip.to_string(),
                        net: Arc::new(webrtc_util::vnet::net::Net::new(None)),
                    },
                ),
            }],
            realm: REALM.to_owned(),
            auth_handler: auth.clone(),
            channel_bind_timeout: Duration::from_secs(0),
            alloc_close_notify: Some(closed_tx),
        })
        .await
        .map_err(std::io::Error::other)?;
        let server = Arc::new(server);

        // Ends when the server has dropped every allocation (and so every sender).
        let on_close = auth.clone();
        tokio::spawn(async move {
            while let Some(info) = closed_rx.recv().await {
                on_close.allocation_closed(info.five_tuple.src_addr, &info.username);
            }
        });
        let sweeper = tokio::spawn(sweep(Arc::downgrade(&server), auth));
        Ok(Self {
            server,
            addr,
            secret,
            credential_ttl,
            sweeper,
        })
    }

    /// The UDP address clients reach the server at.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How long the credentials handed out are valid for allocating.
    pub(crate) fn credential_ttl(&self) -> Duration {
        self.credential_ttl
    }

    /// Credentials for `client`, valid for [`Self::credential_ttl`].
    pub(crate) fn credentials(&self, client: &str) -> TurnCredentials {
        let expiry = now_secs().saturating_add(self.credential_ttl.as_secs());
        let username = format!("{expiry}:{client}");
        TurnCredentials {
            password: password(&self.secret, &username),
            username,
        }
    }

    pub(crate) async fn close(&self) {
        self.sweeper.abort();
        let _ = self.server.close().await;
    }
}

/// Every [`SWEEP_INTERVAL`], keeps only the grants of live allocations and unexpired
/// credentials (a grant whose request made no allocation would otherwise stay forever).
async fn sweep(server: Weak<turn::server::Server>, auth: Arc<Auth>) {
    loop {
        tokio::time::sleep(SWEEP_INTERVAL).await;
        let Some(server) = server.upgrade() else {
            return;
        };
        let Ok(live) = server.get_allocations_info(None).await else {
            return;
        };
        let live: Vec<(SocketAddr, String)> = live
            .into_values()
            .map(|info| (info.five_tuple.src_addr, info.username))
            .collect();
        auth.retain(&live, now_secs());
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn password(secret: &[u8], username: &str) -> String {
    // HMAC takes keys of any length, so this never falls back to the empty (refused) password.
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The expiry (epoch seconds) of a TURN REST API user name.
fn expiry(username: &str) -> Option<u64> {
    username.split_once(':').and_then(|(t, _)| t.parse().ok())
}

struct Auth {
    secret: Arc<Vec<u8>>,
    /// The user names each client address has presented while they were valid: from that
    /// address, they stay accepted after their expiry as long as an allocation made with
    /// them lives (they are dropped when it closes).
    granted: Mutex<HashMap<SocketAddr, HashSet<String>>>,
}

impl Auth {
    fn new(secret: Arc<Vec<u8>>) -> Self {
        Self {
            secret,
            granted: Mutex::default(),
        }
    }

    /// The long-term key of `username` if it may authenticate a request from `src` at `now`
    /// (epoch seconds): unexpired credentials from anywhere, expired ones only from an address
    /// that presented them before they expired and still holds their allocation.
    fn key(&self, username: &str, realm: &str, src: SocketAddr, now: u64) -> Option<Vec<u8>> {
        let expiry = expiry(username)?;
        let mut granted = self.granted.lock().unwrap_or_else(|e| e.into_inner());
        if expiry >= now {
            granted.entry(src).or_default().insert(username.to_owned());
        } else if granted
            .get(&src)
            .is_some_and(|names| names.contains(username))
        {
            tracing::trace!(%username, %src, "expired TURN credentials of a live allocation");
        } else {
            return None;
        }
        let password = password(&self.secret, username);
        Some(turn::auth::generate_auth_key(username, realm, &password))
    }

    /// The allocation `username` made from `src` has closed.
    fn allocation_closed(&self, src: SocketAddr, username: &str) {
        let mut granted = self.granted.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(names) = granted.get_mut(&src) {
            names.remove(username);
            if names.is_empty() {
                granted.remove(&src);
            }
        }
    }

    /// Keeps the grants of the `live` allocations (client address, user name) and the
    /// unexpired ones.
    fn retain(&self, live: &[(SocketAddr, String)], now: u64) {
        let mut granted = self.granted.lock().unwrap_or_else(|e| e.into_inner());
        granted.retain(|src, names| {
            names.retain(|name| {
                expiry(name).is_some_and(|e| e >= now)
                    || live.iter().any(|(a, n)| a == src && n == name)
            });
            !names.is_empty()
        });
    }
}

impl turn::auth::AuthHandler for Auth {
    fn auth_handle(
        &self,
        username: &str,
        realm: &str,
        src_addr: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        self.key(username, realm, src_addr, now_secs())
            .ok_or_else(|| {
                tracing::debug!(%username, %src_addr, "expired or malformed TURN credentials refused");
                turn::Error::Other(format!("TURN credentials {username:?} expired or malformed"))
            })
    }
}

#[cfg(test)]
mod tests {
    use turn::auth::AuthHandler;

    use super::*;

    fn auth() -> Auth {
        Auth::new(Arc::new(b"secret".to_vec()))
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn key_of(username: &str) -> Vec<u8> {
        turn::auth::generate_auth_key(username, REALM, &password(b"secret", username))
    }

    #[test]
    fn current_credentials_give_the_key_of_their_password() {
        let username = format!("{}:viewer", u64::MAX / 2);
        let key = auth().auth_handle(&username, REALM, addr(5000)).unwrap();
        assert_eq!(key, key_of(&username));
    }

    #[test]
    fn expired_and_malformed_user_names_are_refused() {
        assert!(
            auth()
                .auth_handle("1000:viewer", REALM, addr(5000))
                .is_err()
        );
        assert!(auth().auth_handle("viewer", REALM, addr(5000)).is_err());
        assert!(
            auth()
                .auth_handle("soon:viewer", REALM, addr(5000))
                .is_err()
        );
    }

    #[test]
    fn credentials_used_before_expiry_keep_working_from_their_address_until_it_deallocates() {
        let auth = auth();
        let name = "1000:viewer";
        // Valid at 990 (allocating), still valid at their expiry second.
        assert_eq!(auth.key(name, REALM, addr(5000), 990), Some(key_of(name)));
        assert_eq!(auth.key(name, REALM, addr(5000), 1000), Some(key_of(name)));
        // Refreshes from the same address after the expiry are accepted ...
        assert_eq!(auth.key(name, REALM, addr(5000), 1001), Some(key_of(name)));
        assert_eq!(auth.key(name, REALM, addr(5000), 5000), Some(key_of(name)));
        // ... but not from another address (a new allocation), nor other expired names.
        assert_eq!(auth.key(name, REALM, addr(5001), 1001), None);
        assert_eq!(auth.key("999:viewer", REALM, addr(5000), 1001), None);
        // Once the allocation is gone, the address may not allocate again with them.
        auth.allocation_closed(addr(5000), name);
        assert_eq!(auth.key(name, REALM, addr(5000), 1001), None);
    }

    #[test]
    fn rotated_credentials_on_the_same_allocation_are_accepted_too() {
        let auth = auth();
        assert!(auth.key("1000:viewer", REALM, addr(5000), 990).is_some());
        assert!(auth.key("2000:viewer", REALM, addr(5000), 1500).is_some());
        assert!(auth.key("1000:viewer", REALM, addr(5000), 1500).is_some());
        // Closing the allocation made with the first leaves the second.
        auth.allocation_closed(addr(5000), "1000:viewer");
        assert!(auth.key("1000:viewer", REALM, addr(5000), 1500).is_none());
        assert!(auth.key("2000:viewer", REALM, addr(5000), 2500).is_some());
    }

    #[test]
    fn the_sweep_keeps_live_allocations_and_unexpired_names_only() {
        let auth = auth();
        // An allocation, a request that made none, and credentials not yet expired.
        assert!(auth.key("1000:a", REALM, addr(5000), 990).is_some());
        assert!(auth.key("1000:b", REALM, addr(5001), 990).is_some());
        assert!(auth.key("3000:c", REALM, addr(5002), 990).is_some());
        auth.retain(&[(addr(5000), "1000:a".to_owned())], 2000);
        assert!(auth.key("1000:a", REALM, addr(5000), 2000).is_some());
        assert!(auth.key("1000:b", REALM, addr(5001), 2000).is_none());
        let granted = auth.granted.lock().unwrap();
        assert_eq!(granted.len(), 2, "{granted:?}");
        assert!(granted.contains_key(&addr(5002)));
    }
}
