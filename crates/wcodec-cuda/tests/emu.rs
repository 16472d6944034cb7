//! The kernels under host warp emulation (`tests/emu/`): the CUDA source compiled as C++20 with
//! one thread per CUDA thread, driven by the same plans as the GPU path. Runs without a GPU;
//! skips when no C++ compiler (`c++`, or `CXX`) is found.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::Backend;
use wcodec::Archive;
use wcodec_cuda::emulation::record;
use wcodec_cuda::{DecodeParams, DeviceJob};

const STAGING_BASE: u64 = 0x3000_0000_0000;
const VERIFY_BASE: u64 = 0x3100_0000_0000;
const DST_BASE: u64 = 0x3200_0000_0000;
const SCRATCH_BASE: u64 = 0x3300_0000_0000;
/// H100's dynamic shared memory per block.
const MAX_SMEM: u32 = 227 * 1024;

/// Builds the harness once per source version: test processes run in parallel (nextest), so
/// the binary is named by a hash of its sources and moved into place atomically.
fn harness() -> Option<&'static Path> {
    static HARNESS: OnceLock<Option<PathBuf>> = OnceLock::new();
    HARNESS
        .get_or_init(|| {
            let emu_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/emu");
            let kernels = wcodec_cuda::emulation_source();
            let mut keyed = kernels.clone().into_bytes();
            for f in ["harness.cpp", "emu.h"] {
                keyed.extend(std::fs::read(emu_dir.join(f)).ok()?);
            }
            let key = xxhash_rust::xxh3::xxh3_64(&keyed);
            let dir =
                PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("wcodec-emu-{key:016x}"));
            let exe = dir.join("harness");
            if exe.exists() {
                return Some(exe);
            }
            std::fs::create_dir_all(&dir).ok()?;
            let src = dir.join(format!("kernels_emu.cu.{}", std::process::id()));
            std::fs::write(&src, &kernels).ok()?;
            let inc = dir.join(format!("inc.{}", std::process::id()));
            std::fs::create_dir_all(&inc).ok()?;
            std::fs::rename(&src, inc.join("kernels_emu.cu")).ok()?;
            let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
            let tmp_exe = dir.join(format!("harness.{}", std::process::id()));
            let out = Command::new(&cxx)
                .args([
                    "-std=c++20",
                    "-O2",
                    "-pthread",
                    "-Wall",
                    "-Wno-unknown-pragmas",
                ])
                .arg("-I")
                .arg(&inc)
                .arg("-I")
                .arg(&emu_dir)
                .arg(emu_dir.join("harness.cpp"))
                .arg("-o")
                .arg(&tmp_exe)
                .output();
            let _ = std::fs::remove_dir_all(&inc);
            match out {
                Err(e) => {
                    eprintln!("skipping the emulation tests: no C++ compiler `{cxx}` ({e})");
                    None
                }
                Ok(o) if !o.status.success() => panic!(
                    "the kernels do not compile under emulation:\n{}",
                    String::from_utf8_lossy(&o.stderr)
                ),
                Ok(_) => {
                    std::fs::rename(&tmp_exe, &exe).ok()?;
                    Some(exe)
                }
            }
        })
        .as_deref()
}

struct Emulator {
    exe: &'static Path,
}

