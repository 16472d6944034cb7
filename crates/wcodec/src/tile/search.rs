//! The encoder's mode decision (informative: a decoder accepts any valid mode plane).
//!
//! Every tile takes the allowed (predictor, transform) pair with the fewest estimated coded
//! bits. The estimate of a candidate is the sum, over its symbols, of `−log2 p(symbol)` under
//! one table for the whole plane (the residual plane has one rANS frequency table), plus
//! `−log2 p(mode)` for signalling the mode. The table depends on the choices and the choices on
//! the table, so it is learned on a sample of tiles first:
//!
//! 1. **Sample** about 1/64 of the tiles (at least 4 Ki symbols, at most 64 Ki), spread evenly.
//! 2. **Learn**: start from a table that mixes the plane's own histogram (what flat coding
//!    costs) with a heavy-tailed prior around 0 (what residuals cost); choose every sample
//!    tile's best mode; rebuild the table from the symbols chosen; repeat (2 rounds).
//! 3. **Early-out**: if the predictors (transforms aside, which are the expensive part) do not
//!    beat flat coding on the sample by [`MIN_SAMPLE_GAIN`], the plane is coded flat and the
//!    full search never runs. Real weights, nearly i.i.d. between neighbours, stop here.
//! 4. **Full search**: every tile, every allowed mode, with the table learned on the sample
//!    (rows of tiles in parallel; the result does not depend on the thread count).
//!
//! Costs are integers computed with an integer `log2` (tables in 1/256 bit, decisions in 1/8 bit
//! with one byte per symbol so that the vector kernels can look them up), so the decisions, and
//! hence the encoded bytes, are the same on every platform and at every vector level.

use rayon::prelude::*;

use crate::rans::freq::histogram;

use super::codec::{gather, mode_counts, Place};
use super::predict;
use super::simd::{self, Level};
use super::transform::{forward_rows, line_perm, program, segments, transpose_strided};
use super::{Grid, Mode, Predictor, Transform, N_MODES};

/// Target share of tiles in the sample: 1 in 64.
pub const SAMPLE_EVERY: u64 = 64;
/// Fewest symbols in a sample (all of the plane when it has fewer): a histogram of fewer
/// symbols says too little about the plane's.
pub const MIN_SAMPLE_SYMBOLS: u64 = 4096;
/// Most symbols in a sample: bounds the sample's memory (every candidate of every sample tile
/// is kept while the table is learned) and time on large planes.
pub const MAX_SAMPLE_SYMBOLS: u64 = 1 << 16;
/// Learning rounds on the sample.
pub const ROUNDS: usize = 2;
/// The predictors must save at least this share (1/32) of the flat cost on the sample for the
/// full search to run.
pub const MIN_SAMPLE_GAIN: (u64, u64) = (1, 32);

/// A plane cut into tiles by the search: its residual plane and its mode plane.
pub struct Tiled {
    /// Residual symbols, tile after tile (format.md §6.2).
    pub residuals: Vec<u8>,
    /// One mode id per tile, in raster order of tiles.
    pub modes: Vec<u8>,
    /// Tiles per mode id.
    pub counts: [u64; N_MODES],
}

/// `log2(x)` in 1/256 units (`x ≥ 1`): the integer part from the bit length, the fraction from
/// the 8 bits below the leading one through a 256-entry table ([`log2_fraction`]). Integer
/// only, so costs (and the encoder's choices) are the same on every platform.
pub fn log2_q8(x: u64) -> u32 {
    static TABLE: std::sync::OnceLock<[u8; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| std::array::from_fn(|m| log2_fraction(256 + m as u64)));
    let x = x.max(1);
    let e = x.ilog2();
    let m = if e >= 8 {
        (x >> (e - 8)) & 0xFF
    } else {
        (x << (8 - e)) & 0xFF
    };
    (e << 8) | u32::from(table[m as usize])
}

/// `floor(256 · log2(m / 256))` for `m` in [256, 512), by repeated squaring (exact).
fn log2_fraction(m: u64) -> u8 {
    let mut m = m << 24; // Q32 mantissa in [1, 2)
    let mut frac = 0u32;
    for _ in 0..8 {
        m = ((u128::from(m) * u128::from(m)) >> 32) as u64;
        frac <<= 1;
        if m >= 2 << 32 {
            frac |= 1;
            m >>= 1;
        }
    }
    frac as u8
}

