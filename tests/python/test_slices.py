"""`get_slice(name)[...]`: leading-dimension slices decode only the chunks that cover their
rows and equal the same slice of the fully decoded tensor; the safetensors 0.8 API gaps
(`backend=`, `offset_keys()`, `SafetensorError`, `.safetensors` names refused)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file as st_save_file

import wcodec
from wcodec import _wcodec
from wcodec.torch import save_file

DTYPES = [
    torch.int8,
    torch.uint8,
    torch.bool,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.complex64,
    torch.float8_e4m3fn,
    torch.float8_e5m2,
]


def weights(dtype: torch.dtype, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Weight-like values (small, peaked), so planes are rANS-coded, not stored raw."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(*shape, generator=g) * 0.05
    if dtype == torch.bool:
        return w > 0.05
    if dtype == torch.complex64:
        return torch.complex(w, w.flip(0))
    if not dtype.is_floating_point:
        return (w * 400).round().clamp(-100, 100).to(dtype)
    return w.to(dtype)


def encode(tmp_path: Path, tensors: dict[str, torch.Tensor], chunk_symbols: int = 4096) -> Path:
    src, out = tmp_path / "src.safetensors", tmp_path / "m.wcodec"
    st_save_file(tensors, src)
    _wcodec.encode(src, out, chunk_symbols=chunk_symbols, overwrite=True)
    return out


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bytes and shape identical (float8 has no torch.equal)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return a.contiguous().view(-1).view(torch.uint8).tolist() == b.contiguous().view(-1).view(torch.uint8).tolist()


INDICES = [
    slice(0, 1),
    slice(32, 64),
    slice(-16, None),
    slice(5, 200, 3),
    slice(40, 40),
    7,
    -1,
    [3, 90, 17],
    (slice(8, 24), slice(2, 9)),
    (slice(100, 127), 0),
    (slice(1, 3), Ellipsis),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_partial_slices_equal_slices_of_the_full_tensor(tmp_path: Path, dtype: torch.dtype) -> None:
    t = weights(dtype, (128, 96), 1)
    path = encode(tmp_path, {"w": t})
    with wcodec.open(path) as f:
        full = f.get_tensor("w")
        assert same(full, t)
        for rank in range(8):
            s = f.get_slice("w")
            assert same(s[rank * 16 : (rank + 1) * 16], full[rank * 16 : (rank + 1) * 16]), rank
        s = f.get_slice("w")
        for index in INDICES:
            assert same(s[index], full[index]), index
        assert s.chunks_decoded > 0


def test_fp4_slices(tmp_path: Path) -> None:
    data = torch.randint(0, 256, (64, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    t = data.view(torch.float4_e2m1fn_x2)
    path = encode(tmp_path, {"q": t})
    with wcodec.open(path) as f:
        full = f.get_tensor("q")
        assert same(full, t)
        assert same(f.get_slice("q")[8:16], full[8:16])


def smooth_int8(rows: int, cols: int) -> torch.Tensor:
    """A sinusoidal position table quantized to int8: the tile toolset predicts it well."""
    pos = torch.arange(rows, dtype=torch.float64)[:, None]
    i = torch.arange(cols, dtype=torch.float64)[None, :]
    angle = pos / 10000 ** ((2 * (i // 2)) / cols)
    table = torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle))
    return (table * 127).round().to(torch.int8)


def test_tiled_tensor_slices(tmp_path: Path) -> None:
    t = smooth_int8(512, 384)
    path = encode(tmp_path, {"pos": t, "pos16": t.to(torch.int16) * 97})
    with wcodec.open(path) as f:
        assert f._checkpoint.readers[0].version == 2, "the smooth tensors are tiled"
        for name in ("pos", "pos16"):
            full = f.get_tensor(name)
            s = f.get_slice(name)
            for a, b in [(0, 64), (64, 128), (100, 101), (13, 500), (448, 512)]:
                assert same(s[a:b], full[a:b]), (name, a, b)


def test_a_rank_slice_decodes_about_its_share_of_chunks(tmp_path: Path) -> None:
    t = weights(torch.int8, (1024, 1024), 3)
    path = encode(tmp_path, {"w": t})
    with wcodec.open(path) as f:
        info = f._checkpoint.info("w")
        total = info.reader.tensor_chunks(info.index)
        assert total == 256  # 1 MiB of int8, 4096 symbols per chunk
        s = f.get_slice("w")
        part = s[128:256]
        assert same(part, t[128:256])
        assert s.chunks_decoded == total // 8
        one = f.get_slice("w")
        one[0]
        assert one.chunks_decoded == 1
        whole = f.get_slice("w")
        whole[:]
        assert whole.chunks_decoded == 0, "a full slice goes through the full, checksummed decode"


def test_cuda_device_slices_are_decoded_on_the_cpu_and_moved(tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    t = weights(torch.bfloat16, (256, 64), 4)
    path = encode(tmp_path, {"w": t})
    with wcodec.open(path, device="cuda:0") as f:
        part = f.get_slice("w")[32:64]
        assert part.device == torch.device("cuda:0")
        assert same(part.cpu(), t[32:64])


def corrupt_middle(path: Path) -> None:
    """Flips a run of bytes in the middle of the payload (inside a rANS chunk of the only tensor)."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, mid + 64):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def test_slices_of_corrupt_files_raise_corrupt_file_error(tmp_path: Path) -> None:
    import safetensors

    t = weights(torch.int8, (512, 512), 5)
    path = encode(tmp_path, {"w": t})
    corrupt_middle(path)
    with wcodec.open(path) as f:
        s = f.get_slice("w")
        with pytest.raises(wcodec.CorruptFileError) as e:
            s[248:264]  # the rows around the middle of the tensor
        assert isinstance(e.value, safetensors.SafetensorError)
        with pytest.raises(wcodec.CorruptFileError):
            f.get_tensor("w")


