//! Partition keys to shards, as Kinesis does it: the MD5 of the key, read as a 128-bit unsigned
//! big-endian integer, falls into exactly one shard's hash key range; the ranges split
//! `0..=2^128-1` evenly in shard order.

use md5::{Digest, Md5};

/// The 128-bit hash key of a partition key.
pub(crate) fn hash_key(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

/// Parses an `ExplicitHashKey`: a decimal integer in `0..=2^128-1`.
pub(crate) fn parse_explicit_hash_key(s: &str) -> Option<u128> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The first hash key of shard `index` of `count` (`floor(index * 2^128 / count)`).
fn range_start(index: u32, count: u32) -> u128 {
    if index == 0 || count == 0 {
        return 0;
    }
    let (i, n) = (u128::from(index), u128::from(count));
    // 2^128 = q*n + r, computed without overflowing u128.
    let (mut q, mut r) = (u128::MAX / n, u128::MAX % n + 1);
    if r == n {
        q += 1;
        r = 0;
    }
    // i < n <= u32::MAX, so i*r < 2^64 and never overflows.
    i * q + i * r / n
}

/// The inclusive hash key range of shard `index` of `count`.
pub(crate) fn shard_range(index: u32, count: u32) -> (u128, u128) {
    let start = range_start(index, count);
    let end = if index + 1 >= count {
        u128::MAX
    } else {
        range_start(index + 1, count) - 1
    };
    (start, end)
}

/// The shard (of `count`, at least 1) whose range holds `hash`.
pub(crate) fn shard_for(hash: u128, count: u32) -> u32 {
    // Ranges are sorted: binary search the last start at or below `hash`.
    let (mut lo, mut hi) = (0u32, count.max(1) - 1);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if range_start(mid, count) <= hash {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_the_partition_key_as_a_big_endian_integer() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e (RFC 1321)
        assert_eq!(hash_key(""), 0xd41d8cd98f00b204e9800998ecf8427e);
        // MD5("abc") = 900150983cd24fb0d6963f7d28e17f72
        assert_eq!(hash_key("abc"), 0x900150983cd24fb0d6963f7d28e17f72);
    }

    #[test]
    fn ranges_match_what_kinesis_reports() {
        assert_eq!(shard_range(0, 1), (0, u128::MAX));
        // a 2-shard stream splits at 2^127
        assert_eq!(shard_range(0, 2), (0, (1u128 << 127) - 1));
        assert_eq!(shard_range(1, 2), (1u128 << 127, u128::MAX));
        // a 3-shard stream, as DescribeStream shows it on AWS
        assert_eq!(
            shard_range(0, 3).1,
            113_427_455_640_312_821_154_458_202_477_256_070_484
        );
        assert_eq!(
            shard_range(1, 3),
            (
                113_427_455_640_312_821_154_458_202_477_256_070_485,
                226_854_911_280_625_642_308_916_404_954_512_140_969
            )
        );
        assert_eq!(
            shard_range(2, 3).0,
            226_854_911_280_625_642_308_916_404_954_512_140_970
        );
    }

    #[test]
    fn ranges_are_contiguous_and_cover_everything() {
        for count in [1, 2, 3, 4, 7, 10, 500] {
            assert_eq!(shard_range(0, count).0, 0);
            assert_eq!(shard_range(count - 1, count).1, u128::MAX);
            for i in 1..count {
                assert_eq!(shard_range(i - 1, count).1 + 1, shard_range(i, count).0);
            }
        }
    }

    #[test]
    fn every_hash_falls_in_its_shards_range() {
        for count in [1, 2, 3, 4, 5, 16, 500] {
            for key in ["", "a", "cam-1", "user-42", "zzzzzz", "🙂"] {
                let h = hash_key(key);
                let (start, end) = shard_range(shard_for(h, count), count);
                assert!(start <= h && h <= end, "{key} in {count} shards");
            }
            for i in 0..count {
                let (start, end) = shard_range(i, count);
                assert_eq!(shard_for(start, count), i);
                assert_eq!(shard_for(end, count), i);
            }
        }
    }

    #[test]
    fn explicit_hash_keys_are_decimal_128_bit_integers() {
        assert_eq!(parse_explicit_hash_key("0"), Some(0));
        assert_eq!(
            parse_explicit_hash_key("340282366920938463463374607431768211455"),
            Some(u128::MAX)
        );
        assert_eq!(
            parse_explicit_hash_key("340282366920938463463374607431768211456"),
            None
        );
        assert_eq!(parse_explicit_hash_key("+1"), None);
        assert_eq!(parse_explicit_hash_key("-1"), None);
        assert_eq!(parse_explicit_hash_key(""), None);
        assert_eq!(parse_explicit_hash_key("0x10"), None);
    }
}
