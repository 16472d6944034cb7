//! Bulk loading without page faults: the stored regions of many tensors are read with explicit
//! positional reads, in *windows* of bounded size, on a process-wide pool of I/O threads.
//!
//! A memory map is the right tool for one tensor (random access), not for a whole checkpoint:
//! every 4 KiB page costs a fault, and cold reads arrive one readahead at a time. Here the
//! regions of the requested tensors are sorted by file offset, coalesced where they are adjacent
//! (or separated by less than [`MERGE_GAP`]), and grouped into windows of at most a budget
//! (one larger tensor forms its own window). A window is read by several threads at once in
//! pieces of [`READ_PIECE`] bytes, so a disk array sees many requests in flight; the CPU
//! decoder ([`decode_windows`]) and the GPU decoder (`wcodec-cuda`) then parse and decode the
//! window's tensors from the buffer, with every offset *rebased* into it ([`Window::rebased`]).
//!
//! A range starts in its buffer at the same offset modulo 4096 as in the file, so the alignment
//! the format gives payload (format.md §4) survives the move and a buffer can be read with
//! `O_DIRECT`.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::format::header::TensorEntry;
use crate::tensor::decode_tensors_into;

/// Default window: large enough that a window's reads keep a disk array busy and a GPU copy
/// runs at full speed, small enough that two of them (one read while the other decodes) stay
/// far below the host memory a load may add.
pub const WINDOW_BYTES: u64 = 64 << 20;

/// Regions separated by less than this are read as one range (the gap is read too): one
/// request instead of two costs less than the bytes in between.
pub const MERGE_GAP: u64 = 64 << 10;

/// Size of one positional read.
pub const READ_PIECE: u64 = 4 << 20;

/// The alignment a range keeps in its buffer.
const PAGE: u64 = 4096;

/// A source of positional reads: a file (`pread`), or bytes in memory (tests, in-memory
/// archives).
pub trait ReadAt: Sync {
    /// Fills `buf` with the bytes at `offset`; a source that ends first returns
    /// [`std::io::ErrorKind::UnexpectedEof`].
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;

    /// A hint that bytes `[offset, offset + len)` will be read soon (read-ahead); best effort,
    /// never an error. Sources that cannot act on it ignore it.
    fn will_need(&self, _offset: u64, _len: u64) {}
}

impl ReadAt for std::fs::File {
    #[cfg(unix)]
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }

    #[cfg(windows)]
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(self, buf, offset) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Bytes in memory as a [`ReadAt`] source.
fn read_slice(bytes: &[u8], buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    let src = usize::try_from(offset)
        .ok()
        .and_then(|o| bytes.get(o..o.checked_add(buf.len())?))
        .ok_or(std::io::ErrorKind::UnexpectedEof)?;
    buf.copy_from_slice(src);
    Ok(())
}

impl ReadAt for &[u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        read_slice(self, buf, offset)
    }
}

impl ReadAt for crate::io::Mapped {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        read_slice(self, buf, offset)
    }

    fn will_need(&self, offset: u64, len: u64) {
        crate::io::Mapped::will_need(self, offset, len);
    }
}

/// Announces window `w`'s reads to `src` ([`ReadAt::will_need`]): called one window ahead, so
/// the disk works on the next window while the current one is read and decoded, and a cold
/// load keeps more requests in flight than the I/O threads alone issue.
pub fn will_need_window(src: &dyn ReadAt, w: &Window) {
    for r in &w.ranges {
        src.will_need(r.file_off, r.len);
    }
}

/// The process's I/O threads, created on first use and kept: a blocking read must not hold a
/// thread of the decoding pool. `WCODEC_IO_THREADS` overrides the count (default 8: enough to
/// saturate NVMe arrays and the page cache's copy speed).
pub fn io_pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let n = std::env::var("WCODEC_IO_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| (1..=256).contains(&n))
            .unwrap_or(8);
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("wcodec-io-{i}"))
            .build()
            .expect("spawning the I/O threads")
    })
}

/// File bytes `[file_off, file_off + len)` read to `buf_off` of a window's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadRange {
    /// Absolute file offset.
    pub file_off: u64,
    /// Bytes.
    pub len: u64,
    /// Offset in the window's buffer (congruent to `file_off` modulo 4096).
    pub buf_off: u64,
}

/// Tensors read and decoded together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Indices (into the planner's input) of the tensors, in file order.
    pub jobs: Vec<usize>,
    /// Per job: the index of the range holding its region.
    job_range: Vec<usize>,
    /// The reads, in buffer order.
    pub ranges: Vec<ReadRange>,
    /// Size of the buffer the window needs.
    pub buf_bytes: u64,
}

