//! The public API's error variants for misuse (the file-content errors are in `corrupt.rs`),
//! and the file, directory and verify entry points on a temporary directory.

use std::io::Cursor;

use wcodec::source::safetensors::build;
use wcodec::{
    decode_path, encode_bytes, encode_path, verify, Archive, DecodeOptions, Dtype, Error,
    NoProgress,
};

use crate::common::{encode, options, peaked, weight_like};

fn small_source() -> Vec<u8> {
    let a = peaked(5000, 1, 8);
    let b = weight_like(Dtype::BF16, 3000, 2);
    build(
        &[
            ("a", Dtype::I8, &[5000], &a),
            ("b", Dtype::BF16, &[3000], &b),
        ],
        Some(&[("format", "pt")]),
    )
}

#[test]
fn io_error_names_the_path() {
    let e = Archive::open(std::path::Path::new("/nonexistent/x.wcodec"))
        .err()
        .unwrap();
    assert!(
        matches!(&e, Error::Io { op: "open", path, .. } if path.ends_with("x.wcodec")),
        "{e:?}"
    );
    assert!(e.to_string().contains("/nonexistent/x.wcodec"));
}

#[test]
fn short_and_foreign_files() {
    assert!(matches!(
        Archive::from_bytes(Vec::new()),
        Err(Error::Truncated {
            expected: 64,
            found: 0
        })
    ));
    // Fewer than 8 bytes: the magic cannot be judged, so the file is "truncated".
    assert!(matches!(
        Archive::from_bytes(vec![0x89, b'W']),
        Err(Error::Truncated {
            expected: 64,
            found: 2
        })
    ));
    let e = Archive::from_bytes(b"PK\x03\x04 this is a zip file".to_vec())
        .err()
        .unwrap();
    assert!(
        matches!(&e, Error::NotWcodec { found } if found == "504b030420746869"),
        "{e:?}"
    );
    // A safetensors file handed to the decoder.
    assert!(matches!(
        Archive::from_bytes(small_source()),
        Err(Error::NotWcodec { .. })
    ));
}

#[test]
fn unsupported_version_names_both_versions() {
    let e = Error::UnsupportedVersion {
        found: 7,
        supported: 1,
    };
    assert_eq!(
        e.to_string(),
        "format version 7 is not supported (this build reads versions up to 1)"
    );
}

#[test]
fn invalid_source_is_reported_as_such() {
    let mut out = Cursor::new(Vec::new());
    let e = encode_bytes(
        b"\x10\0\0\0\0\0\0\0{}",
        "x.safetensors",
        &options(4096),
        &mut out,
        &NoProgress,
    )
    .err()
    .unwrap();
    assert!(
        matches!(
            &e,
            Error::InvalidSource {
                format: "safetensors",
                ..
            }
        ),
        "{e:?}"
    );
    let e = encode_bytes(
        b"\x04\0\0\0\0\0\0\0{}  \x01",
        "x",
        &options(4096),
        &mut out,
        &NoProgress,
    )
    .err()
    .unwrap();
    assert!(
        e.to_string()
            .contains("cover 0 bytes of a 1-byte data buffer"),
        "{e}"
    );
}

#[test]
fn unsupported_dtype() {
    assert!(matches!(Dtype::parse("I4"), Err(Error::UnsupportedDtype(n)) if n == "I4"));
}

#[test]
fn bad_chunk_sizes_are_invalid_input() {
    for c in [0, 1, 2048, 4095, 5000, 1 << 21, u64::MAX] {
        let mut out = Cursor::new(Vec::new());
        let e = encode_bytes(&small_source(), "x", &options(c), &mut out, &NoProgress)
            .err()
            .unwrap();
        assert!(
            matches!(&e, Error::InvalidInput(m) if m.contains(&c.to_string())),
            "{c}: {e:?}"
        );
    }
    for c in [4096, 1 << 20] {
        let file = encode(&small_source(), c);
        assert_eq!(crate::common::decode_all(file).unwrap(), small_source());
    }
}

