//! Progress reporting hooks, so the CLI can draw a bar without the core knowing about terminals.

/// Receives progress as bytes of original data processed.
pub trait Progress: Sync {
    /// Total bytes the operation will process.
    fn start(&self, _total_bytes: u64) {}
    /// `bytes` more were processed.
    fn advance(&self, _bytes: u64) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
