//! Checksum verification of decoded tensors on the GPU: the hash jobs of every destination,
//! their device buffer, the launches, and the comparison with the recorded checksums.

use crate::abi::{bytes_of, HashArgs, HashJob, HASH_BLOCK_BYTES};
use crate::addr::align;
use crate::error::{Error, Result};
use crate::plan::{Launch, Target};

/// Checksum verification of decoded tensors: one XXH3 job per tensor of at most 1 MiB, one per
/// 1 MiB block of larger ones plus one over their block hashes (format.md §3.2). Jobs over 240
/// bytes first get their per-block terms computed in parallel (see `xxh3.cu`).
///
/// Device buffer: `level-1 jobs | level-2 jobs | level-1 tasks | level-2 tasks` (uploaded), then
/// `terms | block hashes | final hashes`.
pub(crate) struct VerifyPlan {
    level1: Vec<VJob>,
    level2: Vec<VJob>,
    tasks1: Vec<VJob>,
    tasks2: Vec<VJob>,
    /// Job index of each final hash.
    targets: Vec<usize>,
    level2_off: u64,
    tasks1_off: u64,
    tasks2_off: u64,
    terms_off: u64,
    blocks_off: u64,
    finals_off: u64,
    bytes: u64,
}

/// The regions of the verify buffer an address may point into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Region {
    Term,
    BlockHash,
    Final,
}

type Addr = crate::addr::Addr<Region>;

#[derive(Clone, Copy, Debug)]
struct VJob {
    src: Addr,
    len: u64,
    out: Addr,
    terms: Addr,
}

/// Full 1024-byte blocks a terms task covers at most.
const BLOCKS_PER_TASK: u64 = 64;

/// Adds hash job `(src, len) -> out` and, for a long input, the terms tasks it needs.
fn push_hash(
    jobs: &mut Vec<VJob>,
    tasks: &mut Vec<VJob>,
    n_terms: &mut u64,
    src: Addr,
    len: u64,
    out: Addr,
) {
    let mut terms = Addr::Abs(0);
    if len > 240 {
        let nb = (len - 1) / 1024;
        terms = Addr::In(Region::Term, *n_terms * 64);
        let mut b = 0;
        while b < nb {
            let n = BLOCKS_PER_TASK.min(nb - b);
            tasks.push(VJob {
                src: src.add(b * 1024),
                len: n,
                out: terms.add(b * 64),
                terms: Addr::Abs(0),
            });
            b += n;
        }
        *n_terms += nb;
    }
    jobs.push(VJob {
        src,
        len,
        out,
        terms,
    });
}

