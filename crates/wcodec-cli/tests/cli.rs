//! End-to-end tests of the binaries: round trips, JSON output, errors and exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use wcodec::source::safetensors::build;
use wcodec::{Archive, Dtype};

const WCODEC: &str = env!("CARGO_BIN_EXE_wcodec");
const ENCODE: &str = env!("CARGO_BIN_EXE_wcodec-encode");
const DECODE: &str = env!("CARGO_BIN_EXE_wcodec-decode");
const VERIFY: &str = env!("CARGO_BIN_EXE_wcodec-verify");

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(bin: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let out = Command::new(bin)
        .args(args.iter().map(AsRef::as_ref))
        .env("NO_COLOR", "1")
        .output()
        .expect("binary runs");
    Output {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Runs and checks the exit code, showing both streams on failure.
fn ok(bin: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    expect(0, bin, args)
}

fn expect(code: i32, bin: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let out = run(bin, args);
    assert_eq!(
        out.code, code,
        "exit code of {bin}\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    out
}

fn json(out: &Output) -> Value {
    let mut lines = out.stdout.lines();
    let value = serde_json::from_str(lines.next().expect("one line")).expect("valid JSON");
    assert_eq!(
        lines.next(),
        None,
        "exactly one JSON object:\n{}",
        out.stdout
    );
    value
}

/// Deterministic bytes: small-magnitude noise, which compresses like quantized weights.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = (x % 9) as i8 - 4 + ((x >> 20) % 3) as i8 - 1;
            v as u8
        })
        .collect()
}

/// A small checkpoint: INT8 weights, BF16 and F32 tensors, an empty tensor and metadata.
fn checkpoint(seed: u64) -> Vec<u8> {
    let a = noise(64 * 128, seed);
    let b = noise(96 * 64, seed + 1);
    let c: Vec<u8> = (0..256u32)
        .flat_map(|i| ((i as f32) * 0.01 - 1.0).to_le_bytes())
        .collect();
    let d: Vec<u8> = (0..512u16)
        .flat_map(|i| (0x3F80u16 + (i % 37)).to_le_bytes())
        .collect();
    build(
        &[
            ("layers.0.attn.weight", Dtype::I8, &[64, 128], &a),
            ("layers.0.mlp.weight", Dtype::I8, &[96, 64], &b),
            ("layers.0.norm", Dtype::F32, &[256], &c),
            ("embed.scale", Dtype::BF16, &[512], &d),
            ("empty", Dtype::U8, &[0], &[]),
        ],
        Some(&[("format", "pt")]),
    )
}

const N_TENSORS: usize = 5;

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A sharded model directory with an index, a config and a sub-folder.
fn model_dir(root: &Path) -> Vec<PathBuf> {
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("model-00001-of-00002.safetensors", checkpoint(1)),
        ("model-00002-of-00002.safetensors", checkpoint(2)),
        (
            "model.safetensors.index.json",
            br#"{"metadata": {"total_size": 1}, "weight_map": {"layers.0.norm": "model-00001-of-00002.safetensors"}}"#.to_vec(),
        ),
        ("config.json", br#"{"model_type": "test"}"#.to_vec()),
        ("adapters/lora.safetensors", checkpoint(3)),
        ("adapters/README.md", b"# adapter\n".to_vec()),
    ];
    for (rel, bytes) in &files {
        write(&root.join(rel), bytes);
    }
    files.iter().map(|(rel, _)| PathBuf::from(rel)).collect()
}

