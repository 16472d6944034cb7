//! The loading pipeline of [`crate::CudaDecoder::decode_tensors`]: windows of the file read with
//! positional reads into pinned slots, uploaded on the slots' streams and decoded there, the
//! next window read while the GPU works on the previous ones; then the tiled tensors; then the
//! checksums of everything.
//!
//! Slot `s` takes windows `s, s + n, s + 2n, …`: before a slot's buffer is read into again, its
//! previous window's copies and kernels are waited for (an event) and its chunk statuses
//! checked. The host never copies a window: it is read straight into the pinned memory the
//! upload copies from.

use std::sync::Arc;

use cudarc::driver::sys::CUstream;
use wcodec::format::header::TensorEntry;
use wcodec::load::{plan_windows, read_window, will_need_window, Window};
use wcodec::Archive;

use crate::driver::{
    copy_dtod_async, copy_dtoh_async, copy_htod_async, memset_async, stream_synchronize,
    DeviceBuffer, DeviceInfo, Event, Function, PinnedBuffer, PrimaryCtx,
};
use crate::error::Result;
use crate::params::DecodeParams;
use crate::plan::{split, BatchPlan, Job, Launch, Piece, Target};
use crate::staging::{ensure, Counters, Slot};
use crate::tiles::{groups, TileGroup};
use crate::window::{plan_window, WindowJobs};

/// What a slot waits on before it is reused.
enum Pending {
    /// A window batch: its plan and jobs (for naming a corrupt chunk).
    Window(BatchPlan, WindowJobs),
    /// A batch of jobs the caller still holds.
    Packed(BatchPlan),
}

/// What a run needs of the decoder that starts it: its context, kernels and staging pool.
/// [`crate::decoder::CudaDecoder`] implements it; the trait keeps this module below the decoder
/// (the decoder starts runs, runs never name the decoder).
pub(crate) trait Engine {
    /// The device's primary context.
    fn ctx(&self) -> &Arc<PrimaryCtx>;
    /// A loaded kernel.
    fn kernel(&self, name: &str) -> Result<Function>;
    /// The staging pool's allocation counters.
    fn counters(&self) -> &Counters;
    /// The device.
    fn device(&self) -> &DeviceInfo;
    /// `n` staging slots from the pool.
    fn lease(&self, n: usize) -> Result<Vec<Slot>>;
    /// Slots back to the pool.
    fn give_back(&self, slots: &mut Vec<Slot>);
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
    /// Batches the work was split into (one per window of the file, plus those of tiled
    /// tensors).
    pub batches: usize,
    /// Bytes read from the file (stored bytes of the tensors, and gaps read to save requests).
    pub read_bytes: u64,
}

/// One `decode_tensors` call's slots and streams. Dropping it waits for every stream it used,
/// so no copy still reads a pinned buffer that goes back to the pool (or away).
pub(crate) struct Run<'d> {
    dec: &'d dyn Engine,
    slots: Vec<Slot>,
    streams: Vec<CUstream>,
    caller: CUstream,
    /// Scratch memory of tiled tensors (grown as needed, freed with the run).
    scratch: Option<DeviceBuffer>,
}

