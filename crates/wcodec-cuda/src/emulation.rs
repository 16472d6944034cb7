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

use wcodec::Archive;

use crate::decoder::{DecodeParams, DeviceJob};
use crate::error::{Error, Result};
use crate::plan::{split, BatchPlan, Job, Launch, Part, Target, VerifyPlan};
use crate::tiles::{groups, TileGroup};

/// One phase of a recorded decode: batches of jobs, then (for tiled tensors) the rebuild.
struct Phase<'a> {
    jobs: Vec<Job<'a>>,
    plans: Vec<BatchPlan>,
    tiles: Option<TileGroup>,
}

/// A recorded decode: the program, and what is needed to check the emulator's output.
pub struct Recording<'a> {
    program: Vec<u8>,
    phases: Vec<Phase<'a>>,
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

/// Records `decode_tensors(archive, jobs)` with the staging buffer at `staging_base`, the
/// verify buffer at `verify_base` and the scratch of tiled tensors at `scratch_base` (addresses
/// the emulator maps). `dst_ranges` are mapped too and read back after everything else, for
/// the caller to compare.
#[allow(clippy::too_many_arguments)]
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
    let tensors = archive.tensors();
    let prepared: Vec<Job<'a>> = jobs
        .iter()
        .map(|j| {
            let entry = tensors
                .get(j.tensor)
                .ok_or_else(|| Error::InvalidArgument(format!("no tensor #{}", j.tensor)))?;
            if entry.raw_bytes != j.dst_bytes {
                return Err(Error::BufferSize {
                    tensor: entry.name.clone(),
                    expected: entry.raw_bytes,
                    found: j.dst_bytes,
                });
            }
            Ok(Job {
                entry,
                storage: archive.tensor_storage(j.tensor)?,
                dst: j.dst,
                part: Part::Whole,
            })
        })
        .collect::<Result<_>>()?;
    let targets: Vec<Target<'a>> = prepared.iter().map(|j| (j.entry, j.dst)).collect();
    let (mut tiled, flat): (Vec<Job<'a>>, Vec<Job<'a>>) =
        prepared.into_iter().partition(Job::is_tiled);
    let mut phases = vec![(flat, None)];
    let mut groups_rev = Vec::new();
    for range in groups(&tiled).into_iter().rev() {
        let group: Vec<Job<'a>> = tiled.drain(range).collect();
        let plan = TileGroup::build(&group)?;
        groups_rev.push((plan.plane_jobs(group, scratch_base), Some(plan)));
    }
    phases.extend(groups_rev.into_iter().rev());
    let phases = phases
        .into_iter()
        .map(|(jobs, tiles)| {
            let plans = split(&jobs, params.staging_bytes)
                .iter()
                .map(|pieces| BatchPlan::build(&jobs, pieces, params.chunks_per_block, max_smem))
                .collect::<Result<Vec<_>>>()?;
            Ok(Phase { jobs, plans, tiles })
        })
        .collect::<Result<Vec<_>>>()?;
    let vplan = if params.verify_checksums {
        Some(VerifyPlan::build(&targets)?)
    } else {
        None
    };
    let staging = phases
        .iter()
        .flat_map(|ph| ph.plans.iter().map(BatchPlan::host_bytes))
        .max()
        .unwrap_or(0);
    let scratch = phases
        .iter()
        .filter_map(|ph| ph.tiles.as_ref().map(TileGroup::bytes))
        .max()
        .unwrap_or(0);
    let mut maps = vec![(staging_base, staging.max(4096))];
    if scratch > 0 {
        maps.push((scratch_base, scratch));
    }
    if let Some(v) = &vplan {
        maps.push((verify_base, v.device_bytes().max(4096)));
    }
    maps.extend_from_slice(dst_ranges);

    let mut p = b"WCEMU001".to_vec();
    put_u32(&mut p, maps.len() as u32);
    for (a, l) in &maps {
        put_u64(&mut p, *a);
        put_u64(&mut p, *l);
    }
    for ph in &phases {
        for plan in &ph.plans {
            let mut image = vec![0u8; plan.host_bytes() as usize];
            plan.write_image(&ph.jobs, archive.image(), staging_base, &mut image);
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
        }
        if let Some(t) = &ph.tiles {
            let (off, header) = t.header(scratch_base);
            write(&mut p, scratch_base + off, &header);
            for l in t.launches(scratch_base) {
                launch(&mut p, &l);
            }
            read(&mut p, scratch_base + off, t.status_len());
        }
    }
    if let Some(v) = &vplan {
        write(&mut p, verify_base, &v.image(verify_base));
        for l in v.launches(verify_base) {
            launch(&mut p, &l);
        }
        let (off, len) = v.finals_range();
        read(&mut p, verify_base + off, len);
    }
    for (a, l) in dst_ranges {
        read(&mut p, *a, *l);
    }
    put_u32(&mut p, 0);
    Ok(Recording {
        program: p,
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
                    result = plan.check_status(&ph.jobs, &status);
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