/// Cost of each symbol in 1/256 bit: `log2((2N + 256) / (2·count + 1))` (counts smoothed by ½).
#[derive(Clone)]
pub struct Table(pub [u32; 256]);

impl Table {
    /// The table of a histogram.
    pub fn from_hist(hist: &[u64; 256]) -> Table {
        let total: u64 = hist.iter().sum();
        let top = log2_q8(2 * total + 256);
        let mut t = [0u32; 256];
        for (c, &h) in t.iter_mut().zip(hist) {
            *c = top - log2_q8(2 * h + 1);
        }
        Table(t)
    }

    /// The starting table: half the plane's own histogram seen through the `none` predictor
    /// (residual `r` is symbol `(r + 128) ^ bias`), half a prior `∝ 1/(1 + |r|)²` around 0.
    fn initial(flat: &[u64; 256], bias: u8) -> Table {
        let total: u64 = flat.iter().sum::<u64>().max(1);
        let prior: Vec<u64> = (0..256u32)
            .map(|r| {
                let v = u64::from((r as u8 as i8).unsigned_abs());
                (1u64 << 32) / ((1 + v) * (1 + v))
            })
            .collect();
        let prior_total: u64 = prior.iter().sum();
        let mut mix = [0u64; 256];
        for (r, m) in mix.iter_mut().enumerate() {
            let s = (r as u8).wrapping_add(predict::MID) ^ bias;
            // Both halves scaled to 2^20 so neither dominates by its count.
            *m = (flat[s as usize] << 20) / total + (prior[r] << 20) / prior_total;
        }
        Table::from_hist(&mix)
    }
}

/// Per-mode signalling cost, in 1/256 bit, from how often the sample chose each mode.
fn mode_costs(counts: &[u64; N_MODES]) -> [u64; N_MODES] {
    let total: u64 = counts.iter().sum();
    let top = log2_q8(2 * total + N_MODES as u64);
    let mut c = [0u64; N_MODES];
    for (c, &n) in c.iter_mut().zip(counts) {
        *c = u64::from(top - log2_q8(2 * n + 1));
    }
    c
}

/// A table in the units of the full search: 1/8 bit, one byte per symbol (vector lookups).
pub struct ByteTable(pub [u8; 256]);

impl ByteTable {
    fn of(t: &Table) -> ByteTable {
        ByteTable(std::array::from_fn(|s| ((t.0[s] + 16) >> 5).min(255) as u8))
    }
}

/// Evaluates the candidates of a group of tiles of equal size side by side, so every lifting
/// step runs over one long row; buffers are reused across groups.
struct Evaluator {
    level: Level,
    /// Allowed modes, in id order.
    modes: Vec<Mode>,
    /// Allowed predictors (each allowed with `none`), and the transforms other than `none`.
    preds: Vec<Predictor>,
    kinds: Vec<Transform>,
    /// Most tiles per group (buffers are sized for it).
    group: usize,
    /// Residuals, side by side: row `i` holds row `i` of every block (block `g·n_preds + k` =
    /// tile `g` under predictor `k`): `h` rows of `n_blocks · w`.
    res: Vec<u8>,
    /// Per transform: the coefficients of every block, transposed and not permuted (costs do
    /// not depend on the order): `w` rows of `n_blocks · h`.
    coef: Vec<Vec<u8>>,
    /// The column pass: `h` rows of `n_blocks · w`.
    wide: Vec<u8>,
    /// Costs: `[block][0 = none, 1.. = kinds]`, 1/8 bit.
    costs: Vec<u32>,
}

/// Most tiles evaluated side by side.
const MAX_GROUP: usize = 16;

impl Evaluator {
    /// Tiles of width `w` per group: rows of about 256 bytes (four 64-byte vectors per lift at
    /// the default sizes; thin tiles are grouped more).
    fn group_size(&self, w: usize) -> usize {
        256usize.div_ceil(self.preds.len() * w).clamp(1, self.group)
    }

    fn new(level: Level, modes: &[Mode], tile: usize) -> Evaluator {
        let mut preds: Vec<Predictor> = modes.iter().map(|m| m.predictor).collect();
        preds.dedup();
        let mut kinds: Vec<Transform> = modes
            .iter()
            .map(|m| m.transform)
            .filter(|&t| t != Transform::None)
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        let group = MAX_GROUP;
        let len = group * preds.len() * tile * tile;
        Evaluator {
            level,
            modes: modes.to_vec(),
            res: vec![0; len],
            coef: kinds.iter().map(|_| vec![0; len]).collect(),
            wide: vec![0; len],
            costs: vec![0; group * preds.len() * (1 + kinds.len())],
            preds,
            kinds,
            group,
        }
    }

