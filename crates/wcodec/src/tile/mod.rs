//! The tile toolset (format.md §6): per-tile intra prediction and reversible integer
//! transforms on symbol planes.
//!
//! A plane of `n` symbols is viewed as an `rows × cols` array ([`Grid`]) and cut into
//! `tile_size × tile_size` tiles (smaller at the right and bottom edges). Every tile is coded
//! with one [`Mode`]: a [`Predictor`] that predicts each symbol from symbols already decoded
//! *inside the same tile*, and a [`Transform`] applied to the prediction residuals. All of it is
//! arithmetic modulo 256 on bytes, so each step is a bijection and the residual symbols are
//! bytes again: they go through the ordinary chunked rANS plane coder, and the per-tile modes
//! form a second, small plane of their own.
//!
//! # Invariants
//!
//! * **Tiles are independent.** Reconstructing a tile reads only its own residual symbols (one
//!   contiguous run of the residual plane, at [`Grid::tile_offset`]) and its mode byte, so tiles
//!   decode in any order and in parallel (a GPU thread block per tile).
//! * **Lossless by construction.** Prediction is `residual = value − prediction (mod 256)` with
//!   the prediction computed from earlier values of the tile; transforms are lifting networks
//!   whose every step `v[a] += f(v[b]) (mod 256)` is undone by subtracting the same `f(v[b])`.
//! * **Bit-exact everywhere.** Only integer arithmetic; the lifting constants are a fixed table.
//!
//! Modules (internals; `#[doc(hidden)]` where another crate or this crate's tests need them):
//! `predict` (predictors, forward and inverse), `transform` (the lifting programs), `naive`
//! (the spec-literal oracle), `search` (the encoder's mode decision), `codec` (the decoder's
//! parallel reconstruction of whole planes) and `simd` (vector kernels for the lifts,
//! transposes and cost sums, checked against their scalar forms).

// The CLI's `inspect` counts predicted tiles; integration tests rebuild single tiles.
#[doc(hidden)]
pub mod codec;
mod lift;
// The spec-literal oracle the integration tests compare the codec with.
#[doc(hidden)]
pub mod naive;
mod predict;
// The encoder's mode decision: integration tests and the `tiles` example drive it.
#[doc(hidden)]
pub mod search;
// Vector kernels: integration tests run every [`simd::Level`] the CPU has.
#[doc(hidden)]
pub mod simd;
// The lifting programs: `wcodec-cuda` generates the GPU kernel's constant tables from them.
#[doc(hidden)]
pub mod transform;

use crate::dtype::{Dtype, PlaneSplit};
use crate::error::{Error, Result};

/// Smallest tile side a file may use.
pub const MIN_TILE_SIZE: u32 = 4;
/// Largest tile side a file may use: 64 × 64 symbols still fit a GPU thread block's shared
/// memory several times over, and the transforms are defined up to 64 points.
pub const MAX_TILE_SIZE: u32 = 64;
/// The specification's default tile side.
pub const DEFAULT_TILE_SIZE: u32 = 16;
/// Number of distinct modes: 5 predictors × 3 transforms.
pub const N_MODES: usize = 15;

/// How a tile's symbols are predicted from earlier symbols of the same tile (format.md §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Predictor {
    /// No prediction: every symbol is predicted by the midpoint of the range.
    None,
    /// The symbol to the left.
    Left,
    /// The symbol above.
    Top,
    /// The floor of the mean of left and top.
    Avg,
    /// The plane through left, top and top-left (`left + top − topleft`), clamped.
    Planar,
}

/// The transform applied to a tile's residuals (format.md §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transform {
    /// Residuals are coded as they are.
    None,
    /// Reversible integer DCT-II (lifting).
    Dct,
    /// Reversible integer ADST: the DST-IV of VP9/AV1's 8- and 16-point ADST (lifting).
    Adst,
}

impl Predictor {
    /// Every predictor, in mode-id order.
    pub const ALL: [Predictor; 5] = [
        Predictor::None,
        Predictor::Left,
        Predictor::Top,
        Predictor::Avg,
        Predictor::Planar,
    ];

