#!/usr/bin/env python3
"""Runs the same inputs through an original model and its wcodec form; reports the largest
absolute difference of their outputs and the accuracy of each on a small labelled task.

    python scripts/eval_accuracy.py --model-path minilm.wcodec --baseline path/to/original

Lossless means a maximum difference of exactly 0 and an accuracy delta of exactly 0; the exit
status is 0 only then (or within --max-delta-pp / --max-abs-diff when given).

Task `vader-sentiment`: words of the VADER sentiment lexicon (shipped in the `vaderSentiment`
package on PyPI, so nothing is downloaded) rated clearly positive (mean ≥ 1) or clearly negative
(mean ≤ −1), balanced; each model embeds them (mean of its last hidden states) and a
nearest-centroid classifier is scored with 2-fold cross-validation on the same folds for both.
Benchmarks that need data from the Hub (mmlu, gsm8k, hellaswag) are not run here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import transformers

import wcodec
import wcodec.transformers

TASKS = ("vader-sentiment",)


def load(path: Path) -> torch.nn.Module:
    if wcodec._files.is_wcodec_dir(path) or path.suffix == ".wcodec":
        return wcodec.transformers.from_pretrained(path).eval()
    config = transformers.AutoConfig.from_pretrained(path)
    cls = wcodec.transformers._model_class(config)
    return cls.from_pretrained(path).eval()


def vader_words(limit: int) -> tuple[list[str], torch.Tensor]:
    import vaderSentiment

    lexicon = Path(vaderSentiment.__file__).with_name("vader_lexicon.txt")
    pos, neg = [], []
    for line in lexicon.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].isalpha():
            continue
        score = float(parts[1])
        if score >= 1.0:
            pos.append(parts[0])
        elif score <= -1.0:
            neg.append(parts[0])
    n = min(len(pos), len(neg), limit // 2)
    words = sorted(pos)[:n] + sorted(neg)[:n]
    labels = torch.tensor([1] * n + [0] * n)
    return words, labels


def outputs(
    model: torch.nn.Module, tokenizer: Any, words: list[str], batch: int
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Mean-pooled embeddings, and every raw output tensor (for the difference)."""
    pooled, raw = [], []
    with torch.no_grad():
        for i in range(0, len(words), batch):
            enc = tokenizer(words[i : i + batch], padding=True, return_tensors="pt")
            out = model(**enc, output_hidden_states=True)
            hidden = getattr(out, "last_hidden_state", None)
            if hidden is None:
                hidden = out.hidden_states[-1]
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled.append((hidden * mask).sum(1) / mask.sum(1))
            raw.append(hidden)
            if getattr(out, "logits", None) is not None:
                raw.append(out.logits)
    return torch.cat(pooled).float(), raw


def nearest_centroid_accuracy(x: torch.Tensor, y: torch.Tensor) -> float:
    x = torch.nn.functional.normalize(x, dim=1)
    idx = torch.arange(len(y))
    correct = 0
    for fold in (0, 1):
        train, test = idx[idx % 2 != fold], idx[idx % 2 == fold]
        centroids = torch.stack([x[train][y[train] == c].mean(0) for c in (0, 1)])
        predicted = (x[test] @ centroids.T).argmax(1)
        correct += int((predicted == y[test]).sum())
    return correct / len(y)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-path", required=True, type=Path, help="the wcodec model directory")
    ap.add_argument("--baseline", required=True, type=Path, help="the original model directory")
    ap.add_argument("--tasks", default="vader-sentiment", help=f"comma-separated; available: {', '.join(TASKS)}")
    ap.add_argument("--limit", type=int, default=600, help="words in the task (balanced)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--max-abs-diff", type=float, default=0.0)
    ap.add_argument("--max-delta-pp", type=float, default=0.0)
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args()

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        print(f"error: task(s) {', '.join(unknown)} need datasets from the Hub, which this script "
              f"does not download; available: {', '.join(TASKS)}", file=sys.stderr)
        return 2

    tokenizer = transformers.AutoTokenizer.from_pretrained(args.baseline)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    baseline, candidate = load(args.baseline), load(args.model_path)
    words, labels = vader_words(args.limit)
    emb_a, raw_a = outputs(baseline, tokenizer, words, args.batch)
    emb_b, raw_b = outputs(candidate, tokenizer, words, args.batch)
    max_diff = max(float((a.float() - b.float()).abs().max()) for a, b in zip(raw_a, raw_b))
    identical = all(torch.equal(a, b) for a, b in zip(raw_a, raw_b))
    acc_a, acc_b = nearest_centroid_accuracy(emb_a, labels), nearest_centroid_accuracy(emb_b, labels)
    report = {
        "model_path": str(args.model_path),
        "baseline": str(args.baseline),
        "task": "vader-sentiment",
        "examples": len(words),
        "max_abs_diff": max_diff,
        "outputs_bit_identical": identical,
        "baseline_accuracy": acc_a,
        "wcodec_accuracy": acc_b,
        "delta_pp": 100 * (acc_b - acc_a),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"task {report['task']}: {len(words)} words")
        print(f"  max |output difference|: {max_diff}  (bit-identical: {identical})")
        print(f"  accuracy: baseline {acc_a:.4f}, wcodec {acc_b:.4f}, delta {report['delta_pp']:+.2f} pp")
    ok = max_diff <= args.max_abs_diff and abs(report["delta_pp"]) <= args.max_delta_pp
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
