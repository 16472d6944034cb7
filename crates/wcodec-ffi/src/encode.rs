//! The encoder of the C ABI: an opaque configuration changed through setters (so that options
//! added later never change a struct a compiled program knows), and one call that encodes a
//! safetensors file or a model directory.
//!
//! The work is the core's [`wcodec::encode_path`], the function `wcodec-encode` calls: the same
//! option checks, atomic output (temporary name, renamed into place), refusal to overwrite an
//! existing output or the input, and the same bytes for the same options. This module only adds
//! the worker pool of the requested size and the bridge from [`wcodec::Progress`] to a C
//! callback whose return value can stop the encode.

use std::ffi::{c_char, c_void};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use wcodec::{EncodeOptions, Predictor, Progress, TileOptions, Transform};

use crate::boundary::{self, Failure, Outcome};
use crate::status::wcodec_status;
use crate::{null, text};

/// A progress callback of `wcodec_encode_checkpoint`: `bytes_done` of `bytes_total` bytes of
/// tensor data (of every safetensors file of a directory) have been encoded. Return 0 to
/// continue, any other value to cancel: the encode then stops, removes what it had written and
/// returns `WCODEC_STATUS_CANCELLED`.
///
/// Called once with `bytes_done = 0` when the total is known, then after each tensor; on a
/// worker thread of the library (not necessarily the caller's), never by two threads at once
/// for one encode. It must not unwind (no C++ exception may leave it).
#[allow(non_camel_case_types)]
pub type wcodec_progress_fn =
    Option<unsafe extern "C" fn(bytes_done: u64, bytes_total: u64, user_data: *mut c_void) -> i32>;

/// Encoder options (opaque). Created with the specification's defaults by
/// `wcodec_encode_config_new`, changed by the `wcodec_encode_config_set_*` functions, released
/// by `wcodec_encode_config_free`.
///
/// Only read by `wcodec_encode_checkpoint`, so one configuration may serve several encodes at
/// once, on several threads, provided its progress callback allows being called from them.
#[allow(non_camel_case_types)]
pub struct wcodec_encode_config {
    options: EncodeOptions,
    threads: usize,
    progress: wcodec_progress_fn,
    user_data: *mut c_void,
}

impl Default for wcodec_encode_config {
    fn default() -> Self {
        wcodec_encode_config {
            options: EncodeOptions::default(),
            threads: 0,
            progress: None,
            user_data: std::ptr::null_mut(),
        }
    }
}

/// Borrows the configuration behind `c` for changing it.
///
/// # Safety
/// `c` is NULL or a configuration from `wcodec_encode_config_new` not yet freed, used by no
/// other thread during the call.
unsafe fn config_mut<'a>(c: *mut wcodec_encode_config) -> Outcome<&'a mut wcodec_encode_config> {
    // SAFETY: by the caller's contract a non-NULL `c` is a live configuration nobody else
    // touches during the call.
    unsafe { c.as_mut() }.ok_or_else(|| null("config"))
}

/// A comma-separated list of names (`"left,top"`), each parsed by the core as the CLI's
/// `--predictors` / `--transforms` are; `""` is the empty list.
fn names<T: std::str::FromStr<Err = wcodec::Error>>(list: &str) -> Outcome<Vec<T>> {
    if list.trim().is_empty() {
        return Ok(Vec::new());
    }
    Ok(list
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<T>, _>>()?)
}

/// The progress callback as a [`Progress`] sink: counts bytes, calls the callback under a lock,
/// and remembers a request to stop.
struct Callback {
    f: unsafe extern "C" fn(u64, u64, *mut c_void) -> i32,
    user_data: *mut c_void,
    total: AtomicU64,
    done: AtomicU64,
    stop: AtomicBool,
    /// Held during each call, so the callback is never entered by two threads at once.
    lock: Mutex<()>,
}

// SAFETY: `user_data` is only handed back to the caller's callback, which the lock keeps from
// running on two threads at once; the caller's contract of `wcodec_encode_checkpoint` makes the
// callback and its data usable from the library's worker threads for the call's duration.
unsafe impl Sync for Callback {}