    /// The name used on the command line and in Python (`none`, `left`, …).
    pub fn name(self) -> &'static str {
        match self {
            Predictor::None => "none",
            Predictor::Left => "left",
            Predictor::Top => "top",
            Predictor::Avg => "avg",
            Predictor::Planar => "planar",
        }
    }

    /// Index in [`Predictor::ALL`]: the predictor part of a mode id.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Transform {
    /// Every transform, in mode-id order.
    pub const ALL: [Transform; 3] = [Transform::None, Transform::Dct, Transform::Adst];

    /// The name used on the command line and in Python (`none`, `dct`, `adst`).
    pub fn name(self) -> &'static str {
        match self {
            Transform::None => "none",
            Transform::Dct => "dct",
            Transform::Adst => "adst",
        }
    }

    /// Index in [`Transform::ALL`]: the transform part of a mode id.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Predictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for Transform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Predictor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Predictor::ALL
            .into_iter()
            .find(|p| p.name() == s.trim())
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown predictor `{s}` (expected none, left, top, avg or planar)"
                ))
            })
    }
}

impl std::str::FromStr for Transform {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Transform::ALL
            .into_iter()
            .find(|t| t.name() == s.trim())
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown transform `{s}` (expected none, dct or adst)"
                ))
            })
    }
}

/// A (predictor, transform) pair; its id `predictor · 3 + transform` is the symbol of the mode
/// plane (format.md §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mode {
    /// The predictor.
    pub predictor: Predictor,
    /// The transform of the residuals.
    pub transform: Transform,
}

impl Mode {
    /// `none`/`none`: the symbols (offset to the midpoint) as they are.
    pub const FLAT: Mode = Mode {
        predictor: Predictor::None,
        transform: Transform::None,
    };

    /// The mode of a mode-plane symbol; `None` for ids ≥ 15.
    pub fn from_id(id: u8) -> Option<Mode> {
        let id = usize::from(id);
        (id < N_MODES).then(|| Mode {
            predictor: Predictor::ALL[id / 3],
            transform: Transform::ALL[id % 3],
        })
    }

    /// The mode-plane symbol of this mode.
    pub fn id(self) -> u8 {
        (self.predictor.index() * 3 + self.transform.index()) as u8
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+{}", self.predictor, self.transform)
    }
}

/// Encoder settings of the tile toolset (the `--tile-size`, `--predictors` and `--transforms`
/// flags; `tile_size`, `predictor_modes` and `transforms` in Python).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileOptions {
    /// Tile side in symbols: 4 to 64, or 0 to code every plane flat.
    pub tile_size: u32,
    /// Predictors the mode search may choose (`none` is always allowed).
    pub predictors: Vec<Predictor>,
    /// Transforms the mode search may choose (`none` is always allowed).
    pub transforms: Vec<Transform>,
    /// What a tiled plane's slower decode costs, charged as size: tiles must save at least this
    /// percentage of the plane's original bytes (0 to 100; 0 keeps any tiling that saves
    /// [`crate::tensor::MIN_TILE_GAIN`]). See [`DEFAULT_TILE_DECODE_COST`].
    pub decode_cost: u32,
}

/// The default [`TileOptions::decode_cost`]. Rebuilding tiles runs at about a quarter of the
/// rANS decoder's speed per symbol on a CPU core (~300 MB/s against ~1.3 GB/s), so a tiled plane
/// decodes about 5× slower than a flat one. At 6% a plane whose tiles save a few percent (a
/// large token embedding: ~4%, which made a whole int8 file decode 2.5× slower for 2% of its
/// size) is coded flat, while small smooth tables that save more stay tiled (the public test
/// set's position embeddings save 8–10% and slow their files by ~4%).
pub const DEFAULT_TILE_DECODE_COST: u32 = 6;

impl Default for TileOptions {
    /// The specification's defaults: 16 × 16 tiles, predictors `left,top,avg,planar`,
    /// transforms `none,dct,adst`, full mode search.
    fn default() -> Self {
        TileOptions {
            tile_size: DEFAULT_TILE_SIZE,
            predictors: vec![
                Predictor::Left,
                Predictor::Top,
                Predictor::Avg,
                Predictor::Planar,
            ],
            transforms: vec![Transform::None, Transform::Dct, Transform::Adst],
            decode_cost: DEFAULT_TILE_DECODE_COST,
        }
    }
}