#[test]
fn file_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("model.safetensors");
    let enc = dir.path().join("model.wcodec");
    let dec = dir.path().join("decoded.safetensors");
    write(&src, &checkpoint(7));

    let e = ok(
        ENCODE,
        &[&"--input", &src, &"--output", &enc, &"--threads", &"2"],
    );
    assert!(
        e.stdout
            .starts_with(&format!("Encoding {}...\n", src.display())),
        "{}",
        e.stdout
    );
    for line in [
        "Original size: ",
        "Encoded size:  ",
        "Reduction:     ",
        "Time:          ",
        "Order-0 bound: ",
    ] {
        assert!(e.stdout.contains(line), "missing {line:?} in\n{}", e.stdout);
    }
    assert!(
        e.stdout.ends_with(&format!("Saved to {}\n", enc.display())),
        "{}",
        e.stdout
    );
    let checksum = e
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Checksum:"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        checksum.starts_with("xxh3:") && checksum.len() == 21,
        "{checksum}"
    );

    let d = ok(DECODE, &[&"--input", &enc, &"--output", &dec]);
    assert!(d.stdout.starts_with("Decoding "), "{}", d.stdout);
    assert!(
        d.stdout.contains(&checksum),
        "decode prints the same checksum:\n{}",
        d.stdout
    );
    assert_eq!(read(&dec), read(&src));

    let v = ok(VERIFY, &[&"--original", &src, &"--decoded", &dec]);
    assert_eq!(
        v.stdout,
        format!("Comparing tensors...\n  All {N_TENSORS} tensors match bit-exactly ✓\n  Checksum: OK\n  Max abs diff: 0\n")
    );
    // The .wcodec file verifies directly too, and the subcommands equal the tools.
    ok(
        WCODEC,
        &[&"verify", &"--original", &src, &"--decoded", &enc],
    );
    let dec2 = dir.path().join("decoded2.safetensors");
    ok(WCODEC, &[&"decode", &"-i", &enc, &"-o", &dec2, &"--quiet"]);
    assert_eq!(read(&dec2), read(&src));
}

#[test]
fn directory_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("model");
    let enc = dir.path().join("model-wcodec");
    let dec = dir.path().join("model-decoded");
    let files = model_dir(&src);

    let e = ok(
        WCODEC,
        &[&"encode", &"--input", &src, &"--output", &enc, &"--json"],
    );
    let j = json(&e);
    assert_eq!(j["n_files"], 3);
    assert_eq!(j["n_tensors"], 3 * N_TENSORS);
    assert_eq!(j["is_dir"], true);
    assert_eq!(j["source_xxh3"], Value::Null);
    assert!(enc.join("model-00001-of-00002.wcodec").is_file());
    assert!(enc.join("adapters/lora.wcodec").is_file());
    assert!(enc.join("adapters/README.md").is_file());
    let index: Value = serde_json::from_slice(&read(&enc.join("model.wcodec.index.json"))).unwrap();
    assert_eq!(
        index["weight_map"]["layers.0.norm"],
        "model-00001-of-00002.wcodec"
    );

    let human = ok(
        ENCODE,
        &[
            &"--input",
            &src,
            &"--output",
            &dir.path().join("again"),
            &"--quiet",
        ],
    );
    assert_eq!(human.stdout, "", "--quiet prints nothing");

    ok(DECODE, &[&"--input", &enc, &"--output", &dec]);
    for rel in &files {
        assert_eq!(
            read(&dec.join(rel)),
            read(&src.join(rel)),
            "{}",
            rel.display()
        );
    }
    assert!(!dec.join("model.wcodec.index.json").exists());
    assert_eq!(wcodec::dir::list_files(&dec).unwrap().len(), files.len());

    let v = ok(VERIFY, &[&"--original", &src, &"--decoded", &dec]);
    assert!(
        v.stdout.contains(&format!(
            "All {} tensors in {} files match bit-exactly ✓",
            3 * N_TENSORS,
            files.len()
        )),
        "{}",
        v.stdout
    );
    ok(VERIFY, &[&"--original", &src, &"--decoded", &enc]);
    let i = ok(WCODEC, &[&"inspect", &enc, &"--json"]);
    assert_eq!(json(&i)["totals"]["n_files"], 3);
}

