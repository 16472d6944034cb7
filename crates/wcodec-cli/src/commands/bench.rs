//! `wcodec bench`: encode and decode a safetensors file in memory, `repeat` times each.

use std::io::{Cursor, Write};
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::json;
use wcodec::{Archive, EncodeOptions, NoProgress};

use super::runner::{thread_pool, Outcome};
use crate::args::BenchArgs;
use crate::summary::{self, size};

pub(crate) fn run(args: &BenchArgs, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    if args.input.is_dir() {
        bail!(
            "`{}` is a directory; bench takes one safetensors file",
            args.input.display()
        );
    }
    // Read the whole file before timing: neither disk, page cache nor page faults are timed.
    let input = std::fs::read(&args.input)
        .with_context(|| format!("cannot read `{}`", args.input.display()))?;
    let name = args
        .input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pool = thread_pool(args.threads)?;
    let options = EncodeOptions {
        chunk_symbols: args.chunk_symbols,
        overwrite: false,
        tiles: args.tile.options(),
    };
    let result = pool.install(|| measure(&input, &name, &options, args.repeat));
    let m = result.with_context(|| format!("cannot benchmark `{}`", args.input.display()))?;
    let original = input.len() as u64;
    let mb_s = |secs: f64| {
        if secs > 0.0 {
            original as f64 / 1e6 / secs
        } else {
            0.0
        }
    };
    let (encode_mb_s, decode_mb_s) = (mb_s(m.encode_s), mb_s(m.decode_s));
    if args.json {
        // The vector paths the decoder took on this CPU: throughput figures are only comparable
        // between runs on the same path.
        let simd = |level: &dyn std::fmt::Debug| format!("{level:?}").to_lowercase();
        let value = json!({
            "input": args.input.display().to_string(),
            "original_bytes": original,
            "encoded_bytes": m.encoded_bytes,
            "bound_bytes": m.bound_bytes,
            "threads": pool.current_num_threads(),
            "repeat": args.repeat,
            "encode_mb_s": encode_mb_s,
            "decode_mb_s": decode_mb_s,
            "encode_best_mb_s": mb_s(m.encode_best_s),
            "decode_best_mb_s": mb_s(m.decode_best_s),
            "rans_simd": simd(&wcodec::rans::simd::detected()),
            "tile_simd": simd(&wcodec::tile::simd::detected()),
            "tiled_tensors": m.tiled_tensors,
            "tile_bytes_saved": m.tile_bytes_saved,
            "chunk_symbols": options.chunk_symbols,
            "tile_decode_cost": options.tiles.decode_cost,
            "tiles": options.tiles.enabled(),
            "roundtrip_ok": m.roundtrip_ok,
        });
        summary::print_json(out, &value)?;
    } else {
        writeln!(
            out,
            "{}: {} -> {} (order-0 bound {}), {} threads, median of {}: encode {encode_mb_s:.1} MB/s, \
             decode {decode_mb_s:.1} MB/s, round trip {}",
            args.input.display(),
            size(original),
            size(m.encoded_bytes),
            size(m.bound_bytes),
            pool.current_num_threads(),
            args.repeat,
            if m.roundtrip_ok { "ok" } else { "FAILED" },
        )?;
    }
    if m.roundtrip_ok {
        Ok(Outcome::Success)
    } else {
        out.flush()?;
        eprintln!(
            "error: the rebuilt file differs from `{}`",
            args.input.display()
        );
        Ok(Outcome::Failure)
    }
}

struct Measured {
    encoded_bytes: u64,
    bound_bytes: u64,
    tiled_tensors: u64,
    tile_bytes_saved: u64,
    /// Median and fastest of the timed runs.
    encode_s: f64,
    decode_s: f64,
    encode_best_s: f64,
    decode_best_s: f64,
    roundtrip_ok: bool,
}

fn measure(
    input: &[u8],
    name: &str,
    options: &EncodeOptions,
    repeat: u32,
) -> anyhow::Result<Measured> {
    let mut encode_times = Vec::new();
    let mut encoded = Vec::new();
    let mut stats = wcodec::EncodeStats::default();
    for _ in 0..repeat {
        let mut cursor = Cursor::new(Vec::with_capacity(input.len() + (1 << 16)));
        let start = Instant::now();
        stats = wcodec::encode_bytes(input, name, options, &mut cursor, &NoProgress)?;
        encode_times.push(start.elapsed().as_secs_f64());
        encoded = cursor.into_inner();
    }
    let mut decode_times = Vec::new();
    for _ in 0..repeat {
        let image = encoded.clone();
        let start = Instant::now();
        let archive = Archive::from_bytes(image)?;
        archive.write_source(&mut std::io::sink(), &NoProgress)?;
        decode_times.push(start.elapsed().as_secs_f64());
    }
    // One untimed rebuild, compared byte for byte with the input.
    let mut rebuilt = Vec::with_capacity(input.len());
    Archive::from_bytes(encoded.clone())?.write_source(&mut rebuilt, &NoProgress)?;
    Ok(Measured {
        encoded_bytes: encoded.len() as u64,
        bound_bytes: stats.bound_bytes,
        tiled_tensors: stats.tiled_tensors,
        tile_bytes_saved: stats.tile_bytes_saved,
        encode_s: median(&mut encode_times),
        decode_s: median(&mut decode_times),
        encode_best_s: encode_times.iter().copied().fold(f64::INFINITY, f64::min),
        decode_best_s: decode_times.iter().copied().fold(f64::INFINITY, f64::min),
        roundtrip_ok: rebuilt == input,
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_odd_and_even() {
        assert!((super::median(&mut [3.0, 1.0, 2.0]) - 2.0).abs() < 1e-12);
        assert!((super::median(&mut [4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-12);
    }
}
