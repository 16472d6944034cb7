"""Load format ``wcodec_sharded`` (vLLM's ``sharded_state`` with ``.wcodec`` files) in a real vLLM
on the CPU: per-rank files written from a model vLLM loaded, read back bit for bit, with tensor
parallel size 1 in this process and 2 in two processes (gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from vllm_helpers import same, vllm_load_model

import wcodec


@pytest.fixture(scope="module")
def reference(llama32_dir: Path, vllm_dist: None) -> object:
    return vllm_load_model(llama32_dir, "safetensors", "float32")


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory, llama32_dir: Path, reference: object) -> Path:
    from wcodec._vllm_sharded import copy_model_files, save_sharded_state

    out = tmp_path_factory.mktemp("sharded") / "llama32-sharded"
    files = save_sharded_state(reference, out, max_size=200_000)
    assert [os.path.basename(f) for f in files] == [f"model-rank-0-part-{i}.wcodec" for i in range(len(files))]
    assert len(files) > 2
    copied = copy_model_files(str(llama32_dir), str(out))
    assert "config.json" in copied and not any(n.endswith(".safetensors") for n in copied)
    return out


@pytest.mark.usefixtures("vllm_dist")
def test_the_rank_files_load_bit_identically(sharded: Path, reference: object, llama32_dir: Path) -> None:
    model = vllm_load_model(sharded, "wcodec_sharded", "float32")
    ours, theirs = model.state_dict(), reference.state_dict()  # type: ignore[attr-defined]
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert same(ours[k], theirs[k]), k
    # The files hold vLLM's own (fused) parameters, not the checkpoint's tensors.
    names = {n for f in sharded.glob("*.wcodec") for n in wcodec.open(f).keys()}
    assert "model.layers.0.self_attn.qkv_proj.weight" in names
    assert "model.layers.0.self_attn.q_proj.weight" not in names


@pytest.mark.usefixtures("vllm_dist")
def test_missing_files_are_refused_with_what_to_do(tmp_path: Path, sharded: Path, llama32_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"no files `model-rank-0-part-\*\.wcodec`.*save-sharded"):
        vllm_load_model(llama32_dir, "wcodec_sharded", "float32")
    # One part gone: the tensors it held are named.
    partial = tmp_path / "partial"
    partial.mkdir()
    for f in sharded.iterdir():
        if f.name != "model-rank-0-part-1.wcodec":
            (partial / f.name).write_bytes(f.read_bytes())
    with pytest.raises(ValueError, match=r"missing from \[.*model-rank-0-part-0\.wcodec.*\]: \['model\."):
        vllm_load_model(partial, "wcodec_sharded", "float32")


def test_bad_options_are_refused() -> None:
    from vllm.config.load import LoadConfig
    from vllm.model_executor.model_loader import get_model_loader

    import wcodec.vllm as wv

    wv.register()
    with pytest.raises(ValueError, match="unknown model_loader_extra_config keys"):
        get_model_loader(LoadConfig(load_format="wcodec_sharded", model_loader_extra_config={"threads": 2}))
    with pytest.raises(ValueError, match="`pattern` must be a string"):
        get_model_loader(LoadConfig(load_format="wcodec_sharded", model_loader_extra_config={"pattern": 3}))
    pattern = "r{rank}-{part}.wcodec"
    loader = get_model_loader(LoadConfig(load_format="wcodec_sharded", model_loader_extra_config={"pattern": pattern}))
    assert loader.pattern == pattern


# Each rank of a tensor-parallel-2 group (gloo on the CPU): vLLM loads the safetensors model,
# writes the rank's files, then loads them into a fresh model, which must equal the first.
RANK = r"""
import os, sys, torch
rank, init, model_dir, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
from vllm.config import DeviceConfig, ModelConfig, ParallelConfig, VllmConfig, set_current_vllm_config
from vllm.config.load import LoadConfig
from vllm.distributed import parallel_state as ps
from vllm.model_executor.model_loader import get_model_loader
import wcodec.vllm
from wcodec._vllm_sharded import save_sharded_state
wcodec.vllm.register()

def config(path, load_format):
    return VllmConfig(
        model_config=ModelConfig(model=path, dtype="float32", skip_tokenizer_init=True, seed=0),
        load_config=LoadConfig(load_format=load_format, device="cpu"),
        device_config=DeviceConfig("cpu"),
        parallel_config=ParallelConfig(tensor_parallel_size=2),
    )

def load(path, load_format):
    c = config(path, load_format)
    with set_current_vllm_config(c):
        return get_model_loader(c.load_config).load_model(vllm_config=c, model_config=c.model_config)

with set_current_vllm_config(config(model_dir, "safetensors")):
    ps.init_distributed_environment(world_size=2, rank=rank, distributed_init_method="file://" + init,
                                    local_rank=rank, backend="gloo")
    ps.initialize_model_parallel(2, 1)
    reference = load(model_dir, "safetensors")
    files = save_sharded_state(reference, out)
    torch.distributed.barrier()
    if rank == 0:
        import shutil
        shutil.copy(os.path.join(model_dir, "config.json"), out)
    torch.distributed.barrier()
model = load(out, "wcodec_sharded")
ours, theirs = model.state_dict(), reference.state_dict()
assert ours.keys() == theirs.keys()
for k in ours:
    assert ours[k].dtype == theirs[k].dtype and torch.equal(ours[k], theirs[k]), k
qkv = ours["model.layers.0.self_attn.qkv_proj.weight"]
print("ok", rank, [os.path.basename(f) for f in files], list(qkv.shape), float(qkv.double().sum()))
"""


def test_tensor_parallel_2_each_rank_reads_its_own_files(tmp_path: Path, llama32_dir: Path) -> None:
    out = tmp_path / "tp2"
    init = tmp_path / "init"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RANK, str(rank), str(init), str(llama32_dir), str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        for rank in (0, 1)
    ]
    results = []
    for p in procs:
        text, _ = p.communicate(timeout=600)
        assert p.returncode == 0, text
        results.append(next(line for line in text.splitlines() if line.startswith("ok ")))
    files = sorted(f.name for f in out.glob("*.wcodec"))
    assert files == ["model-rank-0-part-0.wcodec", "model-rank-1-part-0.wcodec"]
    assert results[0].startswith("ok 0 ['model-rank-0-part-0.wcodec'] ")
    assert results[1].startswith("ok 1 ['model-rank-1-part-0.wcodec'] ")
    # Each rank holds half of the fused q/k/v rows (hidden 64: q 64 + k 32 + v 32 = 128, split in 2).
    assert "[64, 64]" in results[0] and "[64, 64]" in results[1]
    assert results[0].rsplit(" ", 1)[1] != results[1].rsplit(" ", 1)[1], "the ranks hold different slices"
    # The file of one rank has exactly its own tensors: half of every split parameter.
    with wcodec.open(out / "model-rank-1-part-0.wcodec") as f:
        assert f.get_slice("model.layers.0.self_attn.qkv_proj.weight").get_shape() == [64, 64]
        assert f.get_slice("model.norm.weight").get_shape() == [64]


def test_save_sharded_command_documents_itself() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "wcodec.vllm", "save-sharded", "--help"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "--output" in out.stdout and "--max-file-size" in out.stdout and "--tensor-parallel-size" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "wcodec.vllm", "save"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "save-sharded" in bad.stderr