#[test]
fn lookups_and_buffers() {
    let a = Archive::from_bytes(encode(&small_source(), 4096)).unwrap();
    assert!(matches!(a.find("missing"), Err(Error::TensorNotFound(n)) if n == "missing"));
    assert!(matches!(a.decode(2), Err(Error::TensorNotFound(n)) if n == "#2"));
    let mut small = vec![0u8; 10];
    let e = a
        .decode_into(a.find("b").unwrap(), &mut small)
        .err()
        .unwrap();
    assert!(
        matches!(&e, Error::BufferSize { tensor, expected: 6000, found: 10 } if tensor == "b"),
        "{e:?}"
    );
    assert_eq!(a.source_bytes(), small_source().len() as u64);
    assert!(a.path().is_none());
}

#[test]
fn files_directories_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir_all(model.join("sub")).unwrap();
    std::fs::write(
        model.join("model-00001-of-00002.safetensors"),
        small_source(),
    )
    .unwrap();
    std::fs::write(
        model.join("sub/model-00002-of-00002.safetensors"),
        build(&[], None),
    )
    .unwrap();
    std::fs::write(model.join("config.json"), b"{\"a\": 1}\n").unwrap();
    std::fs::write(
        model.join("model.safetensors.index.json"),
        br#"{"metadata":{"total_size":1},"weight_map":{"a":"model-00001-of-00002.safetensors"}}"#,
    )
    .unwrap();
    let enc = dir.path().join("enc");
    let stats = encode_path(&model, &enc, &options(4096), &NoProgress).unwrap();
    assert_eq!((stats.n_files, stats.n_tensors), (2, 2));
    assert!(enc.join("model-00001-of-00002.wcodec").is_file());
    let index = std::fs::read_to_string(enc.join("model.wcodec.index.json")).unwrap();
    assert!(index.contains("model-00001-of-00002.wcodec"), "{index}");

    // Refusals: existing output, output inside the input.
    let again = encode_path(&model, &enc, &options(4096), &NoProgress)
        .err()
        .unwrap();
    assert!(
        matches!(&again, Error::InvalidInput(m) if m.contains("already exists")),
        "{again:?}"
    );
    let inside = encode_path(&model, &model.join("out"), &options(4096), &NoProgress)
        .err()
        .unwrap();
    assert!(
        matches!(&inside, Error::InvalidInput(m) if m.contains("would overwrite")),
        "{inside:?}"
    );
    let twice = encode_path(&enc, &dir.path().join("enc2"), &options(4096), &NoProgress)
        .err()
        .unwrap();
    assert!(
        matches!(&twice, Error::InvalidInput(m) if m.contains("already wcodec output")),
        "{twice:?}"
    );

    let dec = dir.path().join("dec");
    decode_path(&enc, &dec, &DecodeOptions::default(), &NoProgress).unwrap();
    assert!(!dec.join("model.wcodec.index.json").exists());
    let report = verify(&model, &dec).unwrap();
    assert!(
        report.files_identical && report.first_mismatch.is_none(),
        "{report:?}"
    );
    assert_eq!((report.n_files, report.n_tensors), (4, 2));
    // Verify against the encoded directory directly (decoding on the fly).
    let report = verify(&model, &enc).unwrap();
    assert!(report.files_identical, "{report:?}");

    // A changed tensor is found and named.
    let mut changed = small_source();
    let last = changed.len() - 1;
    changed[last] ^= 0x80;
    std::fs::write(dec.join("model-00001-of-00002.safetensors"), &changed).unwrap();
    let report = verify(&model, &dec).unwrap();
    let m = report.first_mismatch.expect("a mismatch");
    assert!(!report.files_identical);
    assert_eq!(m.tensor.as_deref(), Some("b"));
    assert!(m.max_abs_diff.is_some_and(|d| d > 0.0), "{m:?}");

    // Single files.
    let one = dir.path().join("one.wcodec");
    encode_path(
        &model.join("model-00001-of-00002.safetensors"),
        &one,
        &options(65_536),
        &NoProgress,
    )
    .unwrap();
    let back = dir.path().join("one.safetensors");
    let s = decode_path(&one, &back, &DecodeOptions::default(), &NoProgress).unwrap();
    assert_eq!(s.decoded_bytes, small_source().len() as u64);
    assert_eq!(std::fs::read(&back).unwrap(), small_source());
    let same = decode_path(&one, &one, &DecodeOptions { overwrite: true }, &NoProgress)
        .err()
        .unwrap();
    assert!(
        matches!(&same, Error::InvalidInput(m) if m.contains("would overwrite")),
        "{same:?}"
    );
    assert_eq!(Archive::open(&one).unwrap().path(), Some(one.as_path()));
}