    #[inline(always)]
    fn pred_slot(&self, p: Predictor) -> usize {
        self.preds
            .iter()
            .position(|&q| q == p)
            .expect("allowed predictor")
    }

    #[inline(always)]
    fn kind_slot(&self, t: Transform) -> usize {
        match t {
            Transform::None => 0,
            t => {
                1 + self
                    .kinds
                    .iter()
                    .position(|&k| k == t)
                    .expect("allowed transform")
            }
        }
    }

    /// Computes every candidate of `n` tiles of `h × w` (biased values, `h·w` apart in `ys`).
    #[inline(always)]
    fn candidates(&mut self, ys: &[u8], n: usize, h: usize, w: usize) {
        let len = h * w;
        let np = self.preds.len();
        let nb = n * np;
        let stride = nb * w;
        for g in 0..n {
            for (k, &p) in self.preds.iter().enumerate() {
                let b = g * np + k;
                predict::forward_strided(p, &ys[g * len..], h, w, &mut self.res[b * w..], stride);
            }
        }
        for c in 0..self.kinds.len() {
            let kind = self.kinds[c];
            // Columns: row i of `wide` holds row i of every block.
            self.wide[..h * stride].copy_from_slice(&self.res[..h * stride]);
            for (at, m) in segments(h) {
                if m > 1 {
                    forward_rows(
                        self.level,
                        program(kind, m),
                        &mut self.wide,
                        stride,
                        stride,
                        at,
                    );
                }
            }
            // Rows: row j of `coef` holds column j of every block.
            let coef = &mut self.coef[c];
            let stride_t = nb * h;
            for b in 0..nb {
                transpose_strided(
                    &self.wide[b * w..],
                    stride,
                    h,
                    w,
                    &mut coef[b * h..],
                    stride_t,
                );
            }
            for (at, m) in segments(w) {
                if m > 1 {
                    forward_rows(self.level, program(kind, m), coef, stride_t, stride_t, at);
                }
            }
        }
    }

    /// Fills `costs` for the candidates computed last (`n` tiles).
    #[inline(always)]
    fn cost(&mut self, table: &ByteTable, n: usize, h: usize, w: usize) {
        let nb = n * self.preds.len();
        let nk = 1 + self.kinds.len();
        let mut sums = [0u32; MAX_GROUP * Predictor::ALL.len()];
        let sums = &mut sums[..nb];
        for k in 0..nk {
            sums.fill(0);
            if k == 0 {
                simd::cost_sums(self.level, &table.0, &self.res, nb * w, h, w, sums);
            } else {
                simd::cost_sums(self.level, &table.0, &self.coef[k - 1], nb * h, w, h, sums);
            }
            for (b, &s) in sums.iter().enumerate() {
                self.costs[b * nk + k] = s;
            }
        }
    }

    /// The cheapest allowed mode of tile `g` of the group (ties: the lowest id).
    #[inline(always)]
    fn best(&self, g: usize, mode_cost: &[u32; N_MODES]) -> Mode {
        let np = self.preds.len();
        let nk = 1 + self.kinds.len();
        let mut best = (u32::MAX, Mode::FLAT);
        for &m in &self.modes {
            let b = g * np + self.pred_slot(m.predictor);
            let cost =
                self.costs[b * nk + self.kind_slot(m.transform)] + mode_cost[m.id() as usize];
            if cost < best.0 {
                best = (cost, m);
            }
        }
        best.1
    }

    /// Calls `f` with the symbols of mode `m` of tile `g` (any order), in one or several runs.
    fn symbols(&self, g: usize, m: Mode, h: usize, w: usize, n: usize, mut f: impl FnMut(&[u8])) {
        let np = self.preds.len();
        let b = g * np + self.pred_slot(m.predictor);
        if m.transform == Transform::None {
            let stride = n * np * w;
            for i in 0..h {
                f(&self.res[i * stride + b * w..i * stride + (b + 1) * w]);
            }
            return;
        }
        let coef = &self.coef[self.kind_slot(m.transform) - 1];
        let stride_t = n * np * h;
        for j in 0..w {
            f(&coef[j * stride_t + b * h..j * stride_t + (b + 1) * h]);
        }
    }

