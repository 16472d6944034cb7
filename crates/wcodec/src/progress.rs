//! Progress reporting hooks, so the CLI can draw a bar without the core knowing about terminals,
//! and so a caller (the C ABI's progress callback) can stop a long encode.

/// Receives progress as bytes of original data processed.
pub trait Progress: Sync {
    /// Total bytes the operation will process.
    fn start(&self, _total_bytes: u64) {}
    /// `bytes` more were processed.
    fn advance(&self, _bytes: u64) {}
    /// Whether the caller wants the operation stopped. Asked after `start` and after every
    /// `advance` of an encode; when it answers `true` the encode fails with
    /// [`crate::Error::Cancelled`] and removes what it had written.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
