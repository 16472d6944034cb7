//! The GPU decoder on a real device: the shared bodies of `common` (golden files, round trips,
//! corruption sweeps: GPU output equals the CPU decoder's byte for byte) plus what only a device
//! can show (streams, threads, the caller's context). Every test skips with a message when no
//! CUDA driver or device is present.

mod common;

use std::sync::Arc;

use common::Backend;
use wcodec::Archive;
use wcodec_cuda::{CudaDecoder, DecodeParams, DeviceJob, Error, StreamHandle};

fn decoder() -> Option<CudaDecoder> {
    if !wcodec_cuda::is_available() {
        eprintln!("skipping: no CUDA driver or device");
        return None;
    }
    Some(CudaDecoder::new(0).unwrap_or_else(|e| panic!("a device is present but: {e}")))
}

struct Gpu {
    dec: CudaDecoder,
    stream: StreamHandle,
}

fn gpu() -> Option<Gpu> {
    let dec = decoder()?;
    let stream = dec.new_stream().expect("stream");
    Some(Gpu { dec, stream })
}

/// Decodes every tensor of `archive` with `dec` into one poisoned buffer, on `stream`.
fn decode_with(
    dec: &CudaDecoder,
    archive: &Archive,
    stream: u64,
) -> (wcodec_cuda::Result<()>, Vec<Vec<u8>>) {
    let mut jobs = Vec::new();
    let mut at = 0u64;
    for (i, t) in archive.tensors().iter().enumerate() {
        jobs.push((i, at, t.raw_bytes));
        at = (at + t.raw_bytes + 1).next_multiple_of(256);
    }
    let buf = dec.alloc(at as usize).expect("alloc");
    buf.fill(0xA5, stream).expect("poison");
    let jobs: Vec<DeviceJob> = jobs
        .iter()
        .map(|&(tensor, off, bytes)| DeviceJob {
            tensor,
            dst: buf.ptr() + off,
            dst_bytes: bytes,
        })
        .collect();
    let result = dec.decode_tensors(archive, &jobs, stream).map(|_| ());
    let mut all = vec![0u8; at as usize];
    buf.copy_to_host(&mut all, stream).expect("copy back");
    let got = jobs
        .iter()
        .map(|j| {
            let o = (j.dst - buf.ptr()) as usize;
            all[o..o + j.dst_bytes as usize].to_vec()
        })
        .collect();
    (result, got)
}

impl Backend for Gpu {
    fn decode_all(
        &self,
        archive: &Archive,
        params: &DecodeParams,
    ) -> (wcodec_cuda::Result<()>, Vec<Vec<u8>>) {
        self.dec.set_params(params.clone()).expect("params");
        decode_with(&self.dec, archive, self.stream.raw())
    }
}

#[test]
fn golden_files_match_the_cpu_decoder() {
    let Some(g) = gpu() else { return };
    common::golden(&g, &DecodeParams::default());
}

#[test]
fn round_trips_match_the_cpu_decoder() {
    let Some(g) = gpu() else { return };
    common::round_trips(&g, &DecodeParams::default(), 1);
    common::round_trips(&g, &DecodeParams::default(), 40);
}

#[test]
fn tiled_tensors_match_the_cpu_decoder() {
    let Some(g) = gpu() else { return };
    common::tiled_round_trips(&g, &DecodeParams::default(), 1);
    common::tiled_round_trips(&g, &DecodeParams::default(), 30);
    let params = DecodeParams {
        streams: 1,
        chunks_per_block: 1,
        staging_bytes: 1 << 20,
        ..DecodeParams::default()
    };
    common::tiled_round_trips(&g, &params, 30);
}

