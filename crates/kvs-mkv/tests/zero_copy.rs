//! Payloads shared, not copied: the vectored writer ([`Chunks`]) encodes exactly what the flat
//! writer does while pointing at the frames' own memory, and the parser hands out frames as
//! slices of the chunks it was fed, whatever the chunking.

#![allow(clippy::unwrap_used)]

use bytes::{Buf, Bytes, BytesMut};
use kvs_mkv::{
    Chunks, Event, Frame, MkvWriter, Packager, PackagerConfig, ParseError, Parser, SimpleTag,
    TrackInfo, WriterConfig,
};

/// splitmix64: deterministic randomness from a fixed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn writer() -> MkvWriter {
    let tracks = vec![
        TrackInfo::h264(1, 640, 480, vec![1, 0x64, 0, 0x1f, 0xff, 0xe0, 0]),
        TrackInfo::aac(2, 48_000.0, 2, vec![0x11, 0x90]),
    ];
    MkvWriter::new(WriterConfig::default(), tracks).unwrap()
}

/// Video at 30 fps (a key frame every 10) with an audio frame after each; payloads of varied
/// sizes, one of them empty.
fn frames(seed: u64, n: usize) -> Vec<Frame> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for i in 0..n {
        let ts = 1_700_000_000_000_000_000 + i as u64 * 33_000_000;
        let len = if i == 3 { 0 } else { 1 + rng.below(6000) };
        let video: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        out.push(Frame {
            track: 1,
            timestamp_ns: ts,
            key: i % 10 == 0,
            data: Bytes::from(video),
        });
        out.push(Frame {
            track: 2,
            timestamp_ns: ts + 10_000_000,
            key: true,
            data: Bytes::from(vec![i as u8; 100 + rng.below(700)]),
        });
    }
    out
}

