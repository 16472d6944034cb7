//! NVRTC: finding the library, compiling the kernels to a cubin for one GPU architecture, and
//! the on-disk cubin cache.
//!
//! NVRTC is loaded here with `libloading` rather than through cudarc, so its location can be
//! chosen: a path given to [`set_nvrtc_path`], then `WCODEC_NVRTC_PATH` (the library file, or the
//! directory holding it, e.g. `<site-packages>/nvidia/cu13/lib` of the `nvidia-cuda-nvrtc` pip
//! package) are tried first, then the library search path (`LD_LIBRARY_PATH`, the linker cache)
//! for `libnvrtc.so.13`, `libnvrtc.so` and `libnvrtc.so.12`. NVRTC needs no GPU and no driver, so the kernels compile
//! on CPU-only machines (CI).
//!
//! Cubins, not PTX: PTX from an NVRTC newer than the driver is rejected by the driver, while a
//! cubin for the device's own `sm_XY` loads (`docs/background.md` §2).

use std::ffi::{c_char, c_int, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::source;

type Program = *mut std::ffi::c_void;
type NvrtcResult = c_int;

/// The NVRTC entry points this crate uses.
struct Api {
    _lib: libloading::Library,
    /// NVRTC's builtins library from the same directory, loaded ahead of the first compile (see
    /// [`preload_builtins`]); kept open as long as NVRTC.
    _builtins: Option<libloading::Library>,
    path: String,
    version: (i32, i32),
    create: unsafe extern "C" fn(
        *mut Program,
        *const c_char,
        *const c_char,
        c_int,
        *const *const c_char,
        *const *const c_char,
    ) -> NvrtcResult,
    compile: unsafe extern "C" fn(Program, c_int, *const *const c_char) -> NvrtcResult,
    log_size: unsafe extern "C" fn(Program, *mut usize) -> NvrtcResult,
    log: unsafe extern "C" fn(Program, *mut c_char) -> NvrtcResult,
    ptx_size: unsafe extern "C" fn(Program, *mut usize) -> NvrtcResult,
    ptx: unsafe extern "C" fn(Program, *mut c_char) -> NvrtcResult,
    cubin_size: unsafe extern "C" fn(Program, *mut usize) -> NvrtcResult,
    cubin: unsafe extern "C" fn(Program, *mut c_char) -> NvrtcResult,
    destroy: unsafe extern "C" fn(*mut Program) -> NvrtcResult,
    error_string: unsafe extern "C" fn(NvrtcResult) -> *const c_char,
}

/// Library names tried on the search path, newest ABI first.
const NAMES: &[&str] = &["libnvrtc.so.13", "libnvrtc.so", "libnvrtc.so.12"];

/// A location set by [`set_nvrtc_path`], tried before everything else.
static CHOSEN: OnceLock<PathBuf> = OnceLock::new();
/// Whether NVRTC was looked for already (the search runs once per process).
static SEARCHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Names where to find NVRTC (the library file, or the directory holding it, e.g. the
/// `nvidia/cu13/lib` directory of the `nvidia-cuda-nvrtc` wheel or of PyTorch), ahead of
/// `WCODEC_NVRTC_PATH` and the library search path. Must be called before the first decoder or
/// compile of the process (the search runs once); fails afterwards.
pub fn set_nvrtc_path(path: impl Into<PathBuf>) -> Result<()> {
    if SEARCHED.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(Error::InvalidArgument(
            "NVRTC was already looked for in this process; set its path before the first decoder"
                .into(),
        ));
    }
    CHOSEN
        .set(path.into())
        .map_err(|_| Error::InvalidArgument("the NVRTC path was already set".into()))
}

fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut explicit: Vec<PathBuf> = CHOSEN.get().cloned().into_iter().collect();
    explicit.extend(
        std::env::var_os("WCODEC_NVRTC_PATH")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
    );
    for p in explicit {
        if p.is_dir() {
            out.extend(NAMES.iter().map(|n| p.join(n)));
        } else {
            out.push(p);
        }
    }
    out.extend(NAMES.iter().map(PathBuf::from));
    out
}

