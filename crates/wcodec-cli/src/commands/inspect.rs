//! `wcodec inspect`: what a `.wcodec` file holds, tensor by tensor; for an encoded model
//! directory, first what the directory is (shards, index, copied files, how to load it).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::json;
use wcodec::dtype::element_count;
use wcodec::format::header::{Encoding, TensorEntry};
use wcodec::plane_coding::Coder;
use wcodec::tile::codec::predicted_tiles;
use wcodec::tile::{Mode, N_MODES};
use wcodec::Archive;

use super::runner::Outcome;
use crate::args::InspectArgs;
use crate::summary::{self, size, xxh3};

pub(crate) fn run(args: &InspectArgs, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let files = wcodec_files(&args.path)?;
    if args.header {
        for (i, path) in files.iter().enumerate() {
            if files.len() > 1 {
                writeln!(out, "{}# {}", if i > 0 { "\n" } else { "" }, path.display())?;
            }
            let json = header_json(path)
                .with_context(|| format!("cannot read the header of `{}`", path.display()))?;
            serde_json::to_writer_pretty(&mut *out, &json)?;
            writeln!(out)?;
        }
        return Ok(Outcome::Success);
    }
    let directory = if args.path.is_dir() {
        Some(describe_dir(&args.path)?)
    } else {
        None
    };
    if let (Some(d), false) = (&directory, args.json) {
        d.human(out, &args.path)?;
        writeln!(out)?;
    }
    let mut totals = Totals::default();
    let mut reports = Vec::new();
    for (i, path) in files.iter().enumerate() {
        // Errors of `open` and of the tile modes name the file and what to do.
        let archive = Archive::open(path)?;
        let tiles = (0..archive.tensors().len())
            .map(|t| TensorTiles::of(&archive, t))
            .collect::<anyhow::Result<Vec<_>>>()
            .context("cannot read the tile modes")?;
        let file_totals = Totals::of(&archive, &tiles);
        if args.json {
            reports.push(file_json(path, &archive, &file_totals, &tiles));
        } else {
            if i > 0 {
                writeln!(out)?;
            }
            file_human(out, path, &archive, &file_totals, &tiles)?;
        }
        totals.add(&file_totals);
    }
    if args.json {
        let mut value = json!({"command": "inspect", "files": reports, "totals": totals.json()});
        if let Some(d) = &directory {
            value["directory"] = d.json();
        }
        summary::print_json(out, &value)?;
    } else if files.len() > 1 {
        writeln!(
            out,
            "\nAll {} files: {} tensors, {} → {} ({} with headers and padding)",
            files.len(),
            totals.n_tensors,
            size(totals.raw_bytes),
            size(totals.stored_bytes),
            size(totals.file_bytes)
        )?;
    }
    Ok(Outcome::Success)
}

/// `path` itself, or the `.wcodec` files under the directory `path`.
fn wcodec_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let files: Vec<PathBuf> = wcodec::dir::list_files(path)
        .with_context(|| format!("cannot list `{}`", path.display()))?
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == wcodec::dir::WCODEC_EXT))
        .map(|f| path.join(f))
        .collect();
    if files.is_empty() {
        bail!("no .wcodec files in `{}`", path.display());
    }
    Ok(files)
}

/// What an encoded model directory holds, beyond its `.wcodec` files' contents.
struct DirInfo {
    /// `(.wcodec file, source file it restores)`, relative to the directory.
    shards: Vec<(PathBuf, String)>,
    indexes: Vec<IndexInfo>,
    /// Files copied unchanged by the encoder (restored as they are).
    other: Vec<PathBuf>,
    /// `.safetensors` files beside the `.wcodec` ones (not written by wcodec-encode).
    plain: Vec<PathBuf>,
}

/// A `*.wcodec.index.json`.
struct IndexInfo {
    file: PathBuf,
    tensors: usize,
    shards: usize,
    missing: Vec<String>,
    /// The safetensors index it restores; `None` for an index written before wcodec kept the
    /// original inside it (the original is then the copied file beside it).
    restores: Option<String>,
}

