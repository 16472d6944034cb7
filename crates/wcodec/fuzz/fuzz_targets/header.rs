//! Preamble and header parsing: errors only, never a panic, a hang or an allocation the input
//! does not justify.
//!
//! First byte even: the input is a whole file (preamble checks). Odd: the rest is header JSON
//! text, deflated and sealed under a valid preamble after a zero payload, so the fuzzer reaches
//! the JSON, tensor-table and source-header validation without forging checksums.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wcodec::format::header::Header;
use wcodec::format::preamble::Preamble;
use wcodec::Archive;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(p) = Preamble::parse(rest) {
            let stored = &rest[p.header_offset as usize..p.file_bytes as usize];
            if let Ok(h) = Header::unpack(stored, &p) {
                h.validate(p.header_offset)
                    .expect("a validated header re-validates");
            }
        }
        let _ = Archive::from_bytes(rest.to_vec());
    } else {
        // Payload size from the mode byte: room for a few small regions; its top bit picks the
        // format version (tiled planes are valid in version 2 only).
        let payload = 64 + usize::from((mode >> 1) & 0x3F) * 64;
        let version = 1 + u32::from(mode >> 7);
        let stored = miniz_oxide::deflate::compress_to_vec(rest, 1);
        let p = Preamble {
            version,
            header_offset: payload as u64,
            header_stored_bytes: stored.len() as u64,
            header_json_bytes: rest.len() as u64,
            header_xxh3: xxhash_rust::xxh3::xxh3_64(&stored),
            file_bytes: (payload + stored.len()) as u64,
        };
        let mut file = vec![0u8; payload];
        file[..64].copy_from_slice(&p.to_bytes());
        file.extend_from_slice(&stored);
        if let Ok(h) = Header::unpack(&stored, &p) {
            h.validate(p.header_offset)
                .expect("a validated header re-validates");
            // What validated packs and unpacks to the same header.
            let (again, json_bytes) = h.pack();
            let p2 = Preamble {
                header_stored_bytes: again.len() as u64,
                header_json_bytes: json_bytes,
                header_xxh3: xxhash_rust::xxh3::xxh3_64(&again),
                file_bytes: (payload + again.len()) as u64,
                ..p
            };
            Header::unpack(&again, &p2).expect("a packed valid header unpacks");
        }
        if let Ok(a) = Archive::from_bytes(file) {
            // Whatever opens must decode or fail cleanly (tensors here are all zero bytes).
            for i in 0..a.tensors().len() {
                if a.tensors()[i].raw_bytes <= 1 << 24 {
                    let _ = a.decode(i);
                }
            }
        }
    }
});