#[test]
fn json_outputs_carry_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    let enc = dir.path().join("m.wcodec");
    let dec = dir.path().join("d.safetensors");
    let original = checkpoint(11);
    write(&src, &original);

    let e = json(&ok(
        ENCODE,
        &[
            &"--input",
            &src,
            &"--output",
            &enc,
            &"--json",
            &"--threads",
            &"1",
        ],
    ));
    let encoded_len = read(&enc).len() as u64;
    assert_eq!(e["n_files"], 1);
    assert_eq!(e["n_tensors"], N_TENSORS);
    assert_eq!(e["original_bytes"], original.len() as u64);
    assert_eq!(e["encoded_bytes"], encoded_len);
    assert_eq!(e["threads"], 1);
    let bound = e["bound_bytes"].as_u64().unwrap();
    assert!(
        bound > 0 && bound <= encoded_len,
        "bound {bound} vs {encoded_len}"
    );
    assert!(encoded_len < original.len() as u64, "the noise compresses");
    assert!(e["seconds"].as_f64().unwrap() >= 0.0);
    let xxh3 = e["source_xxh3"].as_str().unwrap().to_owned();
    assert_eq!(
        xxh3,
        format!(
            "{:016x}",
            Archive::open(&enc).unwrap().header().source.file_xxh3
        )
    );

    let d = json(&ok(
        DECODE,
        &[&"--input", &enc, &"--output", &dec, &"--json"],
    ));
    assert_eq!(d["decoded_bytes"], original.len() as u64);
    assert_eq!(d["encoded_bytes"], encoded_len);
    assert_eq!(d["n_tensors"], N_TENSORS);
    assert_eq!(d["source_xxh3"], xxh3.as_str());

    let v = json(&ok(
        VERIFY,
        &[&"--original", &src, &"--decoded", &dec, &"--json"],
    ));
    assert_eq!(v["ok"], true);
    assert_eq!(v["n_tensors"], N_TENSORS);
    assert_eq!(v["max_abs_diff"], 0.0);
    assert_eq!(v["first_mismatch"], Value::Null);

    let i = json(&ok(WCODEC, &[&"inspect", &enc, &"--json"]));
    let file = &i["files"][0];
    assert_eq!(file["file_bytes"], encoded_len);
    assert_eq!(file["source_file_name"], "m.safetensors");
    assert_eq!(file["format_version"], 1);
    let tensors = file["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), N_TENSORS);
    let stored: u64 = tensors
        .iter()
        .map(|t| t["encoded_bytes"].as_u64().unwrap())
        .sum();
    assert!(stored < encoded_len);
}

/// A smooth int8 tensor (a sinusoidal table quantised per row): tiles pay on it.
fn smooth_checkpoint() -> Vec<u8> {
    let (rows, cols) = (128usize, 96usize);
    let mut w = Vec::with_capacity(rows * cols);
    for pos in 0..rows {
        for i in 0..cols {
            let a = pos as f64 / 10000f64.powf((2 * (i / 2)) as f64 / cols as f64);
            let v = if i % 2 == 0 { a.sin() } else { a.cos() };
            w.push((v * 127.0).round() as i8 as u8);
        }
    }
    build(
        &[
            ("pos_embed", Dtype::I8, &[rows as u64, cols as u64], &w),
            ("noise", Dtype::I8, &[64, 128], &noise(64 * 128, 9)),
        ],
        None,
    )
}

#[test]
fn tile_flags_encode_and_inspect_reports_modes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    write(&src, &smooth_checkpoint());
    let (tiled, flat) = (dir.path().join("t.wcodec"), dir.path().join("f.wcodec"));
    for (bin, sub) in [(ENCODE, None), (WCODEC, Some("encode"))] {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = Vec::new();
        if let Some(sub) = &sub {
            args.push(sub);
        }
        args.extend([
            &"--input" as &dyn AsRef<std::ffi::OsStr>,
            &src,
            &"--output",
            &tiled,
            &"--force",
            &"--tile-size",
            &"16",
            &"--predictors",
            &"left,top,avg,planar",
            &"--transforms",
            &"none,dct,adst",
        ]);
        let out = ok(bin, &args);
        assert!(
            out.stdout.contains("  Tiles:         ") && out.stdout.contains("used prediction"),
            "{}",
            out.stdout
        );
    }
    let enc = json(&ok(
        WCODEC,
        &[
            &"encode",
            &"-i",
            &src,
            &"-o",
            &flat,
            &"--no-tiles",
            &"--json",
        ],
    ));
    assert_eq!(enc["tiles_total"], 0);
    let flat_bytes = enc["encoded_bytes"].as_u64().unwrap();
    let enc = json(&ok(
        WCODEC,
        &[&"encode", &"-i", &src, &"-o", &tiled, &"-f", &"--json"],
    ));
    assert!(enc["tiles_predicted"].as_u64().unwrap() > 0, "{enc}");
    assert_eq!(enc["tiled_tensors"], 1);
    assert!(enc["encoded_bytes"].as_u64().unwrap() < flat_bytes);
    // Both decode to the source.
    for f in [&tiled, &flat] {
        let back = dir.path().join("back.safetensors");
        ok(DECODE, &[&"-i", f, &"-o", &back, &"-f"]);
        assert_eq!(read(&back), read(&src));
    }
    let i = json(&ok(WCODEC, &[&"inspect", &tiled, &"--json"]));
    let file = &i["files"][0];
    assert_eq!(file["format_version"], 2);
    let t = &file["tensors"][0];
    assert_eq!(t["name"], "pos_embed");
    let tiles = &t["tiles"];
    assert_eq!(tiles["tile_size"], 16);
    assert_eq!(tiles["tiles"], 48); // 8 × 6 tiles of 16 × 16
    let modes = tiles["planes"][0]["modes"].as_object().unwrap();
    assert_eq!(modes.len(), 15);
    assert_eq!(modes.values().map(|v| v.as_u64().unwrap()).sum::<u64>(), 48);
    assert!(tiles["bytes_saved"].as_u64().unwrap() > 0);
    assert!(file["tensors"][1]["tiles"].is_null());
    assert_eq!(file["totals"]["tiled_tensors"], 1);
    let human = ok(WCODEC, &[&"inspect", &tiled]);
    assert!(human.stdout.contains("(tiles 16: "), "{}", human.stdout);
    // The flat file is format version 1.
    let i = json(&ok(WCODEC, &[&"inspect", &flat, &"--json"]));
    assert_eq!(i["files"][0]["format_version"], 1);
}