impl Window {
    /// Stored bytes read (gaps included).
    pub fn read_bytes(&self) -> u64 {
        self.ranges.iter().map(|r| r.len).sum()
    }

    /// The entry of the window's `k`-th job with every offset moved into the window's buffer,
    /// so that the decoders (which take a file image and absolute offsets) run on the buffer.
    pub fn rebased(&self, k: usize, entry: &TensorEntry) -> TensorEntry {
        let mut e = entry.clone();
        if entry.stored_bytes == 0 {
            e.offset = 0;
            return e;
        }
        let r = self.ranges[self.job_range[k]];
        let shift = |o: u64| o - r.file_off + r.buf_off;
        e.offset = shift(e.offset);
        for p in &mut e.planes {
            p.offset = shift(p.offset);
            if let Some(m) = &mut p.modes {
                m.offset = shift(m.offset);
            }
        }
        e
    }
}

/// Groups the stored regions of `entries` into windows of about `budget` bytes (a region larger
/// than the budget forms a window alone), in file order. Entries are trusted to come from a
/// parsed header: regions end inside the file (a file shorter than its header says fails the
/// reads with [`Error::CorruptTensor`]).
pub fn plan_windows(entries: &[&TensorEntry], budget: u64) -> Vec<Window> {
    let budget = budget.max(PAGE);
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| entries[i].offset);
    let mut windows = Vec::new();
    let mut cur = Window {
        jobs: Vec::new(),
        job_range: Vec::new(),
        ranges: Vec::new(),
        buf_bytes: 0,
    };
    for i in order {
        let e = entries[i];
        let (start, end) = (e.offset, e.offset.saturating_add(e.stored_bytes));
        if e.stored_bytes == 0 {
            cur.jobs.push(i);
            cur.job_range.push(usize::MAX);
            continue;
        }
        let merged = cur.ranges.last().is_some_and(|r| {
            let r_end = r.file_off + r.len;
            start <= r_end.saturating_add(MERGE_GAP) && {
                let grow = end.saturating_sub(r_end);
                cur.buf_bytes + grow <= budget
            }
        });
        if merged {
            let r = cur.ranges.last_mut().expect("checked");
            let r_end = r.file_off + r.len;
            if end > r_end {
                r.len = end - r.file_off;
                cur.buf_bytes = r.buf_off + r.len;
            }
        } else {
            let buf_off = aligned_like(cur.buf_bytes, start);
            if !cur.ranges.is_empty() && buf_off + (end - start) > budget {
                windows.push(std::mem::replace(
                    &mut cur,
                    Window {
                        jobs: Vec::new(),
                        job_range: Vec::new(),
                        ranges: Vec::new(),
                        buf_bytes: 0,
                    },
                ));
            }
            let buf_off = aligned_like(cur.buf_bytes, start);
            cur.ranges.push(ReadRange {
                file_off: start,
                len: end - start,
                buf_off,
            });
            cur.buf_bytes = buf_off + (end - start);
        }
        cur.jobs.push(i);
        cur.job_range.push(cur.ranges.len() - 1);
    }
    if !cur.jobs.is_empty() {
        windows.push(cur);
    }
    windows
}

/// The first offset at or after `at` that is congruent to `file_off` modulo [`PAGE`].
fn aligned_like(at: u64, file_off: u64) -> u64 {
    let want = file_off % PAGE;
    let base = at - at % PAGE + want;
    if base >= at {
        base
    } else {
        base + PAGE
    }
}

