"""Many threads decoding from one file at once (the specification's ThreadPoolExecutor use)."""

from __future__ import annotations

import concurrent.futures
import threading
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

import wcodec
from conftest import assert_same


def test_decode_layer_from_a_thread_pool(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(3)
    tensors = {
        f"layer.{i}": (torch.randn(256, 128, generator=g) * 30).round().clamp(-127, 127).to(torch.int8)
        for i in range(32)
    }
    save_file(tensors, str(tmp_path / "m.safetensors"))
    wcodec.encode_checkpoint(tmp_path / "m.safetensors", tmp_path / "model.wcodec")
    ref = load_file(str(tmp_path / "m.safetensors"))

    def decode_layer_async(layer_name: str) -> tuple[str, torch.Tensor]:
        return layer_name, wcodec.decode_layer(tmp_path / "model.wcodec", layer_name, device="cpu")

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as executor:
        futures = [executor.submit(decode_layer_async, name) for name in list(ref) * 4]
        for future in concurrent.futures.as_completed(futures):
            name, decoded = future.result()
            assert torch.equal(decoded, ref[name])


def test_threads_share_one_open_file(wc_file: Path) -> None:
    errors: list[BaseException] = []
    with wcodec.open(wc_file) as f:
        expected = f.get_tensors()

        def work() -> None:
            try:
                for _ in range(20):
                    assert_same(f.get_tensors(), expected)
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[0]


def test_decoding_releases_the_gil(tmp_path: Path) -> None:
    """While one thread decodes a large tensor, Python code keeps running in another."""
    g = torch.Generator().manual_seed(5)
    big = torch.randint(120, 136, (48 << 20,), generator=g, dtype=torch.uint8).view(torch.int8)
    save_file({"big": big}, str(tmp_path / "big.safetensors"))
    wcodec.encode_checkpoint(tmp_path / "big.safetensors", tmp_path / "big.wcodec")
    with wcodec.open(tmp_path / "big.wcodec") as f:
        f.get_tensor("big")  # warm the page cache
        result: list[torch.Tensor] = []
        worker = threading.Thread(target=lambda: result.append(f.get_tensor("big")))
        spins = 0
        worker.start()
        while worker.is_alive():
            spins += 1
        worker.join()
    assert torch.equal(result[0], big)
    assert spins > 1000, f"the main thread ran only {spins} iterations during the decode"
