//! A whole file: open, decode every tensor, rebuild the source into a sink. Errors only, never
//! a panic; anything that decodes Ok has passed its checksums.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wcodec::{Archive, NoProgress};

/// Decoded bytes a hostile file may legitimately ask for (a constant tensor compresses ~8000×);
/// above this the target skips the file rather than report an out-of-memory "crash".
const MAX_DECODED: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(archive) = Archive::from_bytes(data.to_vec()) else {
        return;
    };
    if archive.tensors().iter().map(|t| t.raw_bytes).sum::<u64>() > MAX_DECODED {
        return;
    }
    for i in 0..archive.tensors().len() {
        if let Ok(bytes) = archive.decode(i) {
            assert_eq!(bytes.len() as u64, archive.tensors()[i].raw_bytes);
        }
    }
    let _ = wcodec::decoder::write_checked(&archive, &mut std::io::sink(), &NoProgress);
});
