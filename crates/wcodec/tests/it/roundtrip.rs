//! Encode → decode round trips through the public API: a seed table of edge cases first, then
//! proptest over every dtype × sizes × distributions.

use proptest::prelude::*;
use wcodec::format::header::Encoding;
use wcodec::source::safetensors::build;
use wcodec::{Archive, Dtype, NoProgress};

use crate::common::{decode_all, elements_for_symbols, encode, lcg, peaked, weight_like};

/// The chunk size every test here uses, so chunk boundaries are cheap to reach.
const C: u64 = 4096;

/// An owned tensor for `build`.
#[derive(Clone, Debug)]
struct T {
    name: String,
    dtype: Dtype,
    shape: Vec<u64>,
    bytes: Vec<u8>,
}

impl T {
    fn new(name: &str, dtype: Dtype, shape: &[u64], bytes: Vec<u8>) -> T {
        T {
            name: name.to_owned(),
            dtype,
            shape: shape.to_vec(),
            bytes,
        }
    }
}

fn source_of(tensors: &[T], meta: Option<&[(&str, &str)]>) -> Vec<u8> {
    let refs: Vec<(&str, Dtype, &[u64], &[u8])> = tensors
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.dtype,
                t.shape.as_slice(),
                t.bytes.as_slice(),
            )
        })
        .collect();
    build(&refs, meta)
}

/// Encodes, checks every invariant of a round trip and returns the encoded size.
fn check_round_trip(tensors: &[T], meta: Option<&[(&str, &str)]>, chunk_symbols: u64) -> usize {
    let source = source_of(tensors, meta);
    let encoded = encode(&source, chunk_symbols);
    let size = encoded.len();
    let archive = Archive::from_bytes(encoded.clone()).expect("opens");
    assert_eq!(archive.tensors().len(), tensors.len());
    for t in tensors {
        let i = archive.find(&t.name).unwrap();
        let e = &archive.tensors()[i];
        assert_eq!(
            (e.dtype, &e.shape, e.raw_bytes),
            (t.dtype, &t.shape, t.bytes.len() as u64)
        );
        // No tensor grows (format.md §5.5): a region is never larger than the raw bytes.
        assert!(
            e.stored_bytes <= e.raw_bytes,
            "`{}` grew: {} > {}",
            t.name,
            e.stored_bytes,
            e.raw_bytes
        );
        assert_eq!(archive.decode(i).unwrap(), t.bytes, "tensor `{}`", t.name);
        let mut buf = vec![0xAA; t.bytes.len()];
        archive.decode_into(i, &mut buf).unwrap();
        assert_eq!(buf, t.bytes);
    }
    let mut rebuilt = Vec::new();
    archive.write_source(&mut rebuilt, &NoProgress).unwrap();
    assert_eq!(rebuilt, source, "rebuilt file differs from the source");
    assert_eq!(decode_all(encoded).unwrap(), source);
    // Overhead bound: preamble, alignment padding before each region, and the header (which
    // embeds the source header, compressed).
    let stored_header = (archive.file_bytes()
        - archive
            .tensors()
            .iter()
            .map(|t| t.offset + t.stored_bytes)
            .max()
            .unwrap_or(64)) as usize;
    let bound = source.len() + 64 + 63 * tensors.len() + stored_header;
    assert!(size <= bound, "encoded {size} > bound {bound}");
    size
}

