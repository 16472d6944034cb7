//! [`CudaDecoder`]: kernels loaded on one device, staging resources, and the pipelined decode
//! of a batch of tensors into caller-provided device memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::sys::CUstream;
use rayon::prelude::*;
use wcodec::Archive;

use crate::driver::{
    copy_dtod_async, copy_dtoh_async, copy_htod_async, memset_async, pointer_info,
    stream_synchronize, CtxGuard, DeviceBuffer, DeviceInfo, Event, Function, Module, OwnedStream,
    PinnedBuffer, PrimaryCtx,
};
use crate::error::{Error, Result};
use crate::nvrtc;
use crate::plan::{split, BatchPlan, Job, Launch, Part, Target, VerifyPlan};
use crate::source::KERNEL_NAMES;
use crate::tiles::{groups, TileGroup};

/// Tunables of the GPU decoder (`set_decode_params` in the Python API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeParams {
    /// Consecutive chunks of one tensor decoded by one thread block, one warp per chunk
    /// (`tiles_per_block` in the Python API): blocks share one load of the tensor's decode
    /// tables, fewer chunks per block spread a small tensor over more multiprocessors. 1..=8;
    /// clamped further where the shared memory of a block would not hold them.
    pub chunks_per_block: u32,
    /// Batches in flight, each with its own stream, pinned staging buffer and device buffer:
    /// with 2 or more, the host-to-device copy of one batch overlaps the decoding of another.
    /// 1 runs everything on the caller's stream (the host still fills one buffer while the GPU
    /// works on the other).
    pub streams: u32,
    /// Compressed bytes staged per batch (a batch may exceed it by one chunk).
    pub staging_bytes: u64,
    /// Check every tensor's XXH3-64 on the GPU after decoding (the format's integrity
    /// guarantee). Off, only the per-chunk rANS checks remain, and raw planes, raw chunks and
    /// raw tensors are not checked at all.
    pub verify_checksums: bool,
    /// Accepted for the specification's API; changes nothing. Tensor cores multiply matrices,
    /// and no stage of a decode is a matrix product: entropy decoding is a serial chain of
    /// table lookups, the join is byte shuffling, and the tile transforms of format version 2
    /// are integer lifting steps modulo 256, exact only in integer arithmetic.
    pub use_tensor_cores: bool,
}

impl Default for DecodeParams {
    fn default() -> Self {
        DecodeParams {
            chunks_per_block: 4,
            streams: 2,
            staging_bytes: 64 << 20,
            verify_checksums: true,
            use_tensor_cores: false,
        }
    }
}

impl DecodeParams {
    fn validate(&self) -> Result<()> {
        if !(1..=8).contains(&self.chunks_per_block) {
            return Err(Error::InvalidArgument(format!(
                "chunks_per_block {} is not in 1..=8",
                self.chunks_per_block
            )));
        }
        if !(1..=16).contains(&self.streams) {
            return Err(Error::InvalidArgument(format!(
                "streams {} is not in 1..=16",
                self.streams
            )));
        }
        if self.staging_bytes < (1 << 20) {
            return Err(Error::InvalidArgument(
                "staging_bytes must be at least 1 MiB".into(),
            ));
        }
        Ok(())
    }
}

/// One tensor to decode into device memory the caller owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceJob {
    /// Index of the tensor in the archive ([`Archive::find`] maps a name to it).
    pub tensor: usize,
    /// Device address of the destination (e.g. `tensor.data_ptr()`), aligned to the dtype's
    /// word size for multi-byte dtypes.
    pub dst: u64,
    /// Size of the destination in bytes; must equal the tensor's `raw_bytes`.
    pub dst_bytes: u64,
}

/// What a decode did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Tensors decoded.
    pub tensors: usize,
    /// Bytes written to the destinations.
    pub decoded_bytes: u64,
    /// Bytes copied from the host to the device (compressed data, tables, descriptors).
    pub uploaded_bytes: u64,
    /// Batches the work was split into.
    pub batches: usize,
}

