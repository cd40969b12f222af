//! Decompression of chunks and blobs, capped by the size their container
//! claims: ROS1 chunks (none, bz2, lz4), MCAP chunks (none, zstd, lz4 frames),
//! rosbag2 per-message zstd blobs.

use std::fmt;
use std::io::Read;

use crate::container::ros1::records::{MAX_CHUNK_LEN, preview};
use crate::error::{Error, Result};

/// Compression of a chunk's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Compression {
    None,
    Bz2,
    Lz4,
    /// MCAP chunks, rosbag2 per-message blobs and whole `.zstd` files.
    Zstd,
}

impl Compression {
    /// The name used in the `compression` header field.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Bz2 => "bz2",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Parses a ROS1 chunk's `compression` header field value (ROS1 has no
    /// zstd).
    pub fn parse(value: &[u8], offset: u64) -> Result<Self> {
        match value {
            b"none" => Ok(Compression::None),
            b"bz2" => Ok(Compression::Bz2),
            b"lz4" => Ok(Compression::Lz4),
            other => Err(Error::Record {
                offset,
                reason: format!("unknown chunk compression {:?}", preview(other)),
            }),
        }
    }

    /// Parses an MCAP chunk's `compression` field (`""` is none).
    pub fn parse_mcap(value: &str) -> Option<Self> {
        match value {
            "" => Some(Compression::None),
            "zstd" => Some(Compression::Zstd),
            "lz4" => Some(Compression::Lz4),
            _ => None,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decompresses a chunk's data, which must come out at exactly
/// `uncompressed_len` bytes. Never allocates more than `uncompressed_len`
/// (itself checked against [`MAX_CHUNK_LEN`] first), however much the data
/// would expand: a bz2 "bomb" is stopped after `uncompressed_len + 1` bytes.
/// Errors are [`Error::Chunk`] naming `offset` (the chunk record's).
pub fn decompress(
    compression: Compression,
    input: &[u8],
    uncompressed_len: u64,
    offset: u64,
) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::Chunk { offset, reason };
    if uncompressed_len > MAX_CHUNK_LEN {
        return Err(fail(format!(
            "the header claims {uncompressed_len} uncompressed bytes, over the cap of {MAX_CHUNK_LEN} bytes"
        )));
    }
    let claimed = uncompressed_len;
    match compression {
        Compression::None => {
            if input.len() as u64 != claimed {
                return Err(fail(format!(
                    "uncompressed chunk holds {} bytes, header claims {claimed}",
                    input.len()
                )));
            }
            Ok(input.to_vec())
        }
        Compression::Bz2 => read_capped(
            bzip2::read::BzDecoder::new(input),
            input.len() as u64,
            claimed,
            compression,
            offset,
        ),
        Compression::Lz4 => match lz4_frame_exact(input, claimed) {
            Some(out) => Ok(out),
            // Anything but one plain frame of the claimed size: the
            // streaming decoder reads it, and says what is wrong.
            None => read_capped(
                lz4_flex::frame::FrameDecoder::new(input),
                input.len() as u64,
                claimed,
                compression,
                offset,
            ),
        },
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| fail(format!("zstd data does not decompress: {e}")))?;
            read_capped(decoder, input.len() as u64, claimed, compression, offset)
        }
    }
}

/// The LZ4 frame magic number, little-endian.
const LZ4_MAGIC: u32 = 0x184D_2204;

/// Back-references of linked LZ4 blocks reach at most this far.
const LZ4_WINDOW: usize = 64 << 10;

