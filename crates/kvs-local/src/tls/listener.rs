//! One port for http and https: each accepted connection is classified by its first byte (a
//! TLS ClientHello starts with the handshake record type, 0x16; HTTP starts with a method
//! name) and handed to the HTTP server as plain TCP or as a finished TLS stream.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::either::Either;
use tokio_util::task::AbortOnDropHandle;

/// The first byte of a TLS record carrying a handshake message.
const TLS_HANDSHAKE: u8 = 0x16;
/// How long a new connection may stay silent before it is dropped.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a request reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub(crate) fn http(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// The port a URL of this scheme means when it names none.
    pub(crate) fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }

    /// `ws` or `wss`.
    pub(crate) fn ws(self) -> &'static str {
        match self {
            Self::Http => "ws",
            Self::Https => "wss",
        }
    }
}

/// How a connection reached the server, given to handlers as `ConnectInfo<Arrival>`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival {
    pub(crate) scheme: Scheme,
    /// The server's port the connection came in on.
    pub(crate) port: u16,
}

impl Connected<IncomingStream<'_, DualListener>> for Arrival {
    fn connect_info(stream: IncomingStream<'_, DualListener>) -> Self {
        *stream.remote_addr()
    }
}

type Connection = Either<TcpStream, TlsStream<TcpStream>>;

/// Accepts TCP connections and yields them as plain or TLS streams; dropping it closes the
/// port.
pub(crate) struct DualListener {
    ready: mpsc::Receiver<(Connection, Arrival)>,
    port: u16,
    _accepting: AbortOnDropHandle<()>,
}

impl DualListener {
    /// Serves `tcp`; TLS connections are accepted with `tls` (plain http only without one).
    pub(crate) fn new(tcp: TcpListener, tls: Option<TlsAcceptor>) -> Self {
        let port = tcp.local_addr().map_or(0, |a| a.port());
        let (tx, ready) = mpsc::channel(64);
        let accepting = AbortOnDropHandle::new(tokio::spawn(accept_loop(tcp, port, tls, tx)));
        Self {
            ready,
            port,
            _accepting: accepting,
        }
    }
}

impl Listener for DualListener {
    type Io = Connection;
    type Addr = Arrival;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept loop only ends when it is aborted, which drops us first.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        // What the HTTP server asks for is how connections arrive, not where from.
        Ok(Arrival {
            scheme: Scheme::Http,
            port: self.port,
        })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    port: u16,
    tls: Option<TlsAcceptor>,
    ready: mpsc::Sender<(Connection, Arrival)>,
) {
    loop {
        let (stream, addr) = match tcp.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "kvs-local: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Acks are small writes that must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            if let Some(connection) = classify(stream, addr, port, tls).await {
                let _ = ready.send(connection).await;
            }
        });
    }
}

async fn classify(
    stream: TcpStream,
    addr: SocketAddr,
    port: u16,
    tls: Option<TlsAcceptor>,
) -> Option<(Connection, Arrival)> {
    let arrived = |scheme| Arrival { scheme, port };
    let mut first = [0u8; 1];
    let n = tokio::time::timeout(FIRST_BYTE_TIMEOUT, stream.peek(&mut first))
        .await
        .ok()?
        .ok()?;
    match tls {
        Some(acceptor) if n == 1 && first[0] == TLS_HANDSHAKE => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(s)) => Some((Either::Right(s), arrived(Scheme::Https))),
                Ok(Err(e)) => {
                    // Usually a client that does not trust the certificate: its error says so.
                    tracing::debug!(%addr, error = %e, "kvs-local: TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%addr, "kvs-local: TLS handshake timed out");
                    None
                }
            }
        }
        _ => Some((Either::Left(stream), arrived(Scheme::Http))),
    }
}
