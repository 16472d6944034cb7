//! The kernel source as NVRTC compiles it: the `.cu`/`.cuh` files of `src/kernels/`, embedded
//! at build time and concatenated (NVRTC gets no include paths), and the compile options.

use std::fmt::Write;

use crate::abi::kernel_defines;

/// The kernel files, in the order they are concatenated.
pub(crate) const KERNEL_FILES: &[(&str, &str)] = &[
    ("prelude.cuh", include_str!("kernels/prelude.cuh")),
    ("abi.cuh", include_str!("kernels/abi.cuh")),
    ("decode.cu", include_str!("kernels/decode.cu")),
    ("tile.cu", include_str!("kernels/tile.cu")),
    ("xxh3.cu", include_str!("kernels/xxh3.cu")),
];

/// Entry points of the module.
pub const KERNEL_NAMES: &[&str] = &[
    "wcodec_decode_p1",
    "wcodec_decode_p2",
    "wcodec_decode_p4",
    "wcodec_decode_p8",
    "wcodec_tile_rebuild",
    "wcodec_join",
    "wcodec_xxh3_terms",
    "wcodec_xxh3",
];

/// Architectures CI compiles for (Ampere, Hopper, Blackwell data centre and consumer).
pub const CI_ARCHS: &[(u32, u32)] = &[(8, 0), (9, 0), (10, 0), (12, 0)];

/// The transform programs of format.md §6.4 as constant arrays for `tile.cu`, generated from the
/// reference implementation so the two cannot differ. Program `kind · 6 + log2(L) − 1` (kind 0 =
/// DCT, 1 = ADST) has steps `[first, first + count)`; a step is `dst | src << 8 | neg << 15 |
/// (c as u16) << 16`; `perm` holds 64 entries per program.
pub(crate) fn tile_programs() -> String {
    use wcodec::tile::transform::{program, Step};
    use wcodec::tile::Transform;
    let (mut first, mut count, mut steps, mut perm) = (vec![], vec![], vec![], vec![]);
    for kind in [Transform::Dct, Transform::Adst] {
        for bits in 1..=6 {
            let p = program(kind, 1 << bits);
            first.push(steps.len() as u32);
            count.push(p.steps.len() as u32);
            steps.extend(p.steps.iter().map(|s| match *s {
                Step::Lift { dst, src, c } => {
                    u32::from(dst) | u32::from(src) << 8 | u32::from(c as u16) << 16
                }
                Step::Neg { dst } => u32::from(dst) | 1 << 15,
            }));
            let mut pm = p.perm.clone();
            pm.resize(64, 0);
            perm.extend(pm);
        }
    }
    let list = |v: &[u32]| {
        v.iter()
            .map(|x| format!("{x}u"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "WC_CONSTANT u32 wc_prog_first[12] = {{{}}};",
        list(&first)
    );
    let _ = writeln!(
        s,
        "WC_CONSTANT u32 wc_prog_count[12] = {{{}}};",
        list(&count)
    );
    let _ = writeln!(
        s,
        "WC_CONSTANT u32 wc_prog_steps[{}] = {{{}}};",
        steps.len(),
        list(&steps)
    );
    let perm: Vec<u32> = perm.into_iter().map(u32::from).collect();
    let _ = writeln!(s, "WC_CONSTANT u8 wc_prog_perm[768] = {{{}}};", list(&perm));
    s
}

/// The concatenated source, with `#line` markers so compiler messages name the original files.
pub fn kernel_source() -> String {
    let mut s = String::new();
    for (name, text) in KERNEL_FILES {
        if *name == "tile.cu" {
            let _ = writeln!(s, "#line 1 \"tile_programs.cuh (generated)\"");
            s.push_str(&tile_programs());
        }
        let _ = writeln!(s, "#line 1 \"{name}\"");
        s.push_str(text);
        if !text.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

/// NVRTC options for `arch` (`sm_90`): the target, C++17, line info (for compute-sanitizer
/// reports; no run-time cost), the shared constants as `-D` definitions, and the kernel variant
/// knobs of [`variant_defines`].
pub fn compile_options(arch: &str) -> Vec<String> {
    let mut o = vec![
        format!("--gpu-architecture={arch}"),
        "--std=c++17".to_owned(),
        "-default-device".to_owned(),
        "-lineinfo".to_owned(),
    ];
    o.extend(
        kernel_defines()
            .into_iter()
            .map(|(k, v)| format!("-D{k}={v}")),
    );
    o.extend(variant_defines().into_iter().map(|d| format!("-D{d}")));
    o
}

/// Kernel variants for experiments, with the `kernel-experiments` feature only:
/// `WCODEC_KERNEL_DEFINES="WC_MIN_BLOCKS=2"` overrides the `#ifndef` defaults of the kernels
/// (today `WC_MIN_BLOCKS` in `decode.cu`; `WC_*` names, alphanumeric values; other tokens are
/// ignored). The cubin cache is keyed by the options, so variants do not mix. Builds without the
/// feature never read the variable: the defaults are the measured best.
pub(crate) fn variant_defines() -> Vec<String> {
    #[cfg(feature = "kernel-experiments")]
    if let Ok(text) = std::env::var("WCODEC_KERNEL_DEFINES") {
        return parse_variant_defines(&text);
    }
    Vec::new()
}

/// The well-formed `WC_NAME=value` tokens of `text` (space- or comma-separated).
#[cfg_attr(not(feature = "kernel-experiments"), allow(dead_code))]
fn parse_variant_defines(text: &str) -> Vec<String> {
    text.split([' ', ','])
        .filter(|t| {
            t.split_once('=').is_some_and(|(k, v)| {
                k.starts_with("WC_")
                    && k.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                    && !v.is_empty()
                    && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
        })
        .map(str::to_owned)
        .collect()
}

/// The source as a host C++ compiler sees it in the warp emulation of `tests/emu/`: the same
/// text, with the `-D` definitions written out as `#define`s.
#[doc(hidden)]
pub fn emulation_source() -> String {
    let mut s = String::new();
    for (k, v) in kernel_defines() {
        let _ = writeln!(s, "#define {k} {v}");
    }
    s.push_str(&kernel_source());
    s
}