/// Writes a stream with the writer alone (header, tags, clusters, both tracks, tags) into `out`.
fn write_with_writer(frames: &[Frame], out: &mut impl kvs_mkv::Output) {
    let mut w = writer();
    w.write_header(out);
    w.write_tags(
        out,
        &[SimpleTag::new("AWS_KINESISVIDEO_FRAGMENT_NUMBER", "1")],
    );
    for (i, f) in frames.iter().enumerate() {
        if i % 20 == 0 {
            w.start_cluster(f.timestamp_ns, out);
        }
        w.write_frame(f, out).unwrap();
    }
    kvs_mkv::write_tags(
        out,
        &[SimpleTag::new("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "5")],
    );
}

/// Packages `frames` into `out` after the header; returns what each push reported.
fn package(frames: &[Frame], out: &mut impl kvs_mkv::Output) -> Vec<kvs_mkv::Pushed> {
    let mut p = Packager::new(writer(), PackagerConfig::default());
    p.writer().write_header(out);
    frames.iter().map(|f| p.push(f, out).unwrap()).collect()
}

/// A packaged stream as one `Bytes`.
fn stream(seed: u64, n: usize) -> Bytes {
    let mut out = Vec::new();
    package(&frames(seed, n), &mut out);
    Bytes::from(out)
}

#[test]
fn vectored_output_equals_the_flat_writer_byte_for_byte() {
    let frames = frames(1, 60);

    let (mut flat, mut chunks, mut bytes_mut) = (Vec::new(), Chunks::new(), BytesMut::new());
    write_with_writer(&frames, &mut flat);
    write_with_writer(&frames, &mut chunks);
    write_with_writer(&frames, &mut bytes_mut);
    assert_eq!(chunks.len(), flat.len());
    assert_eq!(chunks.to_vec(), flat);
    assert_eq!(&bytes_mut[..], &flat[..]);

    let (mut flat, mut chunks) = (Vec::new(), Chunks::new());
    let pushed_flat = package(&frames, &mut flat);
    let pushed_chunks = package(&frames, &mut chunks);
    assert_eq!(pushed_flat, pushed_chunks);
    assert_eq!(chunks.to_vec(), flat);
    assert!(pushed_flat.iter().filter(|p| p.started.is_some()).count() > 1);
    let mut old = Packager::new(writer(), PackagerConfig::default());
    assert_eq!(old.header(), flat[..old.header().len()]);
    assert!(old.push(&frames[0], &mut Vec::new()).is_ok());

    // Every way out of Chunks gives the same bytes.
    let io: Vec<u8> = chunks.io_slices().iter().flat_map(|s| s.to_vec()).collect();
    assert_eq!(io, flat);
    let mut buf = chunks.clone();
    assert_eq!(buf.copy_to_bytes(buf.remaining()), flat);
    let drained: Vec<u8> = chunks.clone().into_iter().flatten().collect();
    assert_eq!(drained, flat);
    let drained: Vec<u8> = chunks.drain().flatten().collect();
    assert_eq!(drained, flat);
    assert!(chunks.is_empty());

    // Reused after drain or clear, it writes the same again.
    package(&frames, &mut chunks);
    assert_eq!(chunks.to_vec(), flat);
    chunks.clear();
    package(&frames, &mut chunks);
    assert_eq!(chunks.to_vec(), flat);
}

#[test]
fn vectored_payloads_are_the_frames_own_memory() {
    let frames = frames(2, 40);
    let mut chunks = Chunks::new();
    package(&frames, &mut chunks);
    for f in frames.iter().filter(|f| !f.data.is_empty()) {
        assert!(
            chunks
                .iter()
                .any(|c| c.as_ptr() == f.data.as_ptr() && c.len() == f.data.len()),
            "payload of the frame at {} was copied",
            f.timestamp_ns
        );
    }
    let payload_bytes: usize = frames.iter().map(|f| f.data.len()).sum();
    let header_bytes: usize = chunks
        .iter()
        .filter(|c| !frames.iter().any(|f| f.data.as_ptr() == c.as_ptr()))
        .map(<[u8]>::len)
        .sum();
    assert_eq!(header_bytes + payload_bytes, chunks.len());
}

/// Where each frame's payload lies in `stream`, from parsing it whole: its frames are slices.
fn payload_offsets(stream: &Bytes) -> Vec<(usize, usize)> {
    let mut p = Parser::new();
    p.feed_bytes(stream.clone());
    let mut events = Vec::new();
    while let Some(e) = p.next_event().unwrap() {
        events.push(e);
    }
    events.extend(p.finish().unwrap());
    events
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) if !f.data.is_empty() => {
                let offset = f.data.as_ptr() as usize - stream.as_ptr() as usize;
                assert!(
                    offset + f.data.len() <= stream.len(),
                    "not a slice of the fed bytes"
                );
                Some((offset, f.data.len()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_frame_inside_one_fed_chunk_is_a_slice_of_that_chunk() {
    let stream = stream(3, 80);
    let offsets = payload_offsets(&stream);
    for size in [4096, 10_000, 64 * 1024] {
        // Each chunk in memory of its own, as read from a socket.
        let fed: Vec<Bytes> = stream.chunks(size).map(Bytes::copy_from_slice).collect();
        let mut p = Parser::new();
        let mut frames = Vec::new();
        for chunk in &fed {
            p.feed_bytes(chunk.clone());
            while let Some(e) = p.next_event().unwrap() {
                if let Event::Frame(f) = e {
                    frames.push(f);
                }
            }
        }
        p.finish().unwrap();
        let frames: Vec<Frame> = frames.into_iter().filter(|f| !f.data.is_empty()).collect();
        assert_eq!(frames.len(), offsets.len());
        let (mut inside, mut straddling) = (0, 0);
        for (f, &(offset, len)) in frames.iter().zip(&offsets) {
            assert_eq!(f.data, stream.slice(offset..offset + len));
            let (chunk, at) = (offset / size, offset % size);
            if at + len <= size {
                inside += 1;
                assert_eq!(
                    f.data.as_ptr(),
                    fed[chunk][at..].as_ptr(),
                    "frame at byte {offset} was copied"
                );
            } else {
                straddling += 1;
            }
        }
        assert!(
            inside > 10 && straddling > 0,
            "{size}: {inside} {straddling}"
        );
    }
}

/// Every event of `stream` fed in `pieces` (by `feed_bytes` or `feed`, as `shared` says), up
/// to and including the first error.
fn parse_pieces(pieces: &[(Bytes, bool)]) -> Vec<Result<Event, ParseError>> {
    let mut p = Parser::new();
    let mut out = Vec::new();
    for (piece, shared) in pieces {
        if *shared {
            p.feed_bytes(piece.clone());
        } else {
            p.feed(piece);
        }
        loop {
            match p.next_event() {
                Ok(Some(e)) => out.push(Ok(e)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }
    match p.finish() {
        Ok(events) => out.extend(events.into_iter().map(Ok)),
        Err(e) => out.push(Err(e)),
    }
    out
}

/// `stream` cut at `cuts` (ascending), each piece fed shared or copied as `rng` picks.
fn cut(stream: &Bytes, cuts: &[usize], rng: &mut Rng) -> Vec<(Bytes, bool)> {
    let mut pieces = Vec::new();
    let mut at = 0;
    for &c in cuts.iter().chain([stream.len()].iter()) {
        let c = c.clamp(at, stream.len());
        if c > at {
            pieces.push((Bytes::copy_from_slice(&stream[at..c]), rng.below(4) != 0));
            at = c;
        }
    }
    pieces
}

fn fixed(stream: &Bytes, size: usize) -> Vec<usize> {
    (1..=stream.len() / size).map(|i| i * size).collect()
}

#[test]
fn any_split_yields_the_events_of_parsing_whole() {
    let stream = stream(4, 50);
    let whole = parse_pieces(&[(stream.clone(), true)]);
    assert!(whole.iter().all(Result::is_ok));
    let offsets = payload_offsets(&stream);
    let mut rng = Rng(0x5EED);
    let mut splits: Vec<Vec<usize>> = [1, 7, 511, 512, 4096, 64 * 1024]
        .iter()
        .map(|&size| fixed(&stream, size))
        .collect();
    // Cuts inside payloads, and one byte either side of their ends.
    splits.push(offsets.iter().map(|&(o, len)| o + len / 2).collect());
    splits.push(
        offsets
            .iter()
            .flat_map(|&(o, len)| [o - 1, o + len + 1])
            .collect(),
    );
    splits.push(offsets.iter().flat_map(|&(o, len)| [o, o + len]).collect());
    for _ in 0..20 {
        let mut cuts: Vec<usize> = (0..rng.below(400))
            .map(|_| rng.below(stream.len()))
            .collect();
        cuts.sort_unstable();
        splits.push(cuts);
    }
    for cuts in &splits {
        let pieces = cut(&stream, cuts, &mut rng);
        assert_eq!(parse_pieces(&pieces), whole, "cut at {cuts:?}");
    }
}

#[test]
fn errors_do_not_depend_on_the_split() {
    let clean = stream(5, 12);
    let mut rng = Rng(0xBAD);
    for i in 0..100 {
        let mut bytes = clean.to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len());
            bytes[at] = rng.next() as u8;
        }
        bytes.truncate(bytes.len() - rng.below(bytes.len() / 4));
        let bytes = Bytes::from(bytes);
        let whole = parse_pieces(&[(bytes.clone(), true)]);
        for size in [if i < 10 { 1 } else { 7 }, 13, 700, 4096] {
            let pieces = cut(&bytes, &fixed(&bytes, size), &mut rng);
            assert_eq!(parse_pieces(&pieces), whole, "{size}");
        }
    }
}

#[test]
fn chunks_inside_a_skipped_element_are_dropped() {
    // A Void element the parser skips, fed as chunks each shorter than what is left of it.
    let mut head = Vec::new();
    writer().write_header(&mut head);
    kvs_mkv::ebml::put_id(&mut head, kvs_mkv::ebml::id::VOID);
    kvs_mkv::ebml::put_size(&mut head, 2000);
    let mut p = Parser::new();
    p.feed(&head);
    while p.next_event().unwrap().is_some() {}
    for _ in 0..3 {
        p.feed_bytes(Bytes::from(vec![0; 600]));
        assert_eq!(p.next_event(), Ok(None));
        assert_eq!(p.buffered(), 0);
    }
    p.feed_bytes(Bytes::from(vec![0; 200]));
    assert_eq!(p.finish(), Ok(vec![Event::SegmentEnd]));
}
