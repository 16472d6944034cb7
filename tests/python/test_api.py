"""The top-level functions, on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import wcodec
from conftest import assert_same


def test_encode_checkpoint_reports_the_summary(st_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.wcodec"
    s = wcodec.encode_checkpoint(st_file, out, threads=2)
    assert out.is_file()
    assert s["original_bytes"] == st_file.stat().st_size
    assert s["encoded_bytes"] == out.stat().st_size
    assert s["n_files"] == 1 and s["n_tensors"] == 9
    assert s["reduction"] == pytest.approx(1 - s["encoded_bytes"] / s["original_bytes"])
    assert len(s["checksum"]) == 16 and s["seconds"] >= 0


def test_encode_refuses_to_overwrite_unless_asked(st_file: Path, wc_file: Path) -> None:
    before = wc_file.read_bytes()
    with pytest.raises(ValueError, match=r"already exists \(pass overwrite=True"):
        wcodec.encode_checkpoint(st_file, wc_file)
    assert wc_file.read_bytes() == before
    wcodec.encode_checkpoint(st_file, wc_file, overwrite=True)
    with pytest.raises(ValueError, match="overwrite the input"):
        wcodec.encode_checkpoint(st_file, st_file, overwrite=True)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"tile_size": 3}, ValueError),
        ({"tile_size": 65}, ValueError),
        ({"tile_size": "16"}, TypeError),
        ({"predictor_modes": ["left", "diagonal"]}, ValueError),
        ({"transforms": ["wavelet"]}, ValueError),
        ({"transforms": "dct"}, TypeError),
        ({"threads": 0}, ValueError),
    ],
)
def test_encode_validates_its_options(st_file: Path, tmp_path: Path, kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        wcodec.encode_checkpoint(st_file, tmp_path / "x.wcodec", **kwargs)
    assert not (tmp_path / "x.wcodec").exists()


def test_decode_checkpoint_to_a_file_restores_the_original(st_file: Path, wc_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "decoded.safetensors"
    assert wcodec.decode_checkpoint(wc_file, out) is None
    assert out.read_bytes() == st_file.read_bytes()
    assert wcodec.verify_checkpoint(st_file, out)["files_identical"]


def test_decode_checkpoint_to_tensors_matches_safetensors(st_file: Path, wc_file: Path) -> None:
    sd = wcodec.decode_checkpoint(wc_file, device="cpu")
    assert sd is not None
    assert_same(sd, load_file(str(st_file)))
    assert sorted(sd) == wcodec.open(wc_file).keys()


def test_decode_layer_reads_one_tensor(st_file: Path, wc_file: Path) -> None:
    ref = load_file(str(st_file))
    for name in ref:
        t = wcodec.decode_layer(wc_file, name, device="cpu")
        assert_same({name: t}, {name: ref[name]})


def test_decode_to_state_dict_on_a_sharded_directory(sharded_dir: Path, tmp_path: Path, tensors: dict) -> None:
    out = tmp_path / "enc"
    wcodec.encode_checkpoint(sharded_dir, out)
    assert (out / "model.wcodec.index.json").is_file()
    sd = wcodec.decode_to_state_dict(out, device="cpu")
    assert_same(sd, tensors)


def test_decode_to_temp_gives_a_loadable_directory_removed_at_exit(sharded_dir: Path, tmp_path: Path) -> None:
    enc = tmp_path / "enc.wcodec"
    wcodec.encode_checkpoint(sharded_dir, enc)
    code = (
        "import sys, wcodec, pathlib\n"
        f"d = pathlib.Path(wcodec.decode_to_temp({str(enc)!r}))\n"
        "print(d)\n"
        "assert (d / 'model.safetensors.index.json').is_file()\n"
        "assert (d / 'model-00001-of-00002.safetensors').is_file()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    decoded = Path(r.stdout.strip())
    assert not decoded.exists(), "temporary directory left behind"


def test_decode_to_temp_of_a_file_keeps_the_source_name(wc_file: Path, st_file: Path) -> None:
    d = Path(wcodec.decode_to_temp(wc_file))
    assert (d / "model.safetensors").read_bytes() == st_file.read_bytes()


class TinyNet(torch.nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(width, 16)
        self.fc2 = torch.nn.Linear(16, 4)
        self.register_buffer("steps", torch.tensor(7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def test_load_model_instantiates_loads_and_moves(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = TinyNet(width=8)
    wcodec.torch.save_file(net.state_dict(), tmp_path / "net.wcodec")
    loaded = wcodec.load_model(tmp_path / "net.wcodec", TinyNet, device="cpu", width=8)
    assert not loaded.training
    x = torch.randn(3, 8)
    assert torch.equal(loaded(x), net(x))
    with pytest.raises(RuntimeError, match="size mismatch"):
        wcodec.load_model(tmp_path / "net.wcodec", TinyNet, device="cpu", width=9)


def test_load_model_without_a_class_needs_a_model_directory(wc_file: Path) -> None:
    with pytest.raises(wcodec.UnsupportedFormatError, match="model_class"):
        wcodec.load_model(wc_file, device="cpu")


def test_is_cuda_available_tells_the_truth() -> None:
    assert isinstance(wcodec.is_cuda_available(), bool)
    if not torch.cuda.is_available():
        assert wcodec.is_cuda_available() is False


def test_set_decode_params_validates_and_stores() -> None:
    before = wcodec.get_decode_params()
    try:
        wcodec.set_decode_params(tiles_per_block=8, streams=2, use_tensor_cores=True, staging_mib=16)
        assert wcodec.get_decode_params() == {
            "chunks_per_block": 8,
            "streams": 2,
            "staging_mib": 16,
            "alloc_block_mib": 64,
            "use_tensor_cores": True,
        }
        for bad in (
            {"tiles_per_block": 9},
            {"tiles_per_block": 0},
            {"streams": 0},
            {"streams": 17},
            {"staging_mib": 0},
            {"staging_mib": 257},
            {"alloc_block_mib": -1},
            {"alloc_block_mib": 1025},
        ):
            with pytest.raises(ValueError):
                wcodec.set_decode_params(**bad)
        with pytest.raises(TypeError):
            wcodec.set_decode_params(streams=2.0)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            wcodec.set_decode_params(use_tensor_cores="yes")  # type: ignore[arg-type]
        assert wcodec.get_decode_params()["chunks_per_block"] == 8
    finally:
        wcodec.set_decode_params(**before)


def test_cache_dir_is_filled_then_reused(wc_file: Path, st_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = wcodec.decode_to_state_dict(wc_file, device="cpu", cache_dir=cache)
    files = list(cache.iterdir())
    assert len(files) == 1
    reader = wcodec.open(wc_file)
    assert files[0].name.startswith(f"{reader.header_xxh3[0]:016x}")
    assert files[0].read_bytes() == st_file.read_bytes()
    mtime = files[0].stat().st_mtime_ns
    second = wcodec.decode_to_state_dict(wc_file, device="cpu", cache_dir=cache)
    assert files[0].stat().st_mtime_ns == mtime, "cache rewritten instead of reused"
    assert_same(first, second)
    assert_same(second, load_file(str(st_file)))


def test_a_truncated_cache_entry_is_rebuilt(wc_file: Path, st_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    wcodec.decode_to_state_dict(wc_file, device="cpu", cache_dir=cache)
    entry = next(cache.iterdir())
    entry.write_bytes(entry.read_bytes()[:100])
    sd = wcodec.decode_to_state_dict(wc_file, device="cpu", cache_dir=cache)
    assert_same(sd, load_file(str(st_file)))
    assert entry.read_bytes() == st_file.read_bytes()


def test_import_wcodec_does_not_import_torch() -> None:
    code = "import sys, wcodec; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tiles_shrink_a_smooth_tensor_and_report_it(tmp_path: Path) -> None:
    """The specification's tile parameters reach the encoder: a sinusoidal position table,
    quantized per row to int8, comes out smaller with tiles than with tile_size=0, and decodes
    bit-exactly."""
    pos = torch.arange(512).unsqueeze(1).float()
    freq = torch.exp(torch.arange(0, 384, 2).float() * (-9.2103 / 384))
    table = torch.zeros(512, 384)
    table[:, 0::2], table[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    q = (table / table.abs().amax(1, keepdim=True) * 127).round().to(torch.int8)
    save_file({"pos": q}, str(tmp_path / "pos.safetensors"))
    tiled = wcodec.encode_checkpoint(tmp_path / "pos.safetensors", tmp_path / "tiled.wcodec")
    flat = wcodec.encode_checkpoint(tmp_path / "pos.safetensors", tmp_path / "flat.wcodec", tile_size=0)
    assert tiled["tiled_tensors"] == 1 and tiled["tiles_predicted"] > 0
    assert tiled["tile_bytes_saved"] > 0 and flat["tiles_total"] == 0
    assert tiled["encoded_bytes"] <= 0.8 * flat["encoded_bytes"]
    assert torch.equal(wcodec.decode_layer(tmp_path / "tiled.wcodec", "pos", device="cpu"), q)
    only_top = wcodec.encode_checkpoint(
        tmp_path / "pos.safetensors", tmp_path / "top.wcodec", tile_size=8, predictor_modes=["top"],
        transforms=["none"],
    )
    assert only_top["encoded_bytes"] < flat["encoded_bytes"]
    assert torch.equal(wcodec.decode_layer(tmp_path / "top.wcodec", "pos", device="cpu"), q)


def test_tile_decode_cost_reaches_the_encoder(tmp_path: Path) -> None:
    """`tile_decode_cost` is the share of a plane's bytes tiles must save: 100 keeps a smooth
    table flat, 0 and the default tile it; bad values are refused before anything is written."""
    pos = torch.arange(256, dtype=torch.float32)[:, None] / (1 + torch.arange(128, dtype=torch.float32))[None, :]
    q = (torch.sin(pos) * 127).round().to(torch.int8)
    save_file({"pos": q}, str(tmp_path / "pos.safetensors"))
    tiled = wcodec.encode_checkpoint(tmp_path / "pos.safetensors", tmp_path / "d.wcodec")
    free = wcodec.encode_checkpoint(tmp_path / "pos.safetensors", tmp_path / "z.wcodec", tile_decode_cost=0)
    never = wcodec.encode_checkpoint(tmp_path / "pos.safetensors", tmp_path / "n.wcodec", tile_decode_cost=100)
    assert tiled["tiled_tensors"] == free["tiled_tensors"] == 1 and never["tiled_tensors"] == 0
    assert never["encoded_bytes"] > tiled["encoded_bytes"]
    assert torch.equal(wcodec.decode_layer(tmp_path / "n.wcodec", "pos", device="cpu"), q)
    for bad in (-1, 101, 2.5, True, "6"):
        with pytest.raises(ValueError, match="tile_decode_cost"):
            wcodec.encode_checkpoint(tmp_path / "pos.safetensors", tmp_path / "bad.wcodec", tile_decode_cost=bad)
    assert not (tmp_path / "bad.wcodec").exists()


def test_chunk_symbols_reach_the_encoder(tmp_path: Path) -> None:
    """`chunk_symbols` is written into the file (and so read back by every decoder), and bad
    values are refused before anything is written."""
    t = {"w": torch.randint(-60, 60, (256, 512), dtype=torch.int8)}
    save_file(t, str(tmp_path / "m.safetensors"))
    for chunk in (4096, 16384):
        out = tmp_path / f"c{chunk}.wcodec"
        wcodec.encode_checkpoint(tmp_path / "m.safetensors", out, chunk_symbols=chunk, tile_size=0)
        code = "import sys; from wcodec import _wcodec; sys.exit(_wcodec.run_cli('wcodec', sys.argv))"
        inspect = subprocess.run(
            [sys.executable, "-c", code, "inspect", str(out), "--json"],
            check=True, capture_output=True, text=True,
        )
        header = json.loads(inspect.stdout)
        assert {x["chunk_symbols"] for x in header["files"][0]["tensors"]} == {chunk}
        assert torch.equal(wcodec.decode_layer(out, "w", device="cpu"), t["w"])
    for bad in (1000, 4095, 3 << 12, 1 << 21, True, "4096"):
        with pytest.raises(ValueError, match="chunk_symbols"):
            wcodec.encode_checkpoint(tmp_path / "m.safetensors", tmp_path / "bad.wcodec", chunk_symbols=bad)
    assert not (tmp_path / "bad.wcodec").exists()


def test_tile_options_come_from_the_core(st_file: Path, tmp_path: Path) -> None:
    import inspect

    from wcodec import _wcodec

    # The specification's defaults, now read from the core.
    params = inspect.signature(wcodec.encode_checkpoint).parameters
    assert params["tile_size"].default == 16
    assert tuple(params["predictor_modes"].default) == ("left", "top", "avg", "planar")
    assert tuple(params["transforms"].default) == ("none", "dct", "adst")
    # Every name the core knows is accepted; the error for another lists the core's names.
    s = wcodec.encode_checkpoint(
        st_file, tmp_path / "all.wcodec", predictor_modes=list(_wcodec.PREDICTORS), transforms=list(_wcodec.TRANSFORMS)
    )
    assert s["n_tensors"] == 9
    with pytest.raises(ValueError, match="known: " + ", ".join(_wcodec.PREDICTORS)):
        wcodec.encode_checkpoint(st_file, tmp_path / "bad.wcodec", predictor_modes=["sideways"])
    low, high, _ = _wcodec.TILE_SIZES
    with pytest.raises(ValueError, match=rf"\[{low}, {high}\]"):
        wcodec.encode_checkpoint(st_file, tmp_path / "bad.wcodec", tile_size=high + 1)