/// Edge cases that must always work; run before (and independently of) the random cases.
#[test]
fn seed_table_of_edge_cases() {
    // Zero-size tensors and 0-rank scalars of every dtype, in one file, with metadata.
    let mut ts = Vec::new();
    for (k, &d) in Dtype::ALL.iter().enumerate() {
        ts.push(T::new(&format!("empty_{d}"), d, &[0], Vec::new()));
        ts.push(T::new(&format!("empty3_{d}"), d, &[2, 0, 3], Vec::new()));
        let n = d.bytes_for(1).unwrap() as usize;
        ts.push(T::new(&format!("scalar_{d}"), d, &[], lcg(n, k as u64)));
    }
    check_round_trip(&ts, Some(&[("format", "pt"), ("note", "edge cases")]), C);

    // A file with no tensors at all, with and without metadata.
    check_round_trip(&[], None, C);
    check_round_trip(&[], Some(&[("k", "v")]), C);

    let cases: Vec<(&str, T)> = vec![
        (
            "exactly one chunk, constant",
            T::new("a", Dtype::U8, &[4096], vec![7; 4096]),
        ),
        (
            "exactly one chunk, peaked",
            T::new("a", Dtype::I8, &[64, 64], peaked(4096, 1, 8)),
        ),
        (
            "one chunk plus one symbol",
            T::new("a", Dtype::I8, &[4097], peaked(4097, 2, 8)),
        ),
        (
            "one chunk minus one symbol",
            T::new("a", Dtype::I8, &[4095], peaked(4095, 3, 8)),
        ),
        ("one symbol plus one outlier", {
            let mut b = vec![0u8; 4096];
            b[1234] = 0xFF;
            T::new("a", Dtype::U8, &[4096], b)
        }),
        ("outlier first and last", {
            let mut b = vec![3u8; 9000];
            b[0] = 200;
            b[8999] = 201;
            T::new("a", Dtype::U8, &[9000], b)
        }),
        (
            "all 256 symbols once",
            T::new("a", Dtype::U8, &[256], (0..=255).collect()),
        ),
        (
            "all 256 symbols, 16 times each",
            T::new(
                "a",
                Dtype::U8,
                &[4096],
                (0..=255).cycle().take(4096).collect(),
            ),
        ),
        (
            "all symbols once then a constant run",
            T::new(
                "a",
                Dtype::U8,
                &[8192],
                (0..=255)
                    .chain(std::iter::repeat_n(9, 8192 - 256))
                    .collect(),
            ),
        ),
        ("two symbols, 4095:1", {
            let mut b = vec![1u8; 4096];
            b[0] = 2;
            T::new("a", Dtype::I8, &[4096], b)
        }),
        (
            "constant F32 one chunk",
            T::new("a", Dtype::F32, &[4096], 1.5f32.to_le_bytes().repeat(4096)),
        ),
        (
            "constant F64 odd",
            T::new(
                "a",
                Dtype::F64,
                &[4099],
                (-0.25f64).to_le_bytes().repeat(4099),
            ),
        ),
        (
            "C64 weights",
            T::new("a", Dtype::C64, &[3000], weight_like(Dtype::C64, 3000, 4)),
        ),
        (
            "F4 packed, odd element count",
            T::new("a", Dtype::F4, &[8193], peaked(4097, 5, 4)),
        ),
        (
            "F6 packed",
            T::new("a", Dtype::F6E3M2, &[5463], peaked(4098, 6, 4)),
        ),
        (
            "unicode name",
            T::new(
                "ẅëïğħţ/ßḉ.0",
                Dtype::BF16,
                &[5000],
                weight_like(Dtype::BF16, 5000, 7),
            ),
        ),
    ];
    for (what, t) in cases {
        let src_len = source_of(std::slice::from_ref(&t), None).len();
        let size = check_round_trip(std::slice::from_ref(&t), None, C);
        eprintln!("{what}: {src_len} -> {size}");
    }
}

#[test]
fn rebuilds_the_source_byte_for_byte() {
    let a = peaked(300_000, 1, 128);
    let b = lcg(4 * 1000, 2);
    let c: Vec<u8> = peaked(2 * 70_001, 3, 128);
    let ts = [
        T::new("a", Dtype::I8, &[300, 1000], a),
        T::new("b", Dtype::F32, &[1000], b),
        T::new("c", Dtype::BF16, &[70_001], c),
        T::new("z", Dtype::U8, &[0], Vec::new()),
    ];
    let source = source_of(&ts, Some(&[("format", "pt")]));
    let size = check_round_trip(
        &ts,
        Some(&[("format", "pt")]),
        wcodec::format::DEFAULT_CHUNK_SYMBOLS,
    );
    assert!(size < source.len(), "{size} >= {}", source.len());
}

/// How the bytes of a generated tensor are distributed.
#[derive(Clone, Copy, Debug)]
enum Dist {
    /// Every element the same (one repeated word).
    Constant(u8),
    /// Uniform random bytes (incompressible).
    Uniform,
    /// Peaked, Gaussian-like bytes (int8 weights) with the given spread.
    Peaked(u8),
    /// Real float values for float dtypes; small integers for integer dtypes.
    WeightLike,
}

