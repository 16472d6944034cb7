//! The encoder's output depends only on its input and options: not on the run, nor on how many
//! threads rayon gives it (chunks, planes and tensors are encoded in parallel and must be
//! assembled in a fixed order).

use wcodec::source::safetensors::build;
use wcodec::{Dtype, NoProgress};

use crate::common::{decode_all, encode, lcg, peaked, sinusoid_i8, weight_like};

/// Several tensors of mixed dtypes, each of many chunks at `chunk_symbols = 4096`, so every
/// level of parallelism (tensors of a batch, planes, chunks) has work to split.
fn source() -> Vec<u8> {
    let int8 = peaked(200_003, 1, 16);
    let bf16 = weight_like(Dtype::BF16, 70_001, 2);
    let f32s = weight_like(Dtype::F32, 50_000, 3);
    let random = lcg(10_000, 4);
    let f64s = weight_like(Dtype::F64, 9_000, 5);
    // Smooth: tiled (format version 2), rows of tiles searched and rebuilt in parallel.
    let smooth = sinusoid_i8(320, 200);
    build(
        &[
            ("a", Dtype::I8, &[200_003], &int8),
            ("b", Dtype::BF16, &[70_001], &bf16),
            ("c", Dtype::F32, &[100, 500], &f32s),
            ("d", Dtype::U8, &[10_000], &random),
            ("e", Dtype::F64, &[9_000], &f64s),
            ("s", Dtype::I8, &[320, 200], &smooth),
            ("z", Dtype::F16, &[0], &[]),
        ],
        Some(&[("format", "pt")]),
    )
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool")
        .install(f)
}

#[test]
fn encoding_twice_gives_identical_bytes() {
    let src = source();
    let first = encode(&src, 4096);
    let second = encode(&src, 4096);
    let a = wcodec::Archive::from_bytes(first.clone()).unwrap();
    assert!(
        a.tensors().iter().any(|t| t.tile_size.is_some()),
        "the source should tile"
    );
    assert!(first == second, "two encodes of the same input differ");
    assert_eq!(decode_all(first).unwrap(), src);
}

#[test]
fn thread_count_does_not_change_the_bytes() {
    let src = source();
    for chunk_symbols in [4096, 65_536] {
        let reference = in_pool(1, || encode(&src, chunk_symbols));
        for threads in [2, 4] {
            let other = in_pool(threads, || encode(&src, chunk_symbols));
            assert!(
                other == reference,
                "{threads} threads (chunk {chunk_symbols}) differ from 1 thread"
            );
        }
        // Decoding is thread-independent too.
        for threads in [1, 3] {
            let rebuilt = in_pool(threads, || decode_all(reference.clone())).unwrap();
            assert!(rebuilt == src, "decode in {threads} threads differs");
        }
    }
}

#[test]
fn file_name_is_the_only_outside_input() {
    use std::io::Cursor;
    let src = source();
    let enc = |name: &str| {
        let mut out = Cursor::new(Vec::new());
        wcodec::encode_bytes(
            &src,
            name,
            &crate::common::options(4096),
            &mut out,
            &NoProgress,
        )
        .unwrap();
        out.into_inner()
    };
    assert_eq!(enc("m.safetensors"), enc("m.safetensors"));
    assert_ne!(
        enc("m.safetensors"),
        enc("n.safetensors"),
        "the file name is recorded in the header"
    );
}