fn describe_dir(dir: &Path) -> anyhow::Result<DirInfo> {
    let files =
        wcodec::dir::list_files(dir).with_context(|| format!("cannot list `{}`", dir.display()))?;
    let mut info = DirInfo {
        shards: Vec::new(),
        indexes: Vec::new(),
        other: Vec::new(),
        plain: Vec::new(),
    };
    for rel in files {
        let path = dir.join(&rel);
        if rel
            .extension()
            .is_some_and(|e| e == wcodec::dir::WCODEC_EXT)
        {
            let archive = Archive::open(&path)?;
            info.shards
                .push((rel, archive.header().source.file_name.clone()));
        } else if wcodec::dir::is_wcodec_index(&rel) {
            let restores = wcodec::dir::restored_index(&path)?.map(|(name, _)| name);
            let text = std::fs::read(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            let index: serde_json::Value = serde_json::from_slice(&text)
                .with_context(|| format!("`{}` is not valid JSON", path.display()))?;
            let map = index["weight_map"].as_object();
            let mut shards: Vec<String> = map
                .map(|m| {
                    m.values()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            shards.sort();
            shards.dedup();
            let base = path.parent().unwrap_or(dir);
            let missing = shards
                .iter()
                .filter(|s| !base.join(s).is_file())
                .cloned()
                .collect();
            info.indexes.push(IndexInfo {
                file: rel,
                tensors: map.map_or(0, serde_json::Map::len),
                shards: shards.len(),
                missing,
                restores,
            });
        } else if rel.extension().is_some_and(|e| e == "safetensors") {
            info.plain.push(rel);
        } else {
            info.other.push(rel);
        }
    }
    Ok(info)
}

impl DirInfo {
    fn human(&self, out: &mut dyn Write, dir: &Path) -> std::io::Result<()> {
        writeln!(out, "Encoded model directory {}", dir.display())?;
        writeln!(
            out,
            "  Weights:   {} .wcodec files, each restoring its source file:",
            self.shards.len()
        )?;
        for (rel, source) in &self.shards {
            writeln!(out, "               {} → {source}", rel.display())?;
        }
        for i in &self.indexes {
            let restores = i.restores.as_ref().map_or_else(
                || " (older layout: the original index is the copied file beside it)".to_owned(),
                |r| format!(", restores {r}"),
            );
            writeln!(
                out,
                "  Index:     {}: {} tensors in {} shards{restores}",
                i.file.display(),
                i.tensors,
                i.shards
            )?;
            if !i.missing.is_empty() {
                writeln!(
                    out,
                    "  MISSING:   shards the index lists: {}",
                    i.missing.join(", ")
                )?;
            }
        }
        if !self.other.is_empty() {
            let names: Vec<String> = self.other.iter().map(|p| p.display().to_string()).collect();
            writeln!(
                out,
                "  Copied:    {} files kept unchanged: {}",
                names.len(),
                names.join(", ")
            )?;
        }
        if !self.plain.is_empty() {
            let names: Vec<String> = self.plain.iter().map(|p| p.display().to_string()).collect();
            writeln!(
                out,
                "  Note:      plain .safetensors files beside the .wcodec ones (not written by wcodec-encode): {}",
                names.join(", ")
            )?;
        }
        let d = dir.display();
        writeln!(
            out,
            "  Load with: vllm serve {d}    (vLLM, with the wcodec package installed)"
        )?;
        writeln!(
            out,
            "             wcodec.transformers.from_pretrained(\"{d}\")    (Transformers)"
        )?;
        writeln!(
            out,
            "             wcodec decode --input {d} --output DIR    (back to safetensors)"
        )
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "shards": self.shards.iter().map(|(rel, source)| json!({
                "file": rel.display().to_string(), "restores": source,
            })).collect::<Vec<_>>(),
            "indexes": self.indexes.iter().map(|i| json!({
                "file": i.file.display().to_string(),
                "tensors": i.tensors,
                "shards": i.shards,
                "missing_shards": i.missing,
                "restores": i.restores,
            })).collect::<Vec<_>>(),
            "copied_files": self.other.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "plain_safetensors_files": self.plain.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        })
    }
}

/// Sums over tensors (and files).
#[derive(Default)]
struct Totals {
    n_files: u64,
    n_tensors: u64,
    elements: u64,
    raw_bytes: u64,
    stored_bytes: u64,
    order0_bytes: u64,
    file_bytes: u64,
    tiled_tensors: u64,
    tiles: u64,
    tiles_predicted: u64,
    tile_bytes_saved: u64,
}

impl Totals {
    fn of(archive: &Archive, tiles: &[TensorTiles]) -> Totals {
        let mut t = Totals {
            n_files: 1,
            file_bytes: archive.file_bytes(),
            ..Totals::default()
        };
        for (e, tt) in archive.tensors().iter().zip(tiles) {
            t.n_tensors += 1;
            t.elements += elements(e);
            t.raw_bytes += e.raw_bytes;
            t.stored_bytes += e.stored_bytes;
            t.order0_bytes += e.order0_bytes;
            if !tt.planes.is_empty() {
                t.tiled_tensors += 1;
                t.tiles += tt.tiles();
                t.tiles_predicted += tt.predicted();
                t.tile_bytes_saved += tt.bytes_saved().unwrap_or(0);
            }
        }
        t
    }

    fn add(&mut self, o: &Totals) {
        self.n_files += o.n_files;
        self.n_tensors += o.n_tensors;
        self.elements += o.elements;
        self.raw_bytes += o.raw_bytes;
        self.stored_bytes += o.stored_bytes;
        self.order0_bytes += o.order0_bytes;
        self.file_bytes += o.file_bytes;
        self.tiled_tensors += o.tiled_tensors;
        self.tiles += o.tiles;
        self.tiles_predicted += o.tiles_predicted;
        self.tile_bytes_saved += o.tile_bytes_saved;
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "n_files": self.n_files,
            "n_tensors": self.n_tensors,
            "elements": self.elements,
            "original_bytes": self.raw_bytes,
            "encoded_bytes": self.stored_bytes,
            "order0_bytes": self.order0_bytes,
            "file_bytes": self.file_bytes,
            "bits_per_element": bits_per(self.stored_bytes, self.elements),
            "bound_bits_per_element": bits_per(self.order0_bytes, self.elements),
            "tiled_tensors": self.tiled_tensors,
            "tiles": self.tiles,
            "tiles_predicted": self.tiles_predicted,
            "tile_bytes_saved": self.tile_bytes_saved,
        })
    }
}

