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
        Compression::Lz4 => read_capped(
            lz4_flex::frame::FrameDecoder::new(input),
            input.len() as u64,
            claimed,
            compression,
            offset,
        ),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| fail(format!("zstd data does not decompress: {e}")))?;
            read_capped(decoder, input.len() as u64, claimed, compression, offset)
        }
    }
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