    /// Writes the symbols of mode `m` of tile `g` (of `n`) in format order. Transformed tiles
    /// are gathered from the search's coefficients: row transforms commute with permuting rows,
    /// so coefficient `(ki, kj)` is the unpermuted value at row `perm_w[kj]`, column
    /// `perm_h[ki]` of the transposed block.
    fn write(&self, g: usize, n: usize, m: Mode, h: usize, w: usize, out: &mut [u8]) {
        let np = self.preds.len();
        let b = g * np + self.pred_slot(m.predictor);
        if m.transform == Transform::None {
            let stride = n * np * w;
            for (i, row) in out.chunks_exact_mut(w).enumerate() {
                row.copy_from_slice(&self.res[i * stride + b * w..i * stride + (b + 1) * w]);
            }
            return;
        }
        let coef = &self.coef[self.kind_slot(m.transform) - 1];
        let stride_t = n * np * h;
        let (ph, pw) = (line_perm(m.transform, h), line_perm(m.transform, w));
        for (row, &pi) in out.chunks_exact_mut(w).zip(ph) {
            let col = b * h + pi as usize;
            for (o, &pj) in row.iter_mut().zip(pw) {
                *o = coef[pj as usize * stride_t + col];
            }
        }
    }
}

/// The candidates of the sample tiles, kept while the table is learned.
struct Sample {
    /// Per sample tile: `(h, w)`.
    shapes: Vec<(usize, usize)>,
    /// Per sample tile, per mode (in `modes` order): its symbols, `h·w` each.
    symbols: Vec<Vec<u8>>,
    modes: Vec<Mode>,
    /// The sample tiles' symbols as they are (for the flat cost).
    raw: Vec<u8>,
}

/// The sample: `want` tiles, rows of tiles evenly spaced, columns scattered by a
/// multiplicative hash (a stride alone can land every tile in the same column).
fn sample_tiles(grid: &Grid) -> Vec<(u64, u64)> {
    let n = grid.n_tiles();
    let symbols =
        (grid.rows * grid.cols / SAMPLE_EVERY).clamp(MIN_SAMPLE_SYMBOLS, MAX_SAMPLE_SYMBOLS);
    let want = (symbols / (grid.tile * grid.tile)).clamp(1, n);
    if want == n {
        return (0..n)
            .map(|t| (t / grid.tile_cols(), t % grid.tile_cols()))
            .collect();
    }
    (0..want)
        .map(|k| {
            let ti = (2 * k + 1) * grid.tile_rows() / (2 * want);
            let hash = (k.wrapping_mul(0x9E37_79B9) & 0xFFFF_FFFF) * grid.tile_cols();
            (ti, hash >> 32)
        })
        .collect()
}

impl Sample {
    fn take(plane: &[u8], grid: &Grid, bias: u8, modes: &[Mode]) -> Sample {
        let (cols, tile) = (grid.cols as usize, grid.tile as usize);
        let mut ev = Evaluator::new(simd::detected(), modes, tile);
        let mut y = vec![0u8; tile * tile];
        let mut s = Sample {
            shapes: Vec::new(),
            symbols: Vec::new(),
            modes: modes.to_vec(),
            raw: Vec::new(),
        };
        for (ti, tj) in sample_tiles(grid) {
            let (h, w) = (grid.tile_height(ti) as usize, grid.tile_width(tj) as usize);
            let band = &plane[ti as usize * tile * cols..];
            let at = Place {
                cols,
                tile,
                tj: tj as usize,
                h,
                w,
            };
            gather(band, at, bias, &mut y);
            ev.candidates(&y, 1, h, w);
            let mut all = Vec::with_capacity(modes.len() * h * w);
            for &m in modes {
                ev.symbols(0, m, h, w, 1, |run| all.extend_from_slice(run));
            }
            s.raw.extend(y[..h * w].iter().map(|&v| v ^ bias));
            s.shapes.push((h, w));
            s.symbols.push(all);
        }
        s
    }

