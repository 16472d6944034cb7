//! `wcodec encode` / `wcodec-encode`.

use std::io::Write;

use wcodec::EncodeOptions;

use super::runner::{timed, Outcome};
use crate::args::EncodeArgs;
use crate::summary;

pub(crate) fn run(args: &EncodeArgs, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let options = EncodeOptions {
        chunk_symbols: args.chunk_symbols,
        overwrite: args.force,
        tiles: args.tile.options(),
    };
    let (stats, run) = timed(
        "Encoding",
        &args.common,
        &args.input,
        &args.output,
        out,
        |bar| wcodec::encode_path(&args.input, &args.output, &options, bar),
    )?;
    let human = !args.common.json && !args.common.quiet;
    if args.common.json {
        summary::print_json(out, &summary::encode_json(&run, &stats))?;
    } else if human {
        summary::encode_human(out, &run, &stats)?;
    }
    Ok(Outcome::Success)
}
