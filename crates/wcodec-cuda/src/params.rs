//! The GPU decoder's tunables, their ranges and defaults: the one definition every layer reads
//! (the Python API asks this crate for them through `wcodec._wcodec`).

use std::ops::RangeInclusive;

use crate::error::{Error, Result};

/// Accepted values of [`DecodeParams::chunks_per_block`].
pub const CHUNKS_PER_BLOCK: RangeInclusive<u32> = 1..=8;
/// Accepted values of [`DecodeParams::streams`].
pub const STREAMS: RangeInclusive<u32> = 1..=16;
/// Smallest [`DecodeParams::staging_bytes`].
pub const MIN_STAGING_BYTES: u64 = 1 << 20;
/// Accepted [`DecodeParams::staging_bytes`] in MiB (`staging_mib` in the Python API): at most
/// 256 MiB per window, so the default two windows in flight stay within the 512 MiB of host
/// memory a load may add.
pub const STAGING_MIB: RangeInclusive<u32> = 1..=256;

/// Tunables of the GPU decoder (`set_decode_params` in the Python API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeParams {
    /// Consecutive chunks of one tensor decoded by one thread block, one warp per chunk
    /// (`chunks_per_block`, alias `tiles_per_block`, in the Python API): blocks share one load
    /// of the tensor's decode tables, fewer chunks per block spread a small tensor over more
    /// multiprocessors. In [`CHUNKS_PER_BLOCK`]; clamped further where the shared memory of a
    /// block would not hold them.
    pub chunks_per_block: u32,
    /// Windows in flight, each with its own stream, pinned staging buffer and device buffer:
    /// while the GPU copies and decodes one window, the host reads the next. With 1 the GPU
    /// work runs on the caller's stream (two buffers still alternate). In [`STREAMS`].
    pub streams: u32,
    /// Stored bytes read and staged per window (a window holding one larger tensor exceeds
    /// it). At least [`MIN_STAGING_BYTES`].
    pub staging_bytes: u64,
    /// Check every tensor's XXH3-64 on the GPU after decoding (the format's integrity
    /// guarantee). Off, only the per-chunk rANS checks remain, and raw planes, raw chunks and
    /// raw tensors are not checked at all.
    pub verify_checksums: bool,
}

impl Default for DecodeParams {
    fn default() -> Self {
        DecodeParams {
            chunks_per_block: 4,
            streams: 2,
            staging_bytes: wcodec::load::WINDOW_BYTES,
            verify_checksums: true,
        }
    }
}

impl DecodeParams {
    /// Checks every field against its range.
    pub fn validate(&self) -> Result<()> {
        if !CHUNKS_PER_BLOCK.contains(&self.chunks_per_block) {
            return Err(Error::InvalidArgument(format!(
                "chunks_per_block {} is not in {}..={}",
                self.chunks_per_block,
                CHUNKS_PER_BLOCK.start(),
                CHUNKS_PER_BLOCK.end()
            )));
        }
        if !STREAMS.contains(&self.streams) {
            return Err(Error::InvalidArgument(format!(
                "streams {} is not in {}..={}",
                self.streams,
                STREAMS.start(),
                STREAMS.end()
            )));
        }
        let max = u64::from(*STAGING_MIB.end()) << 20;
        if !(MIN_STAGING_BYTES..=max).contains(&self.staging_bytes) {
            return Err(Error::InvalidArgument(format!(
                "staging_bytes must be in {MIN_STAGING_BYTES}..={max}, not {}",
                self.staging_bytes
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_out_of_range_values_are_not() {
        assert!(DecodeParams::default().validate().is_ok());
        for bad in [
            DecodeParams {
                chunks_per_block: 0,
                ..DecodeParams::default()
            },
            DecodeParams {
                chunks_per_block: CHUNKS_PER_BLOCK.end() + 1,
                ..DecodeParams::default()
            },
            DecodeParams {
                streams: 0,
                ..DecodeParams::default()
            },
            DecodeParams {
                streams: STREAMS.end() + 1,
                ..DecodeParams::default()
            },
            DecodeParams {
                staging_bytes: MIN_STAGING_BYTES - 1,
                ..DecodeParams::default()
            },
            DecodeParams {
                staging_bytes: (u64::from(*STAGING_MIB.end()) << 20) + 1,
                ..DecodeParams::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