impl Backend for Emulator {
    fn decode_all(
        &self,
        archive: &Archive,
        params: &DecodeParams,
    ) -> (wcodec_cuda::Result<()>, Vec<Vec<u8>>) {
        let mut jobs = Vec::new();
        let mut ranges = Vec::new();
        let mut at = DST_BASE;
        for (i, t) in archive.tensors().iter().enumerate() {
            jobs.push(DeviceJob {
                tensor: i,
                dst: at,
                dst_bytes: t.raw_bytes,
            });
            ranges.push((at, t.raw_bytes));
            at = (at + t.raw_bytes + 1).next_multiple_of(256);
        }
        let mapped: Vec<(u64, u64)> = vec![(DST_BASE, (at - DST_BASE).max(4096))];
        let rec = match record(
            archive,
            &jobs,
            params,
            STAGING_BASE,
            VERIFY_BASE,
            SCRATCH_BASE,
            MAX_SMEM,
            &mapped,
        ) {
            Ok(r) => r,
            Err(e) => return (Err(e), vec![Vec::new(); jobs.len()]),
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let prog = dir.path().join("program");
        let out = dir.path().join("output");
        std::fs::write(&prog, rec.program()).expect("write program");
        let status = Command::new(self.exe)
            .arg(&prog)
            .arg(&out)
            .status()
            .expect("run the harness");
        assert!(
            status.success(),
            "the emulated kernels crashed or failed: {status}"
        );
        let output = std::fs::read(&out).expect("output");
        let (result, dsts) = rec.finish(&output);
        let arena = &dsts[0];
        let got = ranges
            .iter()
            .map(|&(a, l)| arena[(a - DST_BASE) as usize..(a - DST_BASE + l) as usize].to_vec())
            .collect();
        (result, got)
    }
}

fn emulator() -> Option<Emulator> {
    harness().map(|exe| Emulator { exe })
}

#[test]
fn golden_files_match_the_cpu_decoder() {
    let Some(b) = emulator() else { return };
    common::golden(&b, &DecodeParams::default());
}

#[test]
fn round_trips_match_the_cpu_decoder() {
    let Some(b) = emulator() else { return };
    common::round_trips(&b, &DecodeParams::default(), 1);
}

#[test]
fn one_chunk_per_block_and_small_batches() {
    let Some(b) = emulator() else { return };
    let params = DecodeParams {
        chunks_per_block: 1,
        staging_bytes: 1 << 20,
        ..DecodeParams::default()
    };
    common::golden(&b, &params);
}

#[test]
fn corrupt_files_fail_exactly_when_the_cpu_fails() {
    let Some(b) = emulator() else { return };
    let file = common::corrupt_sweep_file();
    let (tried, rejected) = common::corrupt_sweep(&b, &DecodeParams::default(), &file, 48);
    eprintln!("{tried} corrupt variants, {rejected} rejected by both decoders");
    assert!(rejected > 0);
}

#[test]
fn tensors_split_across_batches_and_blocked_checksums() {
    let Some(b) = emulator() else { return };
    // 2.5 MiB of int8 and a 1.5 MiB raw tensor with 1 MiB staging: both are split over several
    // batches, and both take the blocked (over 1 MiB) checksum.
    let file = common::encode(
        &[
            ("big_int8", wcodec::Dtype::I8, 5 << 19, 21),
            ("noise_big", wcodec::Dtype::U8, 3 << 19, 22),
            ("bf16", wcodec::Dtype::BF16, 300_000, 23),
        ],
        16384,
    );
    let archive = Archive::from_bytes(file).expect("opens");
    let params = DecodeParams {
        staging_bytes: 1 << 20,
        chunks_per_block: 8,
        ..DecodeParams::default()
    };
    let (result, got) = b.decode_all(&archive, &params);
    common::assert_matches_cpu("split batches", &archive, &result, &got);
}

#[test]
fn tiled_tensors_match_the_cpu_decoder() {
    let Some(b) = emulator() else { return };
    common::tiled_round_trips(&b, &DecodeParams::default(), 1);
}

#[test]
fn a_bad_mode_id_names_the_tensor_plane_and_tile() {
    let Some(b) = emulator() else { return };
    let (mut file, at) = common::raw_mode_plane_file();
    file[at as usize + 37] = 15;
    file[at as usize + 50] = 200;
    let archive = Archive::from_bytes(file).expect("opens");
    assert!(archive.decode(0).is_err(), "the CPU decoder rejects it");
    let (result, _) = b.decode_all(&archive, &DecodeParams::default());
    match result {
        Err(wcodec_cuda::Error::CorruptTile {
            tensor,
            plane,
            tile,
        }) => {
            assert_eq!((tensor.as_str(), plane, tile), ("smooth", 0, 37));
        }
        other => panic!("expected a bad tile mode, got {other:?}"),
    }
}

#[test]
fn corrupt_tiled_files_fail_exactly_when_the_cpu_fails() {
    let Some(b) = emulator() else { return };
    let file = common::encode_tiled(
        &[
            ("int8", wcodec::Dtype::I8, 40, 129, 11),
            ("bf16", wcodec::Dtype::BF16, 33, 100, 12),
        ],
        4096,
        8,
    );
    let (tried, rejected) = common::corrupt_sweep(&b, &DecodeParams::default(), &file, 40);
    eprintln!("{tried} corrupt tiled variants, {rejected} rejected by both decoders");
    assert!(rejected > 0);
}

#[test]
fn many_tensors_from_a_file_in_small_windows() {
    let Some(b) = emulator() else { return };
    common::many_tensors_from_a_file(&b, 240);
}

#[test]
fn a_file_cut_after_opening_names_a_tensor() {
    let Some(b) = emulator() else { return };
    common::a_file_cut_after_opening_names_a_tensor(&b);
}

/// The GPU path applies the core's caller-buffer rules (`wcodec::buffer`) before recording or
/// launching anything: the same refusals as the CPU decoder and the C ABI. Pure Rust, so it runs
/// without the harness.
#[test]
fn overlapping_or_wrong_sized_destinations_are_refused() {
    let archive = Archive::from_bytes(common::golden_files().remove(0).1).expect("opens");
    let t: Vec<u64> = archive.tensors().iter().map(|t| t.raw_bytes).collect();
    assert!(t.len() >= 2 && t[0] > 1 && t[1] > 0, "{t:?}");
    let refused = |jobs: &[DeviceJob]| {
        let mapped = [(DST_BASE, 1 << 20)];
        let params = DecodeParams::default();
        let r = record(
            &archive,
            jobs,
            &params,
            STAGING_BASE,
            VERIFY_BASE,
            SCRATCH_BASE,
            MAX_SMEM,
            &mapped,
        );
        match r {
            Err(wcodec_cuda::Error::Format(e)) => e,
            Err(e) => panic!("not the core's refusal: {e:?}"),
            Ok(_) => panic!("accepted {jobs:?}"),
        }
    };
    let job = |tensor, dst, dst_bytes| DeviceJob {
        tensor,
        dst,
        dst_bytes,
    };
    // The second destination starts on the first one's last byte.
    let e = refused(&[job(0, DST_BASE, t[0]), job(1, DST_BASE + t[0] - 1, t[1])]);
    assert!(matches!(e, wcodec::Error::InvalidInput(_)), "{e:?}");
    assert!(
        e.to_string()
            .contains("destinations of jobs 0 and 1 overlap"),
        "{e}"
    );
    let e = refused(&[job(0, DST_BASE, t[0] - 1)]);
    assert!(matches!(e, wcodec::Error::BufferSize { .. }), "{e:?}");
    let e = refused(&[job(0, 0, t[0])]);
    assert!(matches!(e, wcodec::Error::InvalidInput(_)), "{e:?}");
}
