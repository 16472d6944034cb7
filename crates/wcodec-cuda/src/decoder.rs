//! [`CudaDecoder`]: kernels loaded on one device, its pool of staging slots, and the checks
//! of a decode's jobs before anything is read or launched (the pipeline itself is in
//! `pipeline.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::sys::CUstream;
use wcodec::format::header::TensorEntry;
use wcodec::load::plan_windows;
use wcodec::{buffer, Archive};

use crate::driver::{
    pointer_info, CtxGuard, DeviceBuffer, DeviceInfo, Function, Module, PrimaryCtx,
};
use crate::error::{Error, Result};
use crate::nvrtc;
use crate::params::{DecodeParams, STREAMS};
pub use crate::pipeline::DecodeStats;
use crate::pipeline::{Engine, Run};
use crate::plan::Target;
use crate::source::KERNEL_NAMES;
use crate::staging::{Counters, Pool, Slot, StagingStats};

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

/// The kernels of one device, loaded into its primary context, with pooled staging resources.
///
/// Thread-safe: several threads may decode at once (each call takes its own staging slots).
/// Every call makes the device's primary context current for its duration and restores the
/// thread's previous context, so the caller's current device (PyTorch's) is unchanged.
pub struct CudaDecoder {
    kernels: HashMap<&'static str, Function>,
    module: Option<Module>,
    params: Mutex<DecodeParams>,
    pub(crate) pool: Pool<Slot>,
    cubin_from_cache: bool,
    pub(crate) ctx: Arc<PrimaryCtx>,
    /// True while [`CudaDecoder::prewarm`]'s thread allocates staging: leases wait for it, so a
    /// load that starts meanwhile takes the prewarmed slots instead of allocating its own.
    warming: (Mutex<bool>, std::sync::Condvar),
    prewarm_started: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for CudaDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaDecoder")
            .field("device", &self.ctx.info)
            .finish_non_exhaustive()
    }
}

/// Multi-byte words are written whole: their destination must be aligned to the word size.
fn check_alignment(name: &str, j: &DeviceJob, entry: &TensorEntry) -> Result<()> {
    let width = entry.dtype.plane_layout().n_planes() as u64;
    if entry.encoding == wcodec::format::header::Encoding::Planes && !j.dst.is_multiple_of(width) {
        return Err(Error::InvalidArgument(format!(
            "destination {:#x} of tensor `{name}` is not aligned to its {width}-byte words",
            j.dst
        )));
    }
    Ok(())
}

/// Allocations [`CudaDecoder::decode_tensors`] remembers while checking destinations.
const KNOWN_ALLOCATIONS: usize = 16;

/// The core's caller-buffer rules (`wcodec::buffer::check_jobs`: tensor index, size, NULL, no
/// two destinations overlapping) over device jobs, so the GPU refuses what the CPU decoder and
/// the C ABI refuse; returns each job's tensor. Asks no driver: the GPU-specific checks follow.
pub(crate) fn check_buffers<'a>(
    archive: &'a Archive,
    jobs: &[DeviceJob],
) -> Result<Vec<&'a TensorEntry>> {
    let core_jobs: Vec<buffer::Job> = jobs
        .iter()
        .map(|j| buffer::Job {
            tensor: j.tensor,
            dst: buffer::Span {
                address: j.dst,
                len: j.dst_bytes,
            },
        })
        .collect();
    Ok(buffer::check_jobs(archive.tensors(), &core_jobs)?)
}