#[test]
fn bad_tile_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    let enc = dir.path().join("m.wcodec");
    write(&src, &checkpoint(1));
    for (flags, message) in [
        (["--tile-size", "3"], "3 is not in [4, 64]"),
        (["--tile-size", "65"], "65 is not in [4, 64]"),
        (["--predictors", "left,diag"], "unknown predictor `diag`"),
        (["--transforms", "dst"], "unknown transform `dst`"),
        (["--no-tiles", "--tile-size=8"], "cannot be used with"),
        (["--tile-decode-cost", "101"], "101 is not in 0..=100"),
        (
            ["--no-tiles", "--tile-decode-cost=0"],
            "cannot be used with",
        ),
    ] {
        let out = expect(
            2,
            ENCODE,
            &[&"--input", &src, &"--output", &enc, &flags[0], &flags[1]],
        );
        assert!(out.stderr.contains(message), "{}", out.stderr);
        assert!(!enc.exists());
    }
    // `--tile-size 0` disables tiles.
    let out = json(&ok(
        ENCODE,
        &[&"-i", &src, &"-o", &enc, &"--tile-size", &"0", &"--json"],
    ));
    assert_eq!(out["tiles_total"], 0);
}

#[test]
fn usage_errors_exit_2_and_help_documents_exit_codes() {
    expect(2, ENCODE, &[&"--input", &"x"]);
    expect(2, WCODEC, &[&"frobnicate"]);
    expect(
        2,
        ENCODE,
        &[
            &"--input",
            &"a",
            &"--output",
            &"b",
            &"--chunk-symbols",
            &"1000",
        ],
    );
    let help = ok(WCODEC, &[&"--help"]);
    assert!(help.stdout.contains("Exit codes:"), "{}", help.stdout);
    for bin in [ENCODE, DECODE, VERIFY] {
        assert!(ok(bin, &[&"--help"]).stdout.contains("Exit codes:"));
    }
}

#[test]
fn refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    let enc = dir.path().join("m.wcodec");
    write(&src, &checkpoint(1));

    let same = expect(1, ENCODE, &[&"--input", &src, &"--output", &src]);
    assert!(
        same.stderr.starts_with("error: ") && same.stderr.contains("overwrite the input"),
        "{}",
        same.stderr
    );
    // Not even with --force.
    expect(
        1,
        ENCODE,
        &[&"--input", &src, &"--output", &src, &"--force"],
    );
    assert_eq!(read(&src), checkpoint(1));

    write(&enc, b"precious");
    let exists = expect(1, ENCODE, &[&"--input", &src, &"--output", &enc]);
    assert!(
        exists.stderr.contains("already exists"),
        "{}",
        exists.stderr
    );
    assert_eq!(read(&enc), b"precious");
    ok(ENCODE, &[&"--input", &src, &"--output", &enc, &"--force"]);
    assert!(Archive::open(&enc).is_ok());

    let dec = dir.path().join("d.safetensors");
    write(&dec, b"precious");
    expect(1, DECODE, &[&"--input", &enc, &"--output", &dec]);
    assert_eq!(read(&dec), b"precious");
    ok(DECODE, &[&"--input", &enc, &"--output", &dec, &"-f"]);
    assert_eq!(read(&dec), checkpoint(1));
}