impl<'d> Run<'d> {
    /// Leases `n_slots` slots; with `own_streams` their streams start after everything already
    /// queued on `caller` (the destinations may have been allocated or used there), otherwise
    /// all work goes on `caller`.
    pub(crate) fn start(
        dec: &'d dyn Engine,
        n_slots: usize,
        caller: CUstream,
        own_streams: bool,
    ) -> Result<Run<'d>> {
        let mut run = Run {
            dec,
            slots: dec.lease(n_slots)?,
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
            let start = Event::new(false)?;
            start.record(caller)?;
            for &s in &run.streams {
                start.block_stream(s)?;
            }
        }
        Ok(run)
    }

    /// Reads, uploads and decodes `windows` of the flat tensors `entries` (destinations
    /// `dsts`) through the slots.
    pub(crate) fn windows(
        &mut self,
        archive: &Archive,
        entries: &[&TensorEntry],
        dsts: &[u64],
        windows: &[Window],
        params: &DecodeParams,
        stats: &mut DecodeStats,
    ) -> Result<()> {
        let n_slots = self.slots.len();
        let mut pending: Vec<Option<Pending>> = (0..n_slots).map(|_| None).collect();
        let path = archive.path().unwrap_or(std::path::Path::new(""));
        let names = |j: usize| entries[j].name.clone();
        let largest = windows
            .iter()
            .map(|w| w.buf_bytes.min(params.staging_bytes))
            .max()
            .unwrap_or(0);
        for (b, w) in windows.iter().enumerate() {
            let s = b % n_slots;
            if let Some(prev) = pending[s].take() {
                self.finish(s, &prev, &[])?;
            }
            let counters = &self.dec.counters();
            let slot = &mut self.slots[s];
            // Sized to the load's largest window (at most the staging budget) from the first
            // window on: a slot's pinned buffer is allocated once, not regrown window by window,
            // and a small load does not pin a whole budget.
            let need = w.buf_bytes.max(largest);
            let pinned = ensure(&mut slot.pinned, need, counters, PinnedBuffer::alloc)?;
            // The disk starts on the next window while this one is read and the GPU decodes.
            if let Some(next) = windows.get(b + 1) {
                will_need_window(archive.reader(), next);
            }
            read_window(archive.reader(), path, w, pinned.as_mut_slice(), &names)?;
            stats.read_bytes += w.read_bytes();
            let owned = WindowJobs::new(w, entries, dsts);
            let plan = {
                let window = &self.slots[s].pinned.as_ref().expect("ensured").as_slice();
                let jobs = owned.jobs(window)?;
                let plan = plan_window(
                    &jobs,
                    w.buf_bytes,
                    params.chunks_per_block,
                    self.dec.device().max_shared_per_block,
                )?;
                self.start_window(s, &plan, &jobs, w.buf_bytes)?;
                plan
            };
            stats.batches += 1;
            stats.uploaded_bytes += plan.upload_bytes();
            pending[s] = Some(Pending::Window(plan, owned));
        }
        for (s, p) in pending.iter_mut().enumerate() {
            if let Some(prev) = p.take() {
                self.finish(s, &prev, &[])?;
            }
        }
        Ok(())
    }

    /// Enqueues window batch `plan` on slot `s`, whose pinned buffer holds the window.
    fn start_window(
        &mut self,
        s: usize,
        plan: &BatchPlan,
        jobs: &[Job<'_>],
        window_bytes: u64,
    ) -> Result<()> {
        let stream = self.streams[s];
        let (desc_off, desc_len) = plan.descriptor_range();
        let base = self.device_and_readback(s, plan)?;
        let counters = &self.dec.counters();
        let slot = &mut self.slots[s];
        let desc = ensure(&mut slot.desc, desc_len, counters, PinnedBuffer::alloc)?;
        plan.write_descriptors(jobs, base, &mut desc.as_mut_slice()[..desc_len as usize]);
        let window = slot.pinned.as_ref().expect("read into").as_slice();
        copy_htod_async(base, &window[..window_bytes as usize], stream)?;
        let desc = slot.desc.as_ref().expect("ensured").as_slice();
        copy_htod_async(base + desc_off, &desc[..desc_len as usize], stream)?;
        for d in plan.direct() {
            copy_dtod_async(d.dst, base + d.host_off, d.len() as usize, stream)?;
        }
        self.launch_batch(s, plan, base)
    }

    /// Slot `s`'s device buffer and status read-back, grown to what batch `plan` needs; returns
    /// the device buffer's address.
    fn device_and_readback(&mut self, s: usize, plan: &BatchPlan) -> Result<u64> {
        let counters = &self.dec.counters();
        let ctx = self.dec.ctx();
        let slot = &mut self.slots[s];
        let base = ensure(&mut slot.device, plan.device_bytes(), counters, |n| {
            DeviceBuffer::alloc(ctx, n)
        })?
        .ptr();
        let status_len = plan.status_range().1;
        ensure(
            &mut slot.readback,
            status_len,
            counters,
            PinnedBuffer::alloc,
        )?;
        Ok(base)
    }

    /// The end of every batch on slot `s`, once its bytes are queued for upload to `base`:
    /// marks every chunk status not-run, launches the plan's kernels, queues the status
    /// read-back and records the slot's event.
    fn launch_batch(&mut self, s: usize, plan: &BatchPlan, base: u64) -> Result<()> {
        let stream = self.streams[s];
        let (status_off, status_len) = plan.status_range();
        memset_async(base + status_off, 0xFF, status_len as usize, stream)?;
        for l in plan.launches(base) {
            self.dec
                .kernel(l.kernel)?
                .launch(l.grid, l.block, l.smem, stream, &l.args)?;
        }
        let slot = &mut self.slots[s];
        let readback = slot.readback.as_mut().expect("ensured").as_mut_slice();
        copy_dtoh_async(
            &mut readback[..status_len as usize],
            base + status_off,
            stream,
        )?;
        slot.done.record(stream)
    }

    /// Waits for slot `s`'s batch and checks its chunk statuses (`jobs`: those of a packed
    /// batch).
    fn finish(&mut self, s: usize, pending: &Pending, jobs: &[Job<'_>]) -> Result<()> {
        let slot = &self.slots[s];
        slot.done.synchronize()?;
        let (plan, who): (&BatchPlan, Box<dyn Fn(usize) -> _ + '_>) = match pending {
            Pending::Window(plan, owned) => (plan, Box::new(|j| owned.who(j))),
            Pending::Packed(plan) => (
                plan,
                Box::new(|j: usize| (jobs[j].entry.name.clone(), jobs[j].part)),
            ),
        };
        let (_, status_len) = plan.status_range();
        let readback = slot.readback.as_ref().expect("ensured").as_slice();
        plan.check_status_of(&*who, &readback[..status_len as usize])
    }

    /// Runs `batches` of `jobs` (whose storage points into `file`, a host image) through the
    /// slots, each staged packed in its pinned buffer, and returns once all are decoded and
    /// checked. Used for the planes of tiled tensors.
    pub(crate) fn batches(
        &mut self,
        jobs: &[Job<'_>],
        batches: &[Vec<Piece>],
        params: &DecodeParams,
        file: &[u8],
        stats: &mut DecodeStats,
    ) -> Result<()> {
        let n_slots = self.slots.len();
        let mut pending: Vec<Option<Pending>> = (0..n_slots).map(|_| None).collect();
        for (b, pieces) in batches.iter().enumerate() {
            let s = b % n_slots;
            if let Some(prev) = pending[s].take() {
                self.finish(s, &prev, jobs)?;
            }
            let plan = BatchPlan::build(
                jobs,
                pieces,
                params.chunks_per_block,
                self.dec.device().max_shared_per_block,
            )?;
            stats.batches += 1;
            stats.uploaded_bytes += plan.upload_bytes()
                + plan
                    .direct()
                    .iter()
                    .map(crate::plan::Direct::len)
                    .sum::<u64>();
            self.start_packed(s, &plan, jobs, file)?;
            pending[s] = Some(Pending::Packed(plan));
        }
        for (s, p) in pending.iter_mut().enumerate() {
            if let Some(prev) = p.take() {
                self.finish(s, &prev, jobs)?;
            }
        }
        Ok(())
    }

    fn start_packed(
        &mut self,
        s: usize,
        plan: &BatchPlan,
        jobs: &[Job<'_>],
        file: &[u8],
    ) -> Result<()> {
        let stream = self.streams[s];
        let base = self.device_and_readback(s, plan)?;
        let counters = &self.dec.counters();
        let slot = &mut self.slots[s];
        let pinned = ensure(
            &mut slot.pinned,
            plan.host_bytes(),
            counters,
            PinnedBuffer::alloc,
        )?;
        plan.write_image(jobs, file, base, pinned.as_mut_slice());
        let pinned = slot.pinned.as_ref().expect("ensured").as_slice();
        copy_htod_async(base, &pinned[..plan.upload_bytes() as usize], stream)?;
        for d in plan.direct() {
            let o = d.host_off as usize;
            copy_htod_async(d.dst, &pinned[o..o + d.len() as usize], stream)?;
        }
        self.launch_batch(s, plan, base)
    }

    /// Decodes the tiled tensors `entries` (destinations `dsts`): their regions are read
    /// (windows of `params.staging_bytes`) into host memory, their planes decoded into scratch
    /// and rebuilt into the destinations group by group.
    pub(crate) fn tiled(
        &mut self,
        archive: &Archive,
        entries: &[&TensorEntry],
        dsts: &[u64],
        params: &DecodeParams,
        stats: &mut DecodeStats,
    ) -> Result<()> {
        let path = archive.path().unwrap_or(std::path::Path::new(""));
        let names = |j: usize| entries[j].name.clone();
        let windows = plan_windows(entries, params.staging_bytes);
        for (k, w) in windows.iter().enumerate() {
            if let Some(next) = windows.get(k + 1) {
                will_need_window(archive.reader(), next);
            }
            let mut buf = vec![0u8; w.buf_bytes as usize];
            read_window(archive.reader(), path, w, &mut buf, &names)?;
            stats.read_bytes += w.read_bytes();
            let owned = WindowJobs::new(w, entries, dsts);
            let mut tiled = owned.jobs(&buf)?;
            for range in groups(&tiled).into_iter().rev() {
                // Groups are taken from the back so that each `drain` moves only its own jobs.
                let group: Vec<Job<'_>> = tiled.drain(range).collect();
                let plan = TileGroup::build(&group)?;
                let base = self.scratch(plan.bytes())?;
                let parts = plan.plane_jobs(group, base);
                let batches = split(&parts, params.staging_bytes);
                self.batches(&parts, &batches, params, &buf, stats)?;
                self.rebuild(&plan, base)?;
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
            self.scratch = Some(DeviceBuffer::alloc(self.dec.ctx(), bytes as usize)?);
        }
        Ok(self.scratch.as_ref().expect("allocated").ptr())
    }

    /// Rebuilds the tiled planes of a group whose planes are decoded into the scratch at `base`
    /// and joins them into the destinations; returns once done and checked. Runs on the first
    /// stream, which the checksum pass uses next.
    fn rebuild(&mut self, plan: &TileGroup, base: u64) -> Result<()> {
        let (status_off, header) = plan.header(base);
        let status_len = plan.status_len();
        let readback = self.upload_launch_read(
            base + status_off,
            &header,
            &plan.launches(base),
            base + status_off,
            status_len,
        )?;
        plan.check(readback)
    }

    /// Hashes every destination on the GPU and compares with the recorded checksums.
    pub(crate) fn verify(&mut self, jobs: &[Target<'_>]) -> Result<()> {
        let vplan = crate::verify_plan::VerifyPlan::build(jobs)?;
        if vplan.is_empty() {
            return Ok(());
        }
        let (finals_off, finals_len) = vplan.finals_range();
        let counters = &self.dec.counters();
        let ctx = self.dec.ctx();
        let base = ensure(
            &mut self.slots[0].device,
            vplan.device_bytes(),
            counters,
            |n| DeviceBuffer::alloc(ctx, n),
        )?
        .ptr();
        let image = vplan.image(base);
        let readback = self.upload_launch_read(
            base,
            &image,
            &vplan.launches(base),
            base + finals_off,
            finals_len,
        )?;
        vplan.check(jobs, readback)
    }

    /// The small synchronous passes after the batches (tile rebuild, checksums), on the first
    /// stream with the first slot's pinned buffers: uploads `image` to device address `to`,
    /// runs `launches`, reads `len` bytes back from device address `from`, waits, and returns
    /// them.
    fn upload_launch_read(
        &mut self,
        to: u64,
        image: &[u8],
        launches: &[Launch],
        from: u64,
        len: u64,
    ) -> Result<&[u8]> {
        let stream = self.streams[0];
        let counters = &self.dec.counters();
        let slot = &mut self.slots[0];
        let pinned = ensure(
            &mut slot.pinned,
            image.len() as u64,
            counters,
            PinnedBuffer::alloc,
        )?;
        pinned.as_mut_slice()[..image.len()].copy_from_slice(image);
        ensure(&mut slot.readback, len, counters, PinnedBuffer::alloc)?;
        let pinned = slot.pinned.as_ref().expect("ensured").as_slice();
        copy_htod_async(to, &pinned[..image.len()], stream)?;
        for l in launches {
            self.dec
                .kernel(l.kernel)?
                .launch(l.grid, l.block, l.smem, stream, &l.args)?;
        }
        let readback = slot.readback.as_mut().expect("ensured").as_mut_slice();
        copy_dtoh_async(&mut readback[..len as usize], from, stream)?;
        slot.done.record(stream)?;
        slot.done.synchronize()?;
        let readback = slot.readback.as_ref().expect("ensured").as_slice();
        Ok(&readback[..len as usize])
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
        self.dec.give_back(&mut self.slots);
    }
}
