//! The kernel source as NVRTC compiles it: the `.cu`/`.cuh` files of `src/kernels/`, embedded
//! at build time and concatenated (NVRTC gets no include paths), and the compile options.

use std::fmt::Write;

use crate::abi::kernel_defines;

/// The kernel files, in the order they are concatenated.
pub(crate) const KERNEL_FILES: &[(&str, &str)] = &[
    ("prelude.cuh", include_str!("kernels/prelude.cuh")),
    ("abi.cuh", include_str!("kernels/abi.cuh")),
    ("decode.cu", include_str!("kernels/decode.cu")),
    ("xxh3.cu", include_str!("kernels/xxh3.cu")),
];

/// Entry points of the module.
pub const KERNEL_NAMES: &[&str] = &[
    "wcodec_decode_p1",
    "wcodec_decode_p2",
    "wcodec_decode_p4",
    "wcodec_decode_p8",
    "wcodec_xxh3_terms",
    "wcodec_xxh3",
];

/// Architectures CI compiles for (Ampere, Hopper, Blackwell data centre and consumer).
pub const CI_ARCHS: &[(u32, u32)] = &[(8, 0), (9, 0), (10, 0), (12, 0)];

/// The concatenated source, with `#line` markers so compiler messages name the original files.
pub fn kernel_source() -> String {
    let mut s = String::new();
    for (name, text) in KERNEL_FILES {
        let _ = writeln!(s, "#line 1 \"{name}\"");
        s.push_str(text);
        if !text.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

/// NVRTC options for `arch` (`sm_90`): the target, C++17, line info (for compute-sanitizer
/// reports; no run-time cost), and the shared constants as `-D` definitions.
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
    o
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
