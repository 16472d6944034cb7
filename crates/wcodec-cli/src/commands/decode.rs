//! `wcodec decode` / `wcodec-decode`.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use wcodec::DecodeOptions;

use super::{thread_pool, Outcome};
use crate::args::DecodeArgs;
use crate::progress::Bar;
use crate::summary::{self, Run};

pub(crate) fn run(args: &DecodeArgs, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let pool = thread_pool(args.common.threads)?;
    let options = DecodeOptions {
        overwrite: args.force,
    };
    let human = !args.common.json && !args.common.quiet;
    if human {
        writeln!(out, "Decoding {}...", args.input.display())?;
        out.flush()?;
    }
    let bar = Bar::new(args.common.quiet);
    let start = Instant::now();
    let stats = pool.install(|| wcodec::decode_path(&args.input, &args.output, &options, &bar));
    let seconds = start.elapsed().as_secs_f64();
    bar.finish();
    let stats = stats.with_context(|| format!("cannot decode `{}`", args.input.display()))?;
    let run = Run {
        input: &args.input,
        output: &args.output,
        is_dir: args.input.is_dir(),
        seconds,
        threads: pool.current_num_threads(),
    };
    if args.common.json {
        summary::print_json(out, &summary::decode_json(&run, &stats))?;
    } else if human {
        summary::decode_human(out, &run, &stats)?;
    }
    Ok(Outcome::Success)
}
