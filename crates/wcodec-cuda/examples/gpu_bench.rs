//! GPU decode throughput, measured with CUDA events (median of many runs).
//!
//! ```text
//! gpu_bench [--chunks 16384,65536,262144] [--warps 1,2,4,8] [--target-gib 1.0] [--runs 30]
//!           [--cases single,batch] [--no-tiles] [--json OUT.jsonl] FILE.{safetensors,wcodec}...
//! ```
//!
//! For every input file (a `.wcodec` file's tensors are decoded on the CPU first) and every
//! chunk size:
//! * **single**: the file's tensors of its most common dtype, concatenated into one ~20 MB
//!   tensor, encoded with that chunk size, decoded from device memory;
//! * **batch**: the file's tensors repeated until they reach `--target-gib`, each copy a
//!   separate tensor, decoded from device memory in one batch (one launch per class);
//! * the XXH3 verification pass over the same output, timed alone;
//! * **host**: `decode_tensors` from the in-memory file (pinned staging, host-to-device copies
//!   on several streams, decode, checksums), wall clock;
//! * the device-to-device copy of as many bytes as the decode writes (the ceiling).
//!
//! Every decoded output is compared with the source bytes. Timings are printed as a table and,
//! with `--json`, written one JSON object per line.

#![allow(clippy::print_stdout)]

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::time::Instant;

use wcodec::source::safetensors;
use wcodec::{encode_bytes, Archive, Dtype, EncodeOptions, NoProgress};
use wcodec_cuda::{copy_device_to_device, CudaDecoder, DecodeParams, DeviceJob, Timer};

struct Args {
    files: Vec<PathBuf>,
    chunks: Vec<u64>,
    warps: Vec<u32>,
    target_bytes: u64,
    runs: usize,
    json: Option<PathBuf>,
    /// Which cases run (`single`, `batch`): a profiler can then see one kind of launch only.
    cases: Vec<String>,
    /// Encode without tiles (every plane flat, format version 1).
    no_tiles: bool,
}

fn parse_list<T: std::str::FromStr>(s: &str) -> Vec<T> {
    s.split(',')
        .map(|v| {
            v.trim()
                .parse()
                .ok()
                .expect("a comma-separated list of numbers")
        })
        .collect()
}

fn parse_args() -> Args {
    let mut a = Args {
        files: Vec::new(),
        chunks: vec![16384, 65536, 262_144],
        warps: vec![1, 2, 4, 8],
        target_bytes: 1 << 30,
        runs: 30,
        json: None,
        cases: vec!["single".into(), "batch".into()],
        no_tiles: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--chunks" => a.chunks = parse_list(&it.next().expect("--chunks LIST")),
            "--warps" => a.warps = parse_list(&it.next().expect("--warps LIST")),
            "--target-gib" => {
                let g: f64 = it
                    .next()
                    .expect("--target-gib X")
                    .parse()
                    .expect("a number");
                a.target_bytes = (g * f64::from(1u32 << 30)) as u64;
            }
            "--runs" => a.runs = it.next().expect("--runs N").parse().expect("a number"),
            "--json" => a.json = Some(PathBuf::from(it.next().expect("--json PATH"))),
            "--cases" => a.cases = parse_list(&it.next().expect("--cases single,batch")),
            "--no-tiles" => a.no_tiles = true,
            other => a.files.push(PathBuf::from(other)),
        }
    }
    assert!(
        !a.files.is_empty(),
        "usage: gpu_bench [options] FILE.wcodec..."
    );
    a
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

type Tensors = Vec<(String, Dtype, Vec<u64>, Vec<u8>)>;

fn encode(tensors: &Tensors, chunk_symbols: u64, no_tiles: bool) -> Vec<u8> {
    let refs: Vec<(&str, Dtype, &[u64], &[u8])> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.as_slice()))
        .collect();
    let source = safetensors::build(&refs, None);
    let mut out = Cursor::new(Vec::new());
    encode_bytes(
        &source,
        "bench.safetensors",
        &EncodeOptions {
            chunk_symbols,
            tiles: if no_tiles {
                wcodec::TileOptions::disabled()
            } else {
                wcodec::TileOptions::default()
            },
            ..EncodeOptions::default()
        },
        &mut out,
        &NoProgress,
    )
    .expect("encodes");
    out.into_inner()
}

struct Report {
    json: Option<std::fs::File>,
}

impl Report {
    fn emit(&mut self, line: &str, fields: &[(&str, String)]) {
        println!("{line}");
        if let Some(f) = &mut self.json {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let _ = writeln!(f, "{{{}}}", body.join(","));
        }
    }
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}

