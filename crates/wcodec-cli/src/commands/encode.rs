//! `wcodec encode` / `wcodec-encode`.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use wcodec::EncodeOptions;

use super::{thread_pool, Outcome};
use crate::args::EncodeArgs;
use crate::progress::Bar;
use crate::summary::{self, Run};
use crate::UsageError;

const TILE_UNSUPPORTED: &str =
    "tile prediction is not implemented yet (see the tile issue); remove --tile-size/--predictors/--transforms";

pub(crate) fn run(args: &EncodeArgs, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    if args.tile.any() {
        return Err(UsageError(TILE_UNSUPPORTED.into()).into());
    }
    let pool = thread_pool(args.common.threads)?;
    let options = EncodeOptions {
        chunk_symbols: args.chunk_symbols,
        overwrite: args.force,
    };
    let human = !args.common.json && !args.common.quiet;
    if human {
        writeln!(out, "Encoding {}...", args.input.display())?;
        out.flush()?;
    }
    let bar = Bar::new(args.common.quiet);
    let start = Instant::now();
    let stats = pool.install(|| wcodec::encode_path(&args.input, &args.output, &options, &bar));
    let seconds = start.elapsed().as_secs_f64();
    bar.finish();
    let stats = stats.with_context(|| format!("cannot encode `{}`", args.input.display()))?;
    let run = Run {
        input: &args.input,
        output: &args.output,
        is_dir: args.input.is_dir(),
        seconds,
        threads: pool.current_num_threads(),
    };
    if args.common.json {
        summary::print_json(out, &summary::encode_json(&run, &stats))?;
    } else if human {
        summary::encode_human(out, &run, &stats)?;
    }
    Ok(Outcome::Success)
}
