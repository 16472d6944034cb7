//! Golden-accept: the committed files in `testdata/golden/` decode to their sources byte for
//! byte, and the current encoder reproduces them, so any change to the bytes the encoder writes
//! is deliberate (re-bless, and bump the format version if old files stop decoding).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use wcodec::format::header::{Encoding, Header};
use wcodec::plane_coding::Coder;
use wcodec::source::safetensors;
use wcodec::tile::Mode;
use wcodec::{Archive, Dtype};

use crate::common::{decode_all, encode_with, RansLayout};
use crate::corrupt::{describe, EXPECTED};
use crate::fixtures::{golden_cases, reject_cases, testdata};

/// Regeneration command, quoted in the READMEs.
const BLESS: &str = "WCODEC_BLESS=1 cargo test -p wcodec --test it -- --ignored bless_golden";
/// Cap on everything under `testdata/` (raised from 200 KiB with format version 2's tiled
/// golden and reject files).
const MAX_TESTDATA_BYTES: u64 = 320 * 1024;

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e} (regenerate with `{BLESS}`)", path.display()))
}

fn golden(name: &str, ext: &str) -> Vec<u8> {
    read(&testdata().join("golden").join(format!("{name}.{ext}")))
}

/// Every golden file decodes to its committed source, byte for byte, tensor by tensor.
#[test]
fn golden_files_decode_to_their_sources() {
    for case in golden_cases() {
        let source = golden(case.name, "safetensors");
        let file = golden(case.name, "wcodec");
        let rebuilt = decode_all(file.clone()).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(
            rebuilt == source,
            "{}: rebuilt file differs from the source",
            case.name
        );
        let st = safetensors::parse(&source).unwrap();
        let archive = Archive::from_bytes(file).unwrap();
        assert_eq!(archive.tensors().len(), st.tensors.len());
        for t in &st.tensors {
            let got = archive.decode(archive.find(&t.name).unwrap()).unwrap();
            assert!(
                got[..] == st.data[t.begin as usize..t.end as usize],
                "{}: tensor `{}`",
                case.name,
                t.name
            );
        }
    }
}

/// The generator still makes the committed sources (they are not hand-edited).
#[test]
fn generator_reproduces_the_golden_sources() {
    for case in golden_cases() {
        assert!(
            golden(case.name, "safetensors") == case.source,
            "{}: generator output differs from testdata",
            case.name
        );
    }
}

/// The header with the fields that legitimately change without a format change normalised:
/// the encoder's name and version.
fn normalised(h: &Header) -> serde_json::Value {
    let mut h = h.clone();
    h.encoder = String::new();
    serde_json::to_value(&h).unwrap()
}

/// The current encoder writes the same payload bytes and the same header JSON (encoder name
/// aside) as the committed file. The DEFLATE bytes of the header are not compared: they belong
/// to miniz_oxide's version, not to the format.
#[test]
fn encoder_reproduces_the_golden_files() {
    for case in golden_cases() {
        let committed = golden(case.name, "wcodec");
        let fresh = encode_with(&golden(case.name, "safetensors"), &case.options);
        let (a, b) = (
            Archive::from_bytes(committed.clone()).unwrap(),
            Archive::from_bytes(fresh.clone()).unwrap(),
        );
        // The header follows the last region directly.
        let payload_end = |x: &Archive| {
            x.tensors()
                .iter()
                .map(|t| (t.offset + t.stored_bytes) as usize)
                .max()
                .unwrap_or(64)
        };
        assert_eq!(
            payload_end(&a),
            payload_end(&b),
            "{}: payload size changed",
            case.name
        );
        assert!(
            committed[8..16] == fresh[8..16],
            "{}: version or flags changed",
            case.name
        );
        assert!(
            committed[64..payload_end(&a)] == fresh[64..payload_end(&b)],
            "{}: payload bytes changed",
            case.name
        );
        assert_eq!(
            normalised(a.header()),
            normalised(b.header()),
            "{}: header changed",
            case.name
        );
    }
}