fn load() -> Result<Api, String> {
    SEARCHED.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut tried = Vec::new();
    for cand in candidates() {
        // SAFETY: loading NVRTC runs its initialisers, which have no preconditions.
        match unsafe { libloading::Library::new(&cand) } {
            Ok(lib) => return bind(lib, &cand),
            Err(e) => tried.push(format!("{}: {e}", cand.display())),
        }
    }
    Err(format!(
        "libnvrtc could not be loaded; tried {}",
        tried.join("; ")
    ))
}

fn bind(lib: libloading::Library, path: &Path) -> Result<Api, String> {
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the symbol is looked up by its documented name and given its documented
            // C signature (nvrtc.h); the copy of the pointer lives no longer than `_lib`.
            *unsafe { lib.get($name) }
                .map_err(|e| format!("{} lacks {}: {e}", path.display(), stringify!($name)))?
        };
    }
    let version_fn: unsafe extern "C" fn(*mut c_int, *mut c_int) -> NvrtcResult =
        sym!(b"nvrtcVersion");
    let (mut major, mut minor) = (0, 0);
    // SAFETY: valid out-pointers.
    unsafe { version_fn(&raw mut major, &raw mut minor) };
    let api = Api {
        path: path.display().to_string(),
        version: (major, minor),
        create: sym!(b"nvrtcCreateProgram"),
        compile: sym!(b"nvrtcCompileProgram"),
        log_size: sym!(b"nvrtcGetProgramLogSize"),
        log: sym!(b"nvrtcGetProgramLog"),
        ptx_size: sym!(b"nvrtcGetPTXSize"),
        ptx: sym!(b"nvrtcGetPTX"),
        cubin_size: sym!(b"nvrtcGetCUBINSize"),
        cubin: sym!(b"nvrtcGetCUBIN"),
        destroy: sym!(b"nvrtcDestroyProgram"),
        error_string: sym!(b"nvrtcGetErrorString"),
        _builtins: preload_builtins(path, (major, minor)),
        _lib: lib,
    };
    Ok(api)
}

/// NVRTC opens `libnvrtc-builtins.so.MAJOR.MINOR` by name when it first compiles. Some releases
/// (13.0 from the `nvidia-cuda-nvrtc` wheel, the one PyTorch 2.14 pins) carry no `$ORIGIN`
/// run path, so outside `LD_LIBRARY_PATH` that lookup fails ("failed to open
/// libnvrtc-builtins.so.13.0") although the file sits beside `libnvrtc.so`. Loading it first, by
/// its full path, makes the loader's by-name lookup find the copy already in the process. Where
/// the file is absent NVRTC keeps its own search, and its error names what it missed.
fn preload_builtins(nvrtc: &Path, (major, minor): (i32, i32)) -> Option<libloading::Library> {
    let dir = nvrtc.parent().filter(|d| !d.as_os_str().is_empty())?;
    let builtins = dir.join(format!("libnvrtc-builtins.so.{major}.{minor}"));
    if !builtins.is_file() {
        return None;
    }
    // SAFETY: the builtins library has no initialisers with preconditions; NVRTC of the same
    // version loads this very file itself when its search path allows.
    unsafe { libloading::Library::new(&builtins) }.ok()
}

fn api() -> Result<&'static Api> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load)
        .as_ref()
        .map_err(|e| Error::NvrtcMissing(e.clone()))
}

/// Where NVRTC was loaded from and its version, or why it could not be.
pub fn nvrtc_info() -> Result<(String, (i32, i32))> {
    let a = api()?;
    Ok((a.path.clone(), a.version))
}

impl Api {
    fn err_text(&self, r: NvrtcResult) -> String {
        // SAFETY: returns a static NUL-terminated string for any result code.
        let p = unsafe { (self.error_string)(r) };
        if p.is_null() {
            return format!("NVRTC error {r}");
        }
        // SAFETY: as above.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// Destroys the program on every path out of `compile_cubin`.
struct ProgramGuard<'a> {
    api: &'a Api,
    prog: Program,
}

impl Drop for ProgramGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: created by nvrtcCreateProgram, destroyed once.
        unsafe { (self.api.destroy)(&raw mut self.prog) };
    }
}