/// Reads window `w` of the file `src` into `buf` (at least `w.buf_bytes` long) on the I/O
/// threads. A read that meets the end of the file names the first tensor of its range;
/// `names(j)` gives the name of job `j` of the planner's input.
pub fn read_window(
    src: &dyn ReadAt,
    path: &Path,
    w: &Window,
    buf: &mut [u8],
    names: &(dyn Fn(usize) -> String + Sync),
) -> Result<()> {
    assert!(buf.len() as u64 >= w.buf_bytes, "window buffer too small");
    let mut pieces: Vec<(usize, u64, &mut [u8])> = Vec::new();
    let mut rest: &mut [u8] = buf;
    let mut pos = 0u64;
    for (ri, r) in w.ranges.iter().enumerate() {
        let (_, tail) = rest.split_at_mut((r.buf_off - pos) as usize);
        let (mut dst, tail) = tail.split_at_mut(r.len as usize);
        let mut off = r.file_off;
        while !dst.is_empty() {
            let n = dst.len().min(READ_PIECE as usize);
            let (piece, more) = dst.split_at_mut(n);
            pieces.push((ri, off, piece));
            off += n as u64;
            dst = more;
        }
        rest = tail;
        pos = r.buf_off + r.len;
    }
    io_pool().install(|| {
        pieces.into_par_iter().try_for_each(|(ri, off, piece)| {
            src.read_exact_at(piece, off).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    let r = w.ranges[ri];
                    let first = w
                        .job_range
                        .iter()
                        .position(|&x| x == ri)
                        .map_or_else(String::new, |k| names(w.jobs[k]));
                    Error::tensor(
                        &first,
                        format!(
                            "the file `{}` ends before byte {} (stored bytes [{}, {}) of this \
                             tensor and its neighbours): truncated?",
                            path.display(),
                            off + piece.len() as u64,
                            r.file_off,
                            r.file_off + r.len
                        ),
                    )
                } else {
                    Error::io("read", path, e)
                }
            })
        })
    })
}

/// Host buffers of the CPU loader, kept between loads (a fresh 64 MiB buffer costs 16,384 page
/// faults on first touch). At most [`HOST_POOL_BUFFERS`] are kept.
static HOST_POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
const HOST_POOL_BUFFERS: usize = 2;

fn take_buffer(bytes: u64) -> Vec<u8> {
    let mut pool = HOST_POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut b = pool.pop().unwrap_or_default();
    drop(pool);
    if (b.len() as u64) < bytes {
        b = vec![0u8; bytes as usize];
    }
    b
}

fn give_buffer(b: Vec<u8>) {
    // Buffers grown for one oversized tensor are not kept: the pool stays at two windows.
    if b.len() as u64 > WINDOW_BYTES + PAGE {
        return;
    }
    let mut pool = HOST_POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if pool.len() < HOST_POOL_BUFFERS {
        pool.push(b);
    }
}

/// Frees the host buffers the CPU loader keeps between loads.
pub fn release_host_buffers() {
    HOST_POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
}