/// The tiled planes of one tensor, as its mode planes say.
#[derive(Default)]
struct TensorTiles {
    tile_size: u32,
    /// (plane index, tiles per mode id, bytes saved against flat coding when recorded).
    planes: Vec<(usize, [u64; N_MODES], Option<u64>)>,
}

impl TensorTiles {
    fn of(archive: &Archive, index: usize) -> anyhow::Result<TensorTiles> {
        let e = &archive.tensors()[index];
        let Some(tile_size) = e.tile_size else {
            return Ok(TensorTiles::default());
        };
        let counts = archive.tile_modes(index)?;
        let planes = e
            .planes
            .iter()
            .zip(counts)
            .enumerate()
            .filter_map(|(p, (entry, counts))| {
                let (counts, modes) = (counts?, entry.modes.as_ref()?);
                // Saved: the flat size minus the span from the mode plane to the plane's end.
                let span = (entry.offset + entry.bytes).saturating_sub(modes.offset);
                Some((p, counts, entry.flat_bytes.map(|f| f.saturating_sub(span))))
            })
            .collect();
        Ok(TensorTiles { tile_size, planes })
    }

    fn tiles(&self) -> u64 {
        self.planes
            .iter()
            .map(|(_, c, _)| c.iter().sum::<u64>())
            .sum()
    }

    fn predicted(&self) -> u64 {
        self.planes.iter().map(|(_, c, _)| predicted_tiles(c)).sum()
    }

    fn bytes_saved(&self) -> Option<u64> {
        self.planes.iter().map(|(_, _, s)| *s).sum()
    }

