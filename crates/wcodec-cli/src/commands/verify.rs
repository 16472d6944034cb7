//! `wcodec verify` / `wcodec-verify`.

use std::io::Write;

use anyhow::Context;
use serde_json::json;
use wcodec::Mismatch;

use super::runner::{thread_pool, Outcome};
use crate::args::VerifyArgs;
use crate::summary;

pub(crate) fn run(args: &VerifyArgs, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let pool = thread_pool(args.threads)?;
    if !args.json {
        writeln!(out, "Comparing tensors...")?;
        out.flush()?;
    }
    let report = pool
        .install(|| wcodec::verify(&args.original, &args.decoded))
        .with_context(|| {
            format!(
                "cannot compare `{}` with `{}`",
                args.original.display(),
                args.decoded.display()
            )
        })?;
    let ok = report.first_mismatch.is_none() && report.files_identical;
    if args.json {
        let max_abs_diff = match &report.first_mismatch {
            None => Some(0.0),
            Some(m) => m.max_abs_diff,
        };
        let value = json!({
            "command": "verify",
            "original": args.original.display().to_string(),
            "decoded": args.decoded.display().to_string(),
            "ok": ok,
            "n_files": report.n_files,
            "n_tensors": report.n_tensors,
            "files_identical": report.files_identical,
            "max_abs_diff": max_abs_diff,
            "first_mismatch": report.first_mismatch,
        });
        summary::print_json(out, &value)?;
    } else if ok {
        let files = if args.original.is_dir() {
            format!(" in {} files", report.n_files)
        } else {
            String::new()
        };
        writeln!(
            out,
            "  All {} tensors{files} match bit-exactly ✓",
            report.n_tensors
        )?;
        writeln!(out, "  Checksum: OK")?;
        writeln!(out, "  Max abs diff: 0")?;
    } else {
        human_mismatch(out, report.first_mismatch.as_ref(), report.n_tensors)?;
    }
    if ok {
        return Ok(Outcome::Success);
    }
    out.flush()?;
    eprintln!("error: {}", describe(report.first_mismatch.as_ref()));
    Ok(Outcome::Failure)
}

fn human_mismatch(
    out: &mut dyn Write,
    mismatch: Option<&Mismatch>,
    matched: usize,
) -> std::io::Result<()> {
    let Some(m) = mismatch else {
        return writeln!(out, "  Checksum: MISMATCH (the files differ)");
    };
    if let Some(tensor) = &m.tensor {
        writeln!(
            out,
            "  Tensor `{tensor}` in {} differs: {}",
            m.file, m.detail
        )?;
        match m.max_abs_diff {
            Some(d) => writeln!(out, "  Max abs diff: {d}")?,
            None => writeln!(out, "  Max abs diff: n/a")?,
        }
        writeln!(out, "  {matched} tensors matched before it")?;
    } else {
        writeln!(out, "  {matched} tensors match bit-exactly")?;
        writeln!(out, "  File {} differs: {}", m.file, m.detail)?;
    }
    writeln!(out, "  Checksum: MISMATCH")
}

fn describe(mismatch: Option<&Mismatch>) -> String {
    match mismatch {
        Some(Mismatch {
            tensor: Some(t),
            file,
            detail,
            ..
        }) => {
            format!("verification failed: tensor `{t}` in `{file}` differs ({detail})")
        }
        Some(Mismatch { file, detail, .. }) => {
            format!("verification failed: `{file}` differs ({detail})")
        }
        None => "verification failed: the files differ".into(),
    }
}
