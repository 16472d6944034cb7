//! Tensor checksums (format.md §3.2): XXH3-64 of the bytes for tensors up to 1 MiB; above that,
//! XXH3-64 of the little-endian XXH3-64s of consecutive 1 MiB blocks. The blocked form lets
//! every core hash part of a large tensor, where one sequential pass over a 200 MB embedding
//! would dominate a multi-threaded decode.

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

/// Block size of the blocked checksum.
pub const HASH_BLOCK_BYTES: usize = 1 << 20;

/// The checksum of a tensor's bytes.
pub fn tensor_checksum(bytes: &[u8]) -> u64 {
    if bytes.len() <= HASH_BLOCK_BYTES {
        return xxh3_64(bytes);
    }
    let blocks: Vec<u64> = bytes.par_chunks(HASH_BLOCK_BYTES).map(xxh3_64).collect();
    let packed: Vec<u8> = blocks.iter().flat_map(|b| b.to_le_bytes()).collect();
    xxh3_64(&packed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_tensors_hash_plainly_large_ones_by_block() {
        let small = vec![7u8; HASH_BLOCK_BYTES];
        assert_eq!(tensor_checksum(&small), xxh3_64(&small));
        let large: Vec<u8> = (0..HASH_BLOCK_BYTES + 5).map(|i| i as u8).collect();
        let mut packed = xxh3_64(&large[..HASH_BLOCK_BYTES]).to_le_bytes().to_vec();
        packed.extend_from_slice(&xxh3_64(&large[HASH_BLOCK_BYTES..]).to_le_bytes());
        assert_eq!(tensor_checksum(&large), xxh3_64(&packed));
    }
}
