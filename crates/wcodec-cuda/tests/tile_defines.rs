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

/// The kernels' status codes have one source, `wcodec_cuda::status`: they reach the kernels as
/// `-DWCODEC_STATUS_*` (and as `#define`s in the emulation), and no kernel file defines a value
/// of its own.
#[test]
fn status_codes_reach_the_kernels_from_the_rust_constants() {
    use wcodec_cuda::status;
    let codes = [
        ("OK", status::OK),
        ("BAD_STATE", status::BAD_STATE),
        ("EARLY_END", status::EARLY_END),
        ("TRAILING", status::TRAILING),
        ("FINAL_STATE", status::FINAL_STATE),
        ("BAD_REF", status::BAD_REF),
        ("BAD_MODE", status::BAD_MODE),
    ];
    let src = wcodec_cuda::emulation_source();
    let options = wcodec_cuda::compile_options("sm_90");
    for (name, value) in codes {
        let (k, v) = (format!("WCODEC_STATUS_{name}"), format!("{value}u"));
        assert!(src.contains(&format!("#define {k} {v}\n")), "{k}");
        assert!(options.contains(&format!("-D{k}={v}")), "{k}");
    }
    let kernels = wcodec_cuda::kernel_source();
    for line in kernels
        .lines()
        .filter(|l| l.trim_start().starts_with("#define"))
    {
        assert!(
            !line.contains("STATUS"),
            "a status code defined in a kernel file: {line}"
        );
    }
    assert!(
        kernels.contains("#error \"WCODEC_STATUS_BAD_MODE must be defined"),
        "a missing status define must fail the compile"
    );
}