    fn json(&self) -> serde_json::Value {
        if self.planes.is_empty() {
            return serde_json::Value::Null;
        }
        let planes: Vec<serde_json::Value> = self
            .planes
            .iter()
            .map(|(p, counts, saved)| {
                let modes: serde_json::Map<String, serde_json::Value> = counts
                    .iter()
                    .enumerate()
                    .map(|(id, &n)| {
                        let m = Mode::from_id(id as u8).expect("mode id");
                        (m.to_string(), json!(n))
                    })
                    .collect();
                json!({
                    "plane": p,
                    "tiles": counts.iter().sum::<u64>(),
                    "predicted": predicted_tiles(counts),
                    "modes": modes,
                    "bytes_saved": saved,
                })
            })
            .collect();
        json!({
            "tile_size": self.tile_size,
            "tiles": self.tiles(),
            "predicted": self.predicted(),
            "bytes_saved": self.bytes_saved(),
            "planes": planes,
        })
    }

    /// `tiles 16: 767/768 predicted, 70.10 kB saved` (empty for a flat tensor).
    fn human(&self) -> String {
        if self.planes.is_empty() {
            return String::new();
        }
        let saved = self
            .bytes_saved()
            .map_or_else(String::new, |b| format!(", {} saved", size(b)));
        format!(
            " (tiles {}: {}/{} predicted{saved})",
            self.tile_size,
            self.predicted(),
            self.tiles()
        )
    }
}

fn elements(e: &TensorEntry) -> u64 {
    element_count(&e.shape).unwrap_or(0)
}

/// Bits per element, `None` for an empty tensor.
fn bits_per(bytes: u64, elements: u64) -> Option<f64> {
    (elements > 0).then(|| bytes as f64 * 8.0 / elements as f64)
}

fn coder_name(c: Coder) -> &'static str {
    match c {
        Coder::Raw => "raw",
        Coder::Rans => "rans",
    }
}

/// `raw`, or `planes` and each plane's coder.
fn encoding(e: &TensorEntry) -> String {
    match e.encoding {
        Encoding::Raw => "raw".into(),
        Encoding::Planes => {
            let coders: Vec<&str> = e.planes.iter().map(|p| coder_name(p.coder)).collect();
            format!("planes {}", coders.join(","))
        }
    }
}

