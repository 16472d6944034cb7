//! One module per command; each writes its results to `out` and returns its outcome.

mod bench;
mod decode;
mod encode;
mod inspect;
mod runner;
mod verify;

use std::io::Write;

use crate::args::Command;
pub(crate) use runner::Outcome;

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
