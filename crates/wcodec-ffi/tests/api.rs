//! The C ABI called from Rust, through the same `extern "C"` functions a C program links to:
//! golden files decode to their sources, every argument check gives its status and message, and
//! the rank > `WCODEC_MAX_NDIM` fixture (`tests/data/rank9.wcodec`, also read by the C test).
//! The C program `tests/c/test_wcodec.c` (`make test-c`) covers the same ground from C.
#![allow(unsafe_code, clippy::undocumented_unsafe_blocks)]
// Every unsafe call below passes pointers to live locals or handles from `wcodec_open`.

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};

use wcodec::source::safetensors;
use wcodec::Dtype;
use wcodec_ffi::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rank9_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rank9.wcodec")
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(wcodec_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

fn open(path: &Path) -> Result<*mut wcodec_file, wcodec_status> {
    let c = CString::new(path.to_str().unwrap()).unwrap();
    let mut f = null_mut();
    match unsafe { wcodec_open(c.as_ptr(), &raw mut f) } {
        wcodec_status::Ok => Ok(f),
        s => {
            assert!(f.is_null());
            Err(s)
        }
    }
}

fn info(f: *const wcodec_file, i: usize) -> (wcodec_status, wcodec_tensor_info) {
    let mut out = std::mem::MaybeUninit::<wcodec_tensor_info>::zeroed();
    let s = unsafe { wcodec_get_tensor_info(f, i, out.as_mut_ptr()) };
    (s, unsafe { out.assume_init() })
}

fn cstr(p: *const c_char) -> String {
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
}

#[test]
fn golden_files_decode_to_their_sources() {
    let dir = root().join("testdata/golden");
    let mut n_files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wcodec") {
            continue;
        }
        n_files += 1;
        let source = std::fs::read(path.with_extension("safetensors")).unwrap();
        let st = safetensors::parse(&source).unwrap();
        let f = open(&path).unwrap();
        assert_eq!(unsafe { wcodec_tensor_count(f) }, st.tensors.len());
        let mut jobs = Vec::new();
        let mut batch: Vec<Vec<u8>> = Vec::new();
        for (i, t) in st.tensors.iter().enumerate() {
            let (s, inf) = info(f, i);
            assert_eq!(s, wcodec_status::Ok);
            assert_eq!(cstr(inf.name), t.name);
            assert_eq!(inf.name_len, t.name.len());
            assert_eq!(cstr(inf.dtype), t.dtype.name());
            assert_eq!(inf.ndim, t.shape.len());
            assert_eq!(&inf.shape[..inf.ndim], &t.shape[..]);
            assert_eq!(inf.nbytes, t.end - t.begin);
            let expected = &st.data[t.begin as usize..t.end as usize];
            let mut out = vec![0xA5u8; expected.len()];
            let name = CString::new(t.name.as_str()).unwrap();
            let s = unsafe {
                wcodec_decode_tensor(f, name.as_ptr(), out.as_mut_ptr().cast(), out.len())
            };
            assert_eq!(s, wcodec_status::Ok, "{}: {}", t.name, last_error());
            assert_eq!(last_error(), "");
            assert!(out == expected, "{} in {}", t.name, path.display());
            let mut index = usize::MAX;
            assert_eq!(
                unsafe { wcodec_find_tensor(f, name.as_ptr(), &raw mut index) },
                wcodec_status::Ok
            );
            assert_eq!(index, i);
            batch.push(vec![0u8; expected.len()]);
        }
        for (i, b) in batch.iter_mut().enumerate() {
            jobs.push(wcodec_decode_job {
                index: i,
                dst: if b.is_empty() {
                    null_mut()
                } else {
                    b.as_mut_ptr().cast()
                },
                dst_bytes: b.len(),
            });
        }
        let s = unsafe { wcodec_decode_tensors(f, jobs.as_ptr(), jobs.len()) };
        assert_eq!(s, wcodec_status::Ok, "{}", last_error());
        for (t, b) in st.tensors.iter().zip(&batch) {
            assert!(
                b[..] == st.data[t.begin as usize..t.end as usize],
                "{}",
                t.name
            );
        }
        unsafe { wcodec_close(f) };
    }
    assert!(n_files >= 7, "golden files missing in {}", dir.display());
}