/// Decodes tensors of the file `src` into their buffers (each exactly `raw_bytes` long),
/// checking every checksum: windows of about `budget` stored bytes are read with positional
/// reads, the next window while the current one decodes on every core. Host memory: two
/// windows.
pub fn decode_windows(
    src: &dyn ReadAt,
    path: &Path,
    jobs: Vec<(&TensorEntry, &mut [u8])>,
    budget: u64,
) -> Result<()> {
    for (entry, out) in &jobs {
        if out.len() as u64 != entry.raw_bytes {
            return Err(Error::BufferSize {
                tensor: entry.name.clone(),
                expected: entry.raw_bytes,
                found: out.len() as u64,
            });
        }
    }
    let entries: Vec<&TensorEntry> = jobs.iter().map(|j| j.0).collect();
    let windows = plan_windows(&entries, budget);
    let mut outs: Vec<Option<&mut [u8]>> = jobs.into_iter().map(|(_, o)| Some(o)).collect();
    let names = |j: usize| entries[j].name.clone();
    let mut cur = take_buffer(windows.first().map_or(0, |w| w.buf_bytes));
    let mut next = Vec::new();
    let result = (|| {
        if let Some(w) = windows.get(1) {
            will_need_window(src, w);
        }
        if let Some(w) = windows.first() {
            read_window(src, path, w, &mut cur, &names)?;
        }
        for (k, w) in windows.iter().enumerate() {
            // Window k + 1 is read below while this one decodes; the one after is announced.
            if let Some(w) = windows.get(k + 2) {
                will_need_window(src, w);
            }
            let rebased: Vec<TensorEntry> = w
                .jobs
                .iter()
                .enumerate()
                .map(|(i, &j)| w.rebased(i, entries[j]))
                .collect();
            let work: Vec<(&TensorEntry, &mut [u8])> = rebased
                .iter()
                .zip(&w.jobs)
                .map(|(e, &j)| (e, outs[j].take().expect("each job in one window")))
                .collect();
            let following = windows.get(k + 1);
            if let Some(f) = following {
                if (next.len() as u64) < f.buf_bytes {
                    next = take_buffer(f.buf_bytes);
                }
            }
            let (read, decoded) = std::thread::scope(|s| {
                let reader = following.map(|f| {
                    let next = &mut next;
                    let names = &names;
                    s.spawn(move || read_window(src, path, f, next, names))
                });
                let decoded = decode_tensors_into(&cur[..w.buf_bytes as usize], work);
                let read = reader.map_or(Ok(()), |h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::InvalidInput("an I/O thread panicked".into()))
                    })
                });
                (read, decoded)
            });
            decoded?;
            read?;
            std::mem::swap(&mut cur, &mut next);
        }
        Ok(())
    })();
    give_buffer(cur);
    if !next.is_empty() {
        give_buffer(next);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::header::Encoding;

    fn entry(name: &str, offset: u64, stored: u64) -> TensorEntry {
        TensorEntry {
            name: name.into(),
            dtype: crate::Dtype::U8,
            shape: vec![stored],
            raw_bytes: stored,
            xxh3: 0,
            offset,
            stored_bytes: stored,
            encoding: Encoding::Raw,
            chunk_symbols: None,
            planes: Vec::new(),
            tile_size: None,
            order0_bytes: 0,
        }
    }

    #[test]
    fn windows_cover_every_job_once_within_budget() {
        let es: Vec<TensorEntry> = (0..50)
            .map(|i| entry(&format!("t{i}"), 64 + i * 300_000, 250_000 + i * 7))
            .collect();
        let refs: Vec<&TensorEntry> = es.iter().rev().collect();
        let budget = 1 << 20;
        let ws = plan_windows(&refs, budget);
        assert!(ws.len() > 5);
        let mut seen: Vec<usize> = ws.iter().flat_map(|w| w.jobs.clone()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        for w in &ws {
            assert!(w.buf_bytes <= budget, "{} > {budget}", w.buf_bytes);
            for r in &w.ranges {
                assert_eq!(r.buf_off % PAGE, r.file_off % PAGE);
            }
            for (k, &j) in w.jobs.iter().enumerate() {
                let e = w.rebased(k, refs[j]);
                assert!(e.offset + e.stored_bytes <= w.buf_bytes);
                assert_eq!(e.offset % PAGE, refs[j].offset % PAGE);
            }
        }
    }

    #[test]
    fn near_regions_coalesce_and_far_ones_do_not() {
        let es = [
            entry("a", 4096, 1000),
            entry("b", 5096 + 100, 1000),
            entry("c", 10 << 20, 1000),
        ];
        let refs: Vec<&TensorEntry> = es.iter().collect();
        let ws = plan_windows(&refs, 64 << 20);
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].ranges.len(), 2);
        assert_eq!(ws[0].ranges[0].len, 2100);
        assert_eq!(ws[0].read_bytes(), 3100);
    }

    #[test]
    fn an_oversized_region_gets_a_window_alone() {
        let es = [
            entry("a", 0, 10),
            entry("big", 4096, 5 << 20),
            entry("c", (5 << 20) + 8192, 10),
        ];
        let refs: Vec<&TensorEntry> = es.iter().collect();
        let ws = plan_windows(&refs, 1 << 20);
        assert_eq!(ws.len(), 3);
        assert_eq!(ws[1].jobs, vec![1]);
    }

    #[test]
    fn reads_land_where_the_plan_says_and_eof_names_the_tensor() {
        let file: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + 3) as u8).collect();
        let es = [entry("x", 100, 5000), entry("y", 150_000, 40_000)];
        let refs: Vec<&TensorEntry> = es.iter().collect();
        let ws = plan_windows(&refs, 64 << 20);
        let w = &ws[0];
        let mut buf = vec![0u8; w.buf_bytes as usize];
        let names = |j: usize| refs[j].name.clone();
        read_window(&file.as_slice(), Path::new("f"), w, &mut buf, &names).unwrap();
        for (k, &j) in w.jobs.iter().enumerate() {
            let e = w.rebased(k, refs[j]);
            let got = &buf[e.offset as usize..(e.offset + e.stored_bytes) as usize];
            let want =
                &file[refs[j].offset as usize..(refs[j].offset + refs[j].stored_bytes) as usize];
            assert_eq!(got, want);
        }
        let short = &file[..170_000];
        let err = read_window(&short, Path::new("f"), w, &mut buf, &names).unwrap_err();
        match err {
            Error::CorruptTensor { tensor, detail } => {
                assert_eq!(tensor, "y");
                assert!(detail.contains("truncated"), "{detail}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn aligned_like_keeps_the_page_offset() {
        for (at, off) in [(0, 0), (0, 5000), (4097, 4096), (10, 10), (11, 10)] {
            let a = aligned_like(at, off);
            assert!(a >= at && a < at + PAGE);
            assert_eq!(a % PAGE, off % PAGE);
        }
    }
}
