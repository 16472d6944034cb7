//! Every kernel compiles through NVRTC for every architecture CI targets. Needs no GPU: only
//! libnvrtc (pip `nvidia-cuda-nvrtc`, found through `WCODEC_NVRTC_PATH`, the library path, or
//! `python3`'s `nvidia.cu13` package).
//! Skips with a message when NVRTC cannot be loaded, unless `WCODEC_REQUIRE_NVRTC=1` (CI), which
//! turns the skip into a failure.

use wcodec_cuda::{compile_cubin, kernel_source, nvrtc_info, CI_ARCHS};

/// Without `WCODEC_NVRTC_PATH`, asks `python3` where the `nvidia-cuda-nvrtc` wheel (or PyTorch's
/// copy) put NVRTC, so `pip install nvidia-cuda-nvrtc` is all a CI machine needs.
fn find_pip_nvrtc() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("WCODEC_NVRTC_PATH").is_some() {
            return;
        }
        let probe =
            "import nvidia.cu13, os; print(os.path.join(list(nvidia.cu13.__path__)[0], 'lib'))";
        if let Ok(out) = std::process::Command::new("python3")
            .args(["-c", probe])
            .output()
        {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if out.status.success() && std::path::Path::new(&dir).is_dir() {
                let _ = wcodec_cuda::set_nvrtc_path(dir);
            }
        }
    });
}

fn nvrtc_or_skip() -> bool {
    find_pip_nvrtc();
    match nvrtc_info() {
        Ok((path, (major, minor))) => {
            eprintln!("NVRTC {major}.{minor} from {path}");
            true
        }
        Err(e) => {
            assert!(
                std::env::var_os("WCODEC_REQUIRE_NVRTC").is_none_or(|v| v != "1"),
                "WCODEC_REQUIRE_NVRTC=1 but {e}"
            );
            eprintln!("skipping: {e}");
            false
        }
    }
}

#[test]
fn kernels_compile_for_every_ci_architecture() {
    if !nvrtc_or_skip() {
        return;
    }
    for &arch in CI_ARCHS {
        let started = std::time::Instant::now();
        let cubin = compile_cubin(arch).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            cubin.starts_with(b"\x7fELF"),
            "sm_{}{} output is not a cubin",
            arch.0,
            arch.1
        );
        eprintln!(
            "sm_{}{}: {} bytes in {:.0} ms",
            arch.0,
            arch.1,
            cubin.len(),
            started.elapsed().as_secs_f64() * 1e3
        );
    }
}

#[test]
fn kernel_source_holds_every_entry_point_and_no_include() {
    let src = kernel_source();
    for name in wcodec_cuda::KERNEL_NAMES {
        assert!(
            src.lines()
                .any(|l| l.starts_with("WC_KERNEL void __launch_bounds__(")
                    && l.contains(&format!(") {name}(const "))),
            "{name} missing"
        );
    }
    assert!(
        !src.lines().any(|l| l.trim_start().starts_with("#include")),
        "NVRTC gets no include paths"
    );
}

/// Prints ptxas's resource report (registers, spills, shared memory) for sm_90: run with
/// `--nocapture` to read it.
#[test]
fn resource_usage_report() {
    if !nvrtc_or_skip() {
        return;
    }
    let log = wcodec_cuda::compile_report((9, 0)).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{log}");
    assert!(!log.contains("bytes stack frame, 0 bytes spill") || log.contains("ptxas"));
}

/// The decode loop's table and ring reads are shared-memory loads (`ld.shared`), not generic
/// ones: the compiler must see through the pointer passed to the inlined item decoder.
#[test]
fn decode_loop_reads_shared_memory() {
    if !nvrtc_or_skip() {
        return;
    }
    let ptx = wcodec_cuda::compile_ptx((9, 0)).unwrap_or_else(|e| panic!("{e}"));
    let body = ptx
        .split(".entry wcodec_decode_p1")
        .nth(1)
        .expect("p1 entry")
        .split(".entry")
        .next()
        .unwrap();
    let shared = body.matches("ld.shared").count();
    let generic = body
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("ld.u") || l.starts_with("ld.b") || l.starts_with("ld.v")
        })
        .count();
    eprintln!("wcodec_decode_p1: {shared} ld.shared, {generic} generic loads");
    assert!(shared >= 2, "table and ring reads should be ld.shared");
}
