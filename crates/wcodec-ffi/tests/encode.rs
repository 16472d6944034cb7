//! The encoder of the C ABI called from Rust through its `extern "C"` functions: files and
//! model directories round-trip, the bytes equal what `wcodec-encode` writes with the same
//! options, bad configurations and paths give their documented statuses, and a cancel from the
//! progress callback leaves no output. `tests/c/test_wcodec.c` covers the same ground from C.
#![allow(unsafe_code, clippy::undocumented_unsafe_blocks)]
// Every unsafe call below passes live C strings, configurations from `wcodec_encode_config_new`
// and callbacks whose user data outlives the call.

use std::ffi::{c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};

use wcodec_ffi::*;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/golden")
        .join(name)
}

fn c(path: &Path) -> CString {
    CString::new(path.to_str().unwrap()).unwrap()
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(wcodec_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

/// An owned configuration, freed on drop.
struct Config(*mut wcodec_encode_config);

impl Config {
    fn new() -> Config {
        let mut p = null_mut();
        assert_eq!(
            unsafe { wcodec_encode_config_new(&raw mut p) },
            wcodec_status::Ok
        );
        assert!(!p.is_null());
        Config(p)
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        unsafe { wcodec_encode_config_free(self.0) };
    }
}

fn encode(input: &Path, output: &Path, config: *const wcodec_encode_config) -> wcodec_status {
    unsafe { wcodec_encode_checkpoint(c(input).as_ptr(), c(output).as_ptr(), config) }
}

/// Files of a directory tree, relative and sorted, with their bytes.
fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    wcodec::dir::list_files(root)
        .unwrap()
        .into_iter()
        .map(|rel| {
            let bytes = std::fs::read(root.join(&rel)).unwrap();
            (rel, bytes)
        })
        .collect()
}

/// Names in `dir` (to catch leftover temporary files).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A model directory: two shards, their index, a config file and a sub-folder.
fn model_dir(at: &Path) {
    std::fs::create_dir_all(at.join("tokenizer")).unwrap();
    for (shard, src) in [
        ("model-00001-of-00002.safetensors", "tiles_8.safetensors"),
        ("model-00002-of-00002.safetensors", "all_dtypes.safetensors"),
    ] {
        std::fs::copy(golden(src), at.join(shard)).unwrap();
    }
    std::fs::write(
        at.join("model.safetensors.index.json"),
        r#"{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors"}}"#,
    )
    .unwrap();
    std::fs::write(at.join("config.json"), b"{\"model_type\": \"test\"}\n").unwrap();
    std::fs::write(at.join("tokenizer/vocab.txt"), b"a\nb\n").unwrap();
}

#[test]
fn a_file_round_trips_and_matches_wcodec_encode() {
    let tmp = tempfile::tempdir().unwrap();
    let src = golden("tiles_modes.safetensors");
    let cfg = Config::new();
    unsafe {
        assert_eq!(
            wcodec_encode_config_set_tile_size(cfg.0, 8),
            wcodec_status::Ok
        );
        let p = CString::new("left,planar").unwrap();
        assert_eq!(
            wcodec_encode_config_set_predictors(cfg.0, p.as_ptr()),
            wcodec_status::Ok
        );
        let t = CString::new("none,adst").unwrap();
        assert_eq!(
            wcodec_encode_config_set_transforms(cfg.0, t.as_ptr()),
            wcodec_status::Ok
        );
        assert_eq!(
            wcodec_encode_config_set_chunk_symbols(cfg.0, 4096),
            wcodec_status::Ok
        );
        assert_eq!(
            wcodec_encode_config_set_threads(cfg.0, 2),
            wcodec_status::Ok
        );
    }
    let ours = tmp.path().join("ffi.wcodec");
    assert_eq!(
        encode(&src, &ours, cfg.0),
        wcodec_status::Ok,
        "{}",
        last_error()
    );
    assert_eq!(last_error(), "");

    let cli = tmp.path().join("cli.wcodec");
    let args = [
        "wcodec-encode",
        "--quiet",
        "--tile-size",
        "8",
        "--predictors",
        "left,planar",
        "--transforms",
        "none,adst",
        "--chunk-symbols",
        "4096",
        "-i",
        src.to_str().unwrap(),
        "-o",
        cli.to_str().unwrap(),
    ];
    assert_eq!(wcodec_cli::run_encode(args), wcodec_cli::EXIT_OK);
    let (a, b) = (std::fs::read(&ours).unwrap(), std::fs::read(&cli).unwrap());
    assert!(a == b, "the C ABI and wcodec-encode wrote different files");

    // The options took effect: 8 × 8 tiles, and the source comes back byte for byte.
    let archive = wcodec::Archive::open(&ours).unwrap();
    assert!(archive.tensors().iter().any(|t| t.tile_size == Some(8)));
    let back = tmp.path().join("back.safetensors");
    wcodec::decode_path(
        &ours,
        &back,
        &wcodec::DecodeOptions::default(),
        &wcodec::NoProgress,
    )
    .unwrap();
    assert!(std::fs::read(&back).unwrap() == std::fs::read(&src).unwrap());

    // NULL config: the defaults, which are wcodec-encode's defaults.
    let default_ffi = tmp.path().join("default_ffi.wcodec");
    assert_eq!(encode(&src, &default_ffi, null()), wcodec_status::Ok);
    let default_cli = tmp.path().join("default_cli.wcodec");
    let args = [
        "wcodec-encode",
        "-q",
        "-i",
        src.to_str().unwrap(),
        "-o",
        default_cli.to_str().unwrap(),
    ];
    assert_eq!(wcodec_cli::run_encode(args), wcodec_cli::EXIT_OK);
    assert!(std::fs::read(&default_ffi).unwrap() == std::fs::read(&default_cli).unwrap());
}

#[test]
fn a_directory_round_trips_and_matches_wcodec_encode() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    model_dir(&model);
    let cfg = Config::new();
    assert_eq!(
        unsafe { wcodec_encode_config_set_tile_size(cfg.0, 0) },
        wcodec_status::Ok
    );
    let ours = tmp.path().join("ffi");
    assert_eq!(
        encode(&model, &ours, cfg.0),
        wcodec_status::Ok,
        "{}",
        last_error()
    );
    let cli = tmp.path().join("cli");
    let args = [
        "wcodec-encode",
        "-q",
        "--no-tiles",
        "-i",
        model.to_str().unwrap(),
        "-o",
        cli.to_str().unwrap(),
    ];
    assert_eq!(wcodec_cli::run_encode(args), wcodec_cli::EXIT_OK);
    let encoded = tree(&ours);
    assert!(encoded == tree(&cli), "directories differ");
    assert!(encoded
        .iter()
        .any(|(rel, _)| rel == Path::new("model.wcodec.index.json")));

    let back = tmp.path().join("back");
    wcodec::decode_path(
        &ours,
        &back,
        &wcodec::DecodeOptions::default(),
        &wcodec::NoProgress,
    )
    .unwrap();
    assert!(
        tree(&back) == tree(&model),
        "decoded directory differs from the model"
    );
}