/// The process-wide decoders, by device ordinal.
fn decoders() -> &'static Mutex<HashMap<usize, Arc<CudaDecoder>>> {
    static DECODERS: OnceLock<Mutex<HashMap<usize, Arc<CudaDecoder>>>> = OnceLock::new();
    DECODERS.get_or_init(|| Mutex::new(HashMap::new()))
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
            pool: Pool::new(),
            cubin_from_cache: cached,
            ctx,
            warming: (Mutex::new(false), std::sync::Condvar::new()),
            prewarm_started: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The process-wide decoder of device `ordinal`, created on first use.
    pub fn for_device(ordinal: usize) -> Result<Arc<CudaDecoder>> {
        let mut map = decoders()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(d) = map.get(&ordinal) {
            return Ok(Arc::clone(d));
        }
        let d = Arc::new(CudaDecoder::new(ordinal)?);
        map.insert(ordinal, Arc::clone(&d));
        Ok(d)
    }

    /// The process-wide decoder of device `ordinal` if [`CudaDecoder::for_device`] created it.
    pub fn existing(ordinal: usize) -> Option<Arc<CudaDecoder>> {
        decoders()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&ordinal)
            .cloned()
    }

    /// Every process-wide decoder created so far.
    pub fn all_existing() -> Vec<Arc<CudaDecoder>> {
        decoders()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
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

    pub(crate) fn kernel(&self, name: &str) -> Result<Function> {
        self.kernels
            .get(name)
            .copied()
            .ok_or_else(|| Error::Internal(format!("kernel `{name}` not loaded")))
    }

    /// Checks the jobs by the core's caller-buffer rules (`wcodec::buffer`: tensor index, size,
    /// NULL, no two destinations overlapping), then each destination against the driver (on
    /// the calling thread, whose context is ours), before anything is read or launched.
    fn check_jobs<'a>(
        &self,
        archive: &'a Archive,
        jobs: &[DeviceJob],
    ) -> Result<Vec<&'a TensorEntry>> {
        let entries = check_buffers(archive, jobs)?;
        // Allocations of recent destinations: tensors of one checkpoint mostly share a few
        // allocations (a caching allocator's segments, the Python layer's blocks, one per
        // dtype, which consecutive tensors alternate between), so two driver queries per tensor
        // are paid once per allocation instead.
        let mut known: Vec<(u64, u64)> = Vec::new();
        for (j, entry) in jobs.iter().zip(&entries) {
            if entry.raw_bytes > 0 {
                let inside = known.iter().any(|&(base, size)| {
                    j.dst >= base
                        && j.dst
                            .checked_add(j.dst_bytes)
                            .is_some_and(|e| e <= base + size)
                });
                if inside {
                    check_alignment(&entry.name, j, entry)?;
                } else if let Some(range) = self.check_destination(&entry.name, j, entry)? {
                    if known.len() == KNOWN_ALLOCATIONS {
                        known.remove(0);
                    }
                    known.push(range);
                }
            }
        }
        Ok(entries)
    }

    /// Checks a destination with the driver (device, allocation range) and returns its
    /// allocation when the driver describes it.
    pub(crate) fn check_destination(
        &self,
        name: &str,
        j: &DeviceJob,
        entry: &TensorEntry,
    ) -> Result<Option<(u64, u64)>> {
        check_alignment(name, j, entry)?;
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
        Ok(range)
    }

    /// `n` staging slots, pooled ones first (after a prewarm in progress has pooled its own).
    pub(crate) fn lease(&self, n: usize) -> Result<Vec<Slot>> {
        let (flag, done) = &self.warming;
        let mut warming = flag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *warming {
            warming = done
                .wait(warming)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        drop(warming);
        self.pool.lease(n, Slot::new)
    }

    /// Allocates the staging slots of the current parameters (a stream and a pinned window
    /// buffer of [`DecodeParams::staging_bytes`] per window in flight) on a background thread,
    /// once per decoder, and pools them. Pinning memory costs about half a millisecond per MiB,
    /// so a process that calls this when it learns that it will load onto the GPU (the Python
    /// layer: when it checks that the decoder runs) has the buffers ready by its first load
    /// instead of paying for them inside it. A load that starts before the thread is done waits
    /// for it rather than allocating twice. Failures are left to the load, which allocates what
    /// it lacks; a later [`CudaDecoder::release_staging`] frees the slots as usual.
    pub fn prewarm(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.prewarm_started.swap(true, Ordering::AcqRel) {
            return;
        }
        *self
            .warming
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        let dec = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("wcodec-staging".into())
            .spawn(move || {
                // Clears the flag however the thread ends (a panic included), so that no lease
                // waits forever.
                struct Done(Arc<CudaDecoder>);
                impl Drop for Done {
                    fn drop(&mut self) {
                        self.0.finish_warming();
                    }
                }
                let done = Done(dec);
                let _ = done.0.allocate_staging();
            });
        if spawned.is_err() {
            self.finish_warming();
        }
    }

    fn allocate_staging(&self) -> Result<()> {
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        let params = self.params();
        let n = params.streams.max(2) as usize;
        let mut slots = self.pool.lease(n, Slot::new)?;
        let result = slots.iter_mut().try_for_each(|s| {
            crate::staging::ensure(
                &mut s.pinned,
                params.staging_bytes,
                &self.pool.counters,
                crate::driver::PinnedBuffer::alloc,
            )
            .map(|_| ())
        });
        self.give_back(&mut slots);
        result
    }

    fn finish_warming(&self) {
        let (flag, done) = &self.warming;
        *flag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = false;
        done.notify_all();
    }

    /// Returns slots to the pool, dropping buffers grown past what the current parameters
    /// need (an oversized window), so the pool stays bounded.
    pub(crate) fn give_back(&self, slots: &mut Vec<Slot>) {
        let limit = self.params().staging_bytes.saturating_mul(2);
        self.pool
            .give_back(slots, *STREAMS.end() as usize, |s| s.trim(limit));
    }

    /// What the staging pool holds now (between calls) and how often it allocated.
    pub fn staging_stats(&self) -> StagingStats {
        let (allocations, leases) = self.pool.counts();
        let (slots, pinned_bytes, device_bytes) = self.pool.inspect(|slots| {
            slots.iter().fold((0, 0, 0), |(n, p, d), s| {
                let (hp, hd) = s.held();
                (n + 1, p + hp, d + hd)
            })
        });
        StagingStats {
            slots,
            pinned_bytes,
            device_bytes,
            allocations,
            leases,
        }
    }

    /// Frees the pooled staging slots (pinned and device memory, streams); the next decode
    /// allocates again. Returns how many slots were freed.
    pub fn release_staging(&self) -> Result<usize> {
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        Ok(self.pool.release())
    }

    /// Decodes tensors of `archive` into device memory, enqueuing all GPU work behind what is
    /// already on `stream` (a raw `CUstream`, e.g. `torch.cuda.current_stream().cuda_stream`;
    /// 0 is the legacy default stream), and returns once the data is decoded and verified.
    ///
    /// The stored bytes are read with positional reads (never through the archive's memory
    /// map) in windows of about [`DecodeParams::staging_bytes`], straight into pinned buffers
    /// of the decoder's pool; each window is uploaded and decoded by one batch of launches on
    /// its slot's stream while the host reads the next ([`DecodeParams::streams`] windows in
    /// flight; with 1, all work goes on `stream`).
    ///
    /// Errors: a corrupt chunk ([`Error::CorruptChunk`]), checksum ([`Error::Checksum`]) or
    /// region (a [`wcodec::Error`], also for a file cut short) names the tensor; on error the
    /// destinations hold partial data.
    pub fn decode_tensors(
        &self,
        archive: &Archive,
        jobs: &[DeviceJob],
        stream: u64,
    ) -> Result<DecodeStats> {
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        let params = self.params();
        let entries = self.check_jobs(archive, jobs)?;
        let mut stats = DecodeStats {
            tensors: jobs.len(),
            decoded_bytes: entries.iter().map(|e| e.raw_bytes).sum(),
            ..DecodeStats::default()
        };
        let (mut flat, mut flat_dst, mut tiled, mut tiled_dst) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (e, j) in entries.iter().zip(jobs) {
            if e.is_tiled() {
                tiled.push(*e);
                tiled_dst.push(j.dst);
            } else {
                flat.push(*e);
                flat_dst.push(j.dst);
            }
        }
        let windows = plan_windows(&flat, params.staging_bytes);
        let n_slots = (params.streams.max(2) as usize).min(windows.len().max(2));
        let mut run = Run::start(self, n_slots, stream as CUstream, params.streams > 1)?;
        run.windows(archive, &flat, &flat_dst, &windows, &params, &mut stats)?;
        if !tiled.is_empty() {
            run.tiled(archive, &tiled, &tiled_dst, &params, &mut stats)?;
        }
        if params.verify_checksums {
            let targets: Vec<Target<'_>> =
                entries.iter().zip(jobs).map(|(e, j)| (*e, j.dst)).collect();
            run.verify(&targets)?;
        }
        Ok(stats)
    }
}

impl Drop for CudaDecoder {
    fn drop(&mut self) {
        if let Ok(_g) = CtxGuard::enter(self.ctx.ctx) {
            self.pool.release();
            self.module = None;
        }
    }
}

impl Engine for CudaDecoder {
    fn ctx(&self) -> &Arc<PrimaryCtx> {
        &self.ctx
    }
    fn kernel(&self, name: &str) -> Result<Function> {
        CudaDecoder::kernel(self, name)
    }
    fn counters(&self) -> &Counters {
        &self.pool.counters
    }
    fn device(&self) -> &DeviceInfo {
        CudaDecoder::device(self)
    }
    fn lease(&self, n: usize) -> Result<Vec<Slot>> {
        CudaDecoder::lease(self, n)
    }
    fn give_back(&self, slots: &mut Vec<Slot>) {
        CudaDecoder::give_back(self, slots);
    }
}