fn file_human(
    out: &mut dyn Write,
    path: &Path,
    a: &Archive,
    totals: &Totals,
    tiles: &[TensorTiles],
) -> std::io::Result<()> {
    let h = a.header();
    writeln!(out, "{}", path.display())?;
    writeln!(out, "  Format version: {}", h.version)?;
    writeln!(out, "  Encoder:        {}", h.encoder)?;
    writeln!(
        out,
        "  Source:         {} `{}` ({}, {})",
        h.source.format,
        h.source.file_name,
        size(a.source_bytes()),
        xxh3(h.source.file_xxh3)
    )?;
    writeln!(out, "  Header xxh3:    {:016x}", a.header_xxh3())?;
    writeln!(
        out,
        "  File size:      {} ({} bytes)",
        size(a.file_bytes()),
        a.file_bytes()
    )?;
    writeln!(out, "  Tensors:        {}", a.tensors().len())?;
    if totals.tiled_tensors > 0 {
        writeln!(
            out,
            "  Tiles:          {} tensors tiled, {}/{} tiles predicted, {} saved",
            totals.tiled_tensors,
            totals.tiles_predicted,
            totals.tiles,
            size(totals.tile_bytes_saved)
        )?;
    }
    writeln!(out)?;

    let fmt_bits = |b: Option<f64>| b.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    let mut rows: Vec<[String; 8]> = vec![[
        "name".into(),
        "dtype".into(),
        "shape".into(),
        "original".into(),
        "encoded".into(),
        "bits/el".into(),
        "bound/el".into(),
        "encoding".into(),
    ]];
    for (e, tt) in a.tensors().iter().zip(tiles) {
        let n = elements(e);
        rows.push([
            e.name.clone(),
            e.dtype.to_string(),
            format!("{:?}", e.shape),
            e.raw_bytes.to_string(),
            e.stored_bytes.to_string(),
            fmt_bits(bits_per(e.stored_bytes, n)),
            fmt_bits(bits_per(e.order0_bytes, n)),
            encoding(e) + &tt.human(),
        ]);
    }
    rows.push([
        format!("total ({} tensors)", totals.n_tensors),
        String::new(),
        String::new(),
        totals.raw_bytes.to_string(),
        totals.stored_bytes.to_string(),
        fmt_bits(bits_per(totals.stored_bytes, totals.elements)),
        fmt_bits(bits_per(totals.order0_bytes, totals.elements)),
        format!(
            "+{} bytes of header and padding",
            a.file_bytes().saturating_sub(totals.stored_bytes)
        ),
    ]);
    let mut width = [0usize; 8];
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let last = rows.len() - 1;
    for (i, row) in rows.iter().enumerate() {
        let mut line = String::from(" ");
        for (c, (cell, w)) in row.iter().zip(width).enumerate() {
            let pad = w - cell.chars().count();
            line.push(' ');
            if (3..=6).contains(&c) {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else if c < 7 {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.push_str(cell);
            }
        }
        if i == last {
            // As wide as the columns before `encoding`, plus that column's title.
            let rule: usize = width[..7].iter().map(|w| w + 1).sum::<usize>() + "encoding".len();
            writeln!(out, "  {}", "-".repeat(rule))?;
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn file_json(
    path: &Path,
    a: &Archive,
    totals: &Totals,
    tiles: &[TensorTiles],
) -> serde_json::Value {
    let h = a.header();
    let tensors: Vec<serde_json::Value> = a
        .tensors()
        .iter()
        .zip(tiles)
        .map(|(e, tt)| {
            let n = elements(e);
            json!({
                "name": e.name,
                "dtype": e.dtype.name(),
                "shape": e.shape,
                "elements": n,
                "original_bytes": e.raw_bytes,
                "encoded_bytes": e.stored_bytes,
                "order0_bytes": e.order0_bytes,
                "bits_per_element": bits_per(e.stored_bytes, n),
                "bound_bits_per_element": bits_per(e.order0_bytes, n),
                "encoding": match e.encoding { Encoding::Raw => "raw", Encoding::Planes => "planes" },
                "chunk_symbols": e.chunk_symbols,
                "planes": e.planes.iter().map(|p| json!({"coder": coder_name(p.coder), "bytes": p.bytes, "tiled": p.modes.is_some()})).collect::<Vec<_>>(),
                "tiles": tt.json(),
                "offset": e.offset,
                "xxh3": format!("{:016x}", e.xxh3),
            })
        })
        .collect();
    json!({
        "path": path.display().to_string(),
        "format_version": h.version,
        "encoder": h.encoder,
        "source_format": h.source.format,
        "source_file_name": h.source.file_name,
        "source_bytes": a.source_bytes(),
        "source_xxh3": format!("{:016x}", h.source.file_xxh3),
        "header_xxh3": format!("{:016x}", a.header_xxh3()),
        "file_bytes": a.file_bytes(),
        "n_tensors": a.tensors().len(),
        "totals": totals.json(),
        "tensors": tensors,
    })
}

/// The file's header JSON, inflated, with every key the file holds (known or not). The file is
/// validated first by opening it as an archive, so the preamble fields read here are sound.
fn header_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let archive = Archive::open(path)?;
    drop(archive);
    let mut file = File::open(path)?;
    let mut preamble = [0u8; 64];
    file.read_exact(&mut preamble)?;
    let field = |o: usize| u64::from_le_bytes(preamble[o..o + 8].try_into().expect("8 bytes"));
    let (offset, stored, json_bytes) = (field(16), field(24), field(32));
    let mut deflated = vec![0u8; usize::try_from(stored)?];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut deflated)?;
    let json =
        miniz_oxide::inflate::decompress_to_vec_with_limit(&deflated, usize::try_from(json_bytes)?)
            .map_err(|e| anyhow::anyhow!("header does not inflate: {e:?}"))?;
    Ok(serde_json::from_slice(&json)?)
}
