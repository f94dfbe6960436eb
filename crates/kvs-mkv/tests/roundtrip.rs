//! Write -> parse gives back the same frames, whatever the chunking; bad input is a typed error.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use kvs_mkv::{
    Event, Frame, Limits, MkvWriter, PackError, Packager, PackagerConfig, ParseError, Parser,
    SimpleTag, TrackInfo, WriterConfig,
};
use proptest::prelude::*;

fn tracks(n: usize) -> Vec<TrackInfo> {
    let mut t = vec![TrackInfo::h264(
        1,
        640,
        480,
        vec![1, 0x64, 0, 0x1f, 0xff, 0xe0, 0],
    )];
    if n > 1 {
        t.push(TrackInfo::aac(2, 48_000.0, 2, vec![0x11, 0x90]));
    }
    if n > 2 {
        t.push(TrackInfo::aac(3, 16_000.0, 1, vec![0x14, 0x08]));
    }
    t
}

/// Parses `bytes` fed in chunks of `chunk` bytes, returning every event.
fn parse(bytes: &[u8], chunk: usize) -> Result<Vec<Event>, ParseError> {
    let mut p = Parser::new();
    let mut events = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        p.feed(piece);
        while let Some(e) = p.next_event()? {
            events.push(e);
        }
    }
    events.extend(p.finish()?);
    Ok(events)
}

fn frames(events: &[Event]) -> Vec<Frame> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

/// Builds a stream: video key frames every `gop` frames at 30 fps, audio in between.
fn stream(ntracks: usize, nframes: usize, gop: usize, seed: u64) -> (Vec<u8>, Vec<Frame>) {
    let writer = MkvWriter::new(WriterConfig::default(), tracks(ntracks)).unwrap();
    let mut packager = Packager::new(writer, PackagerConfig::default());
    let mut out = packager.header();
    let mut sent = Vec::new();
    let base = 1_700_000_000_000u64 * 1_000_000;
    for i in 0..nframes {
        let ts = base + i as u64 * 33_000_000;
        let len = 1 + ((seed as usize + i * 7919) % 3000);
        let data: Vec<u8> = (0..len)
            .map(|j| (j as u64 ^ seed ^ i as u64) as u8)
            .collect();
        let f = Frame {
            track: 1,
            timestamp_ns: ts,
            key: i % gop == 0,
            data: Bytes::from(data),
        };
        packager.push(&f, &mut out).unwrap();
        sent.push(f);
        for t in 2..=ntracks as u64 {
            let a = Frame {
                track: t,
                timestamp_ns: ts + 10_000_000,
                key: true,
                data: Bytes::from(vec![t as u8; 200 + i % 50]),
            };
            packager.push(&a, &mut out).unwrap();
            sent.push(a);
        }
    }
    (out, sent)
}

#[test]
fn a_two_track_stream_round_trips_with_fragment_structure() {
    let (bytes, sent) = stream(2, 95, 30, 7);
    let events = parse(&bytes, 4096).unwrap();
    assert_eq!(frames(&events), sent);
    let clusters = events
        .iter()
        .filter(|e| matches!(e, Event::ClusterStart { .. }))
        .count();
    assert_eq!(clusters, 4, "one fragment per key frame");
    let Event::Tracks(t) = &events[2] else {
        panic!("{:?}", events[2])
    };
    assert_eq!(t, &tracks(2));
    assert!(matches!(events.last(), Some(Event::SegmentEnd)));
    let Some(Event::ClusterStart { timecode, .. }) = events
        .iter()
        .find(|e| matches!(e, Event::ClusterStart { .. }))
    else {
        unreachable!()
    };
    assert_eq!(
        *timecode, 1_700_000_000_000,
        "absolute millisecond timecodes"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn round_trip_any_chunking(ntracks in 1usize..=3, nframes in 1usize..80, gop in 1usize..40, seed in any::<u64>(), chunk in 1usize..5000) {
        let (bytes, sent) = stream(ntracks, nframes, gop, seed);
        let events = parse(&bytes, chunk).unwrap();
        prop_assert_eq!(frames(&events), sent);
    }

    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2000), chunk in 1usize..64) {
        let _ = parse(&data, chunk);
    }

    #[test]
    fn corrupted_streams_never_panic(pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let (mut bytes, _) = stream(2, 20, 10, 1);
        let p = pos % bytes.len();
        bytes[p] = byte;
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = parse(&bytes, 777);
    }
}