impl VerifyPlan {
    /// Plans the hashes of every tensor `(entry, destination)` with bytes; checks empty tensors
    /// on the host.
    pub(crate) fn build(jobs: &[Target<'_>]) -> Result<VerifyPlan> {
        let mut targets = Vec::new();
        let (mut level1, mut level2, mut tasks1, mut tasks2) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut n_terms = 0u64;
        let mut n_block_hashes = 0u64;
        for (j, &(entry, dst)) in jobs.iter().enumerate() {
            let len = entry.raw_bytes;
            if len == 0 {
                let computed = xxhash_rust::xxh3::xxh3_64(&[]);
                if computed != entry.xxh3 {
                    return Err(Error::Checksum {
                        tensor: entry.name.clone(),
                        computed,
                        expected: entry.xxh3,
                    });
                }
                continue;
            }
            let out = Addr::In(Region::Final, targets.len() as u64 * 8);
            targets.push(j);
            if len <= HASH_BLOCK_BYTES {
                push_hash(
                    &mut level1,
                    &mut tasks1,
                    &mut n_terms,
                    Addr::Abs(dst),
                    len,
                    out,
                );
            } else {
                let n = len.div_ceil(HASH_BLOCK_BYTES);
                for b in 0..n {
                    push_hash(
                        &mut level1,
                        &mut tasks1,
                        &mut n_terms,
                        Addr::Abs(dst + b * HASH_BLOCK_BYTES),
                        HASH_BLOCK_BYTES.min(len - b * HASH_BLOCK_BYTES),
                        Addr::In(Region::BlockHash, (n_block_hashes + b) * 8),
                    );
                }
                push_hash(
                    &mut level2,
                    &mut tasks2,
                    &mut n_terms,
                    Addr::In(Region::BlockHash, n_block_hashes * 8),
                    8 * n,
                    out,
                );
                n_block_hashes += n;
            }
        }
        let level2_off = align(level1.len() as u64 * 32);
        let tasks1_off = align(level2_off + level2.len() as u64 * 32);
        let tasks2_off = align(tasks1_off + tasks1.len() as u64 * 32);
        let terms_off = align(tasks2_off + tasks2.len() as u64 * 32);
        let blocks_off = align(terms_off + n_terms * 64);
        let finals_off = align(blocks_off + n_block_hashes * 8);
        let bytes = align(finals_off + targets.len() as u64 * 8);
        Ok(VerifyPlan {
            level1,
            level2,
            tasks1,
            tasks2,
            targets,
            level2_off,
            tasks1_off,
            tasks2_off,
            terms_off,
            blocks_off,
            finals_off,
            bytes,
        })
    }

    /// Whether there is anything to hash on the device.
    pub(crate) fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Device bytes needed.
    pub(crate) fn device_bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes uploaded (the job and task arrays) at the start of the buffer.
    pub(crate) fn upload_bytes(&self) -> u64 {
        self.terms_off
    }

    fn resolve(&self, base: u64, a: Addr) -> u64 {
        a.at(|r| match r {
            Region::Term => base + self.terms_off,
            Region::BlockHash => base + self.blocks_off,
            Region::Final => base + self.finals_off,
        })
    }

    /// The job and task arrays for a buffer at `base` (`upload_bytes` long).
    pub(crate) fn image(&self, base: u64) -> Vec<u8> {
        let mut out = vec![0u8; self.upload_bytes() as usize];
        for (list, off) in [
            (&self.level1, 0),
            (&self.level2, self.level2_off),
            (&self.tasks1, self.tasks1_off),
            (&self.tasks2, self.tasks2_off),
        ] {
            for (i, j) in list.iter().enumerate() {
                let b = bytes_of(&HashJob {
                    src: self.resolve(base, j.src),
                    len: j.len,
                    out: self.resolve(base, j.out),
                    terms: self.resolve(base, j.terms),
                });
                let o = off as usize + i * 32;
                out[o..o + 32].copy_from_slice(&b);
            }
        }
        out
    }

    /// The launches for a buffer at `base`: level-1 terms and hashes, then level 2.
    pub(crate) fn launches(&self, base: u64) -> Vec<Launch> {
        let warps = 8u32;
        let mk = |kernel, jobs_at: u64, n: usize| Launch {
            kernel,
            grid: (n as u32).div_ceil(warps),
            block: 32 * warps,
            smem: 256,
            args: bytes_of(&HashArgs {
                jobs: jobs_at,
                n_jobs: n as u32,
                reserved: 0,
            }),
        };
        let mut v = Vec::new();
        for (kernel, at, n) in [
            ("wcodec_xxh3_terms", self.tasks1_off, self.tasks1.len()),
            ("wcodec_xxh3", 0, self.level1.len()),
            ("wcodec_xxh3_terms", self.tasks2_off, self.tasks2.len()),
            ("wcodec_xxh3", self.level2_off, self.level2.len()),
        ] {
            if n > 0 {
                v.push(mk(kernel, base + at, n));
            }
        }
        v
    }

    /// Offset and length of the final hashes.
    pub(crate) fn finals_range(&self) -> (u64, u64) {
        (self.finals_off, self.targets.len() as u64 * 8)
    }

    /// Compares the final hashes read back with the recorded checksums.
    pub(crate) fn check(&self, jobs: &[Target<'_>], finals: &[u8]) -> Result<()> {
        for (&j, h) in self.targets.iter().zip(finals.chunks_exact(8)) {
            let computed = u64::from_le_bytes(h.try_into().expect("8 bytes"));
            let entry = jobs[j].0;
            if computed != entry.xxh3 {
                return Err(Error::Checksum {
                    tensor: entry.name.clone(),
                    computed,
                    expected: entry.xxh3,
                });
            }
        }
        Ok(())
    }
}
