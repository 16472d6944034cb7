//! # wcodec-cuda
//!
//! The GPU decoder of the `.wcodec` format: it decodes tensors of an [`wcodec::Archive`] into
//! device memory the caller owns (a PyTorch tensor's `data_ptr()`), on the caller's stream, byte
//! for byte equal to the CPU decoder.
//!
//! * [`CudaDecoder::new`] / [`CudaDecoder::for_device`] load the kernels on one device (its
//!   primary context, the one PyTorch uses): from the on-disk cubin cache, or compiled by NVRTC.
//! * [`CudaDecoder::decode_tensors`] decodes a batch of tensors: the stored bytes are read with
//!   positional reads, window by window, straight into pinned buffers the decoder keeps between
//!   calls, copied on several streams and decoded while the next window is read; one launch
//!   decodes the chunks of many tensors (one warp per chunk); per-chunk statuses and the
//!   tensors' XXH3 checksums are checked before it returns.
//! * [`DecodeParams`] holds the tunables (`chunks_per_block`, `streams`, …), with their ranges
//!   ([`CHUNKS_PER_BLOCK`], [`STREAMS`]); [`CudaDecoder::staging_stats`] and
//!   [`CudaDecoder::release_staging`] report and free the staging pool.
//! * The `bench` feature adds what benchmarks need (streams, resident batches, timers).
//!
//! The crate builds without CUDA: the driver (`libcuda`) and NVRTC are loaded at run time, and
//! their absence is an [`Error`], never a panic. Kernels live in `src/kernels/` as CUDA C;
//! see the crate README for the cache and the environment variables.
//!
//! # Unsafe code
//! The workspace denies `unsafe`; this crate allows it because it is a foreign-function
//! interface to the CUDA driver and NVRTC. It is confined to `driver.rs` and `nvrtc.rs`, one
//! call per block, each with a `SAFETY` comment.
#![allow(unsafe_code)]
#![warn(missing_docs)]

mod abi;
mod addr;
#[cfg(feature = "bench")]
mod bench;
mod decoder;
mod driver;
#[doc(hidden)]
pub mod emulation;
mod error;
mod nvrtc;
mod params;
mod pipeline;
mod plan;
mod source;
mod staging;
mod tile_geometry;
mod tiles;
mod verify_plan;
mod window;

pub use abi::status;
#[cfg(feature = "bench")]
pub use bench::{copy_device_to_device, ResidentBatch, StreamHandle, Timer};
pub use decoder::{
    device_count, device_of_pointer, is_available, CudaDecoder, DecodeStats, DeviceJob,
};
pub use driver::{current_context, DeviceBuffer, DeviceInfo};
pub use error::{Error, ErrorKind, Result};
pub use nvrtc::{
    cache_dir, compile_cubin, compile_ptx, compile_report, nvrtc_info, set_nvrtc_path,
};
pub use params::{DecodeParams, CHUNKS_PER_BLOCK, MIN_STAGING_BYTES, STAGING_MIB, STREAMS};
pub use source::{compile_options, emulation_source, kernel_source, CI_ARCHS, KERNEL_NAMES};
pub use staging::StagingStats;
