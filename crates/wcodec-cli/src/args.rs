//! Command-line grammar (clap derive) shared by `wcodec` and the single-purpose tools.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, FromArgMatches, Parser, Subcommand};

/// Appended to every tool's `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success (a closed stdout pipe counts as success)
  1  error: unreadable, invalid or corrupt input, existing output without --force,
     or a verification that found a difference
  2  usage error: unknown or invalid flags, unsupported options";

/// Which binary is running: the grammar differs (subcommands or not), the work does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `wcodec <command> …`
    Wcodec,
    /// `wcodec-encode …` (= `wcodec encode …`)
    Encode,
    /// `wcodec-decode …` (= `wcodec decode …`)
    Decode,
    /// `wcodec-verify …` (= `wcodec verify …`)
    Verify,
}

/// Lossless codec for neural-network checkpoints (safetensors ↔ .wcodec).
#[derive(Parser, Debug)]
#[command(name = "wcodec", version, after_help = EXIT_CODES, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A parsed command line.
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Encode a safetensors file or a model directory (same as `wcodec-encode`)
    Encode(EncodeArgs),
    /// Restore the original file or directory from its .wcodec form (same as `wcodec-decode`)
    Decode(DecodeArgs),
    /// Compare an original checkpoint with a decoded one, tensor by tensor (same as `wcodec-verify`)
    Verify(VerifyArgs),
    /// Show what a .wcodec file (or a directory of them) holds, tensor by tensor
    Inspect(InspectArgs),
    /// Benchmark encode and decode of a safetensors file in memory
    Bench(BenchArgs),
}

/// Flags shared by the commands that do heavy work.
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct CommonArgs {
    /// Worker threads (0 = one per core)
    #[arg(long, short = 't', value_name = "N", default_value_t = 0)]
    pub(crate) threads: usize,
    /// Print one JSON object on stdout instead of the human summary
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar and no human summary (errors still go to stderr)
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

/// `encode` / `wcodec-encode`.
#[derive(Args, Debug)]
pub(crate) struct EncodeArgs {
    /// A .safetensors file, or a model directory
    #[arg(long, short = 'i', value_name = "PATH")]
    pub(crate) input: PathBuf,
    /// The .wcodec file (or directory) to write
    #[arg(long, short = 'o', value_name = "PATH")]
    pub(crate) output: PathBuf,
    /// Replace the output if it exists
    #[arg(long, short = 'f')]
    pub(crate) force: bool,
    /// Symbols per rANS chunk: a power of two in [4096, 1048576]
    #[arg(long, value_name = "N", default_value_t = wcodec::format::DEFAULT_CHUNK_SYMBOLS,
          value_parser = parse_chunk_symbols)]
    pub(crate) chunk_symbols: u64,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    #[command(flatten)]
    pub(crate) tile: TileArgs,
}

/// Options of the tile-prediction coder of the integration guide. Accepted so that commands
/// copied from the guide parse, then refused: silently ignoring them would mislead.
#[derive(Args, Debug, Default)]
pub(crate) struct TileArgs {
    /// Not implemented yet (tile prediction); rejected
    #[arg(long, value_name = "N", hide_short_help = true)]
    pub(crate) tile_size: Option<String>,
    /// Not implemented yet (tile prediction); rejected
    #[arg(long, value_name = "LIST", hide_short_help = true)]
    pub(crate) predictors: Option<String>,
    /// Not implemented yet (tile prediction); rejected
    #[arg(long, value_name = "LIST", hide_short_help = true)]
    pub(crate) transforms: Option<String>,
}

impl TileArgs {
    pub(crate) fn any(&self) -> bool {
        self.tile_size.is_some() || self.predictors.is_some() || self.transforms.is_some()
    }
}