impl Callback {
    fn report(&self) {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let done = self.done.load(Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed);
        // SAFETY: the caller's contract: `f` may be called with `user_data` until
        // `wcodec_encode_checkpoint` returns, and does not unwind.
        if unsafe { (self.f)(done, total, self.user_data) } != 0 {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

impl Progress for Callback {
    fn start(&self, total_bytes: u64) {
        self.total.store(total_bytes, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.report();
    }

    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
        self.report();
    }

    fn cancelled(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Creates an encoder configuration holding the defaults of the specification and of
/// `wcodec-encode`: tile size 16, predictors `left,top,avg,planar`, transforms `none,dct,adst`,
/// 65,536 symbols per rANS chunk, one worker thread per core, no overwriting, no progress
/// callback. Release it with `wcodec_encode_config_free`.
///
/// Statuses: `OK`, `NULL_ARGUMENT`.
///
/// # Safety
/// `out` is NULL or valid for writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn wcodec_encode_config_new(
    out: *mut *mut wcodec_encode_config,
) -> wcodec_status {
    boundary::status("wcodec_encode_config_new", || {
        if out.is_null() {
            return Err(null("out"));
        }
        let c = Box::into_raw(Box::default());
        // SAFETY: `out` is non-NULL and valid for one pointer write (the caller's contract).
        unsafe { out.write(c) };
        Ok(())
    })
}

/// Creates a copy of `config` (progress callback included). On failure `*out` is NULL.
///
/// Statuses: `OK`, `NULL_ARGUMENT`.
///
/// # Safety
/// `config` is NULL or a live configuration; `out` is NULL or valid for writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn wcodec_encode_config_clone(
    config: *const wcodec_encode_config,
    out: *mut *mut wcodec_encode_config,
) -> wcodec_status {
    boundary::status("wcodec_encode_config_clone", || {
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: `out` is non-NULL and valid for one pointer write (the caller's contract);
        // cleared first so a failure leaves no stale pointer.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: a non-NULL `config` is a live configuration (the caller's contract).
        let c = unsafe { config.as_ref() }.ok_or_else(|| null("config"))?;
        let copy = Box::into_raw(Box::new(wcodec_encode_config {
            options: c.options.clone(),
            ..*c
        }));
        // SAFETY: as above.
        unsafe { out.write(copy) };
        Ok(())
    })
}

/// Releases a configuration. NULL is ignored.
///
/// # Safety
/// `config` is NULL or a configuration from `wcodec_encode_config_new` or `_clone` not freed
/// before, and not in use by an encode.
#[no_mangle]
pub unsafe extern "C" fn wcodec_encode_config_free(config: *mut wcodec_encode_config) {
    boundary::value((), || {
        if !config.is_null() {
            // SAFETY: `config` came from `Box::into_raw` and is released once (the caller's
            // contract).
            drop(unsafe { Box::from_raw(config) });
        }
    });
}

/// Sets the tile side: 4 to 64 symbols, or 0 to code every plane flat (format version 1, as
/// `wcodec-encode --no-tiles`). Default 16.
///
/// Statuses: `OK`, `NULL_ARGUMENT`, `INVALID_ARGUMENT` (out of range; the configuration is
/// unchanged).
///
/// # Safety
/// `config` is NULL or a live configuration, used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn wcodec_encode_config_set_tile_size(
    config: *mut wcodec_encode_config,
    tile_size: u32,
) -> wcodec_status {
    boundary::status("wcodec_encode_config_set_tile_size", || {
        // SAFETY: the caller's contract on `config`.
        let c = unsafe { config_mut(config) }?;
        let tiles = TileOptions {
            tile_size,
            ..c.options.tiles.clone()
        };
        tiles.validate()?;
        c.options.tiles = tiles;
        Ok(())
    })
}

/// Sets the predictors the tile mode search may use: a comma-separated list of `none`, `left`,
/// `top`, `avg`, `planar` (as `wcodec-encode --predictors`); `""` allows only `none`. Default
/// `"left,top,avg,planar"`.
///
/// Statuses: `OK`, `NULL_ARGUMENT`, `INVALID_UTF8`, `INVALID_ARGUMENT` (an unknown name; the
/// configuration is unchanged).
///
/// # Safety
/// `config` is NULL or a live configuration, used by no other thread during the call; `list`
/// is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn wcodec_encode_config_set_predictors(
    config: *mut wcodec_encode_config,
    list: *const c_char,
) -> wcodec_status {
    boundary::status("wcodec_encode_config_set_predictors", || {
        // SAFETY: the caller's contract on `config`.
        let c = unsafe { config_mut(config) }?;
        // SAFETY: the caller's contract on `list`.
        let list = unsafe { text(list, "list") }?;
        c.options.tiles.predictors = names::<Predictor>(list)?;
        Ok(())
    })
}

/// Sets the transforms the tile mode search may use: a comma-separated list of `none`, `dct`,
/// `adst` (as `wcodec-encode --transforms`); `""` allows only `none`. Default
/// `"none,dct,adst"`.
///
/// Statuses: `OK`, `NULL_ARGUMENT`, `INVALID_UTF8`, `INVALID_ARGUMENT` (an unknown name; the
/// configuration is unchanged).
///
/// # Safety
/// As `wcodec_encode_config_set_predictors`.
#[no_mangle]
pub unsafe extern "C" fn wcodec_encode_config_set_transforms(
    config: *mut wcodec_encode_config,
    list: *const c_char,
) -> wcodec_status {
    boundary::status("wcodec_encode_config_set_transforms", || {
        // SAFETY: the caller's contract on `config`.
        let c = unsafe { config_mut(config) }?;
        // SAFETY: the caller's contract on `list`.
        let list = unsafe { text(list, "list") }?;
        c.options.tiles.transforms = names::<Transform>(list)?;
        Ok(())
    })
}

/// Sets the symbols per rANS chunk: a power of two in [4096, 1048576]. Default 65536 (fast on
/// CPUs and GPUs alike); 262144 gives ~0.1% smaller files for CPU-only use, 4096 suits
/// layer-by-layer GPU decode.
///
/// Statuses: `OK`, `NULL_ARGUMENT`, `INVALID_ARGUMENT` (the configuration is unchanged).
///
/// # Safety
/// `config` is NULL or a live configuration, used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn wcodec_encode_config_set_chunk_symbols(
    config: *mut wcodec_encode_config,
    chunk_symbols: u64,
) -> wcodec_status {
    boundary::status("wcodec_encode_config_set_chunk_symbols", || {
        // SAFETY: the caller's contract on `config`.
        let c = unsafe { config_mut(config) }?;
        let options = EncodeOptions {
            chunk_symbols,
            ..c.options.clone()
        };
        options.validate()?;
        c.options = options;
        Ok(())
    })
}

/// Sets the number of worker threads of an encode; 0 (the default) is one per core. The bytes
/// written do not depend on it.
///
/// Statuses: `OK`, `NULL_ARGUMENT`.
///
/// # Safety
/// `config` is NULL or a live configuration, used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn wcodec_encode_config_set_threads(
    config: *mut wcodec_encode_config,
    threads: usize,
) -> wcodec_status {
    boundary::status("wcodec_encode_config_set_threads", || {
        // SAFETY: the caller's contract on `config`.
        unsafe { config_mut(config) }?.threads = threads;
        Ok(())
    })
}