    /// Learns the table on the sample; returns it with the mode costs and the estimated cost of
    /// the sample with tiles, in 1/256 bit.
    /// Choices use the full search's units (1/8 bit, [`ByteTable`]), so the sample decides as
    /// the full search would; the estimate is in 1/256 bit.
    fn learn(&self, start: Table) -> (Table, [u64; N_MODES], u64) {
        let level = simd::detected();
        let mut table = start;
        let mut mode_cost = mode_costs(&[1; N_MODES]);
        let mut estimate = 0;
        let mut costs = vec![0u32; self.modes.len()];
        for _ in 0..ROUNDS {
            let mut hist = [0u64; 256];
            let mut counts = [0u64; N_MODES];
            let bytes = ByteTable::of(&table);
            for ((h, w), all) in self.shapes.iter().zip(&self.symbols) {
                let len = h * w;
                costs.fill(0);
                simd::cost_sums(level, &bytes.0, all, len, 1, len, &mut costs);
                let (best, _) = self
                    .modes
                    .iter()
                    .zip(&costs)
                    .enumerate()
                    .map(|(k, (m, &c))| {
                        (k, ((mode_cost[m.id() as usize] + 16) >> 5) + u64::from(c))
                    })
                    .min_by_key(|&(k, c)| (c, k))
                    .expect("at least one mode");
                for &s in &all[best * len..(best + 1) * len] {
                    hist[s as usize] += 1;
                }
                counts[self.modes[best].id() as usize] += 1;
            }
            table = Table::from_hist(&hist);
            mode_cost = mode_costs(&counts);
            estimate = entropy(&hist) + entropy_modes(&counts);
        }
        (table, mode_cost, estimate)
    }
}

/// Cost in 1/256 bit of data with histogram `hist` under its own (smoothed) table.
fn entropy(hist: &[u64; 256]) -> u64 {
    let t = Table::from_hist(hist);
    hist.iter().zip(t.0).map(|(&h, c)| h * u64::from(c)).sum()
}

fn entropy_modes(counts: &[u64; N_MODES]) -> u64 {
    let c = mode_costs(counts);
    counts.iter().zip(c).map(|(&n, c)| n * c).sum()
}

/// What the search was asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effort {
    /// Sample first; code the plane flat when the predictors do not gain on the sample.
    EarlyOut,
    /// Always run the full search (benchmarks).
    Full,
}

/// Decides a mode for every tile of `plane` and computes its residual plane; `None` when the
/// sample says tiles will not pay (or every tile chose `none`/`none`). `flat_hist` is the
/// plane's histogram; `modes` the allowed modes in id order.
pub fn search(
    plane: &[u8],
    grid: &Grid,
    bias: u8,
    modes: &[Mode],
    flat_hist: &[u64; 256],
    effort: Effort,
) -> Option<Tiled> {
    if grid.n_tiles() == 0 || modes.len() < 2 {
        return None;
    }
    let start = Table::initial(flat_hist, bias);
    let cheap: Vec<Mode> = modes
        .iter()
        .copied()
        .filter(|m| m.transform == Transform::None)
        .collect();
    let (first, rest): (Vec<Mode>, bool) = if cheap.len() >= 2 && effort == Effort::EarlyOut {
        (cheap, true)
    } else {
        (modes.to_vec(), false)
    };
    let sample = Sample::take(plane, grid, bias, &first);
    // Both estimates use tables fitted to the sample, so their optimism is alike.
    let flat_cost = entropy(&histogram(&sample.raw));
    let (mut table, mut mode_cost, estimate) = sample.learn(start.clone());
    if effort == Effort::EarlyOut
        && estimate.saturating_mul(MIN_SAMPLE_GAIN.1)
            >= flat_cost.saturating_mul(MIN_SAMPLE_GAIN.1 - MIN_SAMPLE_GAIN.0)
    {
        return None;
    }
    if rest {
        let full = Sample::take(plane, grid, bias, modes);
        (table, mode_cost, _) = full.learn(start);
    }
    let tiled = full_search(plane, grid, bias, modes, &table, &mode_cost);
    (tiled.counts[Mode::FLAT.id() as usize] < grid.n_tiles()).then_some(tiled)
}

