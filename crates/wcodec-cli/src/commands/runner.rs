//! What the commands share: how a run ended, the worker pool, and the timed run of `encode` and
//! `decode`.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use crate::args::CommonArgs;
use crate::progress::Bar;
use crate::summary::Run;

/// How a command that ran to completion ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Exit status 0.
    Success,
    /// Exit status 1, already reported (a verification or round trip that found a difference).
    Failure,
}

/// A pool of `threads` workers (0: one per core) to run a command's work in.
pub(crate) fn thread_pool(threads: usize) -> anyhow::Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("wcodec-{i}"))
        .build()
        .context("cannot start the worker threads")
}

/// The shared shape of `encode` and `decode`: announce (`Encoding x...`), run `work` in a pool
/// of the requested size with a progress bar, time it, and describe the run for the summary.
pub(crate) fn timed<'a, S: Send>(
    verb: &str,
    common: &CommonArgs,
    input: &'a Path,
    output: &'a Path,
    out: &mut dyn Write,
    work: impl FnOnce(&Bar) -> wcodec::Result<S> + Send,
) -> anyhow::Result<(S, Run<'a>)> {
    let pool = thread_pool(common.threads)?;
    if !common.json && !common.quiet {
        writeln!(out, "{verb} {}...", input.display())?;
        out.flush()?;
    }
    let bar = Bar::new(common.quiet);
    let start = Instant::now();
    let stats = pool.install(|| work(&bar));
    let seconds = start.elapsed().as_secs_f64();
    bar.finish();
    let stats =
        stats.with_context(|| format!("cannot {} `{}`", verb_stem(verb), input.display()))?;
    let run = Run {
        input,
        output,
        is_dir: input.is_dir(),
        seconds,
        threads: pool.current_num_threads(),
    };
    Ok((stats, run))
}

/// `Encoding` → `encode`, for error messages.
fn verb_stem(verb: &str) -> String {
    verb.strip_suffix("ing").unwrap_or(verb).to_lowercase() + "e"
}
