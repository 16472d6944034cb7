//! Staging resources, created once and reused by every load of the process: per *slot* (one
//! window in flight) a stream, an event, a pinned buffer the window is read into, a pinned
//! buffer for the descriptors, a device buffer and a pinned read-back buffer.
//!
//! Pinned allocations cost milliseconds (the pages are locked one by one), so a fresh process
//! pays for them once; the pool keeps the slots between calls and [`Pool::release`] frees them
//! on request. A buffer grown for one oversized window is dropped when its slot comes back, so
//! what the pool holds stays bounded by the staging budget. The growth and pooling logic is
//! generic over the buffer type so that it is tested on the CPU.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::driver::{DeviceBuffer, Event, OwnedStream, PinnedBuffer};
use crate::error::Result;

/// A buffer of some length.
pub(crate) trait HasLen {
    fn bytes(&self) -> usize;
}

impl HasLen for PinnedBuffer {
    fn bytes(&self) -> usize {
        self.len()
    }
}

impl HasLen for DeviceBuffer {
    fn bytes(&self) -> usize {
        self.len()
    }
}

impl HasLen for Vec<u8> {
    fn bytes(&self) -> usize {
        self.len()
    }
}

/// Rounds a buffer size up so that slowly growing windows do not reallocate every time.
pub(crate) fn grow(bytes: u64) -> usize {
    (bytes.max(1 << 16) + (bytes >> 3)).next_multiple_of(1 << 16) as usize
}

/// Allocation counters of a pool (what [`StagingStats`] reports).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    allocations: AtomicU64,
    leases: AtomicU64,
}

/// Makes `slot` hold a buffer of at least `need` bytes (reallocating with headroom) and returns
/// it.
pub(crate) fn ensure<'s, B: HasLen>(
    slot: &'s mut Option<B>,
    need: u64,
    counters: &Counters,
    alloc: impl FnOnce(usize) -> Result<B>,
) -> Result<&'s mut B> {
    if slot.as_ref().is_none_or(|b| (b.bytes() as u64) < need) {
        *slot = None;
        counters.allocations.fetch_add(1, Ordering::Relaxed);
        *slot = Some(alloc(grow(need))?);
    }
    Ok(slot.as_mut().expect("just ensured"))
}

/// Drops the buffer of `slot` if it is larger than `limit`.
pub(crate) fn trim<B: HasLen>(slot: &mut Option<B>, limit: u64) {
    if slot.as_ref().is_some_and(|b| b.bytes() as u64 > limit) {
        *slot = None;
    }
}

/// Slots kept between calls.
pub(crate) struct Pool<S> {
    slots: Mutex<Vec<S>>,
    pub(crate) counters: Counters,
}

impl<S> Pool<S> {
    pub(crate) fn new() -> Self {
        Pool {
            slots: Mutex::new(Vec::new()),
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<S>> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `n` slots: pooled ones first, then new ones from `make`.
    pub(crate) fn lease(&self, n: usize, mut make: impl FnMut() -> Result<S>) -> Result<Vec<S>> {
        self.counters.leases.fetch_add(1, Ordering::Relaxed);
        let mut slots = {
            let mut pool = self.lock();
            let keep = pool.len().saturating_sub(n);
            pool.split_off(keep)
        };
        while slots.len() < n {
            slots.push(make()?);
        }
        Ok(slots)
    }

    /// Takes slots back, after `tidy` (which trims oversized buffers); keeps at most `max`.
    pub(crate) fn give_back(&self, slots: &mut Vec<S>, max: usize, mut tidy: impl FnMut(&mut S)) {
        for s in slots.iter_mut() {
            tidy(s);
        }
        let mut pool = self.lock();
        pool.append(slots);
        pool.truncate(max);
    }

    /// Frees every pooled slot (slots in use by a running call come back later).
    pub(crate) fn release(&self) -> usize {
        std::mem::take(&mut *self.lock()).len()
    }

    /// Runs `f` on the pooled slots.
    pub(crate) fn inspect<R>(&self, f: impl FnOnce(&[S]) -> R) -> R {
        f(&self.lock())
    }

    /// Buffer allocations and leases so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.counters.allocations.load(Ordering::Relaxed),
            self.counters.leases.load(Ordering::Relaxed),
        )
    }
}

