//! Where a client reached this server (scheme and `host:port`), so the endpoints it is handed
//! (GetDataEndpoint, GetSignalingChannelEndpoint, HLS/DASH session URLs) work the same way:
//! https for https clients, the name it used rather than the address the server bound.

use http::request::Parts;

use crate::tls::listener::{Arrival, Scheme};

/// The scheme and authority a request came with.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    scheme: Scheme,
    authority: String,
}

impl Origin {
    /// The origin of `parts`: the connection's scheme, and its `Host` (else the server's own
    /// `fallback` authority). A `Host` without a port gets the port the connection came in on
    /// unless that is the scheme's default: AWS's C SDKs sign and send the host without it.
    pub(crate) fn of(parts: &Parts, fallback: &str) -> Self {
        let arrival = parts
            .extensions
            .get::<axum::extract::ConnectInfo<Arrival>>()
            .map(|c| c.0);
        let scheme = arrival.map_or(Scheme::Http, |a| a.scheme);
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .filter(|h| is_authority(h));
        let authority = match (host, arrival) {
            (Some(h), Some(a)) if !has_port(h) && a.port != scheme.default_port() => {
                format!("{h}:{}", a.port)
            }
            (Some(h), _) => h.to_owned(),
            (None, _) => fallback.to_owned(),
        };
        Self { scheme, authority }
    }

    /// `http://host:port` or `https://host:port`.
    pub(crate) fn http_url(&self) -> String {
        format!("{}://{}", self.scheme.http(), self.authority)
    }

    /// `ws://host:port` or `wss://host:port`.
    pub(crate) fn ws_url(&self) -> String {
        format!("{}://{}", self.scheme.ws(), self.authority)
    }
}

/// Whether an authority names a port: `host:port` or `[v6]:port`, not `host` or `[v6]`.
fn has_port(authority: &str) -> bool {
    match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    }
}

/// A `host[:port]` safe to put into a URL: a name, an IPv4 address or a bracketed IPv6 one.
fn is_authority(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 260
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parts(host: Option<&str>) -> Parts {
        let mut b = http::Request::builder().uri("/getDataEndpoint");
        if let Some(h) = host {
            b = b.header("host", h);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_host_the_client_used_is_kept() {
        let o = Origin::of(&parts(Some("kvs.lan:4567")), "127.0.0.1:4567");
        assert_eq!(o.http_url(), "http://kvs.lan:4567");
        assert_eq!(o.ws_url(), "ws://kvs.lan:4567");
    }

    fn arrived(mut parts: Parts, scheme: Scheme, port: u16) -> Parts {
        parts
            .extensions
            .insert(axum::extract::ConnectInfo(Arrival { scheme, port }));
        parts
    }

    #[test]
    fn a_host_without_port_gets_the_port_the_connection_came_in_on() {
        // AWS's C producer and WebRTC SDK send `Host: 127.0.0.1` for http://127.0.0.1:4591
        let o = Origin::of(&arrived(parts(Some("127.0.0.1")), Scheme::Http, 4591), "x");
        assert_eq!(o.http_url(), "http://127.0.0.1:4591");
        let o = Origin::of(&arrived(parts(Some("[::1]")), Scheme::Https, 8443), "x");
        assert_eq!(o.ws_url(), "wss://[::1]:8443");
        // on the scheme's default port the URL needs none
        let o = Origin::of(&arrived(parts(Some("127.0.0.1")), Scheme::Https, 443), "x");
        assert_eq!(o.http_url(), "https://127.0.0.1");
        let o = Origin::of(
            &arrived(parts(Some("kvs.lan:4567")), Scheme::Https, 4567),
            "x",
        );
        assert_eq!(o.ws_url(), "wss://kvs.lan:4567");
    }

    #[test]
    fn a_missing_or_odd_host_falls_back_to_the_bound_address() {
        for host in [None, Some("evil/path"), Some("a b")] {
            let o = Origin::of(&parts(host), "127.0.0.1:4567");
            assert_eq!(o.http_url(), "http://127.0.0.1:4567", "{host:?}");
        }
    }
}