/// Staging resources of one batch in flight.
struct Slot {
    stream: OwnedStream,
    done: Event,
    pinned: Option<PinnedBuffer>,
    device: Option<DeviceBuffer>,
    readback: Option<PinnedBuffer>,
}

/// Rounds a buffer size up so that slowly growing batches do not reallocate every time.
fn grow(bytes: u64) -> usize {
    (bytes.max(1 << 16) + (bytes >> 3)).next_multiple_of(1 << 16) as usize
}

impl Slot {
    fn new() -> Result<Slot> {
        Ok(Slot {
            stream: OwnedStream::new()?,
            done: Event::new(false)?,
            pinned: None,
            device: None,
            readback: None,
        })
    }

    fn ensure(
        &mut self,
        ctx: &Arc<PrimaryCtx>,
        device: u64,
        host: u64,
        readback: u64,
    ) -> Result<()> {
        if self
            .device
            .as_ref()
            .is_none_or(|d| (d.len() as u64) < device)
        {
            self.device = None;
            self.device = Some(DeviceBuffer::alloc(ctx, grow(device))?);
        }
        if self.pinned.as_ref().is_none_or(|p| (p.len() as u64) < host) {
            self.pinned = None;
            self.pinned = Some(PinnedBuffer::alloc(grow(host))?);
        }
        if self
            .readback
            .as_ref()
            .is_none_or(|p| (p.len() as u64) < readback)
        {
            self.readback = None;
            self.readback = Some(PinnedBuffer::alloc(grow(readback))?);
        }
        Ok(())
    }
}

/// The kernels of one device, loaded into its primary context, with pooled staging resources.
///
/// Thread-safe: several threads may decode at once (each call takes its own staging slots).
/// Every call makes the device's primary context current for its duration and restores the
/// thread's previous context, so the caller's current device (PyTorch's) is unchanged.
pub struct CudaDecoder {
    kernels: HashMap<&'static str, Function>,
    module: Option<Module>,
    params: Mutex<DecodeParams>,
    pool: Mutex<Vec<Slot>>,
    cubin_from_cache: bool,
    ctx: Arc<PrimaryCtx>,
}

impl std::fmt::Debug for CudaDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaDecoder")
            .field("device", &self.ctx.info)
            .finish_non_exhaustive()
    }
}

/// Whether a CUDA driver and at least one device are present (never fails, never panics).
pub fn is_available() -> bool {
    device_count() > 0
}

/// Number of CUDA devices (0 without a driver).
pub fn device_count() -> usize {
    crate::driver::device_count().unwrap_or(0)
}

/// The ordinal of the device that owns a device pointer (e.g. a torch tensor's `data_ptr()`).
pub fn device_of_pointer(ptr: u64) -> Result<usize> {
    crate::driver::ensure_driver()?;
    Ok(pointer_info(ptr)?.0)
}

impl CudaDecoder {
    /// Loads the kernels on device `ordinal` (its primary context): from the disk cache when a
    /// cubin for this source, architecture and NVRTC version is there, else compiled by NVRTC.
    pub fn new(ordinal: usize) -> Result<CudaDecoder> {
        let ctx = Arc::new(PrimaryCtx::retain(ordinal)?);
        let _g = CtxGuard::enter(ctx.ctx)?;
        let arch = ctx.info.compute_capability;
        if arch.0 < 8 {
            return Err(Error::InvalidArgument(format!(
                "device {ordinal} ({}) has compute capability {}.{}; the kernels need 8.0 or \
                 newer (asynchronous copies)",
                ctx.info.name, arch.0, arch.1
            )));
        }
        let (cubin, cached) = nvrtc::cubin_for(arch)?;
        let (module, cached) = match Module::load(&cubin) {
            Ok(m) => (m, cached),
            Err(_) if cached => {
                nvrtc::evict(arch);
                let (cubin, _) = nvrtc::cubin_for(arch)?;
                (Module::load(&cubin)?, false)
            }
            Err(e) => return Err(e),
        };
        let mut kernels = HashMap::new();
        for name in KERNEL_NAMES {
            let f = module.function(name)?;
            if name.starts_with("wcodec_decode") {
                f.set_max_dynamic_shared(ctx.info.max_shared_per_block)?;
            }
            kernels.insert(*name, f);
        }
        Ok(CudaDecoder {
            kernels,
            module: Some(module),
            params: Mutex::new(DecodeParams::default()),
            pool: Mutex::new(Vec::new()),
            cubin_from_cache: cached,
            ctx,
        })
    }

