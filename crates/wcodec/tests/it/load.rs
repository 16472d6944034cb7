//! Bulk loads through positional reads (`wcodec::load`): every golden file and a many-tensor
//! checkpoint decode through windows of any size exactly as tensor-by-tensor decoding does, and
//! a file cut short under an open archive fails with an error naming a tensor.

use std::fmt::Write;

use wcodec::load::decode_windows;
use wcodec::{Archive, Error};

use crate::common::{encode, weight_like};
use crate::fixtures::{golden_cases, testdata};

/// Decodes every tensor of `archive` one at a time (the reference).
fn one_by_one(archive: &Archive) -> Vec<Vec<u8>> {
    (0..archive.tensors().len())
        .map(|i| archive.decode(i).expect("decodes"))
        .collect()
}

/// Decodes every tensor through windows of `budget` bytes read from `file`.
fn windowed(path: &std::path::Path, budget: u64) -> Vec<Vec<u8>> {
    let archive = Archive::open_unmapped(path).expect("opens");
    assert!(!archive.is_mapped() || archive.file_bytes() == 0);
    let mut outs: Vec<Vec<u8>> = archive
        .tensors()
        .iter()
        .map(|t| vec![0xAB; t.raw_bytes as usize])
        .collect();
    let jobs = archive
        .tensors()
        .iter()
        .zip(outs.iter_mut())
        .map(|(t, o)| (t, o.as_mut_slice()))
        .collect();
    decode_windows(archive.reader(), path, jobs, budget).expect("decodes");
    outs
}

#[test]
fn golden_files_decode_through_windows_of_any_size() {
    for case in golden_cases() {
        let path = testdata()
            .join("golden")
            .join(format!("{}.wcodec", case.name));
        let reference = one_by_one(&Archive::open(&path).expect("opens"));
        for budget in [4096, 1 << 16, 64 << 20] {
            assert_eq!(
                windowed(&path, budget),
                reference,
                "{} with {budget}-byte windows",
                case.name
            );
        }
    }
}

/// A safetensors image of `n` small int8 and bf16 tensors.
fn many_tensors(n: usize) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for i in 0..n {
        let (dtype, elems, dt) = if i % 2 == 0 {
            ("I8", 300 + i * 113, wcodec::Dtype::I8)
        } else {
            ("BF16", 200 + i * 7, wcodec::Dtype::BF16)
        };
        let bytes = weight_like(dt, elems as u64, i as u64);
        let begin = data.len();
        data.extend_from_slice(&bytes);
        if i > 0 {
            header.push(',');
        }
        let end = data.len();
        write!(
            header,
            "\"t{i}\":{{\"dtype\":\"{dtype}\",\"shape\":[{elems}],\"data_offsets\":[{begin},{end}]}}"
        )
        .expect("a String takes any write");
    }
    header.push('}');
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

#[test]
fn many_tensors_decode_through_the_archive_and_through_windows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("many.wcodec");
    std::fs::write(&path, encode(&many_tensors(300), 4096)).expect("write");
    let mapped = Archive::open(&path).expect("opens");
    let reference = one_by_one(&mapped);
    // `decode_many_into` of an archive opened from a path goes through the windows.
    let mut outs: Vec<Vec<u8>> = mapped
        .tensors()
        .iter()
        .map(|t| vec![0; t.raw_bytes as usize])
        .collect();
    let jobs = outs
        .iter_mut()
        .enumerate()
        .rev()
        .map(|(i, o)| (i, o.as_mut_slice()))
        .collect();
    mapped.decode_many_into(jobs).expect("decodes");
    assert_eq!(outs, reference);
    assert_eq!(windowed(&path, 8192), reference);
}

#[test]
fn a_file_cut_under_an_open_archive_names_a_tensor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("many.wcodec");
    let bytes = encode(&many_tensors(50), 4096);
    std::fs::write(&path, &bytes).expect("write");
    let archive = Archive::open_unmapped(&path).expect("opens");
    let last = archive.tensors().last().expect("tensors").clone();
    // Cut the file in the middle of the last tensor's region.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    f.set_len(last.offset + last.stored_bytes / 2)
        .expect("truncate");
    drop(f);
    let mut outs: Vec<Vec<u8>> = archive
        .tensors()
        .iter()
        .map(|t| vec![0; t.raw_bytes as usize])
        .collect();
    let jobs = outs
        .iter_mut()
        .enumerate()
        .map(|(i, o)| (i, o.as_mut_slice()))
        .collect();
    let err = archive
        .decode_many_into(jobs)
        .expect_err("a file cut under an open archive must not decode");
    // The error names the file (it was opened by path), and underneath it the tensor.
    assert!(
        matches!(&err, Error::InFile { path: p, .. } if *p == path),
        "{err:?}"
    );
    match err.root() {
        Error::CorruptTensor { tensor, detail } => {
            assert!(archive.find(tensor).is_ok(), "{tensor}");
            assert!(detail.contains("truncated"), "{detail}");
        }
        other => panic!("expected a corrupt-tensor error, got {other:?}"),
    }
    // Opening the cut file fails up front (its header is at the end).
    assert!(Archive::open_unmapped(&path).is_err());
}

