//! Errors about a file's contents name the file, say what is wrong in plain terms before the
//! codec's detail, and say what to do; directories keep no safetensors index that would mislead
//! other tools, and still restore it byte for byte (older layouts too).

use std::path::{Path, PathBuf};

use wcodec::source::safetensors::build;
use wcodec::{decode_path, encode_path, verify, Archive, DecodeOptions, Dtype, Error, NoProgress};

use crate::common::{options, peaked, weight_like};
use crate::corrupt::{Stage, EXPECTED};
use crate::fixtures::testdata;

/// The first error `path` gives when opened from disk, then decoded tensor by tensor and rebuilt.
fn first_error(path: &Path) -> Error {
    let a = match Archive::open(path) {
        Ok(a) => a,
        Err(e) => return e,
    };
    for i in 0..a.tensors().len() {
        if let Err(e) = a.decode(i) {
            return e;
        }
    }
    a.write_source(&mut std::io::sink(), &NoProgress)
        .expect_err("a reject file fails")
}

#[test]
fn every_damaged_file_is_named_with_what_to_do() {
    let mut named = 0;
    for (name, stage, _) in EXPECTED {
        let path = testdata().join("reject").join(format!("{name}.wcodec"));
        let e = first_error(&path);
        if matches!(e.root(), Error::InvalidInput(_)) {
            // A valid file the caller asked too much of (rebuilding a GGUF source).
            continue;
        }
        let text = e.to_string();
        assert_eq!(e.path(), Some(path.as_path()), "{name}: {text}");
        assert!(
            text.starts_with(&format!("`{}` ", path.display())),
            "{name}: {text}"
        );
        let (what, todo) = match e.root() {
            Error::NotWcodec { .. } => ("is not a .wcodec file", "wcodec-encode"),
            Error::Truncated { .. } => ("is incomplete", "download or copy it again"),
            Error::UnsupportedVersion { .. } => ("newer wcodec", "upgrade wcodec"),
            Error::Corrupt(_) | Error::CorruptTensor { .. } | Error::Checksum { .. } => (
                "is damaged",
                "download it again, or encode the original checkpoint again",
            ),
            other => panic!("{name}: unexpected {other:?}"),
        };
        // Plain terms first, the codec's words in parentheses, then what to do.
        let detail = e.root().to_string();
        let at_what = text.find(what).unwrap_or_else(|| panic!("{name}: {text}"));
        let at_detail = text
            .find(&format!("({detail})"))
            .unwrap_or_else(|| panic!("{name}: {text}"));
        let at_todo = text.find(todo).unwrap_or_else(|| panic!("{name}: {text}"));
        assert!(at_what < at_detail && at_detail < at_todo, "{name}: {text}");
        if *stage == Stage::Decode {
            named += 1;
        }
    }
    assert!(named > 10, "decode-stage errors are named too");
}

#[test]
fn in_memory_archives_and_caller_errors_are_not_wrapped() {
    let e = Archive::from_bytes(vec![0; 4]).err().unwrap();
    assert!(matches!(e, Error::Truncated { .. }), "{e:?}");
    assert!(e.path().is_none());
    let p = Path::new("x.wcodec");
    assert!(matches!(
        Error::TensorNotFound("t".into()).in_file(p),
        Error::TensorNotFound(_)
    ));
    assert!(matches!(
        Error::InvalidInput("i".into()).in_file(p),
        Error::InvalidInput(_)
    ));
    // Wrapping twice keeps one path, and `root` sees through it.
    let twice = Error::Corrupt("c".into())
        .in_file(p)
        .in_file(Path::new("other"));
    assert_eq!(twice.path(), Some(p));
    assert!(matches!(twice.root(), Error::Corrupt(_)));
}

fn source(seed: u64) -> Vec<u8> {
    build(
        &[
            ("a", Dtype::I8, &[5000], &peaked(5000, seed, 8)),
            (
                "b",
                Dtype::BF16,
                &[3000],
                &weight_like(Dtype::BF16, 3000, seed),
            ),
        ],
        Some(&[("format", "pt")]),
    )
}