#[test]
fn a_bad_mode_id_names_the_tensor_plane_and_tile() {
    let Some(g) = gpu() else { return };
    let (mut file, at) = common::raw_mode_plane_file();
    file[at as usize + 37] = 15;
    let archive = Archive::from_bytes(file).unwrap();
    let (result, _) = g.decode_all(&archive, &DecodeParams::default());
    assert!(
        matches!(
            result,
            Err(wcodec_cuda::Error::CorruptTile {
                tile: 37,
                plane: 0,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn corrupt_tiled_files_fail_exactly_when_the_cpu_fails() {
    let Some(g) = gpu() else { return };
    let file = common::encode_tiled(
        &[
            ("int8", wcodec::Dtype::I8, 40, 129, 11),
            ("bf16", wcodec::Dtype::BF16, 33, 100, 12),
        ],
        4096,
        8,
    );
    let flips = std::env::var("WCODEC_CORRUPT_FLIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let (tried, rejected) = common::corrupt_sweep(&g, &DecodeParams::default(), &file, flips);
    assert!(rejected > tried / 2);
}

#[test]
fn every_parameter_setting_gives_the_same_bytes() {
    let Some(g) = gpu() else { return };
    for chunks_per_block in [1, 2, 4, 8] {
        for streams in [1, 2, 4] {
            for staging_bytes in [1 << 20, 64 << 20] {
                let params = DecodeParams {
                    chunks_per_block,
                    streams,
                    staging_bytes,
                    ..DecodeParams::default()
                };
                common::round_trips(&g, &params, 8);
            }
        }
    }
}

#[test]
fn tensors_split_across_batches_and_blocked_checksums() {
    let Some(g) = gpu() else { return };
    let file = common::encode(
        &[
            ("big_int8", wcodec::Dtype::I8, 5 << 20, 21),
            ("noise_big", wcodec::Dtype::U8, 3 << 19, 22),
            ("bf16", wcodec::Dtype::BF16, 3_000_000, 23),
            ("f32", wcodec::Dtype::F32, 1_000_000, 24),
        ],
        16384,
    );
    let archive = Archive::from_bytes(file).expect("opens");
    for streams in [1, 3] {
        let params = DecodeParams {
            staging_bytes: 1 << 20,
            streams,
            ..DecodeParams::default()
        };
        let (result, got) = g.decode_all(&archive, &params);
        common::assert_matches_cpu("split batches", &archive, &result, &got);
    }
}

#[test]
fn corrupt_files_fail_exactly_when_the_cpu_fails() {
    let Some(g) = gpu() else { return };
    let file = common::corrupt_sweep_file();
    // WCODEC_CORRUPT_FLIPS shortens the sweep (e.g. under compute-sanitizer).
    let flips = std::env::var("WCODEC_CORRUPT_FLIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let (tried, rejected) = common::corrupt_sweep(&g, &DecodeParams::default(), &file, flips);
    assert!(rejected > tried / 2);
    // Without checksums only the rANS checks remain: never a crash, and every failure is one
    // the CPU also reports.
    let params = DecodeParams {
        verify_checksums: false,
        ..DecodeParams::default()
    };
    let original = Archive::from_bytes(file.clone()).unwrap();
    let end = original
        .tensors()
        .iter()
        .map(|t| t.offset + t.stored_bytes)
        .max()
        .unwrap();
    for i in 0..(flips as u64 / 2) {
        let pos = 64 + (i * 104_729) % (end - 64);
        let mut bad = file.clone();
        bad[pos as usize] ^= 1 << (i % 8);
        let Ok(archive) = Archive::from_bytes(bad) else {
            continue;
        };
        let (result, _) = g.decode_all(&archive, &params);
        if result.is_err() {
            assert!((0..archive.tensors().len()).any(|t| archive.decode(t).is_err()));
        }
    }
}

#[test]
fn several_threads_decode_at_once() {
    let Some(dec) = decoder() else { return };
    let dec = Arc::new(dec);
    let files: Vec<Vec<u8>> = (0..4u64)
        .map(|s| {
            common::encode(
                &[
                    ("a", wcodec::Dtype::BF16, 200_000 + s as usize, s),
                    ("b", wcodec::Dtype::I8, 300_000, s + 10),
                ],
                16384,
            )
        })
        .collect();
    std::thread::scope(|scope| {
        for f in &files {
            let dec = Arc::clone(&dec);
            scope.spawn(move || {
                let archive = Archive::from_bytes(f.clone()).unwrap();
                let stream = dec.new_stream().unwrap();
                for _ in 0..5 {
                    let (result, got) = decode_with(&dec, &archive, stream.raw());
                    common::assert_matches_cpu("thread", &archive, &result, &got);
                }
            });
        }
    });
}

#[test]
fn the_callers_current_context_is_left_alone() {
    let Some(g) = gpu() else { return };
    std::thread::spawn(move || {
        let before = wcodec_cuda::current_context().unwrap();
        assert_eq!(before, 0, "a fresh thread has no current context");
        let archive = Archive::from_bytes(common::golden_files().remove(0).1).unwrap();
        let (result, _) = g.decode_all(&archive, &DecodeParams::default());
        result.unwrap();
        assert_eq!(wcodec_cuda::current_context().unwrap(), before);
    })
    .join()
    .unwrap();
}

#[test]
fn wrong_buffers_are_rejected_before_any_launch() {
    let Some(dec) = decoder() else { return };
    let archive = Archive::from_bytes(common::corrupt_sweep_file()).unwrap();
    let t = &archive.tensors()[1];
    let buf = dec.alloc(t.raw_bytes as usize).unwrap();
    let job = |dst, dst_bytes| DeviceJob {
        tensor: 1,
        dst,
        dst_bytes,
    };
    let e = dec.decode_tensors(&archive, &[job(buf.ptr(), t.raw_bytes - 2)], 0);
    assert!(
        matches!(e, Err(Error::Format(wcodec::Error::BufferSize { .. }))),
        "{e:?}"
    );
    let e = dec.decode_tensors(&archive, &[job(buf.ptr() + 1, t.raw_bytes)], 0);
    assert!(
        matches!(e, Err(Error::InvalidArgument(_))),
        "misaligned: {e:?}"
    );
    let big = dec.alloc(4 << 20).unwrap();
    let e = dec.decode_tensors(&archive, &[job(big.ptr() + (4 << 20) - 64, t.raw_bytes)], 0);
    assert!(
        matches!(e, Err(Error::InvalidArgument(_))),
        "past the allocation: {e:?}"
    );
    let host = [0u8; 16];
    let e = dec.decode_tensors(&archive, &[job(host.as_ptr() as u64, t.raw_bytes)], 0);
    assert!(
        matches!(e, Err(Error::InvalidArgument(_))),
        "host pointer: {e:?}"
    );
    let e = dec.decode_tensors(
        &archive,
        &[DeviceJob {
            tensor: 99,
            dst: buf.ptr(),
            dst_bytes: 1,
        }],
        0,
    );
    assert!(e.is_err());
}

#[test]
fn overlapping_batch_destinations_are_refused() {
    let Some(dec) = decoder() else { return };
    let archive = Archive::from_bytes(common::golden_files().remove(0).1).unwrap();
    let t: Vec<u64> = archive.tensors().iter().map(|t| t.raw_bytes).collect();
    let buf = dec.alloc((t[0] + t[1]) as usize).unwrap();
    let jobs = [
        DeviceJob {
            tensor: 0,
            dst: buf.ptr(),
            dst_bytes: t[0],
        },
        // Starts on the first destination's last byte (aligned for any dtype's words when
        // the first tensor's size is: shifted down to the word below it).
        DeviceJob {
            tensor: 1,
            dst: buf.ptr() + (t[0] - 1) / 8 * 8,
            dst_bytes: t[1],
        },
    ];
    let e = dec.decode_tensors(&archive, &jobs, 0);
    match e {
        Err(Error::Format(wcodec::Error::InvalidInput(m))) => {
            assert!(m.contains("destinations of jobs 0 and 1 overlap"), "{m}");
        }
        other => panic!("expected an overlap refusal, got {other:?}"),
    }
}

#[test]
fn no_driver_is_an_error_not_a_panic() {
    if wcodec_cuda::is_available() {
        return;
    }
    let e = CudaDecoder::new(0).expect_err("no device");
    assert!(
        matches!(e, Error::DriverMissing(_) | Error::InvalidArgument(_)),
        "{e}"
    );
    eprintln!("without a GPU: {e}");
}

#[test]
fn many_tensors_from_a_file_in_small_windows() {
    let Some(g) = gpu() else { return };
    common::many_tensors_from_a_file(&g, 2000);
}

#[test]
fn a_file_cut_after_opening_names_a_tensor() {
    let Some(g) = gpu() else { return };
    common::a_file_cut_after_opening_names_a_tensor(&g);
}

#[test]
fn the_staging_pool_is_reused_across_loads_and_released_on_request() {
    let Some(g) = gpu() else { return };
    let file = common::encode(
        &[
            ("int8", wcodec::Dtype::I8, 3 << 20, 1),
            ("bf16", wcodec::Dtype::BF16, 2 << 20, 2),
        ],
        16384,
    );
    let archive = Archive::from_bytes(file).expect("opens");
    g.dec
        .set_params(DecodeParams {
            staging_bytes: 2 << 20,
            ..DecodeParams::default()
        })
        .expect("params");
    let (r, _) = decode_with(&g.dec, &archive, g.stream.raw());
    r.expect("first load");
    let warm = g.dec.staging_stats();
    assert!(warm.slots >= 2 && warm.pinned_bytes > 0, "{warm:?}");
    for _ in 0..3 {
        let (r, _) = decode_with(&g.dec, &archive, g.stream.raw());
        r.expect("later load");
    }
    let after = g.dec.staging_stats();
    assert_eq!(
        after.allocations, warm.allocations,
        "no new buffers: {after:?}"
    );
    assert_eq!(after.leases, warm.leases + 3);
    assert!(g.dec.release_staging().expect("release") >= 2);
    assert_eq!(g.dec.staging_stats().pinned_bytes, 0);
}
