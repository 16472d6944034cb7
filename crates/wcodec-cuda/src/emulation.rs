//! Recording a decode as a program for the host warp emulator of `tests/emu/` (the kernels
//! compiled as C++ with one thread per CUDA thread). The planner and the checks are the ones
//! [`crate::CudaDecoder`] runs; only the device is replaced. Not a stable API: it exists for the
//! crate's tests, which run the kernels on machines without a GPU.
//!
//! Program format (little-endian): `WCEMU001`, `u32` number of address ranges to map, then per
//! range `u64 address, u64 length`; then operations, each a `u32` code: `1` write (`u64 address,
//! u64 length, bytes`), `2` fill (`u64 address, u64 length, u32 byte`), `3` launch (`u32 name
//! length, name, u32 grid, u32 block, u32 shared bytes, u32 argument length, arguments`), `4`
//! read back (`u64 address, u64 length`: appended to the output), `0` end.

use wcodec::format::header::TensorEntry;
use wcodec::load::{plan_windows, read_window};
use wcodec::Archive;

use crate::decoder::{check_buffers, DeviceJob};
use crate::error::Result;
use crate::params::DecodeParams;
use crate::plan::{split, BatchPlan, Launch, Part, Target};
use crate::tiles::{groups, TileGroup};
use crate::verify_plan::VerifyPlan;
use crate::window::{plan_window, WindowJobs};

/// One phase of a recorded decode: batches, then (for tiled tensors) the rebuild.
struct Phase {
    /// Tensor name and part of each job of the phase (for the status checks).
    who: Vec<(String, Part)>,
    plans: Vec<BatchPlan>,
    tiles: Option<TileGroup>,
}

/// A recorded decode: the program, and what is needed to check the emulator's output.
pub struct Recording<'a> {
    program: Vec<u8>,
    phases: Vec<Phase>,
    targets: Vec<Target<'a>>,
    vplan: Option<VerifyPlan>,
    extra: Vec<(u64, u64)>,
}

