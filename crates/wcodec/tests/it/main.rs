//! One integration-test binary for the core (ripgrep's layout): modules by concern.
//!
//! * `roundtrip` — seed table of edge cases, then proptest over dtypes × sizes × distributions;
//! * `oracle` — fast rANS coder == the spec-literal `rans::naive` coder, on valid and broken streams;
//! * `determinism` — identical bytes across runs and rayon pool sizes;
//! * `golden` — committed files in `testdata/golden` decode, and the encoder reproduces them;
//! * `corrupt` — crafted files in `testdata/reject` fail with their specific error;
//! * `sweep` — every truncation and bit flip of every golden file is an error, never a panic;
//! * `api` — misuse of the public API returns the documented error variants;
//! * `file_errors` — errors about a file name it and say what to do; directory index layouts;
//! * `load` — bulk loads through positional reads in windows == tensor-by-tensor decoding;
//! * `tiles` — the tile toolset: oracle, invertibility of every mode, gains and no losses.
//! * `slices` — partial decodes of a byte range == the same range of the full decode.
//!
//! `fixtures` generates `testdata/` (`WCODEC_BLESS=1 cargo test -p wcodec --test it -- --ignored bless_golden`).

// Test data generators reinterpret bytes as signed values on purpose.
#![allow(clippy::cast_possible_wrap)]

mod api;
mod common;
mod corrupt;
mod determinism;
mod file_errors;
mod fixtures;
mod golden;
mod load;
mod oracle;
mod roundtrip;
mod slices;
mod sweep;
mod tiles;