/// Together the golden files cover every feature of format v1 they are meant to.
#[test]
fn golden_files_cover_the_format() {
    let mut dtypes = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut modes = BTreeSet::new();
    for case in golden_cases() {
        let file = golden(case.name, "wcodec");
        let a = Archive::from_bytes(file.clone()).unwrap();
        seen.insert(if a.header().version == 1 {
            "version 1"
        } else {
            "version 2"
        });
        for (i, t) in a.tensors().iter().enumerate() {
            let Some(grid) = t.tile_grid() else {
                if a.header().version == 2 && t.encoding == Encoding::Planes {
                    seen.insert("flat tensor in a version 2 file");
                }
                continue;
            };
            if grid.rows % grid.tile != 0 || grid.cols % grid.tile != 0 {
                seen.insert("partial edge tiles");
            }
            if grid.rows == 1 {
                seen.insert("1-D tiled tensor");
            }
            if t.planes.len() > 1 {
                seen.insert("tiled multi-plane tensor");
            }
            for p in t.planes.iter().filter_map(|p| p.modes.as_ref()) {
                seen.insert(match p.coder {
                    Coder::Raw => "raw mode plane",
                    Coder::Rans => "rANS mode plane",
                });
            }
            for counts in a.tile_modes(i).unwrap().into_iter().flatten() {
                for (id, &n) in counts.iter().enumerate() {
                    if n > 0 {
                        let m = Mode::from_id(id as u8).unwrap();
                        modes.insert(m.predictor.to_string());
                        modes.insert(m.transform.to_string() + " transform");
                    }
                }
            }
        }
        if a.header().source.header.contains("\"__metadata__\"") {
            seen.insert("__metadata__");
        }
        for t in a.tensors() {
            dtypes.insert(t.dtype.name());
            if t.raw_bytes == 0 {
                seen.insert("zero-size tensor");
            }
            if t.shape.is_empty() {
                seen.insert("scalar");
            }
            if case.name == "all_dtypes" {
                assert_eq!(
                    t.encoding,
                    Encoding::Planes,
                    "all_dtypes: `{}` should take the planes path",
                    t.name
                );
            }
            match t.encoding {
                Encoding::Raw => {
                    if t.raw_bytes > 0 {
                        seen.insert("raw tensor");
                    }
                }
                Encoding::Planes => {
                    let c = t.chunk_symbols.unwrap();
                    if c == 4096 {
                        seen.insert("chunk_symbols 4096");
                    }
                    let n = t.plane_symbols();
                    if n == c {
                        seen.insert("tensor of exactly one chunk");
                    }
                    if t.dtype.plane_layout().n_planes() > 1
                        && t.planes.iter().any(|p| p.coder == Coder::Raw)
                    {
                        seen.insert("raw plane beside a rANS plane");
                    }
                    for p in t.planes.iter().filter(|p| p.coder == Coder::Rans) {
                        seen.insert("rANS plane");
                        let l = RansLayout::of(
                            &file[p.offset as usize..(p.offset + p.bytes) as usize],
                            n as usize,
                            c as usize,
                        );
                        if l.chunks.len() > 1 {
                            seen.insert("several chunks");
                        }
                        if l.chunks.iter().any(|&(_, size, m)| size == m) {
                            seen.insert("raw chunk in a rANS plane");
                        }
                        if l.chunks
                            .iter()
                            .any(|&(_, size, m)| size != m && size % 4 != 0)
                        {
                            seen.insert("chunk padding");
                        }
                    }
                }
            }
        }
    }
    let all: BTreeSet<&str> = Dtype::ALL.iter().map(|d| d.name()).collect();
    assert_eq!(dtypes, all, "golden files miss dtypes");
    for m in [
        "none",
        "left",
        "top",
        "avg",
        "planar",
        "dct transform",
        "adst transform",
    ] {
        assert!(modes.contains(m), "no golden tile uses {m}: {modes:?}");
    }
    let want = [
        "version 1",
        "version 2",
        "flat tensor in a version 2 file",
        "partial edge tiles",
        "1-D tiled tensor",
        "tiled multi-plane tensor",
        "raw mode plane",
        "rANS mode plane",
        "__metadata__",
        "zero-size tensor",
        "scalar",
        "raw tensor",
        "rANS plane",
        "raw plane beside a rANS plane",
        "raw chunk in a rANS plane",
        "several chunks",
        "chunk padding",
        "chunk_symbols 4096",
        "tensor of exactly one chunk",
    ];
    for w in want {
        assert!(seen.contains(w), "no golden file has a {w}");
    }
}

/// `testdata/` holds exactly the generated files (and the READMEs), within the size cap, and
/// the generated READMEs are current.
#[test]
fn testdata_is_complete_and_small() {
    let mut want: BTreeSet<String> = golden_cases()
        .iter()
        .flat_map(|c| {
            [
                format!("golden/{}.safetensors", c.name),
                format!("golden/{}.wcodec", c.name),
            ]
        })
        .collect();
    want.extend(EXPECTED.iter().map(|e| format!("reject/{}.wcodec", e.0)));
    want.extend(["README.md", "golden/README.md", "reject/README.md"].map(String::from));
    let mut found = BTreeSet::new();
    let mut total = 0;
    for sub in ["", "golden", "reject"] {
        for entry in std::fs::read_dir(testdata().join(sub)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                total += entry.metadata().unwrap().len();
                let name = entry.file_name().to_string_lossy().into_owned();
                found.insert(if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                });
            }
        }
    }
    assert_eq!(
        found, want,
        "testdata/ differs from what the generator makes"
    );
    assert!(
        total <= MAX_TESTDATA_BYTES,
        "testdata/ is {total} bytes, over {MAX_TESTDATA_BYTES}"
    );
    let golden_readme = String::from_utf8(read(&testdata().join("golden/README.md"))).unwrap();
    assert_eq!(
        golden_readme,
        golden_readme_text(),
        "golden/README.md is stale"
    );
    let reject_readme = String::from_utf8(read(&testdata().join("reject/README.md"))).unwrap();
    assert_eq!(
        reject_readme,
        reject_readme_text(&reject_cases()),
        "reject/README.md is stale"
    );
}

