//! Every truncation and every single-bit flip of every golden file is rejected: opening fails,
//! or decoding a tensor or rebuilding the source fails. Never a panic (a panic fails the test),
//! never `Ok` with different output.
//! That includes alignment padding: this reader checks that every padding byte is zero.

use rayon::prelude::*;
use wcodec::plane_coding::Coder;
use wcodec::Archive;

use wcodec::decoder::write_checked;
use wcodec::NoProgress;

use crate::common::RansLayout;
use crate::fixtures::{golden_cases, testdata};

/// `None` when the damaged file is rejected (opening it, decoding its tensors or rebuilding its
/// source); otherwise whether the rebuilt source is the original.
fn outcome(damaged: Vec<u8>, source: &[u8]) -> Option<bool> {
    let archive = Archive::from_bytes(damaged).ok()?;
    let mut out = Vec::with_capacity(source.len());
    // `write_checked` decodes every tensor and checks its checksum.
    write_checked(&archive, &mut out, &NoProgress).ok()?;
    Some(out == source)
}

/// The bits flipped at each byte: all eight in the preamble, the header, and each rANS plane's
/// structure (frequency table, chunk table, the first lane states); one bit, rotating with the
/// position, in the bulk of the payload (rANS words and raw bytes, where every bit is guarded
/// alike by the stream checks and the tensor checksum). This keeps the sweep to seconds.
fn bits_to_flip(file: &[u8]) -> Vec<(usize, u8)> {
    let a = Archive::from_bytes(file.to_vec()).unwrap();
    let end = a
        .tensors()
        .iter()
        .map(|t| (t.offset + t.stored_bytes) as usize)
        .max()
        .unwrap_or(64);
    let mut all_bits = vec![false; file.len()];
    all_bits[..64].fill(true);
    all_bits[end..].fill(true);
    for t in a.tensors() {
        for p in t.planes.iter().filter(|p| p.coder == Coder::Rans) {
            let (start, stop) = (p.offset as usize, (p.offset + p.bytes) as usize);
            let l = RansLayout::of(
                &file[start..stop],
                t.plane_symbols() as usize,
                t.chunk_symbols.unwrap() as usize,
            );
            let structure = l
                .chunks
                .first()
                .map_or(stop, |c| (start + c.0 + 8).min(stop));
            all_bits[start..structure].fill(true);
        }
    }
    let mut flips = Vec::new();
    for (pos, &all) in all_bits.iter().enumerate() {
        if all {
            flips.extend((0..8).map(|bit| (pos, bit)));
        } else {
            flips.push((pos, (pos * 5 % 8) as u8));
        }
    }
    flips
}

#[test]
fn every_truncation_is_rejected() {
    for case in golden_cases() {
        let file = std::fs::read(testdata().join(format!("golden/{}.wcodec", case.name))).unwrap();
        let bad: Vec<usize> = (0..file.len())
            .filter(|&len| outcome(file[..len].to_vec(), &[]).is_some())
            .collect();
        assert!(
            bad.is_empty(),
            "{}: truncations to {bad:?} bytes were accepted",
            case.name
        );
        // Appending anything is rejected too.
        for extra in [&[0u8][..], &[0; 64], b"x"] {
            let mut longer = file.clone();
            longer.extend_from_slice(extra);
            assert!(
                Archive::from_bytes(longer).is_err(),
                "{}: {} extra bytes accepted",
                case.name,
                extra.len()
            );
        }
    }
}

#[test]
fn every_bit_flip_is_rejected() {
    let mut total = 0usize;
    for case in golden_cases() {
        let file = std::fs::read(testdata().join(format!("golden/{}.wcodec", case.name))).unwrap();
        let source =
            std::fs::read(testdata().join(format!("golden/{}.safetensors", case.name))).unwrap();
        let flips = bits_to_flip(&file);
        total += flips.len();
        let accepted: Vec<(usize, u8, bool)> = flips
            .into_par_iter()
            .filter_map(|(pos, bit)| {
                let mut damaged = file.clone();
                damaged[pos] ^= 1 << bit;
                outcome(damaged, &source).map(|same| (pos, bit, same))
            })
            .collect();
        assert!(
            accepted.is_empty(),
            "{}: bit flips accepted as (byte, bit, output identical): {accepted:?}",
            case.name
        );
    }
    eprintln!("{total} bit flips, every one rejected");
}