#[test]
fn an_unmapped_archive_reads_the_same_header() {
    for case in golden_cases() {
        let path = testdata()
            .join("golden")
            .join(format!("{}.wcodec", case.name));
        let a = Archive::open(&path).expect("opens");
        let b = Archive::open_unmapped(&path).expect("opens");
        assert_eq!(a.header_xxh3(), b.header_xxh3());
        assert_eq!(a.tensors().len(), b.tensors().len());
        for (x, y) in a.tensors().iter().zip(b.tensors()) {
            assert_eq!(
                (x.offset, x.stored_bytes, &x.name),
                (y.offset, y.stored_bytes, &y.name)
            );
        }
    }
}

/// A file image that logs read-ahead hints and reads, in order.
struct Logged {
    bytes: Vec<u8>,
    log: std::sync::Mutex<Vec<(bool, u64)>>,
}

impl wcodec::load::ReadAt for Logged {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.log.lock().expect("log").push((false, offset));
        self.bytes.as_slice().read_exact_at(buf, offset)
    }

    fn will_need(&self, offset: u64, _len: u64) {
        self.log.lock().expect("log").push((true, offset));
    }
}

#[test]
fn bulk_loads_announce_each_window_before_reading_it() {
    use wcodec::load::plan_windows;
    let bytes = encode(&many_tensors(120), 4096);
    let archive = Archive::from_bytes(bytes.clone()).expect("parses");
    let reference = one_by_one(&archive);
    let src = Logged {
        bytes,
        log: std::sync::Mutex::new(Vec::new()),
    };
    let budget = 16 << 10;
    let entries: Vec<_> = archive.tensors().iter().collect();
    let windows = plan_windows(&entries, budget);
    assert!(windows.len() > 4, "{} windows", windows.len());
    let mut outs: Vec<Vec<u8>> = archive
        .tensors()
        .iter()
        .map(|t| vec![0; t.raw_bytes as usize])
        .collect();
    let jobs = archive
        .tensors()
        .iter()
        .zip(outs.iter_mut())
        .map(|(t, o)| (t, o.as_mut_slice()))
        .collect();
    decode_windows(&src, std::path::Path::new("f"), jobs, budget).expect("decodes");
    assert_eq!(outs, reference);
    let log = src.log.into_inner().expect("log");
    for (k, w) in windows.iter().enumerate().skip(1) {
        let start = w.ranges[0].file_off;
        let hinted = log.iter().position(|&(hint, o)| hint && o == start);
        let read = log.iter().position(|&(hint, o)| !hint && o == start);
        match (hinted, read) {
            (Some(h), Some(r)) => assert!(h < r, "window {k} read before it was announced"),
            other => panic!("window {k}: hint and read {other:?}"),
        }
    }
    // The first window is read at once: announcing it would gain nothing.
    assert!(!log.contains(&(true, windows[0].ranges[0].file_off)));
}

#[test]
fn read_ahead_hints_never_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("many.wcodec");
    let bytes = encode(&many_tensors(40), 4096);
    std::fs::write(&path, &bytes).expect("write");
    let size = bytes.len() as u64;
    let odd = [
        (0, 0),
        (0, size),
        (0, u64::MAX),
        (1, 3),
        (size - 1, 100),
        (size, 1),
        (size + 4096, 1 << 20),
        (u64::MAX - 1, u64::MAX),
    ];
    let mapped = Archive::open(&path).expect("opens");
    let unmapped = Archive::open_unmapped(&path).expect("opens");
    let in_memory = Archive::from_bytes(bytes).expect("parses");
    for archive in [&mapped, &unmapped, &in_memory] {
        for (offset, len) in odd {
            archive.will_need(offset, len);
            archive.reader().will_need(offset, len);
        }
    }
    // The hints change nothing the archive reads.
    let reference = one_by_one(&mapped);
    assert_eq!(one_by_one(&in_memory), reference);
    assert_eq!(windowed(&path, 8192), reference);
}