/// Compiles the kernel source for `sm_{major}{minor}` and returns the cubin (no cache).
pub fn compile_cubin(arch: (u32, u32)) -> Result<Vec<u8>> {
    compile(arch, false).map(|(cubin, _)| cubin)
}

/// The PTX NVRTC generates for `arch` (for reading: which loads are shared-memory loads, how
/// wide the global accesses are). Not what is loaded: the crate loads cubins.
pub fn compile_ptx(arch: (u32, u32)) -> Result<String> {
    let api = api()?;
    let arch_name = format!("compute_{}{}", arch.0, arch.1);
    let options = source::compile_options(&arch_name);
    let src = CString::new(source::kernel_source()).expect("kernel source has no NUL");
    let mut prog: Program = std::ptr::null_mut();
    // SAFETY: as in `compile`.
    let r = unsafe {
        (api.create)(
            &raw mut prog,
            src.as_ptr(),
            std::ptr::null(),
            0,
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(Error::Internal(api.err_text(r)));
    }
    let guard = ProgramGuard { api, prog };
    let c_opts: Vec<CString> = options
        .iter()
        .map(|o| CString::new(o.as_str()).expect("no NUL"))
        .collect();
    let ptrs: Vec<*const c_char> = c_opts.iter().map(|o| o.as_ptr()).collect();
    // SAFETY: as in `compile`.
    let r = unsafe { (api.compile)(guard.prog, ptrs.len() as c_int, ptrs.as_ptr()) };
    if r != 0 {
        return Err(Error::Internal(program_log(api, guard.prog)));
    }
    let mut size = 0usize;
    // SAFETY: valid out-pointer.
    unsafe { (api.ptx_size)(guard.prog, &raw mut size) };
    let mut buf = vec![0u8; size];
    // SAFETY: the buffer holds the reported size.
    unsafe { (api.ptx)(guard.prog, buf.as_mut_ptr().cast::<c_char>()) };
    Ok(String::from_utf8_lossy(&buf[..size.saturating_sub(1)]).into_owned())
}

/// Compiles for `arch` with ptxas's verbose report and returns the compiler log (registers,
/// spills and shared memory of every kernel): for reading, not for loading.
pub fn compile_report(arch: (u32, u32)) -> Result<String> {
    compile(arch, true).map(|(_, log)| log)
}

fn compile(arch: (u32, u32), verbose: bool) -> Result<(Vec<u8>, String)> {
    let api = api()?;
    let arch_name = format!("sm_{}{}", arch.0, arch.1);
    let mut options = source::compile_options(&arch_name);
    if verbose {
        options.push("--ptxas-options=-v".to_owned());
    }
    let src = CString::new(source::kernel_source()).expect("kernel source has no NUL");
    let name = CString::new("wcodec_kernels.cu").expect("no NUL");
    let mut prog: Program = std::ptr::null_mut();
    // SAFETY: valid out-pointer and NUL-terminated strings alive for the call; zero headers.
    let r = unsafe {
        (api.create)(
            &raw mut prog,
            src.as_ptr(),
            name.as_ptr(),
            0,
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(Error::Compile {
            kernel: "wcodec_kernels.cu",
            arch: arch_name,
            options: options.join(" "),
            log: format!("nvrtcCreateProgram: {}", api.err_text(r)),
        });
    }
    let guard = ProgramGuard { api, prog };
    let c_opts: Vec<CString> = options
        .iter()
        .map(|o| CString::new(o.as_str()).expect("options have no NUL"))
        .collect();
    let ptrs: Vec<*const c_char> = c_opts.iter().map(|o| o.as_ptr()).collect();
    // SAFETY: a live program and an array of `ptrs.len()` NUL-terminated strings.
    let r = unsafe { (api.compile)(guard.prog, ptrs.len() as c_int, ptrs.as_ptr()) };
    let log = program_log(api, guard.prog);
    if r != 0 {
        return Err(Error::Compile {
            kernel: "wcodec_kernels.cu",
            arch: arch_name,
            options: options.join(" "),
            log: format!("{}\n{log}", api.err_text(r)),
        });
    }
    let mut size = 0usize;
    // SAFETY: valid out-pointer; the program compiled.
    let r = unsafe { (api.cubin_size)(guard.prog, &raw mut size) };
    if r != 0 || size == 0 {
        return Err(Error::Compile {
            kernel: "wcodec_kernels.cu",
            arch: arch_name,
            options: options.join(" "),
            log: format!("no cubin: {}", api.err_text(r)),
        });
    }
    let mut cubin = vec![0u8; size];
    // SAFETY: the buffer holds `size` bytes, the size NVRTC reported.
    let r = unsafe { (api.cubin)(guard.prog, cubin.as_mut_ptr().cast::<c_char>()) };
    if r != 0 {
        return Err(Error::Compile {
            kernel: "wcodec_kernels.cu",
            arch: arch_name,
            options: options.join(" "),
            log: format!("nvrtcGetCUBIN: {}", api.err_text(r)),
        });
    }
    Ok((cubin, log))
}

fn program_log(api: &Api, prog: Program) -> String {
    let mut size = 0usize;
    // SAFETY: valid out-pointer and live program.
    if unsafe { (api.log_size)(prog, &raw mut size) } != 0 || size <= 1 {
        return String::new();
    }
    let mut buf = vec![0u8; size];
    // SAFETY: the buffer holds the reported size, NUL included.
    if unsafe { (api.log)(prog, buf.as_mut_ptr().cast::<c_char>()) } != 0 {
        return String::new();
    }
    String::from_utf8_lossy(&buf[..size - 1]).into_owned()
}

/// The on-disk cache directory, or `None` when caching is off. `WCODEC_KERNEL_CACHE` names the
/// directory, or turns the cache off with `0`/`off`; otherwise `$XDG_CACHE_HOME/wcodec/kernels`
/// or `~/.cache/wcodec/kernels`.
pub fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("WCODEC_KERNEL_CACHE") {
        Some(v) if v == "0" || v == "off" || v.is_empty() => None,
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("wcodec").join("kernels")),
    }
}

