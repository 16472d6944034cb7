//! Thin wrappers over the CUDA driver API calls this crate makes (through cudarc's dynamically
//! loaded bindings). With `nvrtc.rs` this is where the crate's `unsafe` lives: every block calls
//! one driver function with arguments whose validity is stated in its `SAFETY` comment, and every
//! result goes through [`check`], so a failing call becomes an [`Error::Cuda`], never a panic.
//!
//! cudarc resolves a driver symbol at its first use and panics if it is missing, so
//! [`ensure_driver`] checks, once, that the library loads and exports every function listed in
//! [`DRIVER_SYMBOLS`] before any of them is called.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::OnceLock;

use cudarc::driver::sys;

use crate::error::{Error, Result};

/// Every driver function this crate calls, under the names cudarc loads.
const DRIVER_SYMBOLS: &[&str] = &[
    "cuInit",
    "cuDriverGetVersion",
    "cuGetErrorName",
    "cuGetErrorString",
    "cuDeviceGet",
    "cuDeviceGetCount",
    "cuDeviceGetAttribute",
    "cuDeviceGetName",
    "cuDevicePrimaryCtxRetain",
    "cuDevicePrimaryCtxRelease_v2",
    "cuCtxGetCurrent",
    "cuCtxSetCurrent",
    "cuModuleLoadData",
    "cuModuleGetFunction",
    "cuModuleUnload",
    "cuFuncSetAttribute",
    "cuLaunchKernel",
    "cuMemAlloc_v2",
    "cuMemFree_v2",
    "cuMemHostAlloc",
    "cuMemFreeHost",
    "cuMemcpyHtoDAsync_v2",
    "cuMemcpyDtoHAsync_v2",
    "cuMemcpyDtoDAsync_v2",
    "cuMemsetD8Async",
    "cuMemGetAddressRange_v2",
    "cuPointerGetAttribute",
    "cuStreamCreate",
    "cuStreamDestroy_v2",
    "cuStreamSynchronize",
    "cuStreamWaitEvent",
    "cuEventCreate",
    "cuEventRecord",
    "cuEventSynchronize",
    "cuEventDestroy_v2",
];

/// Loads and initialises the driver once; later calls return the first outcome.
pub(crate) fn ensure_driver() -> Result<()> {
    static STATE: OnceLock<Result<(), String>> = OnceLock::new();
    STATE
        .get_or_init(|| {
            // SAFETY: only tries to dlopen the library names cudarc would use.
            if !unsafe { sys::is_culib_present() } {
                return Err(
                    "libcuda.so could not be loaded (no NVIDIA driver on this machine?)".into(),
                );
            }
            // SAFETY: the library is present (checked above), so culib() returns it.
            let lib = unsafe { sys::culib() };
            for name in DRIVER_SYMBOLS {
                // SAFETY: only looks the symbol up; the pointer is not called here.
                let found = unsafe { lib.get::<*const c_void>(name.as_bytes()) }.is_ok();
                if !found {
                    return Err(format!("libcuda lacks `{name}` (driver too old)"));
                }
            }
            // SAFETY: cuInit takes a flags word that must be 0.
            let r = unsafe { sys::cuInit(0) };
            check("cuInit", r).map_err(|e| e.to_string())
        })
        .clone()
        .map_err(Error::DriverMissing)
}

/// Turns a `CUresult` into a `Result`, with the driver's own name and description.
pub(crate) fn check(call: &'static str, r: sys::CUresult) -> Result<()> {
    if r == sys::CUresult::CUDA_SUCCESS {
        return Ok(());
    }
    let text = |f: unsafe fn(sys::CUresult, *mut *const c_char) -> sys::CUresult| {
        let mut p: *const c_char = std::ptr::null();
        // SAFETY: the out-pointer is valid; on success the driver points it at a static string.
        if unsafe { f(r, &raw mut p) } == sys::CUresult::CUDA_SUCCESS && !p.is_null() {
            // SAFETY: a NUL-terminated static string owned by the driver.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        } else {
            "unknown".to_owned()
        }
    };
    Err(Error::Cuda {
        call,
        code: r as u32,
        name: text(sys::cuGetErrorName),
        message: text(sys::cuGetErrorString),
    })
}