    /// The process-wide decoder of device `ordinal`, created on first use.
    pub fn for_device(ordinal: usize) -> Result<Arc<CudaDecoder>> {
        static DECODERS: OnceLock<Mutex<HashMap<usize, Arc<CudaDecoder>>>> = OnceLock::new();
        let map = DECODERS.get_or_init(|| Mutex::new(HashMap::new()));
        let mut map = map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(d) = map.get(&ordinal) {
            return Ok(Arc::clone(d));
        }
        let d = Arc::new(CudaDecoder::new(ordinal)?);
        map.insert(ordinal, Arc::clone(&d));
        Ok(d)
    }

    /// The device.
    pub fn device(&self) -> &DeviceInfo {
        &self.ctx.info
    }

    /// Whether the kernels came from the disk cache (no NVRTC compile in this process).
    pub fn cubin_from_cache(&self) -> bool {
        self.cubin_from_cache
    }

    /// The current parameters.
    pub fn params(&self) -> DecodeParams {
        self.params
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the parameters (for calls that start afterwards).
    pub fn set_params(&self, params: DecodeParams) -> Result<()> {
        params.validate()?;
        *self
            .params
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = params;
        Ok(())
    }

    /// Allocates device memory on this device (for tests, benchmarks and callers without an
    /// allocator of their own).
    pub fn alloc(&self, bytes: usize) -> Result<DeviceBuffer> {
        DeviceBuffer::alloc(&self.ctx, bytes)
    }

    /// Creates a stream on this device (non-blocking), returned as a raw handle that lives as
    /// long as the returned guard.
    pub fn new_stream(&self) -> Result<StreamHandle> {
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        Ok(StreamHandle {
            inner: Some(OwnedStream::new()?),
            ctx: Arc::clone(&self.ctx),
        })
    }

    fn kernel(&self, name: &str) -> Result<Function> {
        self.kernels
            .get(name)
            .copied()
            .ok_or_else(|| Error::Internal(format!("kernel `{name}` not loaded")))
    }

    /// Validates the jobs and reads each tensor's layout (in parallel); the destination checks
    /// ask the driver, so they run on the calling thread, whose context is ours.
    fn prepare<'a>(&self, archive: &'a Archive, jobs: &[DeviceJob]) -> Result<Vec<Job<'a>>> {
        let tensors = archive.tensors();
        let prepared = jobs
            .par_iter()
            .map(|j| {
                let entry = tensors
                    .get(j.tensor)
                    .ok_or_else(|| wcodec::Error::TensorNotFound(format!("#{}", j.tensor)))?;
                if j.dst_bytes != entry.raw_bytes {
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
            .collect::<Result<Vec<_>>>()?;
        for (j, p) in jobs.iter().zip(&prepared) {
            if p.entry.raw_bytes > 0 {
                self.check_destination(&p.entry.name, j, p.entry)?;
            }
        }
        Ok(prepared)
    }

    fn check_destination(
        &self,
        name: &str,
        j: &DeviceJob,
        entry: &wcodec::format::header::TensorEntry,
    ) -> Result<()> {
        let width = entry.dtype.plane_layout().n_planes() as u64;
        if entry.encoding == wcodec::format::header::Encoding::Planes
            && !j.dst.is_multiple_of(width)
        {
            return Err(Error::InvalidArgument(format!(
                "destination {:#x} of tensor `{name}` is not aligned to its {width}-byte words",
                j.dst
            )));
        }
        let (ordinal, range) = pointer_info(j.dst)?;
        if ordinal != self.ctx.info.ordinal {
            return Err(Error::InvalidArgument(format!(
                "destination of tensor `{name}` is on device {ordinal}, this decoder on device {}",
                self.ctx.info.ordinal
            )));
        }
        if let Some((base, size)) = range {
            let end = j.dst.checked_add(j.dst_bytes);
            if end.is_none_or(|end| end > base + size) {
                return Err(Error::InvalidArgument(format!(
                    "destination of tensor `{name}` ({} bytes at {:#x}) runs past its allocation \
                     ({size} bytes at {base:#x})",
                    j.dst_bytes, j.dst
                )));
            }
        }
        Ok(())
    }

    fn lease(&self, n: usize) -> Result<Vec<Slot>> {
        let mut pool = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut slots = Vec::with_capacity(n);
        while slots.len() < n {
            match pool.pop() {
                Some(s) => slots.push(s),
                None => break,
            }
        }
        drop(pool);
        while slots.len() < n {
            slots.push(Slot::new()?);
        }
        Ok(slots)
    }

    /// Decodes tensors of `archive` into device memory, enqueuing all GPU work behind what is
    /// already on `stream` (a raw `CUstream`, e.g. `torch.cuda.current_stream().cuda_stream`;
    /// 0 is the legacy default stream), and returns once the data is decoded and verified.
    ///
    /// The compressed bytes are staged through pinned buffers in batches of about
    /// [`DecodeParams::staging_bytes`]; with [`DecodeParams::streams`] > 1 the batches run on
    /// the decoder's own streams (which first wait for `stream`), so copies of one batch overlap
    /// the decoding of another. Every launch decodes the chunks of many tensors at once.
    ///
    /// Errors: a corrupt chunk ([`Error::CorruptChunk`]) or checksum ([`Error::Checksum`])
    /// names the tensor; on error the destinations hold partial data.
    pub fn decode_tensors(
        &self,
        archive: &Archive,
        jobs: &[DeviceJob],
        stream: u64,
    ) -> Result<DecodeStats> {
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        let params = self.params();
        let prepared = self.prepare(archive, jobs)?;
        let targets: Vec<Target<'_>> = prepared.iter().map(|j| (j.entry, j.dst)).collect();
        let mut stats = DecodeStats {
            tensors: prepared.len(),
            decoded_bytes: prepared.iter().map(|j| j.entry.raw_bytes).sum(),
            uploaded_bytes: 0,
            batches: 0,
        };
        let (tiled, flat): (Vec<Job<'_>>, Vec<Job<'_>>) =
            prepared.into_iter().partition(Job::is_tiled);
        let flat_batches = split(&flat, params.staging_bytes);
        let caller = stream as CUstream;
        let own_streams = params.streams > 1;
        let n_slots = (params.streams.max(2) as usize).min(flat_batches.len().max(2));
        let mut run = Run {
            dec: self,
            slots: self.lease(n_slots)?,
            streams: Vec::new(),
            caller,
            scratch: None,
        };
        run.streams = run
            .slots
            .iter()
            .map(|s| if own_streams { s.stream.raw } else { caller })
            .collect();
        if own_streams {
            // Our streams start after everything already queued on the caller's stream (the
            // destinations may have been allocated or used there).
            let start = Event::new(false)?;
            start.record(caller)?;
            for &s in &run.streams {
                start.block_stream(s)?;
            }
        }
        run.batches(&flat, &flat_batches, &params, archive.image(), &mut stats)?;
        let mut tiled = tiled;
        for range in groups(&tiled).into_iter().rev() {
            // Groups are taken from the back so that each `drain` moves only its own jobs.
            let group: Vec<Job<'_>> = tiled.drain(range).collect();
            let plan = TileGroup::build(&group)?;
            let base = run.scratch(plan.bytes())?;
            let parts = plan.plane_jobs(group, base);
            let batches = split(&parts, params.staging_bytes);
            run.batches(&parts, &batches, &params, archive.image(), &mut stats)?;
            run.rebuild(&plan, base)?;
        }
        if params.verify_checksums {
            run.verify(&targets)?;
        }
        Ok(stats)
    }

    /// Uploads the compressed bytes of `jobs` to the device once, for decoding them again and
    /// again from device memory (benchmarks; repeated loads of one checkpoint).
    pub fn upload_resident<'a>(
        &'a self,
        archive: &'a Archive,
        jobs: &[DeviceJob],
    ) -> Result<ResidentBatch<'a>> {
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        let params = self.params();
        let prepared = self.prepare(archive, jobs)?;
        let targets: Vec<Target<'_>> = prepared.iter().map(|j| (j.entry, j.dst)).collect();
        // Tiled tensors: their planes decode into a scratch buffer held with the batch, and one
        // group rebuilds them all after every decode (no scratch budget: a benchmark API).
        let (tiled, mut prepared): (Vec<Job<'_>>, Vec<Job<'_>>) =
            prepared.into_iter().partition(Job::is_tiled);
        let tiles = if tiled.is_empty() {
            None
        } else {
            let group = TileGroup::build(&tiled)?;
            let scratch = DeviceBuffer::alloc(&self.ctx, group.bytes() as usize)?;
            prepared.extend(group.plane_jobs(tiled, scratch.ptr()));
            let (off, header) = group.header(scratch.ptr());
            copy_htod_async(scratch.ptr() + off, &header, std::ptr::null_mut())?;
            stream_synchronize(std::ptr::null_mut())?;
            Some((group, scratch))
        };
        let pieces: Vec<_> = split(&prepared, u64::MAX).into_iter().flatten().collect();
        let plan = BatchPlan::build(
            &prepared,
            &pieces,
            params.chunks_per_block,
            self.ctx.info.max_shared_per_block,
        )?;
        // The image (host_bytes) holds the raw tensors after the descriptors; the device part
        // (device_bytes) holds the status array there instead: the buffer holds both.
        let buffer = DeviceBuffer::alloc(
            &self.ctx,
            plan.host_bytes().max(plan.device_bytes()) as usize,
        )?;
        let mut image = vec![0u8; plan.host_bytes() as usize];
        plan.write_image(&prepared, archive.image(), buffer.ptr(), &mut image);
        buffer.copy_from_host(&image, 0)?;
        let vplan = VerifyPlan::build(&targets)?;
        let vbuffer = DeviceBuffer::alloc(&self.ctx, vplan.device_bytes() as usize)?;
        vbuffer.copy_from_host(&vplan.image(vbuffer.ptr()), 0)?;
        Ok(ResidentBatch {
            dec: self,
            jobs: prepared,
            targets,
            tiles,
            plan,
            buffer,
            vplan,
            vbuffer,
        })
    }
}