#[test]
fn argument_errors_have_their_status_and_evidence() {
    let f = open(&root().join("testdata/golden/raw_tensors.wcodec")).unwrap();
    let name = c"floats"; // F32 [10, 10]: 400 bytes
    let mut buf = vec![0u8; 401];
    let dst: *mut c_void = buf.as_mut_ptr().cast();
    let cases: Vec<(wcodec_status, wcodec_status)> = vec![
        (
            unsafe { wcodec_decode_tensor(f, name.as_ptr(), dst, 399) },
            wcodec_status::BufferTooSmall,
        ),
        (
            unsafe { wcodec_decode_tensor(f, name.as_ptr(), dst, 401) },
            wcodec_status::BufferSizeMismatch,
        ),
        (
            unsafe { wcodec_decode_tensor(f, c"nope".as_ptr(), dst, 400) },
            wcodec_status::TensorNotFound,
        ),
        (
            unsafe { wcodec_decode_tensor(f, name.as_ptr(), null_mut(), 400) },
            wcodec_status::NullArgument,
        ),
        (
            unsafe { wcodec_decode_tensor(null(), name.as_ptr(), dst, 400) },
            wcodec_status::NullArgument,
        ),
        (
            unsafe { wcodec_decode_tensor(f, null(), dst, 400) },
            wcodec_status::NullArgument,
        ),
        (
            unsafe { wcodec_decode_tensor(f, c"\xff".as_ptr(), dst, 400) },
            wcodec_status::InvalidUtf8,
        ),
        (
            unsafe { wcodec_decode_tensor_by_index(f, 3, dst, 400) },
            wcodec_status::IndexOutOfRange,
        ),
        (
            unsafe { wcodec_get_tensor_info(f, 0, null_mut()) },
            wcodec_status::NullArgument,
        ),
        (
            unsafe { wcodec_find_tensor(f, name.as_ptr(), null_mut()) },
            wcodec_status::NullArgument,
        ),
        (
            unsafe { wcodec_decode_tensors(f, null(), 2) },
            wcodec_status::NullArgument,
        ),
        (
            unsafe { wcodec_open(c"x".as_ptr(), null_mut()) },
            wcodec_status::NullArgument,
        ),
    ];
    for (k, (got, want)) in cases.into_iter().enumerate() {
        assert_eq!(got, want, "case {k}");
    }
    // Messages are per call: check each right after its call.
    let checks: [(&dyn Fn() -> wcodec_status, &str); 4] = [
        (
            &|| unsafe { wcodec_decode_tensor(f, name.as_ptr(), dst, 399) },
            "buffer for tensor `floats` holds 399 bytes, the tensor needs 400",
        ),
        (
            &|| unsafe { wcodec_decode_tensor(f, c"nope".as_ptr(), dst, 400) },
            "no tensor named `nope`",
        ),
        (
            &|| unsafe { wcodec_decode_tensor_by_index(f, 3, dst, 400) },
            "tensor index 3 out of range (the file has 3 tensors)",
        ),
        (
            &|| unsafe { wcodec_decode_tensor(f, c"\xff".as_ptr(), dst, 400) },
            "`name` is not valid UTF-8",
        ),
    ];
    for (call, message) in checks {
        assert_ne!(call(), wcodec_status::Ok);
        assert!(last_error().contains(message), "{}", last_error());
    }
    // Nothing was written by the refused calls.
    assert!(buf.iter().all(|&b| b == 0));
    assert_eq!(unsafe { wcodec_tensor_count(null()) }, 0);
    unsafe { wcodec_close(null_mut()) };
    unsafe { wcodec_close(f) };
}

#[test]
fn overlapping_batch_destinations_are_refused() {
    let f = open(&root().join("testdata/golden/raw_tensors.wcodec")).unwrap();
    let mut buf = vec![0u8; 700];
    let base = buf.as_mut_ptr();
    let jobs = [
        wcodec_decode_job {
            index: 0,
            dst: base.cast(),
            dst_bytes: 300,
        },
        wcodec_decode_job {
            index: 1,
            dst: unsafe { base.add(299) }.cast(),
            dst_bytes: 400,
        },
    ];
    let s = unsafe { wcodec_decode_tensors(f, jobs.as_ptr(), 2) };
    assert_eq!(s, wcodec_status::InvalidArgument);
    assert!(last_error().contains("destinations of jobs 0 and 1 overlap"));
    assert!(buf.iter().all(|&b| b == 0));
    unsafe { wcodec_close(f) };
}

#[test]
fn file_errors_have_their_status() {
    let cases = [
        (
            "testdata/golden/does_not_exist.wcodec",
            wcodec_status::FileNotFound,
        ),
        ("testdata/golden", wcodec_status::Io),
        ("testdata/reject/bad_magic.wcodec", wcodec_status::NotWcodec),
        (
            "testdata/reject/version_3.wcodec",
            wcodec_status::UnsupportedVersion,
        ),
        ("testdata/reject/truncated.wcodec", wcodec_status::Corrupt),
        (
            "testdata/reject/header_unknown_dtype.wcodec",
            wcodec_status::Corrupt,
        ),
    ];
    for (path, want) in cases {
        assert_eq!(open(&root().join(path)).err(), Some(want), "{path}");
        assert!(!last_error().is_empty());
    }
    let f = open(&root().join("testdata/reject/checksum_recorded.wcodec")).unwrap();
    let mut out = vec![0u8; 512];
    let s = unsafe { wcodec_decode_tensor(f, c"z".as_ptr(), out.as_mut_ptr().cast(), 512) };
    assert_eq!(s, wcodec_status::ChecksumMismatch);
    // The message names the file first, then the codec's detail, then what to do.
    let message = last_error();
    assert!(
        message.starts_with(&format!(
            "`{}` is damaged (checksum mismatch in tensor `z`",
            root()
                .join("testdata/reject/checksum_recorded.wcodec")
                .display()
        )),
        "{message}"
    );
    assert!(message.contains("download it again"), "{message}");
    unsafe { wcodec_close(f) };
}

