//! Where the bytes above the order-0 bound go: `cargo run --release -p wcodec --example gap FILE`.
#![allow(clippy::print_stdout, missing_docs)]

use std::io::Cursor;

use wcodec::rans::freq::{histogram, order0_bytes, FreqTable};
use wcodec::{encode_bytes, Archive, EncodeOptions, NoProgress};

fn main() {
    let path = std::env::args().nth(1).expect("FILE");
    let chunk: u64 = std::env::args()
        .nth(2)
        .map_or(1 << 16, |c| c.parse().unwrap());
    let src = std::fs::read(&path).unwrap();
    let mut out = Cursor::new(Vec::new());
    let opts = EncodeOptions {
        chunk_symbols: chunk,
        ..EncodeOptions::default()
    };
    encode_bytes(&src, "x", &opts, &mut out, &NoProgress).unwrap();
    let a = Archive::from_bytes(out.into_inner()).unwrap();
    let (mut h0, mut quant, mut table, mut states, mut stored, mut raw_loss) =
        (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
    for (i, t) in a.tensors().iter().enumerate() {
        let data = a.decode(i).unwrap();
        let width = t.dtype.plane_layout().n_planes();
        let n = data.len() / width.max(1);
        let mut planes = vec![vec![0u8; n]; width];
        {
            let mut refs: Vec<&mut [u8]> = planes.iter_mut().map(Vec::as_mut_slice).collect();
            if n > 0 {
                wcodec::byte_planes::split(t.dtype.plane_layout(), &data, &mut refs);
            }
        }
        stored += t.stored_bytes as f64;
        for (p, plane) in planes.iter().enumerate() {
            let hist = histogram(plane);
            let h = order0_bytes(&hist);
            h0 += h;
            let coded_rans = t
                .planes
                .get(p)
                .is_some_and(|pl| pl.coder == wcodec::plane_coding::Coder::Rans);
            if !coded_rans {
                raw_loss += n as f64 - h;
                continue;
            }
            let ft = FreqTable::from_histogram(&hist).unwrap();
            quant += ft.cost_bits(&hist) / 8.0 - h;
            let mut tb = Vec::new();
            ft.write(&mut tb);
            table += tb.len() as f64;
            states += (n as u64).div_ceil(chunk) as f64 * 132.0;
        }
    }
    let o = src.len() as f64 / 100.0;
    println!(
        "file {:.2}% | tensors h0 {:.3}% stored {:.3}% | gap: quant {:.3} table {:.3} states+ctab {:.3} raw-stored {:.3} other(header, pad) {:.3} pts",
        a.file_bytes() as f64 / o,
        h0 / o,
        stored / o,
        quant / o,
        table / o,
        states / o,
        raw_loss / o,
        (a.file_bytes() as f64 - stored) / o
    );
}
