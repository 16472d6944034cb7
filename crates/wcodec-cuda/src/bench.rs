//! What benchmarks need beyond loading (cargo feature `bench`, used by the `gpu_bench` example
//! and the GPU tests): streams of the decoder's device, compressed batches kept resident on the
//! device and decoded again and again, timing events, and the device-to-device copy a decode is
//! judged against. Not part of the loading API.

use std::sync::Arc;

use cudarc::driver::sys::CUstream;
use rayon::prelude::*;
use wcodec::Archive;

use crate::decoder::{check_buffers, CudaDecoder, DeviceJob};
use crate::driver::{
    copy_dtod_async, copy_dtoh_async, copy_htod_async, memset_async, stream_synchronize, CtxGuard,
    DeviceBuffer, Event, OwnedStream, PrimaryCtx,
};
use crate::error::Result;
use crate::plan::{split, BatchPlan, Job, Launch, Part, Target};
use crate::tiles::TileGroup;
use crate::verify_plan::VerifyPlan;

impl CudaDecoder {
    /// Creates a stream on this device (non-blocking), returned as a raw handle that lives as
    /// long as the returned guard.
    pub fn new_stream(&self) -> Result<StreamHandle> {
        let _g = CtxGuard::enter(self.ctx.ctx)?;
        Ok(StreamHandle {
            inner: Some(OwnedStream::new()?),
            ctx: Arc::clone(&self.ctx),
        })
    }

    /// Validates the jobs and reads each tensor's layout from the archive's image (in
    /// parallel).
    fn prepare_resident<'a>(
        &self,
        archive: &'a Archive,
        jobs: &[DeviceJob],
    ) -> Result<Vec<Job<'a>>> {
        let entries = check_buffers(archive, jobs)?;
        let prepared: Vec<Job<'a>> = jobs
            .par_iter()
            .zip(entries)
            .map(|(j, entry)| {
                Ok(Job {
                    entry,
                    storage: archive.tensor_storage(j.tensor)?,
                    dst: j.dst,
                    part: Part::Whole,
                })
            })
            .collect::<Result<_>>()?;
        for (j, p) in jobs.iter().zip(&prepared) {
            if p.entry.raw_bytes > 0 {
                self.check_destination(&p.entry.name, j, p.entry)?;
            }
        }
        Ok(prepared)
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
        let prepared = self.prepare_resident(archive, jobs)?;
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