/// Every tile, every allowed mode, under a fixed table: rows of tiles in parallel.
fn full_search(
    plane: &[u8],
    grid: &Grid,
    bias: u8,
    modes: &[Mode],
    table: &Table,
    mode_cost: &[u64; N_MODES],
) -> Tiled {
    let (cols, tile) = (grid.cols as usize, grid.tile as usize);
    let band = tile * cols;
    let table = ByteTable::of(table);
    let mode_cost: [u32; N_MODES] = std::array::from_fn(|m| ((mode_cost[m] + 16) >> 5) as u32);
    let level = simd::detected();
    let mut residuals = vec![0u8; plane.len()];
    let mut mode_ids = vec![0u8; grid.n_tiles() as usize];
    // Tasks of whole rows of tiles, at least 64 tiles each, so thin tiles still fill groups.
    let tcols = grid.tile_cols() as usize;
    let rows_per_task = 64usize.div_ceil(tcols);
    residuals
        .par_chunks_mut(band * rows_per_task)
        .zip(plane.par_chunks(band * rows_per_task))
        .zip(mode_ids.par_chunks_mut(tcols * rows_per_task))
        .enumerate()
        .for_each_init(
            || {
                let ev = Evaluator::new(level, modes, tile);
                let ys = vec![0u8; ev.group * tile * tile];
                (ev, ys)
            },
            |(ev, ys), (task, ((out, rows), ids))| {
                let ti0 = (task * rows_per_task) as u64;
                let base = grid.tile_offset(ti0, 0);
                let tiles: Vec<(u64, u64)> = (0..ids.len() as u64)
                    .map(|t| (ti0 + t / tcols as u64, t % tcols as u64))
                    .collect();
                let mut k = 0;
                while k < tiles.len() {
                    // A group: consecutive tiles of the same size.
                    let (ti, tj) = tiles[k];
                    let (h, w) = (grid.tile_height(ti) as usize, grid.tile_width(tj) as usize);
                    let max = ev.group_size(w);
                    let mut n = 0;
                    while n < max && k + n < tiles.len() {
                        let (ti, tj) = tiles[k + n];
                        if (grid.tile_height(ti) as usize, grid.tile_width(tj) as usize) != (h, w) {
                            break;
                        }
                        let band_rows = &rows[(ti - ti0) as usize * band..];
                        let place = Place {
                            cols,
                            tile,
                            tj: tj as usize,
                            h,
                            w,
                        };
                        gather(band_rows, place, bias, &mut ys[n * h * w..]);
                        n += 1;
                    }
                    ev.candidates(ys, n, h, w);
                    ev.cost(&table, n, h, w);
                    for g in 0..n {
                        let (ti, tj) = tiles[k + g];
                        let m = ev.best(g, &mode_cost);
                        let at = (grid.tile_offset(ti, tj) - base) as usize;
                        ev.write(g, n, m, h, w, &mut out[at..at + h * w]);
                        ids[k + g] = m.id();
                    }
                    k += n;
                }
            },
        );
    let counts = mode_counts(&mode_ids);
    Tiled {
        residuals,
        modes: mode_ids,
        counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_is_exact_on_powers_and_monotone() {
        assert_eq!(log2_q8(1), 0);
        assert_eq!(log2_q8(2), 256);
        assert_eq!(log2_q8(1 << 40), 40 << 8);
        // log2(3) = 1.58496…: mantissa 1.5 → floor(256 · log2 1.5) = 149.
        assert_eq!(log2_q8(3), 256 + 149);
        let mut prev = 0;
        for x in 1..5000u64 {
            let v = log2_q8(x);
            assert!(v >= prev);
            // Mantissas are cut to 8 bits: within 1/128 of the true value.
            assert!(
                (f64::from(v) / 256.0 - (x as f64).log2()).abs() < 1.0 / 100.0,
                "{x}"
            );
            prev = v;
        }
        assert!(log2_q8(u64::MAX) <= 64 << 8);
    }

    #[test]
    fn sample_tiles_are_spread_and_bounded() {
        let g = Grid {
            rows: 1024,
            cols: 1024,
            tile: 16,
        };
        let s = sample_tiles(&g);
        assert_eq!(s.len(), 64); // 4096 tiles / 64
        let g = Grid {
            rows: 64,
            cols: 64,
            tile: 16,
        };
        assert_eq!(sample_tiles(&g).len(), 16);
        let g = Grid {
            rows: 8192,
            cols: 8192,
            tile: 64,
        };
        assert_eq!(sample_tiles(&g).len(), 16); // 2^16 symbols / 4096
        let g = Grid {
            rows: 5,
            cols: 5,
            tile: 16,
        };
        assert_eq!(sample_tiles(&g), [(0, 0)]);
    }
}