impl Drop for CudaDecoder {
    fn drop(&mut self) {
        if let Ok(_g) = CtxGuard::enter(self.ctx.ctx) {
            self.pool
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
            self.module = None;
        }
    }
}

/// One `decode_tensors` call's slots and streams. Dropping it waits for every stream it used,
/// so no copy still reads a pinned buffer that goes back to the pool (or away).
struct Run<'d> {
    dec: &'d CudaDecoder,
    slots: Vec<Slot>,
    streams: Vec<CUstream>,
    caller: CUstream,
    /// Scratch memory of tiled tensors (grown as needed, freed with the run).
    scratch: Option<DeviceBuffer>,
}

impl Run<'_> {
    /// Runs `batches` of `jobs` through the slots (batch `b` on slot `b mod slots`, so uploads
    /// of one overlap decoding of another) and returns once all are decoded and checked.
    fn batches(
        &mut self,
        jobs: &[Job<'_>],
        batches: &[Vec<crate::plan::Piece>],
        params: &DecodeParams,
        file: &[u8],
        stats: &mut DecodeStats,
    ) -> Result<()> {
        let n_slots = self.slots.len();
        let mut pending: Vec<Option<BatchPlan>> = (0..n_slots).map(|_| None).collect();
        for (b, pieces) in batches.iter().enumerate() {
            let s = b % n_slots;
            if let Some(prev) = pending[s].take() {
                self.finish_batch(s, &prev, jobs)?;
            }
            let plan = BatchPlan::build(
                jobs,
                pieces,
                params.chunks_per_block,
                self.dec.ctx.info.max_shared_per_block,
            )?;
            stats.batches += 1;
            stats.uploaded_bytes += plan.upload_bytes()
                + plan
                    .direct()
                    .iter()
                    .map(crate::plan::Direct::len)
                    .sum::<u64>();
            self.start_batch(s, &plan, jobs, file)?;
            pending[s] = Some(plan);
        }
        for (s, p) in pending.iter_mut().enumerate() {
            if let Some(prev) = p.take() {
                self.finish_batch(s, &prev, jobs)?;
            }
        }
        Ok(())
    }

    /// A scratch buffer of at least `bytes`, for one group of tiled tensors. The previous
    /// group's kernels are done: `rebuild` waits for them.
    fn scratch(&mut self, bytes: u64) -> Result<u64> {
        if self
            .scratch
            .as_ref()
            .is_none_or(|b| (b.len() as u64) < bytes)
        {
            self.scratch = None;
            self.scratch = Some(DeviceBuffer::alloc(&self.dec.ctx, bytes as usize)?);
        }
        Ok(self.scratch.as_ref().expect("allocated").ptr())
    }

    /// Rebuilds the tiled planes of a group whose planes are decoded into the scratch at `base`
    /// and joins them into the destinations; returns once done and checked. Runs on the first
    /// stream, which the checksum pass uses next.
    fn rebuild(&mut self, plan: &TileGroup, base: u64) -> Result<()> {
        let stream = self.streams[0];
        let (status_off, header) = plan.header(base);
        let status_len = plan.status_len() as usize;
        let slot = &mut self.slots[0];
        slot.ensure(&self.dec.ctx, 0, header.len() as u64, status_len as u64)?;
        let pinned = slot.pinned.as_mut().expect("ensured").as_mut_slice();
        pinned[..header.len()].copy_from_slice(&header);
        let pinned = slot.pinned.as_ref().expect("ensured").as_slice();
        copy_htod_async(base + status_off, &pinned[..header.len()], stream)?;
        for l in plan.launches(base) {
            self.dec
                .kernel(l.kernel)?
                .launch(l.grid, l.block, l.smem, stream, &l.args)?;
        }
        let readback = slot.readback.as_mut().expect("ensured").as_mut_slice();
        copy_dtoh_async(&mut readback[..status_len], base + status_off, stream)?;
        slot.done.record(stream)?;
        slot.done.synchronize()?;
        let readback = slot.readback.as_ref().expect("ensured").as_slice();
        plan.check(&readback[..status_len])
    }

    fn start_batch(
        &mut self,
        s: usize,
        plan: &BatchPlan,
        jobs: &[Job<'_>],
        file: &[u8],
    ) -> Result<()> {
        let stream = self.streams[s];
        let (status_off, status_len) = plan.status_range();
        let slot = &mut self.slots[s];
        slot.ensure(
            &self.dec.ctx,
            plan.device_bytes(),
            plan.host_bytes(),
            status_len,
        )?;
        let base = slot.device.as_ref().expect("ensured").ptr();
        let pinned = slot.pinned.as_mut().expect("ensured").as_mut_slice();
        plan.write_image(jobs, file, base, pinned);
        let pinned = slot.pinned.as_ref().expect("ensured").as_slice();
        copy_htod_async(base, &pinned[..plan.upload_bytes() as usize], stream)?;
        for d in plan.direct() {
            let o = d.host_off as usize;
            copy_htod_async(d.dst, &pinned[o..o + d.len() as usize], stream)?;
        }
        memset_async(base + status_off, 0xFF, status_len as usize, stream)?;
        for l in plan.launches(base) {
            self.dec
                .kernel(l.kernel)?
                .launch(l.grid, l.block, l.smem, stream, &l.args)?;
        }
        let readback = slot.readback.as_mut().expect("ensured").as_mut_slice();
        copy_dtoh_async(
            &mut readback[..status_len as usize],
            base + status_off,
            stream,
        )?;
        slot.done.record(stream)
    }

    fn finish_batch(&mut self, s: usize, plan: &BatchPlan, jobs: &[Job<'_>]) -> Result<()> {
        let slot = &self.slots[s];
        slot.done.synchronize()?;
        let (_, status_len) = plan.status_range();
        let readback = slot.readback.as_ref().expect("ensured").as_slice();
        plan.check_status(jobs, &readback[..status_len as usize])
    }

    fn verify(&mut self, jobs: &[Target<'_>]) -> Result<()> {
        let vplan = VerifyPlan::build(jobs)?;
        if vplan.is_empty() {
            return Ok(());
        }
        let stream = self.streams[0];
        let (finals_off, finals_len) = vplan.finals_range();
        let slot = &mut self.slots[0];
        slot.ensure(
            &self.dec.ctx,
            vplan.device_bytes(),
            vplan.upload_bytes(),
            finals_len,
        )?;
        let base = slot.device.as_ref().expect("ensured").ptr();
        let image = vplan.image(base);
        let pinned = slot.pinned.as_mut().expect("ensured").as_mut_slice();
        pinned[..image.len()].copy_from_slice(&image);
        let pinned = slot.pinned.as_ref().expect("ensured").as_slice();
        copy_htod_async(base, &pinned[..image.len()], stream)?;
        for l in vplan.launches(base) {
            self.dec
                .kernel(l.kernel)?
                .launch(l.grid, l.block, l.smem, stream, &l.args)?;
        }
        let readback = slot.readback.as_mut().expect("ensured").as_mut_slice();
        copy_dtoh_async(
            &mut readback[..finals_len as usize],
            base + finals_off,
            stream,
        )?;
        slot.done.record(stream)?;
        slot.done.synchronize()?;
        let readback = slot.readback.as_ref().expect("ensured").as_slice();
        vplan.check(jobs, &readback[..finals_len as usize])
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        let mut seen = Vec::new();
        for &s in &self.streams {
            if !seen.contains(&s) {
                let _ = stream_synchronize(s);
                seen.push(s);
            }
        }
        if seen.is_empty() {
            let _ = stream_synchronize(self.caller);
        }
        let mut pool = self
            .dec
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pool.append(&mut self.slots);
    }
}

/// A stream created by [`CudaDecoder::new_stream`], destroyed when dropped. It keeps its
/// device's primary context alive.
pub struct StreamHandle {
    inner: Option<OwnedStream>,
    ctx: Arc<PrimaryCtx>,
}

impl StreamHandle {
    /// The raw `CUstream`, for the `stream` arguments of this crate.
    pub fn raw(&self) -> u64 {
        self.inner.as_ref().map_or(0, |s| s.raw as u64)
    }

    /// Waits until everything queued on the stream has run.
    pub fn synchronize(&self) -> Result<()> {
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        stream_synchronize(self.raw() as CUstream)
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        // Destroyed with its context current, before the context reference goes.
        let _g = CtxGuard::enter(self.ctx.ctx);
        self.inner = None;
    }
}

/// Compressed tensors held in device memory, decoded on demand ([`CudaDecoder::upload_resident`]).
pub struct ResidentBatch<'a> {
    dec: &'a CudaDecoder,
    jobs: Vec<Job<'a>>,
    targets: Vec<Target<'a>>,
    tiles: Option<(TileGroup, DeviceBuffer)>,
    plan: BatchPlan,
    buffer: DeviceBuffer,
    vplan: VerifyPlan,
    vbuffer: DeviceBuffer,
}

impl ResidentBatch<'_> {
    /// Bytes the decode writes.
    pub fn decoded_bytes(&self) -> u64 {
        self.targets.iter().map(|t| t.0.raw_bytes).sum()
    }

    /// Bytes held on the device (compressed data, tables, descriptors).
    pub fn device_bytes(&self) -> u64 {
        self.buffer.len() as u64
    }

    /// Chunks (one warp each) in the batch.
    pub fn n_chunks(&self) -> usize {
        self.plan.n_items()
    }

    fn run(&self, launches: Vec<Launch>, stream: CUstream) -> Result<()> {
        for l in launches {
            self.dec
                .kernel(l.kernel)?
                .launch(l.grid, l.block, l.smem, stream, &l.args)?;
        }
        Ok(())
    }

    /// Enqueues the decode on `stream` (no host synchronisation): raw tensors are copied, the
    /// status array reset and the decode kernels launched, then those that rebuild tiled
    /// tensors.
    pub fn enqueue_decode(&self, stream: u64) -> Result<()> {
        let _g = CtxGuard::enter(self.dec.ctx.ctx)?;
        let s = stream as CUstream;
        let base = self.buffer.ptr();
        for d in self.plan.direct() {
            copy_dtod_async(d.dst, base + d.host_off, d.len() as usize, s)?;
        }
        let (off, len) = self.plan.status_range();
        memset_async(base + off, 0xFF, len as usize, s)?;
        self.run(self.plan.launches(base), s)?;
        if let Some((group, scratch)) = &self.tiles {
            self.run(group.launches(scratch.ptr()), s)?;
        }
        Ok(())
    }

    /// Enqueues the checksum kernels on `stream`.
    pub fn enqueue_verify(&self, stream: u64) -> Result<()> {
        let _g = CtxGuard::enter(self.dec.ctx.ctx)?;
        self.run(self.vplan.launches(self.vbuffer.ptr()), stream as CUstream)
    }

    /// Waits for `stream` and checks the chunk statuses and, if `checksums`, the hashes of the
    /// last [`ResidentBatch::enqueue_verify`].
    pub fn check(&self, stream: u64, checksums: bool) -> Result<()> {
        let _g = CtxGuard::enter(self.dec.ctx.ctx)?;
        stream_synchronize(stream as CUstream)?;
        let (off, len) = self.plan.status_range();
        let mut status = vec![0u8; len as usize];
        if len > 0 {
            copy_dtoh_async(&mut status, self.buffer.ptr() + off, stream as CUstream)?;
            stream_synchronize(stream as CUstream)?;
        }
        self.plan.check_status(&self.jobs, &status)?;
        if let Some((group, scratch)) = &self.tiles {
            let off = group.header(scratch.ptr()).0;
            let mut status = vec![0u8; group.status_len() as usize];
            copy_dtoh_async(&mut status, scratch.ptr() + off, stream as CUstream)?;
            stream_synchronize(stream as CUstream)?;
            group.check(&status)?;
        }
        if checksums && !self.vplan.is_empty() {
            let (off, len) = self.vplan.finals_range();
            let mut finals = vec![0u8; len as usize];
            copy_dtoh_async(&mut finals, self.vbuffer.ptr() + off, stream as CUstream)?;
            stream_synchronize(stream as CUstream)?;
            self.vplan.check(&self.targets, &finals)?;
        }
        Ok(())
    }
}

/// Timing events for benchmarks: `start`/`stop` on a stream, then `elapsed_ms`.
pub struct Timer {
    events: Option<(Event, Event)>,
    ctx: Arc<PrimaryCtx>,
}

impl Timer {
    /// Two timing events on `dec`'s device.
    pub fn new(dec: &CudaDecoder) -> Result<Timer> {
        let _g = CtxGuard::enter(dec.ctx.ctx)?;
        Ok(Timer {
            events: Some((Event::new(true)?, Event::new(true)?)),
            ctx: Arc::clone(&dec.ctx),
        })
    }

    fn events(&self) -> &(Event, Event) {
        self.events.as_ref().expect("present until drop")
    }

    /// Records the start on `stream`.
    pub fn start(&self, stream: u64) -> Result<()> {
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        self.events().0.record(stream as CUstream)
    }

    /// Records the stop on `stream`.
    pub fn stop(&self, stream: u64) -> Result<()> {
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        self.events().1.record(stream as CUstream)
    }

    /// Waits for the stop event and returns the milliseconds between the two.
    pub fn elapsed_ms(&self) -> Result<f32> {
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        let (start, stop) = self.events();
        stop.synchronize()?;
        stop.elapsed_ms_since(start)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let _g = CtxGuard::enter(self.ctx.ctx);
        self.events = None;
    }
}

/// Enqueues a device-to-device copy (the bandwidth ceiling a decode is judged against).
pub fn copy_device_to_device(
    dec: &CudaDecoder,
    dst: u64,
    src: u64,
    bytes: usize,
    stream: u64,
) -> Result<()> {
    let _g = CtxGuard::enter(dec.ctx.ctx)?;
    copy_dtod_async(dst, src, bytes, stream as CUstream)
}