/// A sharded model directory: two shards, an index (odd spacing, kept verbatim), a config.
fn model_dir(root: &Path) -> PathBuf {
    let model = root.join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("model-00001-of-00002.safetensors"), source(1)).unwrap();
    std::fs::write(model.join("model-00002-of-00002.safetensors"), source(2)).unwrap();
    std::fs::write(model.join("config.json"), b"{\"a\": 1}\n").unwrap();
    std::fs::write(
        model.join("model.safetensors.index.json"),
        "{\"metadata\":{\"total_size\":1},  \"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}, \"note\": \"\u{e9}\"}",
    )
    .unwrap();
    model
}

#[test]
fn an_encoded_directory_has_no_safetensors_index_and_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path());
    let enc = dir.path().join("enc");
    encode_path(&model, &enc, &options(4096), &NoProgress).unwrap();
    assert!(!enc.join("model.safetensors.index.json").exists());
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(enc.join("model.wcodec.index.json")).unwrap())
            .unwrap();
    assert_eq!(index["weight_map"]["b"], "model-00002-of-00002.wcodec");
    assert_eq!(index["metadata"]["total_size"], 1);
    let original = std::fs::read(model.join("model.safetensors.index.json")).unwrap();
    let (name, text) = wcodec::dir::restored_index(&enc.join("model.wcodec.index.json"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (name.as_str(), text),
        ("model.safetensors.index.json", original)
    );

    let dec = dir.path().join("dec");
    decode_path(&enc, &dec, &DecodeOptions::default(), &NoProgress).unwrap();
    assert!(!dec.join("model.wcodec.index.json").exists());
    for f in wcodec::dir::list_files(&model).unwrap() {
        assert_eq!(
            std::fs::read(dec.join(&f)).unwrap(),
            std::fs::read(model.join(&f)).unwrap()
        );
    }
    assert_eq!(wcodec::dir::list_files(&dec).unwrap().len(), 4);
    assert!(verify(&model, &dec).unwrap().files_identical);
    // The encoded directory itself verifies against the original (the index included).
    assert!(verify(&model, &enc).unwrap().files_identical);
}

#[test]
fn an_older_encoded_directory_still_decodes() {
    // Before: the original index copied unchanged, and a wcodec index without the original.
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path());
    let enc = dir.path().join("enc");
    encode_path(&model, &enc, &options(4096), &NoProgress).unwrap();
    let index_path = enc.join("model.wcodec.index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index.as_object_mut().unwrap().remove("wcodec_restores");
    std::fs::write(&index_path, serde_json::to_vec_pretty(&index).unwrap()).unwrap();
    std::fs::copy(
        model.join("model.safetensors.index.json"),
        enc.join("model.safetensors.index.json"),
    )
    .unwrap();
    assert!(wcodec::dir::restored_index(&index_path).unwrap().is_none());

    let dec = dir.path().join("dec");
    decode_path(&enc, &dec, &DecodeOptions::default(), &NoProgress).unwrap();
    assert!(verify(&model, &dec).unwrap().files_identical);
    assert_eq!(wcodec::dir::list_files(&dec).unwrap().len(), 4);
}

#[test]
fn a_damaged_shard_in_a_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path());
    let enc = dir.path().join("enc");
    encode_path(&model, &enc, &options(4096), &NoProgress).unwrap();
    let shard = enc.join("model-00002-of-00002.wcodec");
    let mut bytes = std::fs::read(&shard).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&shard, bytes).unwrap();
    let e = decode_path(
        &enc,
        &dir.path().join("dec"),
        &DecodeOptions::default(),
        &NoProgress,
    )
    .err()
    .unwrap();
    let text = e.to_string();
    assert_eq!(e.path(), Some(shard.as_path()), "{text}");
    assert!(
        text.contains("is damaged") && text.contains("download it again"),
        "{text}"
    );
    assert!(!dir.path().join("dec").exists(), "nothing half-written");
}

#[test]
fn a_bad_restores_entry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.wcodec.index.json");
    std::fs::write(&p, br#"{"weight_map": {}, "wcodec_restores": {"file_name": "../x.safetensors.index.json", "text": "{}"}}"#).unwrap();
    let e = wcodec::dir::restored_index(&p).err().unwrap();
    assert_eq!(e.path(), Some(p.as_path()));
    assert!(matches!(e.root(), Error::Corrupt(_)), "{e:?}");
}