fn golden_readme_text() -> String {
    let mut s = format!(
        "# Golden files (format versions 1 and 2)\n\n\
         Generated by `crates/wcodec/tests/it/fixtures.rs` (`golden_cases`) from seeded generators; do not\n\
         edit. Each `X.safetensors` is a source file and `X.wcodec` its encoding by the encoder of the\n\
         commit that blessed it. `tests/it/golden.rs` checks that every `.wcodec` decodes to its source\n\
         byte for byte and that the current encoder writes the same payload and header. Files encoded\n\
         with tiles off are format version 1 (they were blessed before version 2 existed and must keep\n\
         decoding); the `tiles_*` files are version 2.\n\n\
         Regenerate (deliberately, and review the diff): `{BLESS}`\n\n\
         | file | version | chunk_symbols | tiles (size / predictors / transforms) | covers | source bytes | source xxh3 |\n|---|---|---|---|---|---|---|\n"
    );
    for c in golden_cases() {
        let version = if c.options.tiles.enabled() { 2 } else { 1 };
        let _ = writeln!(
            s,
            "| `{}` | {version} | {} | {} | {} | {} | `{:016x}` |",
            c.name,
            c.options.chunk_symbols,
            c.tiles_text(),
            c.covers,
            c.source.len(),
            xxhash_rust::xxh3::xxh3_64(&c.source)
        );
    }
    s
}

fn reject_readme_text(cases: &[(&str, &str, Vec<u8>)]) -> String {
    let mut s = format!(
        "# Files every reader must reject (format versions 1 and 2)\n\n\
         Generated by `crates/wcodec/tests/it/fixtures.rs` (`reject_cases`); do not edit. Each file is\n\
         derived from one of two valid base files by the edit listed. Version 1 base (all but the\n\
         `tile_*` files): tensors `r` U8[16] raw; `a` I8[4196] rANS, chunk_symbols 4096, chunk 0 rANS +\n\
         2 padding bytes, chunk 1 raw; `z` I8[512] one rANS chunk, last in the payload. Version 2 base\n\
         (the `tile_*` files): `t` I8[64, 64] in 16 × 16 tiles, a raw mode plane of 16 modes before its\n\
         rANS residual plane; `f` I8[512] flat. Edits behind a checksum are re-sealed (valid preamble and\n\
         header checksums) so each file tests the check it names. `tests/it/corrupt.rs` holds the table\n\
         below and checks the *specific* error and the stage (open = `Archive::from_bytes`, decode =\n\
         decoding a tensor or rebuilding the source).\n\n\
         Regenerate: `{BLESS}`\n\n\
         | file | edit | fails at | error |\n|---|---|---|---|\n"
    );
    for (name, how, _) in cases {
        let &(_, stage, want) = EXPECTED
            .iter()
            .find(|e| e.0 == *name)
            .expect("in the table");
        let _ = writeln!(s, "| `{name}.wcodec` | {how} | {} |", describe(stage, want));
    }
    s
}

/// Rewrites `testdata/golden` and `testdata/reject`. Ignored; run with `WCODEC_BLESS=1`.
#[test]
#[ignore = "rewrites testdata/; run deliberately with WCODEC_BLESS=1"]
fn bless_golden() {
    assert!(
        std::env::var_os("WCODEC_BLESS").is_some_and(|v| v == "1"),
        "set WCODEC_BLESS=1 to rewrite testdata/: {BLESS}"
    );
    let root = testdata();
    for sub in ["golden", "reject"] {
        let dir = root.join(sub);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path
                .extension()
                .is_some_and(|e| e == "wcodec" || e == "safetensors")
            {
                std::fs::remove_file(path).unwrap();
            }
        }
    }
    for case in golden_cases() {
        let dir = root.join("golden");
        std::fs::write(dir.join(format!("{}.safetensors", case.name)), &case.source).unwrap();
        std::fs::write(dir.join(format!("{}.wcodec", case.name)), case.encode()).unwrap();
    }
    std::fs::write(root.join("golden/README.md"), golden_readme_text()).unwrap();
    let cases = reject_cases();
    for (name, _, bytes) in &cases {
        std::fs::write(root.join("reject").join(format!("{name}.wcodec")), bytes).unwrap();
    }
    std::fs::write(root.join("reject/README.md"), reject_readme_text(&cases)).unwrap();
}