/// `decode` / `wcodec-decode`.
#[derive(Args, Debug)]
pub(crate) struct DecodeArgs {
    /// A .wcodec file, or an encoded model directory
    #[arg(long, short = 'i', value_name = "PATH")]
    pub(crate) input: PathBuf,
    /// The file (or directory) to restore
    #[arg(long, short = 'o', value_name = "PATH")]
    pub(crate) output: PathBuf,
    /// Replace the output if it exists
    #[arg(long, short = 'f')]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

/// `verify` / `wcodec-verify`.
#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// The original safetensors file or model directory
    #[arg(long, value_name = "PATH")]
    pub(crate) original: PathBuf,
    /// The decoded counterpart: a safetensors file/directory, or a .wcodec file/directory
    /// (decoded on the fly)
    #[arg(long, value_name = "PATH")]
    pub(crate) decoded: PathBuf,
    /// Worker threads (0 = one per core)
    #[arg(long, short = 't', value_name = "N", default_value_t = 0)]
    pub(crate) threads: usize,
    /// Print one JSON object on stdout instead of the human report
    #[arg(long)]
    pub(crate) json: bool,
}

/// `inspect`.
#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    /// A .wcodec file, or a directory holding .wcodec files
    #[arg(value_name = "PATH")]
    pub(crate) path: PathBuf,
    /// Print one JSON object instead of the table
    #[arg(long, conflicts_with = "header")]
    pub(crate) json: bool,
    /// Print the file's JSON header, inflated and pretty-printed
    #[arg(long)]
    pub(crate) header: bool,
}

/// `bench`.
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// A .safetensors file (read fully into memory before timing)
    #[arg(value_name = "PATH")]
    pub(crate) input: PathBuf,
    /// Worker threads (0 = one per core)
    #[arg(long, short = 't', value_name = "N", default_value_t = 0)]
    pub(crate) threads: usize,
    /// Timed encodes and decodes each; the median is reported
    #[arg(long, short = 'r', value_name = "R", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) repeat: u32,
    /// Symbols per rANS chunk: a power of two in [4096, 1048576]
    #[arg(long, value_name = "N", default_value_t = wcodec::format::DEFAULT_CHUNK_SYMBOLS,
          value_parser = parse_chunk_symbols)]
    pub(crate) chunk_symbols: u64,
    /// Print one JSON object instead of a readable line
    #[arg(long)]
    pub(crate) json: bool,
}

fn parse_chunk_symbols(text: &str) -> Result<u64, String> {
    use wcodec::format::{MAX_CHUNK_SYMBOLS, MIN_CHUNK_SYMBOLS};
    let n: u64 = text.parse().map_err(|e| format!("{e}"))?;
    if (MIN_CHUNK_SYMBOLS..=MAX_CHUNK_SYMBOLS).contains(&n) && n.is_power_of_two() {
        Ok(n)
    } else {
        Err(format!(
            "{n} is not a power of two in [{MIN_CHUNK_SYMBOLS}, {MAX_CHUNK_SYMBOLS}]"
        ))
    }
}

/// Parses the command line of `tool`.
pub(crate) fn parse<I, T>(tool: Tool, args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match tool {
        Tool::Wcodec => Cli::try_parse_from(args).map(|cli| cli.command),
        Tool::Encode => standalone::<EncodeArgs, _, _>(
            "wcodec-encode",
            "Encode a safetensors file or a model directory into .wcodec form",
            args,
        )
        .map(Command::Encode),
        Tool::Decode => standalone::<DecodeArgs, _, _>(
            "wcodec-decode",
            "Restore the original safetensors file or model directory from its .wcodec form",
            args,
        )
        .map(Command::Decode),
        Tool::Verify => standalone::<VerifyArgs, _, _>(
            "wcodec-verify",
            "Compare an original checkpoint with a decoded one, tensor by tensor",
            args,
        )
        .map(Command::Verify),
    }
}

/// A single-purpose tool: the subcommand's arguments as a top-level command.
fn standalone<A, I, T>(name: &'static str, about: &'static str, args: I) -> Result<A, clap::Error>
where
    A: Args + FromArgMatches,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // `about` after `augment_args`, which would otherwise set the struct's doc comment.
    let mut command = A::augment_args(clap::Command::new(name))
        .about(about)
        .long_about(None)
        .version(env!("CARGO_PKG_VERSION"))
        .after_help(EXIT_CODES);
    let matches = command.try_get_matches_from_mut(args)?;
    A::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn chunk_symbols_are_checked() {
        assert_eq!(parse_chunk_symbols("65536"), Ok(65536));
        assert!(parse_chunk_symbols("5000").is_err());
        assert!(parse_chunk_symbols("2048").is_err());
    }
}