#[test]
fn truncated_input_is_an_error() {
    let (bytes, _) = stream(1, 10, 5, 3);
    let err = parse(&bytes[..bytes.len() - 5], 100).unwrap_err();
    assert!(matches!(err, ParseError::Truncated { .. }), "{err}");
}

#[test]
fn garbage_is_an_error() {
    let err = parse(b"this is not a matroska stream at all", 8).unwrap_err();
    assert!(
        matches!(
            err,
            ParseError::Malformed { .. } | ParseError::InvalidId { .. }
        ),
        "{err}"
    );
}

#[test]
fn oversized_elements_are_refused_without_buffering_them() {
    let (bytes, _) = stream(1, 10, 5, 3);
    let mut p = Parser::with_limits(Limits {
        max_element_size: 100,
        ..Limits::default()
    });
    p.feed(&bytes);
    let err = loop {
        match p.next_event() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("expected an error"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, ParseError::TooLarge { .. }), "{err}");
    assert!(matches!(p.next_event(), Err(ParseError::Failed)));
}

#[test]
fn consecutive_documents_and_tags_parse() {
    // GetMedia output: each fragment is its own EBML document with tags around the cluster.
    let writer = MkvWriter::new(WriterConfig::default(), tracks(1)).unwrap();
    let mut all = Vec::new();
    for n in 0..3u64 {
        let mut w = writer.clone();
        w.write_header(&mut all);
        w.write_tags(
            &mut all,
            &[SimpleTag::new(
                "AWS_KINESISVIDEO_FRAGMENT_NUMBER",
                format!("9100{n}"),
            )],
        );
        w.start_cluster(n * 2_000_000_000, &mut all);
        w.write_frame(
            &Frame {
                track: 1,
                timestamp_ns: n * 2_000_000_000,
                key: true,
                data: Bytes::from_static(b"x"),
            },
            &mut all,
        )
        .unwrap();
        w.write_tags(
            &mut all,
            &[SimpleTag::new("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "5")],
        );
    }
    let events = parse(&all, 13).unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::SegmentStart))
            .count(),
        3
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::SegmentEnd))
            .count(),
        3
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::ClusterEnd))
            .count(),
        3
    );
    let tags: Vec<&SimpleTag> = events
        .iter()
        .filter_map(|e| {
            if let Event::Tags(t) = e {
                Some(t)
            } else {
                None
            }
        })
        .flatten()
        .collect();
    assert_eq!(tags.len(), 6);
    assert_eq!(tags[2].value, "91001");
    assert_eq!(frames(&events).len(), 3);
}

#[test]
fn packager_rules() {
    let writer = MkvWriter::new(WriterConfig::default(), tracks(1)).unwrap();
    let mut p = Packager::new(writer, PackagerConfig::default());
    let mut out = Vec::new();
    let f = |ts: u64, key| Frame {
        track: 1,
        timestamp_ns: ts * 1_000_000,
        key,
        data: Bytes::from_static(b"f"),
    };
    assert!(matches!(
        p.push(&f(0, false), &mut out),
        Err(PackError::BeforeFirstKeyFrame { .. })
    ));
    assert_eq!(p.push(&f(0, true), &mut out).unwrap().started, Some(0));
    assert_eq!(p.push(&f(33, false), &mut out).unwrap().started, None);
    let next = p.push(&f(66, true), &mut out).unwrap();
    assert_eq!(next.completed.unwrap().frames, 2);
    assert_eq!(next.started, Some(66));
    assert!(matches!(
        p.push(&f(10, true), &mut out),
        Err(PackError::TimestampWentBack { .. })
    ));
    assert_eq!(p.finish().unwrap().frames, 1);
    assert!(MkvWriter::new(WriterConfig::default(), vec![]).is_err());
    assert!(MkvWriter::new(WriterConfig::default(), [tracks(3), tracks(1)].concat()).is_err());
}