def test_backend_is_accepted_and_checked(tmp_path: Path) -> None:
    path = encode(tmp_path, {"w": torch.ones(4, 4)})
    for backend in ("mmap", "pread"):
        with wcodec.open(path, backend=backend) as f:
            assert torch.equal(f.get_tensor("w"), torch.ones(4, 4))
        assert torch.equal(wcodec.torch.load_file(path, backend=backend)["w"], torch.ones(4, 4))
    with pytest.raises(ValueError, match="not_a_backend"):
        wcodec.open(path, backend="not_a_backend")
    with pytest.raises(ValueError, match="not_a_backend"):
        wcodec.torch.load_file(path, backend="not_a_backend")


def test_offset_keys_follow_the_source_file(tmp_path: Path) -> None:
    tensors = {"z": torch.zeros(3), "a": torch.zeros(2, dtype=torch.float64), "m": torch.zeros(5, dtype=torch.int8)}
    path = encode(tmp_path, tensors)
    header = json.loads((tmp_path / "src.safetensors").read_bytes()[8:].split(b"}}", 1)[0] + b"}}")
    header.pop("__metadata__", None)
    expected = sorted(header, key=lambda n: header[n]["data_offsets"][0])
    with wcodec.open(path) as f:
        assert f.offset_keys() == expected
        assert sorted(f.offset_keys()) == f.keys()


def test_safetensors_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"model\.wcodec"):
        save_file({"w": torch.ones(2)}, tmp_path / "model.safetensors")
    assert not (tmp_path / "model.safetensors").exists()
    with pytest.raises(ValueError, match="safetensors"):
        wcodec.torch.save_model(torch.nn.Linear(2, 2), tmp_path / "model.SAFETENSORS")
    save_file({"w": torch.ones(2)}, tmp_path / "model.safetensors", allow_safetensors_suffix=True)
    assert torch.equal(wcodec.torch.load_file(tmp_path / "model.safetensors")["w"], torch.ones(2))


def test_errors_are_safetensor_errors_and_keep_builtin_bases(tmp_path: Path) -> None:
    import safetensors

    with pytest.raises(safetensors.SafetensorError):
        wcodec.open(tmp_path / "missing.wcodec")
    with pytest.raises(FileNotFoundError):
        wcodec.open(tmp_path / "missing.wcodec")
    path = encode(tmp_path, {"w": torch.ones(2)})
    with wcodec.open(path) as f:
        with pytest.raises(KeyError):
            f.get_tensor("nope")
        with pytest.raises(safetensors.SafetensorError):
            f.get_tensor("nope")
    with pytest.raises(safetensors.SafetensorError):
        f.keys()  # closed
    for cls in (wcodec.WcodecError, wcodec.CorruptFileError, wcodec.WcodecIOError, wcodec.CudaUnavailableError):
        assert issubclass(cls, safetensors.SafetensorError)


def test_errors_without_safetensors(tmp_path: Path) -> None:
    """safetensors stays optional: when it cannot be imported, wcodec imports and its errors
    keep their built-in bases."""
    code = textwrap.dedent(
        f"""
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "safetensors" or name.startswith("safetensors."):
                    raise ImportError("blocked for the test")
                return None

        sys.meta_path.insert(0, Block())
        import wcodec
        assert wcodec.WcodecError.__mro__[1:] == (Exception, BaseException, object), wcodec.WcodecError.__mro__
        assert issubclass(wcodec.TensorNotFoundError, KeyError)
        assert issubclass(wcodec.WcodecFileNotFoundError, FileNotFoundError)
        try:
            wcodec.open({str(tmp_path / "missing.wcodec")!r})
        except FileNotFoundError as e:
            assert isinstance(e, wcodec.WcodecError)
        else:
            raise AssertionError("no error")
        assert "safetensors" not in sys.modules
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_slice_reads_scale_with_rows(tmp_path: Path) -> None:
    """bf16 (two planes): a quarter of the rows decodes about a quarter of the chunks."""
    t = weights(torch.bfloat16, (512, 512), 6)
    path = encode(tmp_path, {"w": t})
    with wcodec.open(path) as f:
        info = f._checkpoint.info("w")
        total = info.reader.tensor_chunks(info.index)
        s = f.get_slice("w")
        assert same(s[128:256], t[128:256])
        assert 0 < s.chunks_decoded <= math.ceil(total / 4) + 2
