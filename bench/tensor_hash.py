"""Per-tensor checksums computed where the tensors are (GPU or CPU), for bit-exact comparisons.

A tensor's bytes are read as 32-bit words (bytes when its size is not a multiple of 4) and cut
into pieces of 16 MiB; a piece hashes to ``Σ x[i]·w(i)`` with a position weight
``w(i) = (i·2654435761 mod 251) + 1``, summed exactly in int64 (no overflow: |x| < 2^31,
w < 2^8, i < 2^22), and a tensor to ``bytes + Σ_p (s_p mod 2^40)·(p + 1)``. A changed, moved or
swapped word changes the sum unless another change happens to offset it, which is enough to
catch a wrong or misplaced tensor. Tensors are hashed in groups (one concatenation, one
``index_add_``), so 20,000 small tensors cost a few dozen kernel launches, not 20,000 × 4.

The result is the same on every device; ``bench/load.py`` compares every benchmark load with the
hashes of ``safetensors.torch.load_file`` of the original files.
"""

from __future__ import annotations

import torch

VERSION = 2  # part of the reference file's name: bump when the hash changes
K, P = 2654435761, 251
PIECE = 16 << 20  # bytes of one hashed piece
GROUP = 64 << 20  # bytes concatenated per group


def hashes(tensors: dict[str, torch.Tensor]) -> dict[str, list]:
    """name -> [dtype, shape, checksum] for every tensor."""
    pieces: list[tuple[str, int, torch.Tensor]] = []
    for name, t in tensors.items():
        b = t.detach().contiguous().reshape(-1).view(torch.uint8)
        words = b.view(torch.int32) if b.numel() % 4 == 0 else b
        step = PIECE // words.element_size()
        for k, lo in enumerate(range(0, max(words.numel(), 1), step)):
            pieces.append((name, k, words[lo : lo + step]))
    sums: dict[tuple[str, int], int] = {}
    group: list[tuple[str, int, torch.Tensor]] = []
    size = 0
    for p in [*pieces, None]:
        # Groups hold one word size (int32 or uint8), so one concatenation serves them.
        if p is None or (group and (size + p[2].nbytes > GROUP or p[2].dtype != group[0][2].dtype)):
            sums.update(_group(group))
            group, size = [], 0
        if p is not None:
            group.append(p)
            size += p[2].nbytes
    out: dict[str, list] = {}
    for name, t in tensors.items():
        total, k = 0, 0
        while (name, k) in sums:
            total += (sums[name, k] % (1 << 40)) * (k + 1)
            k += 1
        out[name] = [str(t.dtype).removeprefix("torch."), list(t.shape), total + t.numel() * t.element_size()]
    return out


def _group(group: list[tuple[str, int, torch.Tensor]]) -> dict[tuple[str, int], int]:
    if not group:
        return {}
    dev = group[0][2].device
    sizes = torch.tensor([g[2].numel() for g in group], dtype=torch.int64)
    flat = torch.cat([g[2] for g in group]) if len(group) > 1 else group[0][2]
    if flat.numel() == 0:
        return {(g[0], g[1]): 0 for g in group}
    sizes_d = sizes.to(dev)
    seg = torch.repeat_interleave(torch.arange(len(group), device=dev), sizes_d, output_size=flat.numel())
    starts = torch.cumsum(sizes_d, 0) - sizes_d
    pos = torch.arange(flat.numel(), device=dev, dtype=torch.int64) - starts[seg]
    w = (pos * K) % P + 1
    sums = torch.zeros(len(group), dtype=torch.int64, device=dev).index_add_(0, seg, flat.to(torch.int64) * w)
    return {(g[0], g[1]): v for g, v in zip(group, sums.tolist())}


def compare(got: dict[str, list], ref: dict[str, list]) -> tuple[bool, str | None]:
    """(identical, first difference)."""
    if got.keys() != ref.keys():
        missing = sorted(ref.keys() - got.keys())
        extra = sorted(got.keys() - ref.keys())
        return False, f"names differ: missing {missing[:3]}, extra {extra[:3]}"
    for name in ref:
        if got[name] != ref[name]:
            return False, f"{name}: got {got[name]}, expected {ref[name]}"
    return True, None
