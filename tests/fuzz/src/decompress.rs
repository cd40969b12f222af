//! Target `decompress`: chunk decompression (`extractor::container::compression::decompress`).
//!
//! Input: `[compression][claimed size, u32 LE][data]`, the compression byte
//! taken modulo 4 (none, bz2, lz4, zstd: ROS1 chunks, then MCAP's zstd).
//!
//! A zstd claim is taken modulo 64 MiB: a few bytes of zstd can truly
//! expand to any claim, and then hold the memory claimed (`tests/limits.rs`
//! checks bombs under a memory limit); lz4 and bz2 cannot go as far from
//! so few bytes.
//!
//! Properties: whatever the data and the claim, decompression gives exactly
//! the claimed number of bytes or an error naming the chunk's offset (the
//! fuzz binary also checks it never allocates what a lying claim asks for).
//! The data itself (its first 4 KiB), compressed as rosbag does,
//! decompresses back to itself under its true size and fails under any
//! other.

use extractor::container::compression::{Compression, decompress};
use extractor::testing::compress;

/// The chunk offset errors must name.
const OFFSET: u64 = 4242;

/// Bytes of the input compressed and decompressed back.
const ROUND_TRIP_MAX: usize = 4096;

pub fn encode(compression: Compression, claimed: u32, data: &[u8]) -> Vec<u8> {
    let mut out = vec![match compression {
        Compression::None => 0,
        Compression::Bz2 => 1,
        Compression::Lz4 => 2,
        Compression::Zstd => 3,
    }];
    out.extend_from_slice(&claimed.to_le_bytes());
    out.extend_from_slice(data);
    out
}

fn decode_input(input: &[u8]) -> Option<(Compression, u64, &[u8])> {
    let (&mode, rest) = input.split_first()?;
    let claimed = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
    let compression = match mode % 4 {
        0 => Compression::None,
        1 => Compression::Bz2,
        2 => Compression::Lz4,
        _ => Compression::Zstd,
    };
    let claimed = match compression {
        Compression::Zstd => u64::from(claimed) % (64 << 20),
        _ => u64::from(claimed),
    };
    Some((compression, claimed, &rest[4..]))
}

pub fn check(input: &[u8]) {
    let Some((compression, claimed, data)) = decode_input(input) else {
        return;
    };
    match decompress(compression, data, claimed, OFFSET) {
        Ok(out) => assert_eq!(
            out.len() as u64,
            claimed,
            "{compression}: not the claimed size"
        ),
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains(&format!("offset {OFFSET}")), "{message}");
        }
    }
    // Round trip of the data itself (its first 4 KiB: compressing every
    // input whole would spend most of the fuzzer's time in the compressor).
    let data = &data[..data.len().min(ROUND_TRIP_MAX)];
    let packed = compress(compression, data);
    let size = data.len() as u64;
    let out = decompress(compression, &packed, size, OFFSET)
        .unwrap_or_else(|e| panic!("{compression} round trip of {size} bytes: {e}"));
    assert!(out == data, "{compression} round trip changed the data");
    assert!(decompress(compression, &packed, size + 1, OFFSET).is_err());
    if size > 0 {
        assert!(decompress(compression, &packed, size - 1, OFFSET).is_err());
    }
}