/// Times the resident decode of every tensor of `image` for each warps-per-block setting;
/// checks the output against `expected` (the concatenated tensors).
#[allow(clippy::too_many_arguments)]
fn bench_image(
    dec: &CudaDecoder,
    report: &mut Report,
    args: &Args,
    label: &str,
    data: &str,
    chunk: u64,
    image: Vec<u8>,
    expected: &[&[u8]],
) {
    let stream = dec.new_stream().expect("stream");
    let s = stream.raw();
    let archive = Archive::from_bytes(image).expect("opens");
    let encoded = archive.file_bytes();
    let mut offs = Vec::new();
    let mut at = 0u64;
    for t in archive.tensors() {
        offs.push(at);
        at = (at + t.raw_bytes).next_multiple_of(256);
    }
    let out = dec.alloc(at as usize).expect("output buffer");
    let jobs: Vec<DeviceJob> = archive
        .tensors()
        .iter()
        .enumerate()
        .map(|(i, t)| DeviceJob {
            tensor: i,
            dst: out.ptr() + offs[i],
            dst_bytes: t.raw_bytes,
        })
        .collect();
    let decoded: u64 = archive.tensors().iter().map(|t| t.raw_bytes).sum();
    let ratio = decoded as f64 / encoded as f64;
    let timer = Timer::new(dec).expect("timer");
    let time = |f: &dyn Fn()| -> f64 {
        f(); // warm-up
        let mut v = Vec::with_capacity(args.runs);
        for _ in 0..args.runs {
            timer.start(s).expect("start");
            f();
            timer.stop(s).expect("stop");
            v.push(f64::from(timer.elapsed_ms().expect("elapsed")));
        }
        median(v)
    };
    let check_output = |what: &str| {
        let mut host = vec![0u8; at as usize];
        out.copy_to_host(&mut host, s).expect("copy back");
        for (i, exp) in expected.iter().enumerate() {
            let o = offs[i] as usize;
            assert!(
                &host[o..o + exp.len()] == *exp,
                "{label} {data} chunk {chunk} ({what}): tensor {i} differs from the source"
            );
        }
    };

    for &w in &args.warps {
        dec.set_params(DecodeParams {
            chunks_per_block: w,
            ..DecodeParams::default()
        })
        .expect("params");
        let rb = dec.upload_resident(&archive, &jobs).expect("upload");
        out.fill(0xA5, s).expect("poison");
        let ms = time(&|| rb.enqueue_decode(s).expect("decode"));
        rb.enqueue_verify(s).expect("verify");
        rb.check(s, true).expect("decoded and verified");
        check_output("resident");
        let verify_ms = time(&|| rb.enqueue_verify(s).expect("verify"));
        let gbps = decoded as f64 / ms / 1e6;
        report.emit(
            &format!(
                "{label:6} {data:10} chunk {chunk:7} warps/block {w}: {:8.2} MB -> {:8.2} MB (x{ratio:.3}), {} chunks | decode {ms:8.4} ms = {gbps:7.1} GB/s | +xxh3 {verify_ms:7.4} ms = {:7.1} GB/s with checks",
                encoded as f64 / 1e6,
                decoded as f64 / 1e6,
                rb.n_chunks(),
                decoded as f64 / (ms + verify_ms) / 1e6
            ),
            &[
                ("kind", q("decode")),
                ("scope", q(label)),
                ("data", q(data)),
                ("chunk_symbols", chunk.to_string()),
                ("chunks_per_block", w.to_string()),
                ("encoded_bytes", encoded.to_string()),
                ("decoded_bytes", decoded.to_string()),
                ("chunks", rb.n_chunks().to_string()),
                ("decode_ms", format!("{ms:.5}")),
                ("decode_gbps", format!("{gbps:.2}")),
                ("xxh3_ms", format!("{verify_ms:.5}")),
                ("runs", args.runs.to_string()),
            ],
        );
    }

    // From host memory: pinned staging, copies on several streams, decode, checksums.
    for (streams, verify) in [(1u32, true), (2, true), (4, true), (2, false)] {
        dec.set_params(DecodeParams {
            streams,
            verify_checksums: verify,
            ..DecodeParams::default()
        })
        .expect("params");
        out.fill(0xA5, s).expect("poison");
        dec.decode_tensors(&archive, &jobs, s).expect("host decode");
        check_output("host");
        let n = 5.min(args.runs);
        let mut v = Vec::new();
        for _ in 0..n {
            let t0 = Instant::now();
            dec.decode_tensors(&archive, &jobs, s).expect("host decode");
            v.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        let ms = median(v);
        report.emit(
            &format!(
                "{label:6} {data:10} chunk {chunk:7} from host, {streams} stream(s): {ms:8.3} ms wall = {:7.1} GB/s decoded ({:6.1} GB/s of file bytes), checksums {}",
                decoded as f64 / ms / 1e6,
                encoded as f64 / ms / 1e6,
                if verify { "on" } else { "off" }
            ),
            &[
                ("kind", q("host")),
                ("checksums", verify.to_string()),
                ("scope", q(label)),
                ("data", q(data)),
                ("chunk_symbols", chunk.to_string()),
                ("streams", streams.to_string()),
                ("decoded_bytes", decoded.to_string()),
                ("encoded_bytes", encoded.to_string()),
                ("wall_ms", format!("{ms:.4}")),
            ],
        );
    }

    // The ceiling: a device-to-device copy of as many bytes as the decode writes.
    let src = dec.alloc(decoded as usize).expect("copy source");
    src.fill(0x3C, s).expect("fill");
    let ms = time(&|| {
        copy_device_to_device(dec, out.ptr(), src.ptr(), decoded as usize, s).expect("copy");
    });
    report.emit(
        &format!(
            "{label:6} {data:10} d2d copy of {:8.2} MB: {ms:8.4} ms = {:7.1} GB/s delivered",
            decoded as f64 / 1e6,
            decoded as f64 / ms / 1e6
        ),
        &[
            ("kind", q("d2d")),
            ("scope", q(label)),
            ("data", q(data)),
            ("bytes", decoded.to_string()),
            ("ms", format!("{ms:.5}")),
            ("gbps", format!("{:.2}", decoded as f64 / ms / 1e6)),
        ],
    );
}

/// The tensors of a `.safetensors` file, or of a `.wcodec` file (decoded on the CPU).
fn load_tensors(file: &std::path::Path) -> Tensors {
    if file.extension().is_some_and(|e| e == "safetensors") {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let st = safetensors::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        return st
            .tensors
            .iter()
            .map(|t| {
                let b = st.data[t.begin as usize..t.end as usize].to_vec();
                (t.name.clone(), t.dtype, t.shape.clone(), b)
            })
            .collect();
    }
    let archive = Archive::open(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    archive
        .tensors()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                t.name.clone(),
                t.dtype,
                t.shape.clone(),
                archive.decode(i).expect("CPU decode"),
            )
        })
        .collect()
}