impl TileOptions {
    /// Flat coding only: no plane is tiled, and the encoder writes what it wrote before the tile
    /// toolset existed (format version 1).
    pub fn disabled() -> Self {
        TileOptions {
            tile_size: 0,
            predictors: Vec::new(),
            transforms: Vec::new(),
            decode_cost: DEFAULT_TILE_DECODE_COST,
        }
    }

    /// Whether the encoder tries tiles at all: a tile size is set and some mode other than
    /// `none`/`none` is allowed.
    pub fn enabled(&self) -> bool {
        self.tile_size != 0
            && (self.predictors.iter().any(|&p| p != Predictor::None)
                || self.transforms.iter().any(|&t| t != Transform::None))
    }

    /// Checks the tile size (0, or 4 to 64) and the decode cost (0 to 100).
    pub fn validate(&self) -> Result<()> {
        let t = self.tile_size;
        if t != 0 && !(MIN_TILE_SIZE..=MAX_TILE_SIZE).contains(&t) {
            return Err(Error::InvalidInput(format!(
                "tile size {t} is not in [{MIN_TILE_SIZE}, {MAX_TILE_SIZE}] (0 disables tiles)"
            )));
        }
        if self.decode_cost > 100 {
            return Err(Error::InvalidInput(format!(
                "tile decode cost {} is not a percentage in [0, 100]",
                self.decode_cost
            )));
        }
        Ok(())
    }

    /// The modes the search may choose, in id order (always including `none`/`none`).
    pub fn modes(&self) -> Vec<Mode> {
        let mut modes = Vec::new();
        for p in Predictor::ALL {
            if p != Predictor::None && !self.predictors.contains(&p) {
                continue;
            }
            for t in Transform::ALL {
                if t != Transform::None && !self.transforms.contains(&t) {
                    continue;
                }
                modes.push(Mode {
                    predictor: p,
                    transform: t,
                });
            }
        }
        modes
    }
}

/// Parses a comma-separated list of names (`left,top`), as the CLI and Python take them.
pub fn parse_list<T: std::str::FromStr<Err = Error>>(text: &str) -> Result<Vec<T>> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// The 2-D view of a plane and its tile grid (format.md §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    /// Rows of the view.
    pub rows: u64,
    /// Columns of the view.
    pub cols: u64,
    /// Tile side.
    pub tile: u64,
}

impl Grid {
    /// The view of a plane of `n` symbols of a tensor of `shape`: rows = the first dimension
    /// when the tensor has at least two dimensions and it divides `n`, else one row.
    pub fn new(shape: &[u64], n: u64, tile: u64) -> Grid {
        let rows = match shape {
            [first, _, ..] if *first > 0 && n.is_multiple_of(*first) => *first,
            _ => 1,
        };
        Grid {
            rows,
            cols: n / rows,
            tile,
        }
    }

    /// Tiles per column of tiles (rows of tiles).
    pub fn tile_rows(&self) -> u64 {
        self.rows.div_ceil(self.tile)
    }

    /// Tiles per row of tiles.
    pub fn tile_cols(&self) -> u64 {
        self.cols.div_ceil(self.tile)
    }

    /// Number of tiles.
    pub fn n_tiles(&self) -> u64 {
        self.tile_rows() * self.tile_cols()
    }

    /// Height of the tiles of tile row `ti`.
    pub fn tile_height(&self, ti: u64) -> u64 {
        self.tile.min(self.rows - ti * self.tile)
    }

    /// Width of the tiles of tile column `tj`.
    pub fn tile_width(&self, tj: u64) -> u64 {
        self.tile.min(self.cols - tj * self.tile)
    }

    /// Where the residual symbols of tile `(ti, tj)` start in the residual plane: tiles are
    /// stored in raster order, each as a contiguous run of `h · w` symbols in raster order.
    pub fn tile_offset(&self, ti: u64, tj: u64) -> u64 {
        ti * self.tile * self.cols + tj * self.tile * self.tile_height(ti)
    }
}

