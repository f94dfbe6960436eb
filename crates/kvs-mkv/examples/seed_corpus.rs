//! Writes small KVS-style MKV streams into a directory, as a seed corpus for the parser fuzzer.
//! `scripts/fuzz-seeds` runs it into `fuzz/corpus-seeds/mkv_parser` (committed seeds).

use std::path::PathBuf;

use bytes::Bytes;
use kvs_mkv::{Frame, MkvWriter, Packager, PackagerConfig, SimpleTag, TrackInfo, WriterConfig};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    std::fs::create_dir_all(&dir)?;
    for (n, ntracks) in [(0usize, 1usize), (1, 2), (2, 3)] {
        let mut tracks = vec![TrackInfo::h264(
            1,
            320,
            240,
            vec![1, 0x42, 0, 0x1e, 0xff, 0xe0, 0],
        )];
        for t in 2..=ntracks as u64 {
            tracks.push(TrackInfo::aac(t, 48_000.0, 2, vec![0x11, 0x90]));
        }
        let Ok(writer) = MkvWriter::new(WriterConfig::default(), tracks) else {
            continue;
        };
        let mut packager = Packager::new(writer.clone(), PackagerConfig::default());
        // first byte: the fuzzer's chunk size
        let mut out = vec![61u8];
        out.extend(packager.header());
        writer.write_tags(
            &mut out,
            &[SimpleTag::new(
                "AWS_KINESISVIDEO_FRAGMENT_NUMBER",
                "91343852333181432392682062607743920146264929",
            )],
        );
        for i in 0..12u64 {
            for t in 1..=ntracks as u64 {
                let frame = Frame {
                    track: t,
                    timestamp_ns: i * 40_000_000 + t,
                    key: t > 1 || i % 5 == 0,
                    data: Bytes::from(vec![i as u8; 20 + i as usize]),
                };
                let _ = packager.push(&frame, &mut out);
            }
        }
        std::fs::write(dir.join(format!("seed-{n}.mkv")), out)?;
    }
    Ok(())
}