/// The driver's CUDA version, as `major * 1000 + minor * 10` (13000 for 13.0).
pub(crate) fn driver_version() -> Result<i32> {
    let mut v: c_int = 0;
    // SAFETY: valid out-pointer.
    check("cuDriverGetVersion", unsafe {
        sys::cuDriverGetVersion(&raw mut v)
    })?;
    Ok(v)
}

/// Number of CUDA devices.
pub(crate) fn device_count() -> Result<usize> {
    ensure_driver()?;
    let mut n: c_int = 0;
    // SAFETY: valid out-pointer; the driver is initialised.
    check("cuDeviceGetCount", unsafe {
        sys::cuDeviceGetCount(&raw mut n)
    })?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// What the decoder needs to know about a device.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// Ordinal.
    pub ordinal: usize,
    /// Marketing name (`NVIDIA H100 80GB HBM3`).
    pub name: String,
    /// Compute capability.
    pub compute_capability: (u32, u32),
    /// Streaming multiprocessors.
    pub multiprocessors: u32,
    /// Largest dynamic shared memory a block may opt into.
    pub max_shared_per_block: u32,
    /// Driver CUDA version (`13000` = 13.0).
    pub driver_version: i32,
}

use sys::CUdevice_attribute as A;

fn attribute(dev: sys::CUdevice, a: sys::CUdevice_attribute) -> Result<u32> {
    let mut v: c_int = 0;
    // SAFETY: valid out-pointer and a device handle from cuDeviceGet.
    check("cuDeviceGetAttribute", unsafe {
        sys::cuDeviceGetAttribute(&raw mut v, a, dev)
    })?;
    Ok(u32::try_from(v).unwrap_or(0))
}

/// A device's primary context, retained for the life of this value. The primary context is the
/// one the CUDA runtime (and so PyTorch) uses, so device pointers and streams are shared.
pub(crate) struct PrimaryCtx {
    dev: sys::CUdevice,
    pub(crate) ctx: sys::CUcontext,
    pub(crate) info: DeviceInfo,
}

// SAFETY: CUDA driver contexts may be used from any thread; this type only hands out the handle
// for cuCtxSetCurrent (thread-local binding) and releases it once on drop.
unsafe impl Send for PrimaryCtx {}
// SAFETY: as above; no interior state is mutated through a shared reference.
unsafe impl Sync for PrimaryCtx {}