/// What a decoder's staging pool holds (between calls) and has done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StagingStats {
    /// Slots pooled now.
    pub slots: usize,
    /// Pinned host bytes held by the pooled slots.
    pub pinned_bytes: u64,
    /// Device bytes held by the pooled slots.
    pub device_bytes: u64,
    /// Buffers (pinned or device) allocated since the decoder was created: constant across
    /// loads once the pool is warm.
    pub allocations: u64,
    /// Decode calls that leased slots.
    pub leases: u64,
}

/// Staging resources of one window in flight.
pub(crate) struct Slot {
    pub(crate) stream: OwnedStream,
    pub(crate) done: Event,
    /// The window read from the file (or, for packed batches, the image built on the host).
    pub(crate) pinned: Option<PinnedBuffer>,
    /// Descriptors of a window batch.
    pub(crate) desc: Option<PinnedBuffer>,
    pub(crate) device: Option<DeviceBuffer>,
    pub(crate) readback: Option<PinnedBuffer>,
}

impl Slot {
    pub(crate) fn new() -> Result<Slot> {
        Ok(Slot {
            stream: OwnedStream::new()?,
            done: Event::new(false)?,
            pinned: None,
            desc: None,
            device: None,
            readback: None,
        })
    }

    /// Drops buffers larger than `limit` (grown for one oversized window).
    pub(crate) fn trim(&mut self, limit: u64) {
        trim(&mut self.pinned, limit);
        trim(&mut self.desc, limit);
        trim(&mut self.device, limit);
        trim(&mut self.readback, limit);
    }

    /// (pinned, device) bytes held.
    pub(crate) fn held(&self) -> (u64, u64) {
        let n = |b: &Option<PinnedBuffer>| b.as_ref().map_or(0, |b| b.len() as u64);
        (
            n(&self.pinned) + n(&self.desc) + n(&self.readback),
            self.device.as_ref().map_or(0, |b| b.len() as u64),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_grow_with_headroom_and_are_reused() {
        let c = Counters::default();
        let mut slot: Option<Vec<u8>> = None;
        let b = ensure(&mut slot, 1000, &c, |n| Ok(vec![0; n])).unwrap();
        assert!(b.len() >= 1000);
        let first = b.len();
        ensure(&mut slot, first as u64, &c, |n| Ok(vec![0; n])).unwrap();
        assert_eq!(
            c.allocations.load(Ordering::Relaxed),
            1,
            "no reallocation when it fits"
        );
        let b = ensure(&mut slot, first as u64 + 1, &c, |n| Ok(vec![0; n])).unwrap();
        assert!(b.len() > first);
        assert_eq!(c.allocations.load(Ordering::Relaxed), 2);
        trim(&mut slot, 10);
        assert!(slot.is_none());
    }

    #[test]
    fn the_pool_reuses_slots_bounds_them_and_releases_them() {
        let pool: Pool<Option<Vec<u8>>> = Pool::new();
        let mut made = 0;
        let mut slots = pool
            .lease(3, || {
                made += 1;
                Ok(None)
            })
            .unwrap();
        for s in &mut slots {
            ensure(s, 100, &pool.counters, |n| Ok(vec![0; n])).unwrap();
        }
        *slots[0].as_mut().unwrap() = vec![0; 1 << 30 >> 10];
        pool.give_back(&mut slots, 2, |s| trim(s, 1 << 17));
        assert!(slots.is_empty());
        assert_eq!(pool.inspect(<[_]>::len), 2);
        assert_eq!(
            pool.inspect(|s| s.iter().filter(|b| b.is_some()).count()),
            1,
            "the oversized buffer was dropped, one of the others kept"
        );
        let again = pool.lease(2, || panic!("pooled slots come first")).unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(made, 3);
        let mut again = again;
        pool.give_back(&mut again, 16, |_| {});
        assert_eq!(pool.release(), 2);
        assert_eq!(pool.inspect(<[_]>::len), 0);
        assert_eq!(pool.counts(), (3, 2));
    }
}
