//! Human and JSON summaries of encode and decode runs, and the number formats they share.

use std::io::{self, Write};
use std::path::Path;

use serde_json::json;
use wcodec::{DecodeStats, EncodeStats};

/// Decimal size with two decimals: `kB` below a megabyte, `MB` below a gigabyte, else `GB`
/// (bytes below a kilobyte).
pub(crate) fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes < 1_000 {
        format!("{bytes} B")
    } else if b < 1e6 {
        format!("{:.2} kB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.2} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

/// `part / whole` as a percentage (0 when `whole` is 0).
pub(crate) fn percent(part: f64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part / whole as f64
    }
}

/// `xxh3:` and 16 hex digits.
pub(crate) fn xxh3(v: u64) -> String {
    format!("xxh3:{v:016x}")
}

/// What the encode and decode summaries need besides the library's statistics.
pub(crate) struct Run<'a> {
    pub(crate) input: &'a Path,
    pub(crate) output: &'a Path,
    pub(crate) is_dir: bool,
    pub(crate) seconds: f64,
    pub(crate) threads: usize,
}

impl Run<'_> {
    fn mb_s(&self, bytes: u64) -> f64 {
        if self.seconds > 0.0 {
            bytes as f64 / 1e6 / self.seconds
        } else {
            0.0
        }
    }
}

/// The integration guide's encode block, plus the order-0 bound.
pub(crate) fn encode_human(out: &mut dyn Write, run: &Run, s: &EncodeStats) -> io::Result<()> {
    let reduction = percent(
        s.original_bytes as f64 - s.encoded_bytes as f64,
        s.original_bytes,
    );
    let above = percent(
        s.encoded_bytes as f64 - s.bound_bytes as f64,
        s.original_bytes,
    );
    files_line(out, run, s.n_files)?;
    writeln!(out, "  Tensors:       {}", s.n_tensors)?;
    writeln!(out, "  Original size: {}", size(s.original_bytes))?;
    writeln!(out, "  Encoded size:  {}", size(s.encoded_bytes))?;
    writeln!(out, "  Reduction:     {reduction:.1}%")?;
    writeln!(
        out,
        "  Order-0 bound: {} (encoded is {above:+.1}% of original above it)",
        size(s.bound_bytes)
    )?;
    writeln!(out, "  Tiles:         {}", tiles_line(s))?;
    writeln!(out, "  Time:          {:.2}s", run.seconds)?;
    if run.is_dir {
        writeln!(
            out,
            "  Checksum:      n/a (directory; each .wcodec file records its source's xxh3)"
        )?;
    } else {
        writeln!(out, "  Checksum:      {}", xxh3(s.source_xxh3))?;
    }
    writeln!(out, "Saved to {}", run.output.display())
}

/// `12 of 768 used prediction (1.6%); 1 tensor tiled, 45.20 kB saved`.
fn tiles_line(s: &EncodeStats) -> String {
    if s.tiles_total == 0 {
        return "none considered (tiles disabled, or no plane of 4096+ symbols)".into();
    }
    let plural = if s.tiled_tensors == 1 { "" } else { "s" };
    format!(
        "{} of {} used prediction ({:.1}%); {} tensor{plural} tiled, {} saved",
        s.tiles_predicted,
        s.tiles_total,
        s.predicted_pct(),
        s.tiled_tensors,
        size(s.tile_bytes_saved)
    )
}

/// The encode summary as one JSON object.
pub(crate) fn encode_json(run: &Run, s: &EncodeStats) -> serde_json::Value {
    json!({
        "command": "encode",
        "input": run.input.display().to_string(),
        "output": run.output.display().to_string(),
        "is_dir": run.is_dir,
        "n_files": s.n_files,
        "n_tensors": s.n_tensors,
        "original_bytes": s.original_bytes,
        "encoded_bytes": s.encoded_bytes,
        "bound_bytes": s.bound_bytes,
        "reduction_pct": percent(s.original_bytes as f64 - s.encoded_bytes as f64, s.original_bytes),
        "above_bound_pct": percent(s.encoded_bytes as f64 - s.bound_bytes as f64, s.original_bytes),
        "seconds": run.seconds,
        "mb_s": run.mb_s(s.original_bytes),
        "threads": run.threads,
        "source_xxh3": (!run.is_dir).then(|| format!("{:016x}", s.source_xxh3)),
        "tiles_total": s.tiles_total,
        "tiles_predicted": s.tiles_predicted,
        "tiles_predicted_pct": s.predicted_pct(),
        "tiled_tensors": s.tiled_tensors,
        "tile_bytes_saved": s.tile_bytes_saved,
    })
}

/// The `Files:` line of a directory's encode or decode block (nothing for a single file).
fn files_line(out: &mut dyn Write, run: &Run, n_files: u64) -> io::Result<()> {
    if run.is_dir {
        let plural = if n_files == 1 { "" } else { "s" };
        writeln!(
            out,
            "  Files:         {n_files} safetensors file{plural} (other files copied)"
        )?;
    }
    Ok(())
}

/// The decode block: sizes, time and the source checksum recorded at encode time.
pub(crate) fn decode_human(out: &mut dyn Write, run: &Run, s: &DecodeStats) -> io::Result<()> {
    files_line(out, run, s.n_files)?;
    writeln!(out, "  Tensors:       {}", s.n_tensors)?;
    writeln!(out, "  Encoded size:  {}", size(s.encoded_bytes))?;
    writeln!(out, "  Decoded size:  {}", size(s.decoded_bytes))?;
    writeln!(out, "  Time:          {:.2}s", run.seconds)?;
    if run.is_dir {
        writeln!(
            out,
            "  Checksum:      n/a (directory; every tensor checksum verified)"
        )?;
    } else {
        writeln!(
            out,
            "  Checksum:      {} (recorded source checksum; every tensor checksum verified)",
            xxh3(s.source_xxh3)
        )?;
    }
    writeln!(out, "Saved to {}", run.output.display())
}

/// The decode summary as one JSON object.
pub(crate) fn decode_json(run: &Run, s: &DecodeStats) -> serde_json::Value {
    json!({
        "command": "decode",
        "input": run.input.display().to_string(),
        "output": run.output.display().to_string(),
        "is_dir": run.is_dir,
        "n_files": s.n_files,
        "n_tensors": s.n_tensors,
        "encoded_bytes": s.encoded_bytes,
        "decoded_bytes": s.decoded_bytes,
        "seconds": run.seconds,
        "mb_s": run.mb_s(s.decoded_bytes),
        "threads": run.threads,
        "source_xxh3": (!run.is_dir).then(|| format!("{:016x}", s.source_xxh3)),
    })
}

/// Writes `value` as one line of JSON.
pub(crate) fn print_json(out: &mut dyn Write, value: &serde_json::Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_decimal() {
        assert_eq!(size(999), "999 B");
        assert_eq!(size(23_030_000), "23.03 MB");
        assert_eq!(size(8_030_000_000), "8.03 GB");
        assert_eq!(size(1_500), "1.50 kB");
    }
}