impl PrimaryCtx {
    pub(crate) fn retain(ordinal: usize) -> Result<PrimaryCtx> {
        ensure_driver()?;
        let n = device_count()?;
        if ordinal >= n {
            return Err(Error::InvalidArgument(format!(
                "CUDA device {ordinal} does not exist ({n} device(s))"
            )));
        }
        let mut dev: sys::CUdevice = 0;
        // SAFETY: valid out-pointer; the ordinal is in range.
        check("cuDeviceGet", unsafe {
            sys::cuDeviceGet(&raw mut dev, ordinal as c_int)
        })?;
        let mut ctx: sys::CUcontext = std::ptr::null_mut();
        // SAFETY: valid out-pointer and device; balanced by cuDevicePrimaryCtxRelease in Drop.
        check("cuDevicePrimaryCtxRetain", unsafe {
            sys::cuDevicePrimaryCtxRetain(&raw mut ctx, dev)
        })?;
        let mut name = [0 as c_char; 256];
        // SAFETY: the buffer holds 256 bytes, as passed.
        check("cuDeviceGetName", unsafe {
            sys::cuDeviceGetName(name.as_mut_ptr(), 256, dev)
        })?;
        // SAFETY: the driver NUL-terminates within the buffer.
        let name = unsafe { CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        let info = DeviceInfo {
            ordinal,
            name,
            compute_capability: (
                attribute(dev, A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
                attribute(dev, A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
            ),
            multiprocessors: attribute(dev, A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?,
            max_shared_per_block: attribute(
                dev,
                A::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
            )?,
            driver_version: driver_version()?,
        };
        Ok(PrimaryCtx { dev, ctx, info })
    }
}

impl Drop for PrimaryCtx {
    fn drop(&mut self) {
        // SAFETY: balances the retain in `retain`.
        let _ = unsafe { sys::cuDevicePrimaryCtxRelease_v2(self.dev) };
    }
}

/// Makes a context current on this thread and restores the previous one when dropped, so the
/// caller's current device (PyTorch's) is left as it was.
pub(crate) struct CtxGuard {
    prev: sys::CUcontext,
    changed: bool,
}

impl CtxGuard {
    pub(crate) fn enter(ctx: sys::CUcontext) -> Result<CtxGuard> {
        let mut prev: sys::CUcontext = std::ptr::null_mut();
        // SAFETY: valid out-pointer.
        check("cuCtxGetCurrent", unsafe {
            sys::cuCtxGetCurrent(&raw mut prev)
        })?;
        if prev == ctx {
            return Ok(CtxGuard {
                prev,
                changed: false,
            });
        }
        // SAFETY: `ctx` is a retained primary context.
        check("cuCtxSetCurrent", unsafe { sys::cuCtxSetCurrent(ctx) })?;
        Ok(CtxGuard {
            prev,
            changed: true,
        })
    }
}

impl Drop for CtxGuard {
    fn drop(&mut self) {
        if self.changed {
            // SAFETY: restores the context that was current before (possibly none).
            let _ = unsafe { sys::cuCtxSetCurrent(self.prev) };
        }
    }
}

/// The calling thread's current context, as an address (0: none). For tests that check the
/// caller's context is left alone.
pub fn current_context() -> Result<u64> {
    ensure_driver()?;
    let mut ctx: sys::CUcontext = std::ptr::null_mut();
    // SAFETY: valid out-pointer.
    check("cuCtxGetCurrent", unsafe {
        sys::cuCtxGetCurrent(&raw mut ctx)
    })?;
    Ok(ctx as u64)
}

/// The ordinal of the device that owns `ptr`, and the allocation range around it when the
/// driver can tell (`None` for memory it does not describe, e.g. some virtual-memory mappings).
pub(crate) fn pointer_info(ptr: u64) -> Result<(usize, Option<(u64, u64)>)> {
    let mut ordinal: c_int = -1;
    // SAFETY: valid out-pointer of the attribute's type (int).
    check("cuPointerGetAttribute", unsafe {
        sys::cuPointerGetAttribute(
            (&raw mut ordinal).cast::<c_void>(),
            sys::CUpointer_attribute::CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
            ptr,
        )
    })
    .map_err(|e| Error::InvalidArgument(format!("{ptr:#x} is not a CUDA device pointer ({e})")))?;
    let mut base: sys::CUdeviceptr = 0;
    let mut size: usize = 0;
    // SAFETY: valid out-pointers.
    let r = unsafe { sys::cuMemGetAddressRange_v2(&raw mut base, &raw mut size, ptr) };
    let range = (r == sys::CUresult::CUDA_SUCCESS).then_some((base, size as u64));
    Ok((usize::try_from(ordinal).unwrap_or(usize::MAX), range))
}

/// A loaded module with its functions.
pub(crate) struct Module {
    raw: sys::CUmodule,
}

// SAFETY: module and function handles are usable from any thread of the process.
unsafe impl Send for Module {}
// SAFETY: as above.
unsafe impl Sync for Module {}

impl Module {
    /// Loads a cubin into the current context.
    pub(crate) fn load(image: &[u8]) -> Result<Module> {
        let mut raw: sys::CUmodule = std::ptr::null_mut();
        // SAFETY: `image` is a complete cubin (an ELF image), alive for the call; the driver
        // copies what it needs.
        check("cuModuleLoadData", unsafe {
            sys::cuModuleLoadData(&raw mut raw, image.as_ptr().cast::<c_void>())
        })?;
        Ok(Module { raw })
    }

    pub(crate) fn function(&self, name: &str) -> Result<Function> {
        let cname = std::ffi::CString::new(name).expect("kernel names have no NUL");
        let mut f: sys::CUfunction = std::ptr::null_mut();
        // SAFETY: valid out-pointer, live module, NUL-terminated name.
        check("cuModuleGetFunction", unsafe {
            sys::cuModuleGetFunction(&raw mut f, self.raw, cname.as_ptr())
        })?;
        Ok(Function { raw: f })
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        // SAFETY: the module was loaded by `load`; its functions are not used after this (they
        // live in the same owner).
        let _ = unsafe { sys::cuModuleUnload(self.raw) };
    }
}

/// A kernel entry point.
#[derive(Clone, Copy)]
pub(crate) struct Function {
    raw: sys::CUfunction,
}

// SAFETY: function handles are usable from any thread of the process.
unsafe impl Send for Function {}
// SAFETY: as above.
unsafe impl Sync for Function {}

impl Function {
    /// Lets launches use up to `bytes` of dynamic shared memory.
    pub(crate) fn set_max_dynamic_shared(&self, bytes: u32) -> Result<()> {
        // SAFETY: a live function handle and a documented attribute.
        check("cuFuncSetAttribute", unsafe {
            sys::cuFuncSetAttribute(
                self.raw,
                sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                bytes as c_int,
            )
        })
    }

    /// Launches with one by-value struct argument, given as its bytes.
    pub(crate) fn launch(
        &self,
        grid: u32,
        block: u32,
        smem: u32,
        stream: sys::CUstream,
        args: &[u8],
    ) -> Result<()> {
        if grid == 0 {
            return Ok(());
        }
        // u64 storage keeps the argument 8-byte aligned, as the kernel's struct is.
        let mut storage = vec![0u64; args.len().div_ceil(8)];
        for (i, chunk) in args.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            storage[i] = u64::from_le_bytes(w);
        }
        let mut params = [storage.as_mut_ptr().cast::<c_void>()];
        // SAFETY: `params` holds one pointer to a buffer laid out as the kernel's only
        // parameter (sizes checked on both sides); grid and block are within device limits
        // (block ≤ 256 threads; the planner caps the grid at 2^31 - 1 blocks), `smem` is at most
        // what `set_max_dynamic_shared` allowed, and `stream` is a live stream of this context.
        check("cuLaunchKernel", unsafe {
            sys::cuLaunchKernel(
                self.raw,
                grid,
                1,
                1,
                block,
                1,
                1,
                smem,
                stream,
                params.as_mut_ptr(),
                std::ptr::null_mut(),
            )
        })
    }
}

/// Device memory from cuMemAlloc, freed on drop (with its context made current for the call).
/// It keeps its device's primary context alive.
pub struct DeviceBuffer {
    ptr: u64,
    bytes: usize,
    ctx: std::sync::Arc<PrimaryCtx>,
}

// SAFETY: a device allocation may be used and freed from any thread.
unsafe impl Send for DeviceBuffer {}
// SAFETY: as above; the type has no interior mutability.
unsafe impl Sync for DeviceBuffer {}

impl DeviceBuffer {
    /// Allocates `bytes` (at least 1) in `ctx`.
    pub(crate) fn alloc(ctx: &std::sync::Arc<PrimaryCtx>, bytes: usize) -> Result<DeviceBuffer> {
        let _g = CtxGuard::enter(ctx.ctx)?;
        let mut ptr: sys::CUdeviceptr = 0;
        // SAFETY: valid out-pointer; a non-zero size.
        check("cuMemAlloc", unsafe {
            sys::cuMemAlloc_v2(&raw mut ptr, bytes.max(1))
        })?;
        Ok(DeviceBuffer {
            ptr,
            bytes,
            ctx: std::sync::Arc::clone(ctx),
        })
    }

    /// The device address.
    pub fn ptr(&self) -> u64 {
        self.ptr
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Copies the buffer's first `out.len()` bytes to the host (synchronous, after all work
    /// on `stream`).
    pub fn copy_to_host(&self, out: &mut [u8], stream: u64) -> Result<()> {
        if out.len() > self.bytes {
            return Err(Error::InvalidArgument("copy larger than the buffer".into()));
        }
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        let s = stream as sys::CUstream;
        // SAFETY: `out` is a live host buffer of the given length and the device range lies
        // inside this allocation; the stream is synchronised before `out` is used.
        check("cuMemcpyDtoHAsync", unsafe {
            sys::cuMemcpyDtoHAsync_v2(out.as_mut_ptr().cast::<c_void>(), self.ptr, out.len(), s)
        })?;
        stream_synchronize(s)
    }

    /// Copies `data` into the start of the buffer (synchronous with respect to `stream`).
    pub fn copy_from_host(&self, data: &[u8], stream: u64) -> Result<()> {
        if data.len() > self.bytes {
            return Err(Error::InvalidArgument("copy larger than the buffer".into()));
        }
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        let s = stream as sys::CUstream;
        // SAFETY: as in copy_to_host, with the roles swapped; `data` outlives the synchronise.
        check("cuMemcpyHtoDAsync", unsafe {
            sys::cuMemcpyHtoDAsync_v2(self.ptr, data.as_ptr().cast::<c_void>(), data.len(), s)
        })?;
        stream_synchronize(s)
    }

    /// Fills the buffer with `value`, asynchronously on `stream`.
    pub fn fill(&self, value: u8, stream: u64) -> Result<()> {
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        memset_async(self.ptr, value, self.bytes, stream as sys::CUstream)
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        if let Ok(_g) = CtxGuard::enter(self.ctx.ctx) {
            // SAFETY: the pointer came from cuMemAlloc and is freed once.
            let _ = unsafe { sys::cuMemFree_v2(self.ptr) };
        }
    }
}

/// Page-locked host memory (cuMemHostAlloc, portable), for asynchronous copies.
pub(crate) struct PinnedBuffer {
    ptr: *mut u8,
    bytes: usize,
}

// SAFETY: plain host memory; access is through &/&mut self like a Vec.
unsafe impl Send for PinnedBuffer {}
// SAFETY: as above.
unsafe impl Sync for PinnedBuffer {}

impl PinnedBuffer {
    pub(crate) fn alloc(bytes: usize) -> Result<PinnedBuffer> {
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid out-pointer; PORTABLE makes the pages pinned for every context.
        check("cuMemHostAlloc", unsafe {
            sys::cuMemHostAlloc(
                &raw mut p,
                bytes.max(1),
                sys::CU_MEMHOSTALLOC_PORTABLE as c_uint,
            )
        })?;
        Ok(PinnedBuffer {
            ptr: p.cast::<u8>(),
            bytes,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `bytes` bytes owned by this value (zero-initialised or
        // written before use; u8 has no invalid values).
        unsafe { std::slice::from_raw_parts(self.ptr, self.bytes) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, with exclusive access through &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.bytes) }
    }
}

impl Drop for PinnedBuffer {
    fn drop(&mut self) {
        // SAFETY: the pointer came from cuMemHostAlloc and is freed once; callers synchronise
        // the streams that copy from it before dropping it.
        let _ = unsafe { sys::cuMemFreeHost(self.ptr.cast::<c_void>()) };
    }
}

/// Asynchronous host-to-device copy. The caller keeps `src` alive and unmodified until the
/// stream has passed this point.
pub(crate) fn copy_htod_async(dst: u64, src: &[u8], stream: sys::CUstream) -> Result<()> {
    if src.is_empty() {
        return Ok(());
    }
    // SAFETY: the caller guarantees `dst..dst+len` is device memory of the current context and
    // that `src` stays valid until the copy completes (pinned staging owned by a slot that is
    // synchronised before reuse).
    check("cuMemcpyHtoDAsync", unsafe {
        sys::cuMemcpyHtoDAsync_v2(dst, src.as_ptr().cast::<c_void>(), src.len(), stream)
    })
}

/// Asynchronous device-to-host copy into memory that stays valid until the stream passes.
pub(crate) fn copy_dtoh_async(dst: &mut [u8], src: u64, stream: sys::CUstream) -> Result<()> {
    if dst.is_empty() {
        return Ok(());
    }
    // SAFETY: as copy_htod_async with the roles swapped.
    check("cuMemcpyDtoHAsync", unsafe {
        sys::cuMemcpyDtoHAsync_v2(dst.as_mut_ptr().cast::<c_void>(), src, dst.len(), stream)
    })
}

/// Asynchronous device-to-device copy.
pub(crate) fn copy_dtod_async(
    dst: u64,
    src: u64,
    bytes: usize,
    stream: sys::CUstream,
) -> Result<()> {
    // SAFETY: the caller guarantees both ranges are device memory of the current context.
    check("cuMemcpyDtoDAsync", unsafe {
        sys::cuMemcpyDtoDAsync_v2(dst, src, bytes, stream)
    })
}

/// Asynchronous byte fill.
pub(crate) fn memset_async(dst: u64, value: u8, bytes: usize, stream: sys::CUstream) -> Result<()> {
    if bytes == 0 {
        return Ok(());
    }
    // SAFETY: the caller guarantees `dst..dst+bytes` is device memory of the current context.
    check("cuMemsetD8Async", unsafe {
        sys::cuMemsetD8Async(dst, value, bytes, stream)
    })
}

pub(crate) fn stream_synchronize(stream: sys::CUstream) -> Result<()> {
    // SAFETY: a live stream handle (or the legacy default stream, 0).
    check("cuStreamSynchronize", unsafe {
        sys::cuStreamSynchronize(stream)
    })
}

/// A stream this crate created (non-blocking), destroyed on drop.
pub(crate) struct OwnedStream {
    pub(crate) raw: sys::CUstream,
}

// SAFETY: streams may be used from any thread.
unsafe impl Send for OwnedStream {}
// SAFETY: as above.
unsafe impl Sync for OwnedStream {}

impl OwnedStream {
    pub(crate) fn new() -> Result<OwnedStream> {
        let mut raw: sys::CUstream = std::ptr::null_mut();
        // SAFETY: valid out-pointer; flag 1 = CU_STREAM_NON_BLOCKING (no implicit sync with the
        // legacy default stream, which PyTorch does not use for its own work either).
        check("cuStreamCreate", unsafe {
            sys::cuStreamCreate(&raw mut raw, 1)
        })?;
        Ok(OwnedStream { raw })
    }
}

impl Drop for OwnedStream {
    fn drop(&mut self) {
        // SAFETY: created by `new`, destroyed once; pending work still completes.
        let _ = unsafe { sys::cuStreamDestroy_v2(self.raw) };
    }
}

/// An event, destroyed on drop.
pub(crate) struct Event {
    pub(crate) raw: sys::CUevent,
}

// SAFETY: events may be used from any thread.
unsafe impl Send for Event {}
// SAFETY: as above.
unsafe impl Sync for Event {}

impl Event {
    /// A synchronisation event (timing disabled) or a timing event.
    pub(crate) fn new(timing: bool) -> Result<Event> {
        let mut raw: sys::CUevent = std::ptr::null_mut();
        let flags: c_uint = if timing { 0 } else { 2 }; // CU_EVENT_DISABLE_TIMING
                                                        // SAFETY: valid out-pointer and flags.
        check("cuEventCreate", unsafe {
            sys::cuEventCreate(&raw mut raw, flags)
        })?;
        Ok(Event { raw })
    }

    pub(crate) fn record(&self, stream: sys::CUstream) -> Result<()> {
        // SAFETY: live event and stream of the current context.
        check("cuEventRecord", unsafe {
            sys::cuEventRecord(self.raw, stream)
        })
    }

    pub(crate) fn synchronize(&self) -> Result<()> {
        // SAFETY: live event.
        check("cuEventSynchronize", unsafe {
            sys::cuEventSynchronize(self.raw)
        })
    }

    /// Makes `stream` wait (on the device) for this event's last record.
    pub(crate) fn block_stream(&self, stream: sys::CUstream) -> Result<()> {
        // SAFETY: live event and stream.
        check("cuStreamWaitEvent", unsafe {
            sys::cuStreamWaitEvent(stream, self.raw, 0)
        })
    }

    /// Milliseconds between `start` and this event (both recorded, timing enabled).
    #[cfg_attr(not(feature = "bench"), allow(dead_code))]
    pub(crate) fn elapsed_ms_since(&self, start: &Event) -> Result<f32> {
        let mut ms = 0f32;
        // SAFETY: the driver is loaded (an Event exists).
        let lib = unsafe { sys::culib() };
        // SAFETY: only looks the symbol up. CUDA 13 drivers export `_v2`, which the 13.0
        // bindings call; older drivers cannot time here.
        if unsafe { lib.get::<*const c_void>(b"cuEventElapsedTime_v2") }.is_err() {
            return Err(Error::DriverMissing(
                "libcuda lacks `cuEventElapsedTime_v2` (needs a CUDA 13 driver)".into(),
            ));
        }
        // SAFETY: valid out-pointer and two live timing events (callers synchronise first).
        let r = unsafe { sys::cuEventElapsedTime_v2(&raw mut ms, start.raw, self.raw) };
        check("cuEventElapsedTime", r)?;
        Ok(ms)
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: created by `new`, destroyed once.
        let _ = unsafe { sys::cuEventDestroy_v2(self.raw) };
    }
}
