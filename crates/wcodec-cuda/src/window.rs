//! The tensors of one window (see `wcodec::load`) as GPU decode jobs: their entries rebased
//! into the window's buffer, their layouts parsed from it, and the batch plan that stages the
//! window as is. Pure Rust: the executor (`pipeline.rs`) and the emulation of the tests run
//! the same code.

use rayon::prelude::*;
use wcodec::format::header::TensorEntry;
use wcodec::layout::tensor_storage;
use wcodec::load::Window;

use crate::error::Result;
use crate::plan::{split, BatchPlan, Job, Part};

/// The jobs of one window, owned, so that a batch in flight keeps what its status check needs.
pub(crate) struct WindowJobs {
    /// Entries with offsets into the window's buffer.
    pub(crate) entries: Vec<TensorEntry>,
    /// Destination of each.
    pub(crate) dsts: Vec<u64>,
    /// Bytes of the window's buffer.
    pub(crate) window_bytes: u64,
}

impl WindowJobs {
    /// The jobs of window `w`; `entries[j]` and `dsts[j]` describe job `j` of the planner's
    /// input.
    pub(crate) fn new(w: &Window, entries: &[&TensorEntry], dsts: &[u64]) -> WindowJobs {
        WindowJobs {
            entries: w
                .jobs
                .iter()
                .enumerate()
                .map(|(k, &j)| w.rebased(k, entries[j]))
                .collect(),
            dsts: w.jobs.iter().map(|&j| dsts[j]).collect(),
            window_bytes: w.buf_bytes,
        }
    }

    /// Parses every job's layout from the window's bytes (in parallel), which validates them
    /// exactly as the CPU decoder does.
    pub(crate) fn jobs<'a>(&'a self, window: &[u8]) -> Result<Vec<Job<'a>>> {
        let window = &window[..self.window_bytes as usize];
        self.entries
            .par_iter()
            .zip(self.dsts.par_iter())
            .map(|(entry, &dst)| {
                Ok(Job {
                    entry,
                    storage: tensor_storage(entry, window)?,
                    dst,
                    part: Part::Whole,
                })
            })
            .collect()
    }

    /// The tensor name and part of job `j`, for status checks.
    pub(crate) fn who(&self, j: usize) -> (String, Part) {
        (self.entries[j].name.clone(), Part::Whole)
    }
}

/// One batch decoding every job of a window, with the window staged as is.
pub(crate) fn plan_window(
    jobs: &[Job<'_>],
    window_bytes: u64,
    chunks_per_block: u32,
    max_smem: u32,
) -> Result<BatchPlan> {
    let pieces: Vec<_> = split(jobs, u64::MAX).into_iter().flatten().collect();
    BatchPlan::build_in_window(jobs, &pieces, chunks_per_block, max_smem, window_bytes)
}