/// Whether plane `p` of `dtype` holds two's-complement values (format.md §6.3): the byte plane
/// of `I8` and the top plane of `I16`, `I32`, `I64`. Their symbols are biased by 128 before
/// averaging, so that the mean of −1 and 1 is 0, not 128.
pub fn plane_is_signed(dtype: Dtype, p: usize) -> bool {
    p == 0
        && matches!(
            (dtype, dtype.plane_layout()),
            (Dtype::I8, PlaneSplit::Bytes)
                | (
                    Dtype::I16 | Dtype::I32 | Dtype::I64,
                    PlaneSplit::Integer { .. }
                )
        )
}

/// The bias XORed into the symbols of a plane before prediction (0x80 for signed planes).
pub fn plane_bias(dtype: Dtype, p: usize) -> u8 {
    if plane_is_signed(dtype, p) {
        0x80
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_errors_name_the_value() {
        for p in Predictor::ALL {
            assert_eq!(p.to_string().parse::<Predictor>().unwrap(), p);
        }
        for t in Transform::ALL {
            assert_eq!(t.to_string().parse::<Transform>().unwrap(), t);
        }
        let e = "lft".parse::<Predictor>().unwrap_err().to_string();
        assert!(e.contains("`lft`"), "{e}");
        let e = parse_list::<Transform>("none,dst").unwrap_err().to_string();
        assert!(e.contains("`dst`"), "{e}");
        assert_eq!(
            parse_list::<Predictor>("left, top").unwrap(),
            [Predictor::Left, Predictor::Top]
        );
    }

    #[test]
    fn mode_ids() {
        for id in 0..=255u8 {
            match Mode::from_id(id) {
                Some(m) => assert_eq!(m.id(), id),
                None => assert!(usize::from(id) >= N_MODES),
            }
        }
        assert_eq!(Mode::FLAT.id(), 0);
        assert_eq!(TileOptions::default().modes().len(), 15);
        assert_eq!(TileOptions::disabled().modes(), [Mode::FLAT]);
        assert!(!TileOptions::disabled().enabled());
        let only_dct = TileOptions {
            tile_size: 8,
            predictors: vec![],
            transforms: vec![Transform::Dct],
            decode_cost: 0,
        };
        assert!(only_dct.enabled());
        assert_eq!(only_dct.modes().len(), 2);
    }

    #[test]
    fn tile_size_validation() {
        for t in [0, 4, 16, 64] {
            TileOptions {
                tile_size: t,
                ..TileOptions::default()
            }
            .validate()
            .unwrap();
        }
        for t in [1, 3, 65, 1000] {
            let e = TileOptions {
                tile_size: t,
                ..TileOptions::default()
            }
            .validate()
            .unwrap_err()
            .to_string();
            assert!(e.contains(&format!("tile size {t} ")), "{e}");
        }
        let bad_cost = TileOptions {
            decode_cost: 101,
            ..TileOptions::default()
        };
        let e = bad_cost.validate().unwrap_err().to_string();
        assert!(e.contains("tile decode cost 101 "), "{e}");
    }

    #[test]
    fn grid_geometry() {
        let g = Grid::new(&[10, 3, 3], 90, 4);
        assert_eq!((g.rows, g.cols), (10, 9));
        assert_eq!((g.tile_rows(), g.tile_cols(), g.n_tiles()), (3, 3, 9));
        assert_eq!((g.tile_height(2), g.tile_width(2)), (2, 1));
        // Tile offsets: every tile starts where the previous one ends.
        let mut expect = 0;
        for ti in 0..g.tile_rows() {
            for tj in 0..g.tile_cols() {
                assert_eq!(g.tile_offset(ti, tj), expect);
                expect += g.tile_height(ti) * g.tile_width(tj);
            }
        }
        assert_eq!(expect, 90);
        assert_eq!(Grid::new(&[7], 7, 4).rows, 1);
        assert_eq!(Grid::new(&[], 1, 4).cols, 1);
        // Packed sub-byte tensors whose bytes do not split into rows: one row.
        assert_eq!(Grid::new(&[3, 3], 5, 4).rows, 1);
    }

    #[test]
    fn signed_planes() {
        assert!(plane_is_signed(Dtype::I8, 0));
        assert!(plane_is_signed(Dtype::I32, 0));
        assert!(!plane_is_signed(Dtype::I32, 1));
        assert!(!plane_is_signed(Dtype::U8, 0));
        assert!(!plane_is_signed(Dtype::BF16, 0));
        assert!(!plane_is_signed(Dtype::F8E4M3, 0));
    }
}
