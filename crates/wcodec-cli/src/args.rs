//! Command-line grammar (clap derive) shared by `wcodec` and the single-purpose tools.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::LazyLock;

use clap::{Args, FromArgMatches, Parser, Subcommand};

/// Appended to every tool's `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success (a closed stdout pipe counts as success)
  1  error: unreadable, invalid or corrupt input, existing output without --force,
     or a verification that found a difference
  2  usage error: unknown or invalid flags, unsupported options";

/// What `--version` prints after the tool's name: the crate version, then the format versions
/// this build reads and writes, so a user can tell from the tool alone which files it handles.
/// Built from the format constants, so a format bump cannot leave the text behind.
pub(crate) static VERSION_TEXT: LazyLock<String> = LazyLock::new(|| {
    use wcodec::format::{VERSION, VERSION_FLAT, VERSION_TILES};
    // Version 1 (all planes flat) was the first format version: readers accept 1 to VERSION.
    format!(
        "{}\nformat versions: reads {VERSION_FLAT} to {VERSION}; \
         writes {VERSION_FLAT} (all planes flat) or {VERSION_TILES} (tiled planes)",
        env!("CARGO_PKG_VERSION")
    )
});

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
#[command(name = "wcodec", version = VERSION_TEXT.as_str(), after_help = EXIT_CODES, propagate_version = true)]
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

/// The tile toolset of the integration guide (docs/format.md §6): per-tile prediction and
/// reversible transforms, chosen tile by tile by the encoder.
#[derive(Args, Debug, Default, Clone)]
pub(crate) struct TileArgs {
    /// Tile side, 4 to 64 (0 = code every plane flat, as --no-tiles) [default: 16]
    #[arg(long, value_name = "N", value_parser = parse_tile_size)]
    pub(crate) tile_size: Option<u32>,
    /// Predictors the mode search may use, comma-separated: none, left, top, avg, planar
    /// [default: left,top,avg,planar]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub(crate) predictors: Option<Vec<wcodec::Predictor>>,
    /// Transforms the mode search may use, comma-separated: none, dct, adst
    /// [default: none,dct,adst]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub(crate) transforms: Option<Vec<wcodec::Transform>>,
    /// Code every plane flat (no tiles; the file is format version 1)
    #[arg(long, conflicts_with_all = ["tile_size", "predictors", "transforms", "tile_decode_cost"])]
    pub(crate) no_tiles: bool,
    /// Tile a plane only if tiles save this percentage of its original bytes (0 to 100): the
    /// charge for decoding it about 5x slower; 0 keeps any tiling that saves bytes [default: 6]
    #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub(crate) tile_decode_cost: Option<u32>,
}

impl TileArgs {
    /// The library's tile options: the specification's defaults, overridden by the flags.
    pub(crate) fn options(&self) -> wcodec::TileOptions {
        if self.no_tiles || self.tile_size == Some(0) {
            return wcodec::TileOptions::disabled();
        }
        let mut t = wcodec::TileOptions::default();
        if let Some(n) = self.tile_size {
            t.tile_size = n;
        }
        if let Some(p) = &self.predictors {
            t.predictors.clone_from(p);
        }
        if let Some(x) = &self.transforms {
            t.transforms.clone_from(x);
        }
        if let Some(c) = self.tile_decode_cost {
            t.decode_cost = c;
        }
        t
    }
}

fn parse_tile_size(text: &str) -> Result<u32, String> {
    use wcodec::tile::{MAX_TILE_SIZE, MIN_TILE_SIZE};
    let n: u32 = text.parse().map_err(|e| format!("{e}"))?;
    if n == 0 || (MIN_TILE_SIZE..=MAX_TILE_SIZE).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{n} is not in [{MIN_TILE_SIZE}, {MAX_TILE_SIZE}] (0 disables tiles)"
        ))
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
    #[command(flatten)]
    pub(crate) tile: TileArgs,
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
        .version(VERSION_TEXT.as_str())
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
    fn tile_flags_parse() {
        assert_eq!(parse_tile_size("16"), Ok(16));
        assert_eq!(parse_tile_size("0"), Ok(0));
        assert!(parse_tile_size("3").unwrap_err().contains("not in [4, 64]"));
        assert!(parse_tile_size("65").is_err());
        let cli = Cli::try_parse_from([
            "wcodec",
            "encode",
            "-i",
            "a",
            "-o",
            "b",
            "--predictors",
            "left,top",
            "--transforms",
            "dct",
        ])
        .unwrap();
        let Command::Encode(e) = cli.command else {
            panic!("encode")
        };
        assert_eq!(
            e.tile.options().predictors,
            [wcodec::Predictor::Left, wcodec::Predictor::Top]
        );
        assert_eq!(e.tile.options().transforms, [wcodec::Transform::Dct]);
        let err = Cli::try_parse_from([
            "wcodec",
            "encode",
            "-i",
            "a",
            "-o",
            "b",
            "--predictors",
            "diag",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown predictor `diag`"), "{err}");
        let default = TileArgs::default().options();
        assert_eq!(default, wcodec::TileOptions::default());
        let off = TileArgs {
            tile_size: Some(0),
            ..TileArgs::default()
        };
        assert!(!off.options().enabled());
    }

    #[test]
    fn chunk_symbols_are_checked() {
        assert_eq!(parse_chunk_symbols("65536"), Ok(65536));
        assert!(parse_chunk_symbols("5000").is_err());
        assert!(parse_chunk_symbols("2048").is_err());
    }
}
