//! One module per command; each writes its results to `out` and returns its outcome.

mod bench;
mod decode;
mod encode;
mod inspect;
mod verify;

use std::io::Write;

use anyhow::Context;

use crate::args::Command;

/// How a command that ran to completion ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Exit status 0.
    Success,
    /// Exit status 1, already reported (a verification or round trip that found a difference).
    Failure,
}

/// Runs a parsed command.
pub(crate) fn run(command: Command, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    match command {
        Command::Encode(a) => encode::run(&a, out),
        Command::Decode(a) => decode::run(&a, out),
        Command::Verify(a) => verify::run(&a, out),
        Command::Inspect(a) => inspect::run(&a, out),
        Command::Bench(a) => bench::run(&a, out),
    }
}

/// A pool of `threads` workers (0: one per core) to run a command's work in.
pub(crate) fn thread_pool(threads: usize) -> anyhow::Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("wcodec-{i}"))
        .build()
        .context("cannot start the worker threads")
}