#[test]
fn bad_configurations_and_paths_give_their_statuses() {
    let cfg = Config::new();
    let bad = |s: wcodec_status, want: wcodec_status, needle: &str| {
        assert_eq!(s, want, "{}", last_error());
        assert!(last_error().contains(needle), "{needle}: {}", last_error());
    };
    unsafe {
        let name = CString::new("left,diagonal").unwrap();
        bad(
            wcodec_encode_config_set_predictors(cfg.0, name.as_ptr()),
            wcodec_status::InvalidArgument,
            "unknown predictor `diagonal`",
        );
        let name = CString::new("wavelet").unwrap();
        bad(
            wcodec_encode_config_set_transforms(cfg.0, name.as_ptr()),
            wcodec_status::InvalidArgument,
            "unknown transform `wavelet`",
        );
        bad(
            wcodec_encode_config_set_predictors(cfg.0, null()),
            wcodec_status::NullArgument,
            "`list`",
        );
        let name = CString::new(b"\xff".to_vec()).unwrap();
        bad(
            wcodec_encode_config_set_transforms(cfg.0, name.as_ptr()),
            wcodec_status::InvalidUtf8,
            "`list`",
        );
        for n in [3, 65, u32::MAX] {
            bad(
                wcodec_encode_config_set_tile_size(cfg.0, n),
                wcodec_status::InvalidArgument,
                &format!("tile size {n} is not in [4, 64]"),
            );
        }
        for n in [0, 2048, 5000, 1 << 21] {
            bad(
                wcodec_encode_config_set_chunk_symbols(cfg.0, n),
                wcodec_status::InvalidArgument,
                "is not a power of two in [4096, 1048576]",
            );
        }
        bad(
            wcodec_encode_config_set_tile_size(null_mut(), 8),
            wcodec_status::NullArgument,
            "`config`",
        );
        bad(
            wcodec_encode_config_new(null_mut()),
            wcodec_status::NullArgument,
            "`out`",
        );
    }
    // The refused settings left the defaults: the encode equals a default one.
    let tmp = tempfile::tempdir().unwrap();
    let src = golden("tiles_8.safetensors");
    let (a, b) = (tmp.path().join("a.wcodec"), tmp.path().join("b.wcodec"));
    assert_eq!(encode(&src, &a, cfg.0), wcodec_status::Ok);
    assert_eq!(encode(&src, &b, null()), wcodec_status::Ok);
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());

    // Output rules: never the input, never an existing file unless asked.
    let copy = tmp.path().join("src.safetensors");
    std::fs::copy(&src, &copy).unwrap();
    bad(
        encode(&copy, &copy, null()),
        wcodec_status::InvalidArgument,
        "would overwrite the input",
    );
    let before = std::fs::read(&a).unwrap();
    bad(
        encode(&golden("raw_tensors.safetensors"), &a, null()),
        wcodec_status::InvalidArgument,
        "already exists",
    );
    assert!(
        std::fs::read(&a).unwrap() == before,
        "refused output was changed"
    );
    let with_overwrite = Config::new();
    assert_eq!(
        unsafe { wcodec_encode_config_set_overwrite(with_overwrite.0, true) },
        wcodec_status::Ok
    );
    bad(
        encode(&copy, &copy, with_overwrite.0),
        wcodec_status::InvalidArgument,
        "would overwrite the input",
    );
    assert!(std::fs::read(&copy).unwrap() == std::fs::read(&src).unwrap());
    assert_eq!(
        encode(&golden("raw_tensors.safetensors"), &a, with_overwrite.0),
        wcodec_status::Ok
    );
    assert!(std::fs::read(&a).unwrap() != before);

    bad(
        encode(&tmp.path().join("missing.safetensors"), &b, null()),
        wcodec_status::FileNotFound,
        "missing.safetensors",
    );
    bad(
        encode(
            &golden("raw_tensors.wcodec"),
            &tmp.path().join("c.wcodec"),
            null(),
        ),
        wcodec_status::UnsupportedFormat,
        "invalid safetensors file",
    );
    bad(
        unsafe { wcodec_encode_checkpoint(null(), c(&b).as_ptr(), null()) },
        wcodec_status::NullArgument,
        "`input`",
    );
    let leftovers: Vec<_> = entries(tmp.path())
        .into_iter()
        .filter(|n| n.contains("wcodec-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Records every call and cancels at call number `cancel_at` (never when `usize::MAX`).
struct Recorder {
    calls: Vec<(u64, u64)>,
    cancel_at: usize,
}

unsafe extern "C" fn record(done: u64, total: u64, user_data: *mut c_void) -> i32 {
    let r = unsafe { &mut *user_data.cast::<Recorder>() };
    r.calls.push((done, total));
    i32::from(r.calls.len() > r.cancel_at)
}

fn with_recorder(cfg: &Config, r: &mut Recorder) {
    let status =
        unsafe { wcodec_encode_config_set_progress(cfg.0, Some(record), (&raw mut *r).cast()) };
    assert_eq!(status, wcodec_status::Ok);
}

#[test]
fn progress_is_reported_and_a_cancel_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = golden("tiles_modes.safetensors");
    let cfg = Config::new();

    let mut all = Recorder {
        calls: Vec::new(),
        cancel_at: usize::MAX,
    };
    with_recorder(&cfg, &mut all);
    let done = tmp.path().join("done.wcodec");
    assert_eq!(encode(&src, &done, cfg.0), wcodec_status::Ok);
    let archive = wcodec::Archive::open(&done).unwrap();
    let total: u64 = archive.tensors().iter().map(|t| t.raw_bytes).sum();
    assert_eq!(all.calls.first(), Some(&(0, total)));
    assert_eq!(all.calls.last(), Some(&(total, total)));
    assert_eq!(all.calls.len(), archive.tensors().len() + 1);
    assert!(all.calls.windows(2).all(|w| w[0].0 <= w[1].0));

    // Cancelled at the first call, in the middle, at the last: never an output.
    let n = all.calls.len();
    for cancel_at in [0, n / 2, n - 1] {
        let mut r = Recorder {
            calls: Vec::new(),
            cancel_at,
        };
        with_recorder(&cfg, &mut r);
        let out = tmp.path().join(format!("cancel_{cancel_at}.wcodec"));
        assert_eq!(encode(&src, &out, cfg.0), wcodec_status::Cancelled);
        assert!(last_error().contains("cancelled"), "{}", last_error());
        assert_eq!(r.calls.len(), cancel_at + 1, "calls after the cancel");
        assert!(!out.exists());
    }
    // A cancelled overwrite keeps the old file.
    let keep = Config::new();
    let mut r = Recorder {
        calls: Vec::new(),
        cancel_at: 1,
    };
    with_recorder(&keep, &mut r);
    unsafe { wcodec_encode_config_set_overwrite(keep.0, true) };
    let before = std::fs::read(&done).unwrap();
    assert_eq!(
        encode(&golden("tiles_8.safetensors"), &done, keep.0),
        wcodec_status::Cancelled
    );
    assert!(std::fs::read(&done).unwrap() == before);

    // A directory: cancelled after the first shard's first tensor.
    let model = tmp.path().join("model");
    model_dir(&model);
    let mut r = Recorder {
        calls: Vec::new(),
        cancel_at: 1,
    };
    with_recorder(&cfg, &mut r);
    let out = tmp.path().join("model-out");
    assert_eq!(encode(&model, &out, cfg.0), wcodec_status::Cancelled);
    assert!(!out.exists());

    // A copy of the configuration carries the callback.
    let mut copy = null_mut();
    assert_eq!(
        unsafe { wcodec_encode_config_clone(cfg.0, &raw mut copy) },
        wcodec_status::Ok
    );
    let copy = Config(copy);
    assert_eq!(encode(&src, &out, copy.0), wcodec_status::Cancelled);

    assert_eq!(entries(tmp.path()), ["done.wcodec", "model"]);
}
