//! The tile kernel's geometry reaches it from the Rust constants, for NVRTC and for the warp
//! emulator alike; `tile.cu` names no size of its own.

#[test]
fn tile_geometry_reaches_the_kernels_from_the_rust_constants() {
    let max = wcodec::tile::MAX_TILE_SIZE;
    let defines = [
        ("WCODEC_TILE_MAX", format!("{max}u")),
        ("WCODEC_TILE_MODES", format!("{}u", wcodec::tile::N_MODES)),
    ];
    let src = wcodec_cuda::emulation_source();
    let options = wcodec_cuda::compile_options("sm_90");
    for (k, v) in &defines {
        assert!(src.contains(&format!("#define {k} {v}\n")), "{k}");
        assert!(options.contains(&format!("-D{k}={v}")), "{k}");
    }
    for name in [
        "WCODEC_TILE_WARPS",
        "WCODEC_TILE_STRIDE_MAX",
        "WCODEC_LINE_STRIDE",
    ] {
        assert!(
            options.iter().any(|o| o.starts_with(&format!("-D{name}="))),
            "{name}"
        );
    }
    let tile_lines = src
        .lines()
        .filter(|l| l.starts_with("#define WC_TILE") || l.starts_with("#define WC_LINE"));
    for line in tile_lines {
        let value = line.splitn(3, ' ').nth(2).unwrap_or_default();
        assert!(value.contains("WCODEC_") || value.contains("WC_"), "{line}");
    }
}
