//! Where a client reached this server (scheme and `host:port`), so the endpoints it is handed
//! (GetDataEndpoint, GetSignalingChannelEndpoint, HLS/DASH session URLs) work the same way:
//! https for https clients, the name it used rather than the address the server bound.

use http::request::Parts;

use crate::tls::listener::Scheme;

/// The scheme and authority a request came with.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    scheme: Scheme,
    authority: String,
}

impl Origin {
    /// The origin of `parts`: the connection's scheme, and its `Host` (else the server's own
    /// `fallback` authority).
    pub(crate) fn of(parts: &Parts, fallback: &str) -> Self {
        let scheme = parts
            .extensions
            .get::<axum::extract::ConnectInfo<Scheme>>()
            .map_or(Scheme::Http, |c| c.0);
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .filter(|h| is_authority(h));
        Self {
            scheme,
            authority: host.unwrap_or(fallback).to_owned(),
        }
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

    #[test]
    fn a_missing_or_odd_host_falls_back_to_the_bound_address() {
        for host in [None, Some("evil/path"), Some("a b")] {
            let o = Origin::of(&parts(host), "127.0.0.1:4567");
            assert_eq!(o.http_url(), "http://127.0.0.1:4567", "{host:?}");
        }
    }
}
