//! Network faults on loopback: an HTTP/1.1 proxy that cuts a response off in the middle of
//! its body; and [`free_addr`], for a server a client is told about before it starts.
//!
//! [`CutProxy`] sits in front of a server (kvs-local) and forwards requests and responses
//! byte for byte, except:
//!
//! - every exchange gets its own connection (`Connection: close` both ways), so the proxy
//!   knows which request each response answers without parsing bodies;
//! - URLs of the upstream server in JSON responses are rewritten to the proxy's own URL
//!   (with `Content-Length` fixed), so endpoints the server hands out (`GetDataEndpoint`,
//!   HLS/DASH session URLs) lead back through the proxy;
//! - the response to the first request whose path starts with [`CutAfter::path`] is passed on
//!   only up to [`CutAfter::body_bytes`] bytes of its body: then the proxy closes the
//!   connection ([`CutMode::Close`]) or stops sending and holds it open
//!   ([`CutMode::Stall`]) until the proxy is dropped.
//!
//! Request signatures (SigV4) stay valid: the `Host` header goes upstream unchanged and the
//! headers the proxy adds are not signed.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// A loopback address whose port was free a moment ago: where a server can be started later
/// ([`LocalKvsBuilder::addr`](crate::local::LocalKvsBuilder::addr)), or where nothing listens.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// The longest request or response head the proxy accepts.
const MAX_HEAD: usize = 64 * 1024;

/// What happens when the body reaches the cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutMode {
    /// Close the connection: the client sees the peer end the body early.
    Close,
    /// Send nothing more but keep the connection open (until the proxy is dropped): the
    /// client waits, e.g. until it gives up or is cancelled.
    Stall,
}

/// Which response to cut, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutAfter {
    /// A request path prefix, e.g. `/getClip`; the first response to such a request is cut.
    pub path: String,
    /// Bytes of the response body passed on before the cut.
    pub body_bytes: u64,
    /// Close or stall at the cut.
    pub mode: CutMode,
}

impl CutAfter {
    /// Closes the connection after `body_bytes` of the response to a request for `path...`.
    pub fn close(path: &str, body_bytes: u64) -> Self {
        Self {
            path: path.to_owned(),
            body_bytes,
            mode: CutMode::Close,
        }
    }

    /// Stalls after `body_bytes` of the response to a request for `path...`.
    pub fn stall(path: &str, body_bytes: u64) -> Self {
        Self {
            path: path.to_owned(),
            body_bytes,
            mode: CutMode::Stall,
        }
    }
}

/// What the proxy did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Request lines (`POST /getClip HTTP/1.1`) in the order they arrived.
    pub requests: Vec<String>,
    /// Whether the cut happened.
    pub cut: bool,
    /// The `Content-Length` of the response that was cut, if it had one.
    pub cut_content_length: Option<u64>,
}

struct Shared {
    upstream: SocketAddr,
    upstream_url: String,
    url: String,
    cut: CutAfter,
    armed: Mutex<bool>,
    report: watch::Sender<CutReport>,
}

/// An HTTP/1.1 proxy on 127.0.0.1 (a free port) that cuts one response short; see the
/// [module docs](self). Dropping it closes every connection.
pub struct CutProxy {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for CutProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CutProxy")
            .field("url", &self.url)
            .field("upstream", &self.shared.upstream)
            .field("cut", &self.shared.cut)
            .finish()
    }
}