fn put_u32(p: &mut Vec<u8>, v: u32) {
    p.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(p: &mut Vec<u8>, v: u64) {
    p.extend_from_slice(&v.to_le_bytes());
}

fn write(p: &mut Vec<u8>, addr: u64, bytes: &[u8]) {
    put_u32(p, 1);
    put_u64(p, addr);
    put_u64(p, bytes.len() as u64);
    p.extend_from_slice(bytes);
}

fn fill(p: &mut Vec<u8>, addr: u64, len: u64, value: u8) {
    put_u32(p, 2);
    put_u64(p, addr);
    put_u64(p, len);
    put_u32(p, u32::from(value));
}

fn launch(p: &mut Vec<u8>, l: &Launch) {
    put_u32(p, 3);
    put_u32(p, l.kernel.len() as u32);
    p.extend_from_slice(l.kernel.as_bytes());
    put_u32(p, l.grid);
    put_u32(p, l.block);
    put_u32(p, l.smem);
    put_u32(p, l.args.len() as u32);
    p.extend_from_slice(&l.args);
}

fn read(p: &mut Vec<u8>, addr: u64, len: u64) {
    put_u32(p, 4);
    put_u64(p, addr);
    put_u64(p, len);
}

/// Records `decode_tensors(archive, jobs)` as the decoder runs it: the flat tensors window
/// by window (each window read from the archive's file with positional reads and staged as
/// is at `staging_base`), then the tiled ones, then the checksums. The verify buffer is at
/// `verify_base` and the scratch of tiled tensors at `scratch_base` (addresses the emulator
/// maps). `dst_ranges` are mapped too and read back after everything else, for the caller to
/// compare.
#[allow(clippy::too_many_arguments, clippy::too_many_lines)]
pub fn record<'a>(
    archive: &'a Archive,
    jobs: &[DeviceJob],
    params: &DecodeParams,
    staging_base: u64,
    verify_base: u64,
    scratch_base: u64,
    max_smem: u32,
    dst_ranges: &[(u64, u64)],
) -> Result<Recording<'a>> {
    let entries = check_buffers(archive, jobs)?;
    let targets: Vec<Target<'a>> = entries.iter().zip(jobs).map(|(e, j)| (*e, j.dst)).collect();
    let path = archive.path().unwrap_or(std::path::Path::new(""));
    let reader = archive.reader();
    let mut body = Vec::new();
    let mut phases = Vec::new();
    let mut staging = 0u64;
    let mut scratch = 0u64;
    let split_by = |tiled: bool| {
        let (e, d): (Vec<&TensorEntry>, Vec<u64>) = entries
            .iter()
            .zip(jobs)
            .filter(|(e, _)| e.is_tiled() == tiled)
            .map(|(e, j)| (*e, j.dst))
            .unzip();
        (e, d)
    };

    let (flat, flat_dst) = split_by(false);
    let names = |j: usize| flat[j].name.clone();
    for w in plan_windows(&flat, params.staging_bytes) {
        let mut buf = vec![0u8; w.buf_bytes as usize];
        read_window(reader, path, &w, &mut buf, &names)?;
        let owned = WindowJobs::new(&w, &flat, &flat_dst);
        let jobs = owned.jobs(&buf)?;
        let plan = plan_window(&jobs, w.buf_bytes, params.chunks_per_block, max_smem)?;
        let (desc_off, desc_len) = plan.descriptor_range();
        let mut desc = vec![0u8; desc_len as usize];
        plan.write_descriptors(&jobs, staging_base, &mut desc);
        staging = staging.max(plan.device_bytes());
        write(&mut body, staging_base, &buf);
        write(&mut body, staging_base + desc_off, &desc);
        for d in plan.direct() {
            // A device-to-device copy from the staged window: the same bytes.
            let o = d.host_off as usize;
            write(&mut body, d.dst, &buf[o..o + d.len() as usize]);
        }
        let (off, len) = plan.status_range();
        fill(&mut body, staging_base + off, len, 0xFF);
        for l in plan.launches(staging_base) {
            launch(&mut body, &l);
        }
        read(&mut body, staging_base + off, len);
        phases.push(Phase {
            who: (0..jobs.len()).map(|j| owned.who(j)).collect(),
            plans: vec![plan],
            tiles: None,
        });
    }

    let (tiled, tiled_dst) = split_by(true);
    let names = |j: usize| tiled[j].name.clone();
    for w in plan_windows(&tiled, params.staging_bytes) {
        let mut buf = vec![0u8; w.buf_bytes as usize];
        read_window(reader, path, &w, &mut buf, &names)?;
        let owned = WindowJobs::new(&w, &tiled, &tiled_dst);
        let mut jobs = owned.jobs(&buf)?;
        let mut group_phases = Vec::new();
        for range in groups(&jobs).into_iter().rev() {
            let group: Vec<_> = jobs.drain(range).collect();
            let tiles = TileGroup::build(&group)?;
            let parts = tiles.plane_jobs(group, scratch_base);
            scratch = scratch.max(tiles.bytes());
            let mut p = Vec::new();
            let mut plans = Vec::new();
            for pieces in split(&parts, params.staging_bytes) {
                let plan = BatchPlan::build(&parts, &pieces, params.chunks_per_block, max_smem)?;
                let mut image = vec![0u8; plan.host_bytes() as usize];
                plan.write_image(&parts, &buf, staging_base, &mut image);
                staging = staging.max(plan.host_bytes().max(plan.device_bytes()));
                write(&mut p, staging_base, &image[..plan.upload_bytes() as usize]);
                for d in plan.direct() {
                    let o = d.host_off as usize;
                    write(&mut p, d.dst, &image[o..o + d.len() as usize]);
                }
                let (off, len) = plan.status_range();
                fill(&mut p, staging_base + off, len, 0xFF);
                for l in plan.launches(staging_base) {
                    launch(&mut p, &l);
                }
                read(&mut p, staging_base + off, len);
                plans.push(plan);
            }
            let (off, header) = tiles.header(scratch_base);
            write(&mut p, scratch_base + off, &header);
            for l in tiles.launches(scratch_base) {
                launch(&mut p, &l);
            }
            read(&mut p, scratch_base + off, tiles.status_len());
            let who = parts
                .iter()
                .map(|j| (j.entry.name.clone(), j.part))
                .collect();
            group_phases.push((
                p,
                Phase {
                    who,
                    plans,
                    tiles: Some(tiles),
                },
            ));
        }
        // Groups are taken from the back, as the decoder takes them.
        for (p, phase) in group_phases {
            body.extend_from_slice(&p);
            phases.push(phase);
        }
    }

    let vplan = if params.verify_checksums {
        Some(VerifyPlan::build(&targets)?)
    } else {
        None
    };
    if let Some(v) = &vplan {
        write(&mut body, verify_base, &v.image(verify_base));
        for l in v.launches(verify_base) {
            launch(&mut body, &l);
        }
        let (off, len) = v.finals_range();
        read(&mut body, verify_base + off, len);
    }
    for (a, l) in dst_ranges {
        read(&mut body, *a, *l);
    }
    put_u32(&mut body, 0);

    let mut maps = vec![(staging_base, staging.max(4096))];
    if scratch > 0 {
        maps.push((scratch_base, scratch));
    }
    if let Some(v) = &vplan {
        maps.push((verify_base, v.device_bytes().max(4096)));
    }
    maps.extend_from_slice(dst_ranges);
    let mut program = b"WCEMU001".to_vec();
    put_u32(&mut program, maps.len() as u32);
    for (a, l) in &maps {
        put_u64(&mut program, *a);
        put_u64(&mut program, *l);
    }
    program.extend_from_slice(&body);
    Ok(Recording {
        program,
        phases,
        targets,
        vplan,
        extra: dst_ranges.to_vec(),
    })
}

impl Recording<'_> {
    /// The program for the emulator.
    pub fn program(&self) -> &[u8] {
        &self.program
    }

    /// Checks the emulator's output (statuses, then hashes) as the decoder would, and returns
    /// the contents of the `dst_ranges`, in order.
    pub fn finish(&self, output: &[u8]) -> (Result<()>, Vec<Vec<u8>>) {
        let mut pos = 0usize;
        let mut take = |n: u64| {
            let s = output.get(pos..pos + n as usize).unwrap_or(&[]).to_vec();
            pos += n as usize;
            s
        };
        let mut result = Ok(());
        for ph in &self.phases {
            for plan in &ph.plans {
                let status = take(plan.status_range().1);
                if result.is_ok() {
                    result = plan.check_status_of(&|j| ph.who[j].clone(), &status);
                }
            }
            if let Some(t) = &ph.tiles {
                let status = take(t.status_len());
                if result.is_ok() {
                    result = t.check(&status);
                }
            }
        }
        if let Some(v) = &self.vplan {
            let finals = take(v.finals_range().1);
            if result.is_ok() && !v.is_empty() {
                result = v.check(&self.targets, &finals);
            }
        }
        let dsts = self.extra.iter().map(|&(_, l)| take(l)).collect();
        (result, dsts)
    }
}