/// Whether an existing output (file or directory) may be replaced (`wcodec-encode --force`).
/// Default false: an existing output is refused with `INVALID_ARGUMENT`. The input itself is
/// never overwritten.
///
/// Statuses: `OK`, `NULL_ARGUMENT`.
///
/// # Safety
/// `config` is NULL or a live configuration, used by no other thread during the call.
#[no_mangle]
pub unsafe extern "C" fn wcodec_encode_config_set_overwrite(
    config: *mut wcodec_encode_config,
    overwrite: bool,
) -> wcodec_status {
    boundary::status("wcodec_encode_config_set_overwrite", || {
        // SAFETY: the caller's contract on `config`.
        unsafe { config_mut(config) }?.options.overwrite = overwrite;
        Ok(())
    })
}

/// Sets the progress callback (see `wcodec_progress_fn`) and the pointer handed back to it;
/// a NULL `callback` removes it. Default: none.
///
/// Statuses: `OK`, `NULL_ARGUMENT`.
///
/// # Safety
/// `config` is NULL or a live configuration, used by no other thread during the call. The
/// callback and `user_data` must stay usable, from the library's worker threads, during every
/// encode that uses this configuration.
#[no_mangle]
pub unsafe extern "C" fn wcodec_encode_config_set_progress(
    config: *mut wcodec_encode_config,
    callback: wcodec_progress_fn,
    user_data: *mut c_void,
) -> wcodec_status {
    boundary::status("wcodec_encode_config_set_progress", || {
        // SAFETY: the caller's contract on `config`.
        let c = unsafe { config_mut(config) }?;
        c.progress = callback;
        c.user_data = user_data;
        Ok(())
    })
}

