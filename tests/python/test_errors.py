"""Bad paths, corrupt files, missing tensors and wrong devices raise wcodec's exceptions."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch

import wcodec
from conftest import GOLDEN, REJECT


def test_the_hierarchy() -> None:
    for cls in (
        wcodec.CorruptFileError,
        wcodec.UnsupportedVersionError,
        wcodec.UnsupportedFormatError,
        wcodec.TensorNotFoundError,
        wcodec.WcodecIOError,
        wcodec.CudaUnavailableError,
    ):
        assert issubclass(cls, wcodec.WcodecError)
    assert issubclass(wcodec.TensorNotFoundError, KeyError)
    assert issubclass(wcodec.WcodecFileNotFoundError, FileNotFoundError)
    assert issubclass(wcodec.WcodecIOError, OSError)
    assert issubclass(wcodec.CudaUnavailableError, wcodec.CudaError)
    assert issubclass(wcodec.CudaError, RuntimeError)


def test_a_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.wcodec"
    for call in (
        lambda: wcodec.open(missing),
        lambda: wcodec.decode_layer(missing, "x", device="cpu"),
        lambda: wcodec.decode_checkpoint(missing, device="cpu"),
        lambda: wcodec.decode_checkpoint(missing, tmp_path / "out.safetensors"),
        lambda: wcodec.encode_checkpoint(tmp_path / "nope.safetensors", tmp_path / "o.wcodec"),
    ):
        with pytest.raises(FileNotFoundError) as e:
            call()
        assert isinstance(e.value, wcodec.WcodecError)
        assert e.value.errno == errno.ENOENT
    assert not (tmp_path / "out.safetensors").exists()


def test_a_directory_without_wcodec_files(tmp_path: Path) -> None:
    with pytest.raises(wcodec.WcodecError, match=r"no \.wcodec files"):
        wcodec.open(tmp_path)


def test_not_a_wcodec_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wcodec"
    bad.write_bytes(b"PK\x03\x04 this is a zip, not wcodec" * 4)
    with pytest.raises(wcodec.CorruptFileError, match="not a wcodec file"):
        wcodec.open(bad)


def test_encoding_a_non_safetensors_file(tmp_path: Path) -> None:
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(wcodec.UnsupportedFormatError):
        wcodec.encode_checkpoint(bad, tmp_path / "o.wcodec")
    assert not (tmp_path / "o.wcodec").exists()


REJECTS = sorted(p for p in REJECT.glob("*.wcodec"))


@pytest.mark.parametrize("path", REJECTS, ids=[p.name for p in REJECTS])
def test_every_reject_file_raises_and_never_returns_data(path: Path, tmp_path: Path) -> None:
    """The core's reject corpus (testdata/reject/README.md), through Python: rebuilding each
    file fails, and reading its tensors fails too, except for the one file whose tensors are
    valid but whose source format cannot be rebuilt."""
    if path.name == "source_unknown_format.wcodec":
        with wcodec.open(path) as f:
            assert f.get_tensors()
        with pytest.raises(ValueError, match="cannot rebuild"):
            wcodec.decode_checkpoint(path, tmp_path / "out.safetensors")
    else:
        with pytest.raises(wcodec.WcodecError):
            with wcodec.open(path) as f:
                f.get_tensors()
        with pytest.raises(wcodec.WcodecError):
            wcodec.decode_checkpoint(path, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_reject_corpus_is_there() -> None:
    assert len(REJECTS) >= 40


def test_an_unsupported_version(tmp_path: Path) -> None:
    # The newest `version_N` reject file is a version from the future.
    versions = sorted(REJECTS, key=lambda p: p.name)
    future = [p for p in versions if p.name.startswith("version_") and p.name != "version_0.wcodec"]
    assert future, "the reject corpus has a future-version file"
    with pytest.raises(wcodec.UnsupportedVersionError, match="not supported"):
        wcodec.open(future[-1])


def test_a_flipped_payload_bit_is_caught_by_the_checksums(wc_file: Path, tmp_path: Path) -> None:
    data = bytearray(wc_file.read_bytes())
    data[200] ^= 0x10  # inside the first tensor region (after the 64-byte preamble)
    bad = tmp_path / "flipped.wcodec"
    bad.write_bytes(bytes(data))
    with pytest.raises(wcodec.CorruptFileError):
        wcodec.open(bad).get_tensors()


@pytest.mark.parametrize("where", [200, -20], ids=["payload", "header"])
def test_a_damaged_file_is_named_under_the_callers_path(wc_file: Path, tmp_path: Path, where: int) -> None:
    # As in a Hugging Face cache: the name the user sees is a link to a blob named by its hash.
    data = bytearray(wc_file.read_bytes())
    data[where] ^= 0x10
    blob = tmp_path / "blobs" / "0f3a9c"
    blob.parent.mkdir()
    blob.write_bytes(bytes(data))
    link = tmp_path / "model-00002-of-00009.wcodec"
    link.symlink_to(blob)
    with pytest.raises(wcodec.CorruptFileError) as e:
        wcodec.open(link).get_tensors()
    text = str(e.value)
    assert text.startswith(f"`{link}` is damaged ("), text
    assert text.endswith("; download it again, or encode the original checkpoint again with wcodec-encode")


GOLDENS = sorted(GOLDEN.glob("*.wcodec"))


@pytest.mark.parametrize("path", GOLDENS, ids=[p.name for p in GOLDENS])
def test_golden_files_decode_to_their_sources(path: Path, tmp_path: Path) -> None:
    source = path.with_suffix(".safetensors")
    out = tmp_path / "out.safetensors"
    wcodec.decode_checkpoint(path, out)
    assert out.read_bytes() == source.read_bytes()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA behaviour")
def test_cuda_without_a_gpu_and_without_fallback_is_a_clear_error(wc_file: Path) -> None:
    # With fallback="cpu" (the default) these return CPU tensors instead: test_fallback.py.
    for call in (
        lambda: wcodec.decode_layer(wc_file, "scalar", fallback=None),  # device="cuda" is the default
        lambda: wcodec.decode_checkpoint(wc_file, device="cuda", fallback=None),
        lambda: wcodec.open(wc_file, device="cuda:0", fallback=None),
        lambda: wcodec.torch.load_file(wc_file, device=0, fallback=None),
    ):
        with pytest.raises(wcodec.CudaUnavailableError, match="no CUDA device"):
            call()


def test_fallback_values(wc_file: Path) -> None:
    with pytest.raises(ValueError, match="fallback"):
        wcodec.decode_layer(wc_file, "scalar", device="cpu", fallback="gpu")
    # CPU destinations need no fallback.
    assert wcodec.decode_layer(wc_file, "scalar", device="cpu", fallback=None).item() == 3.5


@pytest.mark.gpu
def test_cuda_needs_no_fallback_when_the_gpu_decoder_runs(wc_file: Path) -> None:
    t = wcodec.decode_layer(wc_file, "scalar", device="cuda", fallback=None)
    assert t.device.type == "cuda" and t.item() == 3.5


def test_os_errors_carry_errno_and_filename(tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "out.safetensors"
    wcodec.torch.save_file({"a": torch.zeros(2)}, tmp_path / "a.wcodec")
    with pytest.raises(wcodec.WcodecIOError) as e:
        wcodec.decode_checkpoint(tmp_path / "a.wcodec", target)
    assert e.value.errno == errno.ENOENT
    assert e.value.filename and "no-such-dir" in e.value.filename
    assert "(os error" not in str(e.value)