/// Decodes one LZ4 frame (the format of ROS1 `lz4` chunks and MCAP `lz4`
/// chunks) straight into an output of the size its container claims,
/// block by block, checking the header, block and content checksums.
///
/// Written here because `lz4_flex`'s [`FrameDecoder`](lz4_flex::frame::FrameDecoder)
/// is a streaming reader: it decompresses each block into its own buffer
/// and copies it out, and `read_to_end` zeroes the output first; on a
/// structured bag those copies and zeroing were most of the decompression
/// time (callgrind). The blocks themselves are decoded by `lz4_flex`.
///
/// Returns `None` for anything but one frame that decodes to exactly
/// `claimed` bytes (legacy frames, dictionaries, several frames, damage, an
/// implausible claim): the caller then reads it with the streaming decoder,
/// whose errors name what is wrong.
fn lz4_frame_exact(input: &[u8], claimed: u64) -> Option<Vec<u8>> {
    let len = usize::try_from(claimed).ok()?;
    if claimed > (input.len() as u64).saturating_mul(PLAUSIBLE_RATIO) {
        return None;
    }
    let (magic, rest) = input.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*magic) != LZ4_MAGIC {
        return None;
    }
    let (&[flg, bd], mut rest) = rest.split_first_chunk::<2>()?;
    // Version 01, no dictionary, reserved bits clear.
    if flg >> 6 != 0b01 || flg & 0b11 != 0 || bd & 0b1000_1111 != 0 {
        return None;
    }
    let independent = flg & 0x20 != 0;
    let block_checksums = flg & 0x10 != 0;
    let content_checksum = flg & 0x04 != 0;
    let max_block = match (bd >> 4) & 0b111 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        _ => return None,
    };
    if flg & 0x08 != 0 {
        let (size, after) = rest.split_first_chunk::<8>()?;
        if u64::from_le_bytes(*size) != claimed {
            return None;
        }
        rest = after;
    }
    // The header checksum covers the descriptor, from FLG to before HC.
    let descriptor = &input[4..input.len() - rest.len()];
    let (&hc, mut rest) = rest.split_first()?;
    if (xxh32(descriptor) >> 8) as u8 != hc {
        return None;
    }
    let mut out = Vec::new();
    out.try_reserve_exact(len).ok()?;
    out.resize(len, 0);
    let mut pos = 0;
    loop {
        let (size, after) = rest.split_first_chunk::<4>()?;
        let size = u32::from_le_bytes(*size);
        rest = after;
        if size == 0 {
            break; // end mark
        }
        let stored = size & 0x8000_0000 != 0;
        let size = (size & 0x7FFF_FFFF) as usize;
        if size > max_block || size > rest.len() {
            return None;
        }
        let (block, after) = rest.split_at(size);
        rest = after;
        if block_checksums {
            let (sum, after) = rest.split_first_chunk::<4>()?;
            if xxh32(block) != u32::from_le_bytes(*sum) {
                return None;
            }
            rest = after;
        }
        let room = max_block.min(len - pos);
        let written = if stored {
            if size > room {
                return None;
            }
            out[pos..pos + size].copy_from_slice(block);
            size
        } else {
            let (before, after) = out.split_at_mut(pos);
            let target = &mut after[..room];
            if independent {
                lz4_flex::block::decompress_into(block, target).ok()?
            } else {
                let dict = &before[pos.saturating_sub(LZ4_WINDOW)..];
                lz4_flex::block::decompress_into_with_dict(block, target, dict).ok()?
            }
        };
        pos += written;
    }
    if content_checksum {
        let (sum, after) = rest.split_first_chunk::<4>()?;
        if xxh32(&out) != u32::from_le_bytes(*sum) {
            return None;
        }
        rest = after;
    }
    (pos == len && rest.is_empty()).then_some(out)
}

fn xxh32(bytes: &[u8]) -> u32 {
    twox_hash::XxHash32::oneshot(0, bytes)
}

/// Bytes reserved up front for a decompressed chunk whatever its header
/// claims, when the claim is implausible for the compressed size.
const UPFRONT_RESERVE: u64 = 16 << 20;

