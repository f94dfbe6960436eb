//! The TURN/STUN server kvs-local runs for relayed WebRTC (the `turn` crate of webrtc-rs).
//!
//! Credentials are the TURN REST API kind: the user name is `<expiry epoch seconds>:<client>`
//! and the password is base64(HMAC-SHA1(secret, user name)), so any server holding the secret
//! can check them without storing anything, and they stop working at their expiry.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The TURN realm.
const REALM: &str = "kvs-local";

/// A running TURN server.
pub(crate) struct TurnServer {
    server: turn::server::Server,
    addr: SocketAddr,
    secret: Arc<Vec<u8>>,
}

/// One set of TURN credentials.
pub(crate) struct TurnCredentials {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl TurnServer {
    /// Listens for TURN over UDP on `ip:port` (port 0 picks one) and relays on `ip`.
    pub(crate) async fn start(ip: IpAddr, port: u16, secret: Vec<u8>) -> std::io::Result<Self> {
        let socket = tokio::net::UdpSocket::bind(SocketAddr::new(ip, port)).await?;
        let addr = socket.local_addr()?;
        let secret = Arc::new(secret);
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
            auth_handler: Arc::new(Auth {
                secret: secret.clone(),
            }),
            channel_bind_timeout: Duration::from_secs(0),
            alloc_close_notify: None,
        })
        .await
        .map_err(std::io::Error::other)?;
        Ok(Self {
            server,
            addr,
            secret,
        })
    }

    /// The UDP address clients reach the server at.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Credentials for `client` valid for `ttl`.
    pub(crate) fn credentials(&self, client: &str, ttl: Duration) -> TurnCredentials {
        let expiry = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(ttl)
            .as_secs();
        let username = format!("{expiry}:{client}");
        TurnCredentials {
            password: password(&self.secret, &username),
            username,
        }
    }

    pub(crate) async fn close(&self) {
        let _ = self.server.close().await;
    }
}

fn password(secret: &[u8], username: &str) -> String {
    // HMAC takes keys of any length, so this never falls back to the empty (refused) password.
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

struct Auth {
    secret: Arc<Vec<u8>>,
}

impl turn::auth::AuthHandler for Auth {
    fn auth_handle(
        &self,
        username: &str,
        realm: &str,
        src_addr: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        let expiry: u64 = username
            .split_once(':')
            .and_then(|(t, _)| t.parse().ok())
            .ok_or_else(|| turn::Error::Other(format!("malformed TURN user name {username:?}")))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if expiry < now {
            tracing::debug!(%username, %src_addr, "expired TURN credentials refused");
            return Err(turn::Error::Other(format!(
                "TURN credentials {username:?} expired"
            )));
        }
        let password = password(&self.secret, username);
        Ok(turn::auth::generate_auth_key(username, realm, &password))
    }
}

#[cfg(test)]
mod tests {
    use turn::auth::AuthHandler;

    use super::*;

    fn auth() -> Auth {
        Auth {
            secret: Arc::new(b"secret".to_vec()),
        }
    }

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 5000))
    }

    #[test]
    fn current_credentials_give_the_key_of_their_password() {
        let username = format!("{}:viewer", u64::MAX / 2);
        let key = auth().auth_handle(&username, REALM, addr()).unwrap();
        let password = password(b"secret", &username);
        assert_eq!(
            key,
            turn::auth::generate_auth_key(&username, REALM, &password)
        );
    }

    #[test]
    fn expired_and_malformed_user_names_are_refused() {
        assert!(auth().auth_handle("1000:viewer", REALM, addr()).is_err());
        assert!(auth().auth_handle("viewer", REALM, addr()).is_err());
    }
}
