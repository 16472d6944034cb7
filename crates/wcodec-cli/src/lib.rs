//! # wcodec-cli
//!
//! The command-line front end of [`wcodec`]: the multi-command `wcodec` tool (`encode`, `decode`,
//! `verify`, `inspect`, `bench`) and the single-purpose `wcodec-encode`, `wcodec-decode` and
//! `wcodec-verify` tools of the integration guide. Every binary is a thin `main` around
//! [`run_tool`], which Python console scripts can reuse as well.
//!
//! Exit codes: `0` success, `1` error (I/O, corrupt input, failed verification), `2` usage
//! error. A broken pipe on stdout counts as success.
// The CLI's job is writing to stdout; it goes through a locked handle so a closed pipe is an
// error we can catch instead of a panic.
#![allow(clippy::print_stdout)]

mod args;
mod commands;
mod progress;
mod summary;

use std::ffi::OsString;
use std::io::Write;

pub use args::Tool;

/// Exit status of a successful run.
pub const EXIT_OK: i32 = 0;
/// Exit status of an error: I/O, corrupt or invalid input, a failed verification.
pub const EXIT_ERROR: i32 = 1;
/// Exit status of a usage error: unknown or invalid flags, unsupported options.
pub const EXIT_USAGE: i32 = 2;

/// Runs the multi-command `wcodec` tool on `args` (`args[0]` is the program name) and returns
/// the process exit status.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_tool(Tool::Wcodec, args)
}

/// Runs `wcodec-encode`.
pub fn run_encode<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_tool(Tool::Encode, args)
}

/// Runs `wcodec-decode`.
pub fn run_decode<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_tool(Tool::Decode, args)
}

/// Runs `wcodec-verify`.
pub fn run_verify<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_tool(Tool::Verify, args)
}

/// Runs one of the tools on `args` (`args[0]` is the program name), writing results to stdout
/// and errors to stderr; returns the exit status ([`EXIT_OK`], [`EXIT_ERROR`], [`EXIT_USAGE`]).
pub fn run_tool<I, T>(tool: Tool, args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let command = match args::parse(tool, args) {
        Ok(command) => command,
        Err(e) => {
            // Help and version go to stdout and exit 0; a closed pipe there is not an error.
            let _ = e.print();
            return e.exit_code();
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = commands::run(command, &mut out).and_then(|outcome| {
        out.flush()?;
        Ok(outcome)
    });
    match result {
        Ok(commands::Outcome::Success) => EXIT_OK,
        Ok(commands::Outcome::Failure) => EXIT_ERROR,
        Err(err) => report(&err),
    }
}

/// A mistake in how the tool was called, found after parsing (exit status 2).
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn report(err: &anyhow::Error) -> i32 {
    let broken_pipe = err
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
    if broken_pipe {
        return EXIT_OK;
    }
    eprintln!("error: {err:#}");
    if err.downcast_ref::<UsageError>().is_some() {
        EXIT_USAGE
    } else {
        EXIT_ERROR
    }
}
