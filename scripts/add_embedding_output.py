#!/usr/bin/env python3
"""Give a shipped int8 model its pooled vector as a second output, weights untouched, and declare both
outputs in its sidecar (``outputs``). The scores stay bit-identical (tests/test_model.py checks it).

    python -m scripts.add_embedding_output [models/bark_cry.tflite]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from barkcry_train.outputs import pooled_tensor, tensor_names, with_output

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    model = Path(argv[0]) if argv else ROOT / "models" / "bark_cry.tflite"
    tflite = model.read_bytes()
    pooled = pooled_tensor(tflite)
    out = with_output(tflite, pooled)
    model.write_bytes(out)
    sidecar = model.with_suffix(".json")
    d = json.loads(sidecar.read_text())
    scores = d.get("outputs", {}).get("scores") or next(
        n for n in tensor_names(tflite) if "StatefulPartitionedCall" in n
    )
    d["outputs"] = {"scores": scores, "embedding": pooled}
    sidecar.write_text(json.dumps(d, indent=2) + "\n")
    print(f"{model}: outputs {d['outputs']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