fn bench_single(
    dec: &CudaDecoder,
    report: &mut Report,
    args: &Args,
    data: &str,
    chunk: u64,
    single: &Tensors,
) {
    let t0 = Instant::now();
    let image = encode(single, chunk, args.no_tiles);
    let enc_s = t0.elapsed().as_secs_f64();
    let exp: Vec<&[u8]> = single.iter().map(|t| t.3.as_slice()).collect();
    println!("(encoded single {data} with chunk {chunk} in {enc_s:.2} s)");
    bench_image(dec, report, args, "single", data, chunk, image, &exp);
}

fn main() {
    let args = parse_args();
    let dec = CudaDecoder::new(0).unwrap_or_else(|e| panic!("{e}"));
    let info = dec.device().clone();
    let (nvrtc_path, nvrtc_v) = wcodec_cuda::nvrtc_info().expect("nvrtc");
    println!(
        "device 0: {} (sm_{}{}, {} SMs, {} KiB shared/block), driver {}, NVRTC {}.{} ({nvrtc_path}), kernels {}",
        info.name,
        info.compute_capability.0,
        info.compute_capability.1,
        info.multiprocessors,
        info.max_shared_per_block / 1024,
        info.driver_version,
        nvrtc_v.0,
        nvrtc_v.1,
        if dec.cubin_from_cache() { "from the disk cache" } else { "compiled" }
    );
    let mut report = Report {
        json: args
            .json
            .as_ref()
            .map(|p| std::fs::File::create(p).expect("json output")),
    };
    for file in &args.files {
        let data = file.file_stem().unwrap().to_string_lossy().into_owned();
        let tensors = load_tensors(file);
        // The most common dtype by bytes: the single-tensor case concatenates its tensors.
        let mut by_dtype: Vec<(Dtype, u64)> = Vec::new();
        for (_, d, _, b) in &tensors {
            match by_dtype.iter_mut().find(|(x, _)| x == d) {
                Some((_, n)) => *n += b.len() as u64,
                None => by_dtype.push((*d, b.len() as u64)),
            }
        }
        let dtype = by_dtype.iter().max_by_key(|(_, n)| *n).expect("tensors").0;
        let concat: Vec<u8> = tensors
            .iter()
            .filter(|t| t.1 == dtype)
            .flat_map(|t| t.3.iter().copied())
            .collect();
        let width = dtype.plane_layout().n_planes() as u64;
        let single: Tensors = vec![(
            "all".into(),
            dtype,
            vec![concat.len() as u64 / width],
            concat,
        )];
        let total: u64 = tensors.iter().map(|t| t.3.len() as u64).sum();
        let copies = args.target_bytes.div_ceil(total.max(1));
        let mut tiled: Tensors = Vec::new();
        for c in 0..copies {
            for (n, d, s, b) in &tensors {
                tiled.push((format!("{c}.{n}"), *d, s.clone(), b.clone()));
            }
        }
        for &chunk in &args.chunks {
            if args.cases.iter().any(|c| c == "single") {
                bench_single(&dec, &mut report, &args, &data, chunk, &single);
            }
            if !args.cases.iter().any(|c| c == "batch") {
                continue;
            }
            let t0 = Instant::now();
            let image = encode(&tiled, chunk, args.no_tiles);
            println!(
                "(encoded {copies} copies of {data} ({:.2} GB) with chunk {chunk} in {:.1} s)",
                (total * copies) as f64 / 1e9,
                t0.elapsed().as_secs_f64()
            );
            let exp: Vec<&[u8]> = tiled.iter().map(|t| t.3.as_slice()).collect();
            bench_image(&dec, &mut report, &args, "batch", &data, chunk, image, &exp);
        }
    }
}