/// Encodes a safetensors file into a `.wcodec` file, or a model directory into an encoded
/// directory (every `*.safetensors` shard becomes a `.wcodec` file, every other file is copied,
/// and `model.wcodec.index.json` is added beside a shard index), exactly as `wcodec-encode`
/// does with the same options: the output bytes are identical.
///
/// The output is written under a temporary name beside it and renamed into place on success,
/// so a failed or cancelled encode leaves nothing (and an existing output replaced only when
/// asked, intact otherwise). `config` may be NULL for the defaults.
///
/// Statuses: `OK`; `NULL_ARGUMENT`; `INVALID_UTF8`; `FILE_NOT_FOUND` (the input, or the
/// output's directory); `IO`; `INVALID_ARGUMENT` (the output exists and overwriting is off, the
/// output is the input or lies inside an input directory, the input directory is already
/// wcodec output, worker threads cannot be started); `UNSUPPORTED_FORMAT` (the input is not a
/// valid safetensors file, or holds a dtype this build does not know); `CANCELLED` (the
/// progress callback asked to stop).
///
/// # Safety
/// `input` and `output` are NULL or NUL-terminated strings; `config` is NULL or a live
/// configuration not changed or freed during the call; its progress callback, if any, keeps the
/// contract of `wcodec_progress_fn` and `wcodec_encode_config_set_progress`.
#[no_mangle]
pub unsafe extern "C" fn wcodec_encode_checkpoint(
    input: *const c_char,
    output: *const c_char,
    config: *const wcodec_encode_config,
) -> wcodec_status {
    boundary::status("wcodec_encode_checkpoint", || {
        // SAFETY: the caller's contract on `input` and `output`.
        let input = Path::new(unsafe { text(input, "input") }?);
        // SAFETY: as above.
        let output = Path::new(unsafe { text(output, "output") }?);
        let defaults = wcodec_encode_config::default();
        // SAFETY: a non-NULL `config` is a live configuration nobody changes during the call.
        let c = unsafe { config.as_ref() }.unwrap_or(&defaults);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(c.threads)
            .thread_name(|i| format!("wcodec-{i}"))
            .build()
            .map_err(|e| {
                Failure::new(
                    wcodec_status::InvalidArgument,
                    format!("cannot start {} worker threads: {e}", c.threads),
                )
            })?;
        let options = &c.options;
        let encode = |progress: &dyn Progress| {
            pool.install(|| wcodec::encode_path(input, output, options, progress))
        };
        match c.progress {
            Some(f) => encode(&Callback {
                f,
                user_data: c.user_data,
                total: AtomicU64::new(0),
                done: AtomicU64::new(0),
                stop: AtomicBool::new(false),
                lock: Mutex::new(()),
            }),
            None => encode(&wcodec::NoProgress),
        }?;
        Ok(())
    })
}