/// Compression ratio up to which a header's claim is reserved up front.
/// Real chunks (sensor data, images) compress a few times at most; a claim
/// far above this is either a bomb or a lie, and grows only as bytes come.
const PLAUSIBLE_RATIO: u64 = 16;

/// Reads a decompressor into a vector of exactly `claimed` bytes.
///
/// A plausible claim is reserved whole, so the vector never reallocates.
/// An implausible one (a tiny chunk claiming a gigabyte) reserves
/// [`UPFRONT_RESERVE`] and grows only as data actually decompresses, still
/// never past `claimed`, so a lying header costs no memory it does not
/// fill. Every reservation is fallible: when memory runs out (a process
/// under `ulimit -v`, a bomb that really expands to its claim), the chunk
/// fails with an error naming it instead of the process aborting. A
/// one-byte probe afterwards tells whether the stream had more.
fn read_capped(
    mut decoder: impl Read,
    input_len: u64,
    claimed: u64,
    compression: Compression,
    offset: u64,
) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::Chunk { offset, reason };
    let out_of_memory = |len: usize, more: usize| {
        fail(format!(
            "no memory for {more} more bytes of its {claimed} uncompressed bytes after {len}"
        ))
    };
    let claimed_usize = usize::try_from(claimed)
        .map_err(|_| fail(format!("{claimed} bytes do not fit in memory")))?;
    let reserve = if claimed <= input_len.saturating_mul(PLAUSIBLE_RATIO) {
        claimed_usize
    } else {
        claimed_usize.min(UPFRONT_RESERVE as usize)
    };
    let mut out = Vec::new();
    out.try_reserve_exact(reserve)
        .map_err(|_| out_of_memory(0, reserve))?;
    let mut limited = (&mut decoder).take(claimed);
    while out.len() < claimed_usize {
        if out.len() == out.capacity() {
            // Double, up to the claim: real bytes are arriving.
            let more = out.capacity().max(1 << 20).min(claimed_usize - out.len());
            out.try_reserve_exact(more)
                .map_err(|_| out_of_memory(out.len(), more))?;
        }
        // Read at most the spare capacity, so `read_to_end` never grows
        // the vector itself (its growth could not fail cleanly).
        let spare = (out.capacity() - out.len()) as u64;
        let read = (&mut limited)
            .take(spare)
            .read_to_end(&mut out)
            .map_err(|e| fail(format!("{compression} data does not decompress: {e}")))?;
        if read == 0 {
            break;
        }
    }
    if (out.len() as u64) < claimed {
        return Err(fail(format!(
            "{compression} data decompressed to {} bytes, header claims {claimed}",
            out.len()
        )));
    }
    let mut probe = [0u8; 1];
    loop {
        match decoder.read(&mut probe) {
            Ok(0) => return Ok(out),
            Ok(_) => {
                return Err(fail(format!(
                    "{compression} data decompressed to more than the {claimed} bytes its header claims"
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(fail(format!(
                    "{compression} data does not decompress after its first {claimed} bytes: {e}"
                )));
            }
        }
    }
}

/// Decompresses a blob whose size nobody claims (a rosbag2 per-message
/// zstd frame), stopping with an error past `cap` bytes.
pub fn decompress_unclaimed(compression: Compression, input: &[u8], cap: u64) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::Decode { reason };
    let mut out = Vec::new();
    let read = match compression {
        Compression::Zstd => zstd::stream::read::Decoder::with_buffer(input)
            .and_then(|d| d.take(cap + 1).read_to_end(&mut out)),
        Compression::Lz4 => lz4_flex::frame::FrameDecoder::new(input)
            .take(cap + 1)
            .read_to_end(&mut out),
        Compression::Bz2 => bzip2::read::BzDecoder::new(input)
            .take(cap + 1)
            .read_to_end(&mut out),
        Compression::None => return Ok(input.to_vec()),
    };
    read.map_err(|e| fail(format!("{compression} data does not decompress: {e}")))?;
    if out.len() as u64 > cap {
        return Err(fail(format!(
            "{compression} data decompresses to more than {cap} bytes"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_tiny_chunk_claiming_a_gigabyte_is_refused_with_its_offset() {
        let data = crate::testing::compress(Compression::Lz4, b"just a few bytes");
        let claimed = MAX_CHUNK_LEN;
        let e = decompress(Compression::Lz4, &data, claimed, 4117)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("4117") && e.contains(&claimed.to_string()),
            "{e}"
        );
    }

    #[test]
    fn decompress_requires_the_exact_size() {
        let data = vec![7u8; 1000];
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        enc.write_all(&data).unwrap();
        let bz = enc.finish().unwrap();
        assert_eq!(decompress(Compression::Bz2, &bz, 1000, 5).unwrap(), data);
        let err = decompress(Compression::Bz2, &bz, 999, 5)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("offset 5") && err.contains("more than the 999 bytes"),
            "{err}"
        );
        let err = decompress(Compression::Bz2, &bz, 1001, 5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("to 1000 bytes, header claims 1001"), "{err}");

        let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
        enc.write_all(&data).unwrap();
        let lz = enc.finish().unwrap();
        assert_eq!(decompress(Compression::Lz4, &lz, 1000, 5).unwrap(), data);
        assert!(decompress(Compression::Lz4, &lz, 10, 5).is_err());
        assert!(decompress(Compression::Lz4, &bz, 1000, 5).is_err());

        assert_eq!(decompress(Compression::None, &data, 1000, 5).unwrap(), data);
        let err = decompress(Compression::None, &data, 1001, 5)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("holds 1000 bytes, header claims 1001"),
            "{err}"
        );
        let err = decompress(Compression::None, &data, u64::MAX, 5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("over the cap"), "{err}");
    }

    /// Frames of every option `lz4_flex` writes: both block modes, the
    /// block sizes, block and content checksums, a content size; data
    /// that compresses, that does not (stored blocks), and repeats that
    /// reach back into the previous block (linked mode).
    fn lz4_frames(data: &[u8]) -> Vec<(String, Vec<u8>)> {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
        let mut frames = Vec::new();
        for mode in [BlockMode::Independent, BlockMode::Linked] {
            for size in [BlockSize::Max64KB, BlockSize::Max256KB, BlockSize::Max4MB] {
                for (block_sums, content_sum, content_size) in [
                    (false, false, false),
                    (true, true, true),
                    (false, true, false),
                ] {
                    let info = FrameInfo::new()
                        .block_mode(mode)
                        .block_size(size)
                        .block_checksums(block_sums)
                        .content_checksum(content_sum)
                        .content_size(content_size.then_some(data.len() as u64));
                    let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
                    enc.write_all(data).unwrap();
                    frames.push((
                        format!("{mode:?} {size:?} block sums {block_sums} content sum {content_sum} size {content_size}"),
                        enc.finish().unwrap(),
                    ));
                }
            }
        }
        frames
    }

    fn lz4_sample() -> Vec<u8> {
        // Text-like runs, then noise (stored blocks), then the runs again
        // (matches a block or more back).
        let mut data: Vec<u8> = (0..300_000u32).map(|i| (i % 251 % 17) as u8).collect();
        let mut x = 0x2545_f491_u32;
        data.extend((0..200_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        }));
        data.extend_from_within(..150_000);
        data
    }

    #[test]
    fn lz4_frames_decode_directly_as_the_streaming_decoder_does() {
        let data = lz4_sample();
        for (what, frame) in lz4_frames(&data) {
            let direct = lz4_frame_exact(&frame, data.len() as u64);
            assert!(direct.as_deref() == Some(&data[..]), "{what}: direct path");
            assert_eq!(
                decompress(Compression::Lz4, &frame, data.len() as u64, 0).unwrap(),
                data,
                "{what}"
            );
            // The wrong size, a flipped byte or a cut frame leave the direct
            // path to the streaming decoder, which names the fault.
            assert!(
                lz4_frame_exact(&frame, data.len() as u64 - 1).is_none(),
                "{what}"
            );
            assert!(decompress(Compression::Lz4, &frame, data.len() as u64 + 1, 0).is_err());
            let cut = &frame[..frame.len() - 5];
            assert!(lz4_frame_exact(cut, data.len() as u64).is_none(), "{what}");
            // (The streaming decoder takes a frame cut at a block boundary,
            // end mark and content checksum missing, as ended: as before.)
            if let Ok(out) = decompress(Compression::Lz4, cut, data.len() as u64, 0) {
                assert_eq!(out, data, "{what}");
            }
            let mut flipped = frame.clone();
            let mid = flipped.len() / 2;
            flipped[mid] ^= 0x55;
            if let Some(out) = lz4_frame_exact(&flipped, data.len() as u64) {
                // Only a frame without checksums can decode damaged.
                assert!(!what.contains("content sum true"), "{what}");
                assert_ne!(out, data, "{what}");
            }
        }
        // Two frames back to back are not one frame: the streaming decoder
        // reads both.
        let frames = lz4_frames(&data[..1000]);
        let two = [frames[0].1.clone(), frames[0].1.clone()].concat();
        assert!(lz4_frame_exact(&two, 2000).is_none());
        assert_eq!(
            decompress(Compression::Lz4, &two, 2000, 0).unwrap(),
            [&data[..1000], &data[..1000]].concat()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]
        /// Damaged frames (bytes overwritten anywhere, cut anywhere, any
        /// claim) never panic the direct path, and what it returns has
        /// the claimed size and is what the streaming decoder returns.
        #[test]
        fn damaged_lz4_frames_never_panic(
            pick in 0usize..18,
            at in proptest::prelude::any::<proptest::sample::Index>(),
            byte in proptest::prelude::any::<u8>(),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            claim_delta in -2i64..3,
        ) {
            let data = lz4_sample();
            let frames = lz4_frames(&data[..70_000]);
            let mut frame = frames[pick % frames.len()].1.clone();
            let i = at.index(frame.len());
            frame[i] = byte;
            frame.truncate(frame.len() - cut.index(frame.len() / 4 + 1));
            let claimed = (70_000 + claim_delta) as u64;
            if let Some(out) = lz4_frame_exact(&frame, claimed) {
                proptest::prop_assert_eq!(out.len() as u64, claimed);
                let streamed = read_capped(
                    lz4_flex::frame::FrameDecoder::new(&frame[..]),
                    frame.len() as u64,
                    claimed,
                    Compression::Lz4,
                    0,
                );
                proptest::prop_assert_eq!(Some(out), streamed.ok());
            }
        }
    }

    #[test]
    fn a_bomb_stops_at_the_claimed_size() {
        // 64 MiB of zeros compresses to a few hundred bytes; claiming 100
        // bytes must fail after reading 101, not inflate it all.
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        let block = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&block).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 4096, "{}", bomb.len());
        let started = std::time::Instant::now();
        let err = decompress(Compression::Bz2, &bomb, 100, 77)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("offset 77") && err.contains("more than the 100 bytes"),
            "{err}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn zstd_decompresses_to_the_claim_only() {
        let data = vec![3u8; 5000];
        let z = zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(decompress(Compression::Zstd, &z, 5000, 9).unwrap(), data);
        let e = decompress(Compression::Zstd, &z, 4999, 9)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("offset 9") && e.contains("more than the 4999"),
            "{e}"
        );
        assert!(decompress(Compression::Zstd, b"nope", 4, 9).is_err());
        assert_eq!(
            decompress_unclaimed(Compression::Zstd, &z, 5000).unwrap(),
            data
        );
        assert!(decompress_unclaimed(Compression::Zstd, &z, 4999).is_err());
    }
}
