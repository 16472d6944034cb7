//! Experiment switches stay out of production builds: `WCODEC_KERNEL_DEFINES` reaches the kernel
//! compile only with the `kernel-experiments` feature.

#[test]
fn kernel_defines_need_the_development_feature() {
    // The only test of this binary (its own process), so setting the variable races with nothing.
    std::env::set_var("WCODEC_KERNEL_DEFINES", "WC_MIN_BLOCKS=2 WC_bad=1 junk");
    let options = wcodec_cuda::compile_options("sm_90");
    let variants: Vec<&String> = options.iter().filter(|o| o.starts_with("-DWC_")).collect();
    if cfg!(feature = "kernel-experiments") {
        assert_eq!(variants, ["-DWC_MIN_BLOCKS=2"], "{options:?}");
    } else {
        assert!(variants.is_empty(), "{options:?}");
    }
}