impl Dist {
    fn compressible(self) -> bool {
        !matches!(self, Dist::Uniform)
    }

    fn bytes(self, dtype: Dtype, n: u64, seed: u64) -> Vec<u8> {
        let n_bytes = dtype.bytes_for(n).unwrap() as usize;
        match self {
            Dist::Constant(b) => {
                let w = (dtype.bits() as usize).div_ceil(8);
                let word: Vec<u8> = (0..w as u8)
                    .map(|i| b.wrapping_add(i.wrapping_mul(37)))
                    .collect();
                word.iter().copied().cycle().take(n_bytes).collect()
            }
            Dist::Uniform => lcg(n_bytes, seed),
            Dist::Peaked(spread) => peaked(n_bytes, seed, spread),
            Dist::WeightLike => weight_like(dtype, n, seed),
        }
    }
}

fn dist() -> impl Strategy<Value = Dist> {
    prop_oneof![
        any::<u8>().prop_map(Dist::Constant),
        Just(Dist::Uniform),
        (1u8..=128).prop_map(Dist::Peaked),
        Just(Dist::WeightLike),
    ]
}

/// Symbols per plane: 0, 1, odd, around one and two chunks, and a few large sizes.
fn symbols() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => prop::sample::select(vec![0u64, 1, 2, 3, 31, 32, 33, 127, 128, 129, 1001, C - 1, C, C + 1, 2 * C - 1, 2 * C, 2 * C + 1]),
        3 => 0u64..3 * C,
        1 => prop::sample::select(vec![65_535u64, 100_003, 262_144]),
    ]
}

fn tensor(idx: usize) -> impl Strategy<Value = T> {
    (
        prop::sample::select(Dtype::ALL.to_vec()),
        symbols(),
        dist(),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(move |(dtype, symbols, dist, seed, two_dims)| {
            let n = elements_for_symbols(dtype, symbols);
            let shape = if two_dims && n.is_multiple_of(2) && n > 0 {
                vec![2, n / 2]
            } else {
                vec![n]
            };
            T {
                name: format!("t{idx}.{}", dtype.name().to_lowercase()),
                dtype,
                shape,
                bytes: dist.bytes(dtype, n, seed),
            }
        })
}

/// One to three tensors of independent dtypes, sizes and distributions.
fn case() -> impl Strategy<Value = Vec<T>> {
    (1usize..=3).prop_flat_map(|n| (0..n).map(tensor).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every dtype × size × distribution, one to three tensors per file.
    #[test]
    fn round_trip_random_files(tensors in case()) {
        check_round_trip(&tensors, None, C);
    }

    /// Every dtype with each distribution: compressible data of at least a chunk shrinks.
    #[test]
    fn round_trip_one_tensor(dtype in prop::sample::select(Dtype::ALL.to_vec()), symbols in symbols(), dist in dist(), seed in any::<u64>()) {
        let n = elements_for_symbols(dtype, symbols);
        let t = T::new("w", dtype, &[n], dist.bytes(dtype, n, seed));
        let source = source_of(std::slice::from_ref(&t), None);
        let size = check_round_trip(std::slice::from_ref(&t), None, C);
        let planes_bytes = t.bytes.len();
        let spread_ok = !matches!(dist, Dist::Peaked(s) if s > 32);
        if dist.compressible() && spread_ok && planes_bytes as u64 >= C * dtype.bytes_for(1).unwrap() {
            prop_assert!(size < source.len(), "{dtype} {dist:?} {symbols} symbols: {size} >= {}", source.len());
        }
    }
}

/// Every dtype is exercised through the planes path (at least one rANS plane) by weight-like
/// data of two chunks, and decodes exactly.
#[test]
fn every_dtype_takes_the_planes_path() {
    for (k, &d) in Dtype::ALL.iter().enumerate() {
        let n = elements_for_symbols(d, 2 * C + 1);
        let t = T::new("w", d, &[n], weight_like(d, n, k as u64));
        check_round_trip(std::slice::from_ref(&t), None, C);
        let a = Archive::from_bytes(encode(&source_of(&[t], None), C)).unwrap();
        assert_eq!(a.tensors()[0].encoding, Encoding::Planes, "{d}");
    }
}
