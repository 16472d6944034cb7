//! `wcodec decode` / `wcodec-decode`.

use std::io::Write;

use wcodec::DecodeOptions;

use super::runner::{timed, Outcome};
use crate::args::DecodeArgs;
use crate::summary;

pub(crate) fn run(args: &DecodeArgs, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let options = DecodeOptions {
        overwrite: args.force,
    };
    let (stats, run) = timed(
        "Decoding",
        &args.common,
        &args.input,
        &args.output,
        out,
        |bar| wcodec::decode_path(&args.input, &args.output, &options, bar),
    )?;
    let human = !args.common.json && !args.common.quiet;
    if args.common.json {
        summary::print_json(out, &summary::decode_json(&run, &stats))?;
    } else if human {
        summary::decode_human(out, &run, &stats)?;
    }
    Ok(Outcome::Success)
}
