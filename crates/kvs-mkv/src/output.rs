//! Where the writer appends: a flat buffer, or [`Chunks`] that share frame payloads.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Where [`MkvWriter`](crate::MkvWriter) and [`Packager`](crate::Packager) append MKV.
///
/// `Vec<u8>` and `BytesMut` copy frame payloads in; [`Chunks`] shares them. Every writer method
/// takes any `Output` and encodes the same bytes into each.
pub trait Output {
    /// Appends `bytes` (element headers, small elements), copying them.
    fn put(&mut self, bytes: &[u8]);
    /// Appends a frame payload; an output that can hold it shared does not copy it.
    fn put_payload(&mut self, payload: &Bytes);
}

impl Output for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn put_payload(&mut self, payload: &Bytes) {
        self.extend_from_slice(payload);
    }
}

impl Output for BytesMut {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn put_payload(&mut self, payload: &Bytes) {
        self.extend_from_slice(payload);
    }
}

/// MKV as a list of [`Bytes`] chunks: element headers are copied into a small buffer, frame
/// payloads are the frames' own `Bytes` (shared, not copied).
///
/// Hand it to `write_vectored` ([`Chunks::io_slices`]), use it as a [`bytes::Buf`], send its
/// chunks one by one as an HTTP body ([`Chunks::drain`], `into_iter`), or flatten it
/// ([`Chunks::to_vec`]). [`Chunks::clear`] and [`Chunks::drain`] keep its buffers for reuse.
///
/// ```
/// use bytes::Bytes;
/// use kvs_mkv::{Chunks, Frame, MkvWriter, TrackInfo, WriterConfig};
///
/// let track = TrackInfo::h264(1, 320, 240, vec![]);
/// let mut writer = MkvWriter::new(WriterConfig::default(), vec![track])?;
/// let data = Bytes::from(vec![7u8; 4096]);
/// let frame = Frame { track: 1, timestamp_ns: 0, key: true, data };
/// let (mut flat, mut chunks) = (Vec::new(), Chunks::new());
/// writer.start_cluster(0, &mut flat);
/// writer.write_frame(&frame, &mut flat)?;
/// writer.start_cluster(0, &mut chunks);
/// writer.write_frame(&frame, &mut chunks)?;
/// assert_eq!(chunks.to_vec(), flat);
/// assert!(chunks.iter().any(|c| c.as_ptr() == frame.data.as_ptr()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Chunks {
    /// Sealed chunks, in order.
    done: VecDeque<Bytes>,
    /// Bytes put since the last shared payload; they follow `done`.
    head: BytesMut,
    len: usize,
}

impl Chunks {
    /// An empty output.
    pub fn new() -> Self {
        Self::default()
    }

    /// Total bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `bytes`, copying them.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.head.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Appends `bytes` as a chunk of its own, shared (not copied).
    pub fn push(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.seal();
        self.len += bytes.len();
        self.done.push_back(bytes);
    }

    /// The chunks in order, borrowed.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.done
            .iter()
            .map(|b| &b[..])
            .chain((!self.head.is_empty()).then_some(&self.head[..]))
    }

    /// The chunks as `IoSlice`s, for `Write::write_vectored`.
    pub fn io_slices(&self) -> Vec<IoSlice<'_>> {
        self.iter().map(IoSlice::new).collect()
    }

    /// All bytes in one buffer (a copy).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for chunk in self.iter() {
            out.extend_from_slice(chunk);
        }
        out
    }

    /// Takes the chunks out in order, leaving it empty with its buffers kept for reuse.
    pub fn drain(&mut self) -> impl Iterator<Item = Bytes> + '_ {
        self.seal();
        self.len = 0;
        self.done.drain(..)
    }

    /// Drops every chunk, keeping its buffers for reuse.
    pub fn clear(&mut self) {
        self.done.clear();
        self.head.clear();
        self.len = 0;
    }

    /// Room for `additional` more copied bytes in one buffer, when nothing shared is held
    /// (a parser about to gather one large element).
    pub(crate) fn reserve_copied(&mut self, additional: usize) {
        if self.done.is_empty() {
            self.head.reserve(additional);
        }
    }

    fn seal(&mut self) {
        if !self.head.is_empty() {
            self.done.push_back(self.head.split().freeze());
        }
    }
}

impl Output for Chunks {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn put_payload(&mut self, payload: &Bytes) {
        self.push(payload.clone());
    }
}

impl IntoIterator for Chunks {
    type Item = Bytes;
    type IntoIter = std::collections::vec_deque::IntoIter<Bytes>;

    fn into_iter(mut self) -> Self::IntoIter {
        self.seal();
        self.done.into_iter()
    }
}

impl Buf for Chunks {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        self.done.front().map_or(&self.head[..], |b| &b[..])
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, chunk) in dst.iter_mut().zip(self.iter()) {
            *slot = IoSlice::new(chunk);
            n += 1;
        }
        n
    }

    /// The first `len` bytes as a slice of the chunk that holds them (no copy), or a copy
    /// when they span chunks.
    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        assert!(len <= self.len, "copy_to_bytes past the end of Chunks");
        let Some(front) = self.done.front_mut() else {
            self.len -= len;
            return self.head.split_to(len).freeze();
        };
        if front.len() >= len {
            let out = front.split_to(len);
            if front.is_empty() {
                self.done.pop_front();
            }
            self.len -= len;
            return out;
        }
        let mut out = BytesMut::with_capacity(len);
        for chunk in self.iter() {
            let k = (len - out.len()).min(chunk.len());
            out.extend_from_slice(&chunk[..k]);
            if out.len() == len {
                break;
            }
        }
        self.advance(len);
        out.freeze()
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.len, "advance past the end of Chunks");
        self.len -= cnt;
        while cnt > 0 {
            match self.done.front_mut() {
                Some(front) if front.len() > cnt => {
                    front.advance(cnt);
                    return;
                }
                Some(front) => {
                    cnt -= front.len();
                    self.done.pop_front();
                }
                None => {
                    self.head.advance(cnt);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buf_reads_across_chunks() {
        let mut c = Chunks::new();
        c.extend_from_slice(b"ab");
        c.push(Bytes::from_static(b"cdef"));
        c.extend_from_slice(b"gh");
        assert_eq!(c.len(), 8);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(c.chunks_vectored(&mut slices), 3);
        c.advance(3);
        assert_eq!(c.chunk(), b"def");
        let rest = c.copy_to_bytes(c.remaining());
        assert_eq!(&rest[..], b"defgh");
        assert!(c.is_empty());
    }

    #[test]
    fn drain_keeps_order_and_empties() {
        let mut c = Chunks::new();
        c.extend_from_slice(b"ab");
        c.push(Bytes::from_static(b"cd"));
        c.extend_from_slice(b"ef");
        let all: Vec<Bytes> = c.drain().collect();
        assert_eq!(all, [&b"ab"[..], b"cd", b"ef"]);
        assert!(c.is_empty() && c.iter().next().is_none());
    }
}