impl CutProxy {
    /// Starts a proxy for the server at `upstream` (its address; URLs `http://<upstream>` in
    /// JSON responses are rewritten) on the current tokio runtime.
    pub async fn start(upstream: SocketAddr, cut: CutAfter) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a loopback port for the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let url = format!("http://{addr}");
        let shared = Arc::new(Shared {
            upstream,
            upstream_url: format!("http://{upstream}"),
            url: url.clone(),
            cut,
            armed: Mutex::new(true),
            report: watch::channel(CutReport::default()).0,
        });
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                // Connection tasks live in the set, so aborting this task closes them all.
                let mut connections = JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((client, _)) = accepted else { continue };
                            connections.spawn(exchange(client, shared.clone()));
                        }
                        Some(_) = connections.join_next() => {}
                    }
                }
            }
        });
        Self { url, shared, task }
    }

    /// The proxy's URL, `http://127.0.0.1:<port>`: the endpoint to give clients.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What happened so far.
    pub fn report(&self) -> CutReport {
        self.shared.report.borrow().clone()
    }

    /// Waits until the cut has happened (for a stall: the bytes before it were sent).
    pub async fn cut(&self) -> CutReport {
        let mut rx = self.shared.report.subscribe();
        let report = rx
            .wait_for(|r| r.cut)
            .await
            .expect("the proxy lives as long as self");
        report.clone()
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request and its response on a connection of their own.
async fn exchange(mut client: TcpStream, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let Ok(Some((head, rest))) = read_head(&mut client, Vec::new()).await else {
        return;
    };
    let request_line = head.lines().next().unwrap_or_default().to_owned();
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    shared
        .report
        .send_modify(|r| r.requests.push(request_line.clone()));
    let Ok(upstream) = TcpStream::connect(shared.upstream).await else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    let (mut up_read, mut up_write) = upstream.into_split();
    let (mut client_read, mut client_write) = client.into_split();
    if up_write
        .write_all(close_connection(&head).as_bytes())
        .await
        .is_err()
        || up_write.write_all(&rest).await.is_err()
    {
        return;
    }
    // The rest of the request body (if any) flows beside the response.
    let request_body = async {
        let _ = tokio::io::copy(&mut client_read, &mut up_write).await;
        std::future::pending::<()>().await
    };

    let cut = path.starts_with(&shared.cut.path) && {
        let mut armed = shared.armed.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *armed, false)
    };
    let response = async {
        // Interim (1xx) responses pass unchanged; the final one is ours to handle.
        let mut carry = Vec::new();
        let (head, body_start) = loop {
            let Some((head, rest)) = read_head(&mut up_read, carry).await? else {
                return Ok(());
            };
            if status(&head).is_some_and(|s| (100..200).contains(&s)) {
                client_write.write_all(head.as_bytes()).await?;
                carry = rest;
                continue;
            }
            break (head, rest);
        };
        if cut {
            return forward_cut(&shared, &head, body_start, &mut up_read, &mut client_write).await;
        }
        let length = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok());
        let json = header(&head, "content-type").is_some_and(|t| t.contains("json"));
        match length {
            Some(length) if json => {
                let mut body = body_start;
                while body.len() < length {
                    let mut chunk = vec![0; length - body.len()];
                    let n = up_read.read(&mut chunk).await?;
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
                let text = String::from_utf8_lossy(&body)
                    .replace(&shared.upstream_url, &shared.url)
                    .into_bytes();
                let head = set_content_length(&close_connection(&head), text.len());
                client_write.write_all(head.as_bytes()).await?;
                client_write.write_all(&text).await?;
            }
            _ => {
                client_write
                    .write_all(close_connection(&head).as_bytes())
                    .await?;
                client_write.write_all(&body_start).await?;
                tokio::io::copy(&mut up_read, &mut client_write).await?;
            }
        }
        client_write.shutdown().await
    };
    tokio::select! {
        () = request_body => {}
        _ = response => {}
    }
}

/// Passes the response head and `body_bytes` of its body, then closes or stalls.
async fn forward_cut(
    shared: &Shared,
    head: &str,
    mut body: Vec<u8>,
    upstream: &mut tokio::net::tcp::OwnedReadHalf,
    client: &mut tokio::net::tcp::OwnedWriteHalf,
) -> std::io::Result<()> {
    let limit = usize::try_from(shared.cut.body_bytes).unwrap_or(usize::MAX);
    client.write_all(close_connection(head).as_bytes()).await?;
    let mut buf = vec![0; 16 * 1024];
    while body.len() < limit {
        let n = upstream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    body.truncate(limit);
    client.write_all(&body).await?;
    client.flush().await?;
    let content_length = header(head, "content-length").and_then(|v| v.parse().ok());
    shared.report.send_modify(|r| {
        r.cut = true;
        r.cut_content_length = content_length;
    });
    match shared.cut.mode {
        CutMode::Close => client.shutdown().await,
        CutMode::Stall => std::future::pending().await,
    }
}

/// Reads up to the blank line that ends an HTTP head, starting with the bytes already read
/// (`buf`); returns the head (with its final CRLF CRLF) and whatever was read beyond it.
/// `None` when the peer closed first.
async fn read_head<R: AsyncReadExt + Unpin>(
    reader: &mut R,
    mut buf: Vec<u8>,
) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok(Some((String::from_utf8_lossy(&buf).into_owned(), rest)));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("HTTP head too long"));
        }
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn status(head: &str) -> Option<u16> {
    head.split_whitespace().nth(1)?.parse().ok()
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The head without `Connection` headers, with `Connection: close`.
fn close_connection(head: &str) -> String {
    let mut out = String::with_capacity(head.len() + 20);
    for (i, line) in head.trim_end_matches("\r\n").split("\r\n").enumerate() {
        let is_connection = i > 0
            && line
                .split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("connection"));
        if !is_connection {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

fn set_content_length(head: &str, length: usize) -> String {
    let mut out = String::with_capacity(head.len());
    for line in head.trim_end_matches("\r\n").split("\r\n") {
        match line.split_once(':') {
            Some((n, _)) if n.trim().eq_ignore_ascii_case("content-length") => {
                out.push_str(&format!("content-length: {length}\r\n"));
            }
            _ => {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_rewritten() {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nconnection: keep-alive\r\ncontent-length: 10\r\n\r\n";
        let closed = close_connection(head);
        assert_eq!(
            closed,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 10\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(header(&closed, "CONTENT-LENGTH"), Some("10"));
        assert_eq!(status(&closed), Some(200));
        assert!(set_content_length(&closed, 12).contains("content-length: 12\r\n"));
        assert!(set_content_length(&closed, 12).ends_with("close\r\n\r\n"));
    }
}