#[test]
fn corrupt_and_truncated_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    let enc = dir.path().join("m.wcodec");
    write(&src, &checkpoint(5));
    ok(ENCODE, &[&"--input", &src, &"--output", &enc]);
    let good = read(&enc);

    // A flipped byte in the middle of the first tensor's region.
    let t = &Archive::open(&enc).unwrap().tensors()[0].clone();
    let mut bad = good.clone();
    bad[(t.offset + t.stored_bytes / 2) as usize] ^= 0x55;
    let corrupt = dir.path().join("corrupt.wcodec");
    write(&corrupt, &bad);
    let out_path = dir.path().join("out.safetensors");
    let out = expect(1, DECODE, &[&"--input", &corrupt, &"--output", &out_path]);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("`{}`", t.name)),
        "names the tensor: {}",
        out.stderr
    );
    assert!(!out_path.exists(), "no partial output");
    // verify against the corrupt .wcodec fails too.
    expect(1, VERIFY, &[&"--original", &src, &"--decoded", &corrupt]);

    let truncated = dir.path().join("truncated.wcodec");
    write(&truncated, &good[..good.len() - 10]);
    let out = expect(1, DECODE, &[&"--input", &truncated, &"--output", &out_path]);
    assert!(out.stderr.contains("truncated"), "{}", out.stderr);
    let out = expect(1, WCODEC, &[&"inspect", &truncated]);
    assert!(out.stderr.contains("truncated"), "{}", out.stderr);
}

#[test]
fn verify_names_the_mismatching_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.safetensors");
    let b = dir.path().join("b.safetensors");
    let original = checkpoint(3);
    write(&a, &original);
    // Same layout, one element of `layers.0.norm` (F32) changed.
    let parsed = wcodec::source::safetensors::parse(&original).unwrap();
    let norm = parsed
        .tensors
        .iter()
        .find(|t| t.name == "layers.0.norm")
        .unwrap();
    let at = 8 + parsed.header.len() + norm.begin as usize + 4 * 10;
    let mut changed = original.clone();
    changed[at..at + 4].copy_from_slice(&1.5f32.to_le_bytes());
    write(&b, &changed);

    let out = expect(1, VERIFY, &[&"--original", &a, &"--decoded", &b]);
    assert!(out.stdout.contains("`layers.0.norm`"), "{}", out.stdout);
    assert!(out.stdout.contains("Max abs diff: "), "{}", out.stdout);
    assert!(out.stderr.contains("`layers.0.norm`"), "{}", out.stderr);

    let j = json(&expect(
        1,
        VERIFY,
        &[&"--original", &a, &"--decoded", &b, &"--json"],
    ));
    assert_eq!(j["ok"], false);
    assert_eq!(j["first_mismatch"]["tensor"], "layers.0.norm");
    let was = 10.0f64 * 0.01 - 1.0;
    let diff = j["max_abs_diff"].as_f64().unwrap();
    assert!((diff - (1.5 - was)).abs() < 1e-6, "{diff}");
}

#[test]
fn inspect_lists_every_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    let enc = dir.path().join("m.wcodec");
    write(&src, &checkpoint(9));
    ok(ENCODE, &[&"--input", &src, &"--output", &enc]);

    let out = ok(WCODEC, &[&"inspect", &enc]);
    for needle in [
        "Format version: 1",
        "Encoder:        wcodec ",
        "safetensors `m.safetensors`",
        "Header xxh3:",
        "File size:",
        "Tensors:        5",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?}:\n{}",
            out.stdout
        );
    }
    for name in [
        "layers.0.attn.weight",
        "layers.0.mlp.weight",
        "layers.0.norm",
        "embed.scale",
        "empty",
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{name} "))),
            "{name}:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("planes rans"), "{}", out.stdout);
    assert!(out.stdout.contains("total (5 tensors)"), "{}", out.stdout);

    let header: Value =
        serde_json::from_str(&ok(WCODEC, &[&"inspect", &enc, &"--header"]).stdout).unwrap();
    assert_eq!(header["version"], 1);
    assert_eq!(header["tensors"].as_array().unwrap().len(), N_TENSORS);
    assert_eq!(header["source"]["file_name"], "m.safetensors");

    let not_wcodec = expect(1, WCODEC, &[&"inspect", &src]);
    assert!(
        not_wcodec.stderr.contains("not a wcodec file"),
        "{}",
        not_wcodec.stderr
    );
}