/// The rank-9 tensor of the fixture, and a name holding a NUL byte.
fn rank9_source() -> Vec<u8> {
    let data: Vec<u8> = (0..48u8).collect();
    safetensors::build(
        &[
            ("rank9", Dtype::I8, &[1, 2, 1, 2, 1, 2, 1, 2, 3], &data),
            ("nul\0name", Dtype::U8, &[2], &[7, 9]),
        ],
        None,
    )
}

/// `tests/data/rank9.wcodec` must decode to `rank9_source()`; `WCODEC_BLESS=1` writes it.
#[test]
fn rank9_fixture() {
    if std::env::var_os("WCODEC_BLESS").is_some_and(|v| v == "1") {
        let options = wcodec::EncodeOptions {
            tiles: wcodec::TileOptions::disabled(),
            ..Default::default()
        };
        let mut out = std::io::Cursor::new(Vec::new());
        wcodec::encode_bytes(
            &rank9_source(),
            "rank9.safetensors",
            &options,
            &mut out,
            &wcodec::NoProgress,
        )
        .unwrap();
        std::fs::write(rank9_path(), out.into_inner()).unwrap();
    }
    let f = open(&rank9_path()).unwrap();
    let (s, inf) = info(f, 0);
    assert_eq!(s, wcodec_status::RankTooLarge);
    assert!(last_error().contains("tensor `rank9` has 9 dimensions, more than WCODEC_MAX_NDIM (8)"));
    assert_eq!(inf.ndim, 9);
    assert_eq!(inf.shape, [1, 2, 1, 2, 1, 2, 1, 2]);
    let dims = unsafe { std::slice::from_raw_parts(inf.dims, inf.ndim) };
    assert_eq!(dims, [1, 2, 1, 2, 1, 2, 1, 2, 3]);
    assert_eq!(inf.nbytes, 48);
    let mut out = vec![0u8; 48];
    let s = unsafe { wcodec_decode_tensor_by_index(f, 0, out.as_mut_ptr().cast(), 48) };
    assert_eq!(s, wcodec_status::Ok);
    assert_eq!(out, (0..48u8).collect::<Vec<_>>());

    let (s, inf) = info(f, 1);
    assert_eq!(s, wcodec_status::Ok);
    assert_eq!(inf.name_len, 8);
    let name = unsafe { std::slice::from_raw_parts(inf.name.cast::<u8>(), inf.name_len + 1) };
    assert_eq!(name, b"nul\0name\0");
    unsafe { wcodec_close(f) };
}

#[test]
fn cuda_without_a_gpu_is_unavailable() {
    let f = open(&root().join("testdata/golden/raw_tensors.wcodec")).unwrap();
    let mut buf = vec![0u8; 400];
    let s = unsafe {
        wcodec_decode_tensor_cuda(
            f,
            c"floats".as_ptr(),
            buf.as_mut_ptr().cast(),
            400,
            null_mut(),
        )
    };
    if wcodec_cuda_device_count() == 0 {
        assert_eq!(s, wcodec_status::CudaUnavailable, "{}", last_error());
        assert!(
            last_error().contains("CUDA driver not available"),
            "{}",
            last_error()
        );
    } else {
        // A host pointer is no device memory.
        assert_eq!(s, wcodec_status::InvalidArgument, "{}", last_error());
    }
    // Size checks come first, on every machine.
    let s = unsafe {
        wcodec_decode_tensor_cuda(
            f,
            c"floats".as_ptr(),
            buf.as_mut_ptr().cast(),
            399,
            null_mut(),
        )
    };
    assert_eq!(s, wcodec_status::BufferTooSmall);
    unsafe { wcodec_close(f) };
}

#[test]
fn status_strings_and_version() {
    for raw in [0u32, 100, 105, 203, 300, 900] {
        let text = cstr(wcodec_status_str(raw));
        assert!(text.starts_with("WCODEC_STATUS_"), "{text}");
    }
    assert!(cstr(wcodec_status_str(12345)).starts_with("unknown wcodec_status"));
    assert_eq!(cstr(wcodec_version()), env!("CARGO_PKG_VERSION"));
}
