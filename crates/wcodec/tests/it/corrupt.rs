//! Golden-reject: every crafted file in `testdata/reject/` fails with its *specific* error, at
//! the stage where the format says it must be caught (opening the file, or decoding).

use std::collections::BTreeSet;

use wcodec::{Archive, Error};

use crate::common::decode_all;
use crate::fixtures::{reject_cases, testdata};

/// Where a file must fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// `Archive::from_bytes` rejects it.
    Open,
    /// It opens; decoding a tensor or rebuilding the source fails.
    Decode,
}

/// The error a file must produce.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Want {
    /// `Error::NotWcodec`.
    NotWcodec,
    /// `Error::Truncated` with `expected > found`.
    Truncated,
    /// `Error::UnsupportedVersion { found, supported: 2 }`.
    Version(u32),
    /// `Error::Corrupt` whose text contains this.
    Corrupt(&'static str),
    /// `Error::CorruptTensor` naming the tensor, detail containing the text.
    Tensor(&'static str, &'static str),
    /// `Error::Checksum` naming the tensor.
    Checksum(&'static str),
    /// `Error::InvalidInput` whose text contains this.
    InvalidInput(&'static str),
}

use Stage::{Decode, Open};
use Want::{Checksum, Corrupt, InvalidInput, NotWcodec, Tensor, Truncated, Version};

/// File (in `testdata/reject/`, without `.wcodec`) → stage and error.
pub(crate) const EXPECTED: &[(&str, Stage, Want)] = &[
    // Preamble (format.md §2, checked in this order).
    ("bad_magic", Open, NotWcodec),
    ("version_3", Open, Version(3)),
    ("version_0", Open, Version(0)),
    ("nonzero_flags", Open, Corrupt("unknown flags 0x1")),
    (
        "preamble_checksum",
        Open,
        Corrupt("preamble checksum mismatch"),
    ),
    ("truncated", Open, Truncated),
    ("truncated_preamble", Open, Truncated),
    (
        "trailing_bytes",
        Open,
        Corrupt("3 unexpected bytes after the end of the file"),
    ),
    ("header_offset_in_preamble", Open, Corrupt("header at 32 ")),
    // Header container.
    ("header_checksum", Open, Corrupt("header checksum mismatch")),
    (
        "header_not_deflate",
        Open,
        Corrupt("header does not inflate"),
    ),
    ("header_size_mismatch", Open, Corrupt("preamble says")),
    (
        "header_over_cap",
        Open,
        Corrupt("exceeds the 100000000-byte limit"),
    ),
    ("header_not_json", Open, Corrupt("header JSON")),
    (
        "header_unknown_dtype",
        Open,
        Corrupt("unsupported dtype `Q4`"),
    ),
    (
        "header_version_mismatch",
        Open,
        Corrupt("header version 2 differs from preamble version 1"),
    ),
    // Tensor table (§3.2).
    ("duplicate_name", Open, Tensor("a", "duplicate tensor name")),
    (
        "raw_bytes_vs_shape",
        Open,
        Tensor("r", "raw_bytes 16 does not match U8 of shape [17]"),
    ),
    ("shape_overflow", Open, Tensor("r", "shape overflows")),
    (
        "misaligned_region",
        Open,
        Tensor("a", "misaligned or overlaps"),
    ),
    (
        "overlapping_regions",
        Open,
        Tensor("z", "misaligned or overlaps"),
    ),
    (
        "region_past_payload",
        Open,
        Tensor("z", "runs past the payload"),
    ),
    (
        "raw_region_size",
        Open,
        Tensor("r", "raw region size differs from raw_bytes"),
    ),
    (
        "plane_outside_region",
        Open,
        Tensor(
            "a",
            "plane 0 is misaligned, lies outside its region or overlaps",
        ),
    ),
    (
        "bad_chunk_symbols",
        Open,
        Tensor("a", "chunk_symbols 5000 is not a power of two"),
    ),
    (
        "missing_chunk_symbols",
        Open,
        Tensor("a", "planes encoding without chunk_symbols"),
    ),
    ("plane_count", Open, Tensor("a", "2 planes, I8 has 1")),
    (
        "plane_too_small",
        Open,
        Tensor("a", "plane 0 of 100 bytes cannot hold 4196 symbols"),
    ),
    (
        "raw_plane_size",
        Open,
        Tensor("a", "cannot hold 4196 symbols"),
    ),
    // Source header (§3.1).
    (
        "source_dtype_mismatch",
        Open,
        Tensor("a", "does not match the source header entry `a`"),
    ),
    (
        "source_extra_tensor",
        Open,
        Corrupt("source header has 4 tensors, the file 3"),
    ),
    ("source_not_json", Open, Corrupt("embedded source header")),
    (
        "source_unknown_format",
        Decode,
        InvalidInput("cannot rebuild a source of format `gguf`"),
    ),
    // Planes (§5.2, §5.3).
    (
        "freq_sum_low",
        Decode,
        Tensor("a", "frequencies do not sum to 4096"),
    ),
    (
        "freq_sum_high",
        Decode,
        Tensor("a", "frequencies exceed 4096"),
    ),
    (
        "chunk_size_odd",
        Decode,
        Tensor("a", "chunk 0 has invalid size"),
    ),
    (
        "chunk_size_not_smaller",
        Decode,
        Tensor("a", "chunk 0 has invalid size 4097 for 4096 symbols"),
    ),
    (
        "chunk_past_plane",
        Decode,
        Tensor("a", "chunk 1 runs past the plane"),
    ),
    (
        "plane_trailing_bytes",
        Decode,
        Tensor("a", "plane has 4 trailing bytes"),
    ),
    (
        "chunk_padding",
        Decode,
        Tensor("a", "non-zero padding before chunk 1"),
    ),
    // rANS streams (§5.4).
    (
        "rans_state_low",
        Decode,
        Tensor("z", "chunk 0: rANS lane state below the lower bound"),
    ),
    (
        "rans_ends_early",
        Decode,
        Tensor("z", "chunk 0: rANS stream ends early"),
    ),
    (
        "rans_trailing_words",
        Decode,
        Tensor("z", "chunk 0: rANS stream has trailing words"),
    ),
    (
        "rans_final_state",
        Decode,
        Tensor("z", "chunk 0: rANS lane did not end in its initial state"),
    ),
    // Tensor checksums (§3.2).
    ("checksum_raw_tensor", Decode, Checksum("r")),
    ("checksum_raw_chunk", Decode, Checksum("a")),
    ("checksum_recorded", Decode, Checksum("z")),
    // Tiled planes (§6), from the version-2 base file.
    (
        "tile_size_65",
        Open,
        Tensor("t", "tile_size 65 is not in [4, 64]"),
    ),
    (
        "tile_size_3",
        Open,
        Tensor("t", "tile_size 3 is not in [4, 64]"),
    ),
    (
        "tiles_in_version_1",
        Open,
        Tensor("t", "tiled planes in a version 1 file"),
    ),
    (
        "tile_size_without_tiles",
        Open,
        Tensor("t", "tile_size without a tiled plane"),
    ),
    (
        "tiled_plane_without_tile_size",
        Open,
        Tensor("t", "tiled plane without tile_size"),
    ),
    (
        "tile_mode_plane_short",
        Open,
        Tensor("t", "mode plane 0 of 15 bytes cannot hold 16 symbols"),
    ),
    (
        "tile_mode_plane_overlap",
        Open,
        Tensor(
            "t",
            "plane 0 is misaligned, lies outside its region or overlaps",
        ),
    ),
    (
        "tile_mode_15",
        Decode,
        Tensor("t", "tile 3 has invalid mode id 15"),
    ),
    (
        "tile_mode_255",
        Decode,
        Tensor("t", "tile 0 has invalid mode id 255"),
    ),
    ("tile_mode_changed", Decode, Checksum("t")),
];

fn matches(e: &Error, want: Want) -> bool {
    match (want, e) {
        (NotWcodec, Error::NotWcodec { .. }) => true,
        (Truncated, Error::Truncated { expected, found }) => expected > found,
        (Version(v), Error::UnsupportedVersion { found, supported }) => {
            *found == v && *supported == 2
        }
        (Corrupt(text), Error::Corrupt(detail))
        | (InvalidInput(text), Error::InvalidInput(detail)) => detail.contains(text),
        (Tensor(name, text), Error::CorruptTensor { tensor, detail }) => {
            tensor == name && detail.contains(text)
        }
        (
            Checksum(name),
            Error::Checksum {
                tensor,
                computed,
                expected,
            },
        ) => tensor == name && computed != expected,
        _ => false,
    }
}

/// Checks one file against its expectation; returns a description of any failure.
fn check(name: &str, bytes: Vec<u8>, stage: Stage, want: Want) -> Result<(), String> {
    let opened = Archive::from_bytes(bytes.clone());
    let err = match (stage, opened) {
        (Open, Err(e)) => e,
        (Open, Ok(_)) => {
            return Err(format!(
                "{name}: opened, but must fail to open with {want:?}"
            ))
        }
        (Decode, Err(e)) => {
            return Err(format!(
                "{name}: failed to open ({e}), must fail only when decoded with {want:?}"
            ))
        }
        (Decode, Ok(_)) => match decode_all(bytes) {
            Err(e) => e,
            Ok(_) => return Err(format!("{name}: decoded without error, expected {want:?}")),
        },
    };
    if !matches(&err, want) {
        return Err(format!("{name}: got `{err}` ({err:?}), expected {want:?}"));
    }
    // Messages follow the crate's style: lowercase start, no trailing period.
    let text = err.to_string();
    if text.ends_with('.') || text.starts_with(|c: char| c.is_uppercase()) {
        return Err(format!("{name}: message style: `{text}`"));
    }
    Ok(())
}

/// Every committed reject file fails with its error.
#[test]
fn committed_reject_files_fail_with_their_error() {
    let dir = testdata().join("reject");
    let mut failures = Vec::new();
    for &(name, stage, want) in EXPECTED {
        let path = dir.join(format!("{name}.wcodec"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run the bless command in testdata/README.md)",
                path.display()
            )
        });
        if let Err(msg) = check(name, bytes, stage, want) {
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} reject files misbehave:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The generator's current output fails the same way (so re-blessing keeps every case
/// meaningful), and the table, the generator and the directory list the same files.
#[test]
fn generated_reject_files_fail_with_their_error() {
    let cases = reject_cases();
    let generated: BTreeSet<&str> = cases.iter().map(|c| c.0).collect();
    let expected: BTreeSet<&str> = EXPECTED.iter().map(|e| e.0).collect();
    assert_eq!(
        generated, expected,
        "generator and EXPECTED table list different files"
    );
    assert_eq!(
        generated.len(),
        cases.len(),
        "duplicate names in the generator"
    );
    let on_disk: BTreeSet<String> = std::fs::read_dir(testdata().join("reject"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    let want: BTreeSet<String> = expected.iter().map(|n| format!("{n}.wcodec")).collect();
    assert_eq!(
        on_disk, want,
        "testdata/reject holds other files than the table"
    );
    let mut failures = Vec::new();
    for (name, _, bytes) in cases {
        let &(_, stage, want) = EXPECTED.iter().find(|e| e.0 == name).unwrap();
        if let Err(msg) = check(name, bytes, stage, want) {
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} generated files misbehave:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The rendering of an expectation for `testdata/reject/README.md`.
pub(crate) fn describe(stage: Stage, want: Want) -> String {
    let what = match want {
        NotWcodec => "`Error::NotWcodec`".to_owned(),
        Truncated => "`Error::Truncated`".to_owned(),
        Version(v) => format!("`Error::UnsupportedVersion` (found {v})"),
        Corrupt(t) => format!("`Error::Corrupt` “{t}”"),
        Tensor(n, t) => format!("`Error::CorruptTensor` `{n}`: “{t}”"),
        Checksum(n) => format!("`Error::Checksum` `{n}`"),
        InvalidInput(t) => format!("`Error::InvalidInput` “{t}”"),
    };
    let at = match stage {
        Open => "open",
        Decode => "decode",
    };
    format!("{at} | {what}")
}