#[test]
fn bench_json() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    let original = checkpoint(4);
    write(&src, &original);
    let j = json(&ok(
        WCODEC,
        &[
            &"bench",
            &src,
            &"--threads",
            &"2",
            &"--repeat",
            &"3",
            &"--json",
        ],
    ));
    let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "bound_bytes",
            "chunk_symbols",
            "decode_best_mb_s",
            "decode_mb_s",
            "encode_best_mb_s",
            "encode_mb_s",
            "encoded_bytes",
            "input",
            "original_bytes",
            "rans_simd",
            "repeat",
            "roundtrip_ok",
            "threads",
            "tile_bytes_saved",
            "tile_decode_cost",
            "tile_simd",
            "tiled_tensors",
            "tiles",
        ]
    );
    assert_eq!(j["roundtrip_ok"], true);
    // The fastest run is at least as fast as the median; the vector path is named.
    assert!(j["decode_best_mb_s"].as_f64().unwrap() >= j["decode_mb_s"].as_f64().unwrap());
    assert!(["scalar", "avx2", "avx512"].contains(&j["rans_simd"].as_str().unwrap()));
    assert!(["scalar", "avx2", "avx512"].contains(&j["tile_simd"].as_str().unwrap()));
    assert_eq!(j["chunk_symbols"], wcodec::format::DEFAULT_CHUNK_SYMBOLS);
    assert_eq!(
        j["tile_decode_cost"],
        wcodec::tile::DEFAULT_TILE_DECODE_COST
    );
    assert_eq!(j["original_bytes"], original.len() as u64);
    assert_eq!(j["threads"], 2);
    assert_eq!(j["repeat"], 3);
    assert!(j["encode_mb_s"].as_f64().unwrap() > 0.0);
    assert!(j["decode_mb_s"].as_f64().unwrap() > 0.0);
    let line = ok(WCODEC, &[&"bench", &src, &"--repeat", &"1"]);
    assert!(line.stdout.contains("round trip ok"), "{}", line.stdout);
}

#[test]
fn inspect_describes_an_encoded_directory() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("model");
    let enc = dir.path().join("model-wcodec");
    model_dir(&src);
    ok(ENCODE, &[&"--input", &src, &"--output", &enc, &"--quiet"]);
    assert!(!enc.join("model.safetensors.index.json").exists());

    let human = ok(WCODEC, &[&"inspect", &enc]).stdout;
    assert!(
        human.starts_with(&format!("Encoded model directory {}\n", enc.display())),
        "{human}"
    );
    assert!(
        human.contains("model-00002-of-00002.wcodec → model-00002-of-00002.safetensors"),
        "{human}"
    );
    assert!(
        human.contains("adapters/lora.wcodec → lora.safetensors"),
        "{human}"
    );
    assert!(
        human.contains(
            "model.wcodec.index.json: 1 tensors in 1 shards, restores model.safetensors.index.json"
        ),
        "{human}"
    );
    assert!(
        human.contains("config.json") && human.contains("adapters/README.md"),
        "{human}"
    );
    assert!(human.contains("vllm serve"), "{human}");

    let j = json(&ok(WCODEC, &[&"inspect", &enc, &"--json"]));
    let d = &j["directory"];
    assert_eq!(d["shards"].as_array().unwrap().len(), 3);
    assert_eq!(d["indexes"][0]["restores"], "model.safetensors.index.json");
    assert_eq!(d["indexes"][0]["missing_shards"], serde_json::json!([]));
    assert_eq!(
        d["copied_files"],
        serde_json::json!(["adapters/README.md", "config.json"])
    );

    // A shard the index lists is gone: said, not hidden.
    std::fs::remove_file(enc.join("model-00001-of-00002.wcodec")).unwrap();
    let human = ok(WCODEC, &[&"inspect", &enc]).stdout;
    assert!(
        human.contains("MISSING:   shards the index lists: model-00001-of-00002.wcodec"),
        "{human}"
    );
}

#[test]
fn a_damaged_file_is_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.safetensors");
    let enc = dir.path().join("m.wcodec");
    write(&src, &checkpoint(1));
    ok(ENCODE, &[&"--input", &src, &"--output", &enc, &"--quiet"]);
    let mut bytes = read(&enc);
    let at = bytes.len() - 20; // inside the stored header
    bytes[at] ^= 0x40;
    write(&enc, &bytes);
    let out = expect(
        1,
        DECODE,
        &[
            &"--input",
            &enc,
            &"--output",
            &dir.path().join("out.safetensors"),
        ],
    );
    assert!(
        out.stderr
            .contains(&format!("`{}` is damaged (", enc.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("download it again"), "{}", out.stderr);
}