/// The cache file name for an architecture: keyed by the hash of the source and options, the
/// architecture and the NVRTC version.
pub(crate) fn cache_key(arch: (u32, u32)) -> Result<String> {
    let (_, (major, minor)) = nvrtc_info()?;
    let arch_name = format!("sm_{}{}", arch.0, arch.1);
    let mut keyed = source::kernel_source().into_bytes();
    for o in source::compile_options(&arch_name) {
        keyed.push(0);
        keyed.extend_from_slice(o.as_bytes());
    }
    let hash = xxhash_rust::xxh3::xxh3_128(&keyed);
    Ok(format!(
        "wcodec-{hash:032x}-{arch_name}-nvrtc{major}.{minor}.cubin"
    ))
}

/// The cubin for `arch`, from the disk cache when present, else compiled (and cached). Returns
/// whether it came from the cache.
pub(crate) fn cubin_for(arch: (u32, u32)) -> Result<(Vec<u8>, bool)> {
    let dir = cache_dir();
    let key = cache_key(arch)?;
    if let Some(dir) = &dir {
        if let Ok(bytes) = std::fs::read(dir.join(&key)) {
            if bytes.starts_with(b"\x7fELF") {
                return Ok((bytes, true));
            }
        }
    }
    let cubin = compile_cubin(arch)?;
    if let Some(dir) = &dir {
        store(dir, &key, &cubin);
    }
    Ok((cubin, false))
}

/// Writes a cache entry atomically (temporary file + rename); failures only cost a recompile.
fn store(dir: &Path, key: &str, cubin: &[u8]) {
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
    if std::fs::write(&tmp, cubin).is_ok() && std::fs::rename(&tmp, dir.join(key)).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Removes a cache entry that failed to load (e.g. truncated); the next call recompiles.
pub(crate) fn evict(arch: (u32, u32)) {
    if let (Some(dir), Ok(key)) = (cache_dir(), cache_key(arch)) {
        let _ = std::fs::remove_file(dir.join(key));
    }
}
