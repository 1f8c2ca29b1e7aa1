"""The dense fp32 teacher as an ONNX model folder, for the ONNX Runtime comparison rows.

    python bench/teacher_onnx.py [--task sentiment|topic|both] [--checkpoint DIR] [--out DIR]

Exports runs/<task>/teacher (a Hugging Face checkpoint written by `finterm-train teacher`)
with torch.onnx.export(dynamo=False): inputs input_ids + attention_mask in forward's order,
batch and sequence dynamic, output logits. The file is checked against PyTorch on real
validation tweets before it is used. Cached in bench/.cache/teacher-<task>/ until the
checkpoint changes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, TASKS, log, teacher_checkpoint, valid_texts  # noqa: E402

from finterm.training.backbone import TOKENIZER_FILES  # noqa: E402


def _weights(ckpt: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (ckpt / name).is_file():
            return ckpt / name
    raise SystemExit(f"{ckpt}: no model.safetensors or pytorch_model.bin (train the teacher first)")


def export(task: str, ckpt: Path | None = None, out: Path | None = None, force: bool = False) -> Path:
    ckpt = Path(ckpt or teacher_checkpoint(task))
    out = Path(out or CACHE / f"teacher-{task}")
    weights = _weights(ckpt)
    stamp = f"{weights.resolve()}:{weights.stat().st_mtime_ns}:{weights.stat().st_size}"
    if not force and (out / "model.onnx").is_file() and (out / "source.txt").is_file() \
            and (out / "source.txt").read_text() == stamp:
        return out
    import torch
    from transformers import AutoModelForSequenceClassification

    from finterm.training.export import logits_only

    log(f"exporting the dense teacher {ckpt} to {out}")
    model = AutoModelForSequenceClassification.from_pretrained(str(ckpt), attn_implementation="eager").eval()

    out.mkdir(parents=True, exist_ok=True)
    ids = torch.randint(1000, 2000, (2, 24), dtype=torch.long, generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 20:] = 0
    torch.onnx.export(
        logits_only(model), (ids, mask), str(out / "model.onnx"), input_names=["input_ids", "attention_mask"],
        output_names=["logits"], opset_version=14, dynamo=False,
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                      "logits": {0: "batch"}},
    )
    model.eval()  # export restores the wrapper's mode: keep dropout off for the check below
    cfg = model.config.to_dict()
    cfg["finterm_name"] = f"{ckpt.parent.name}-teacher-dense-fp32"
    (out / "config.json").write_text(json.dumps(cfg, indent=1))
    for name in TOKENIZER_FILES:
        if (ckpt / name).is_file():
            shutil.copy2(ckpt / name, out / name)
    _check(model, out, task)
    (out / "source.txt").write_text(stamp)
    return out


def _check(model, folder: Path, task: str) -> None:
    """The ONNX file through ONNX Runtime gives PyTorch's logits on real tweets."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=128)
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]") or 0)
    enc = tok.encode_batch(valid_texts(task, 16, seed=1))
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
    diff = float(np.abs(got - ref).max())
    if diff > 1e-3 or not (got.argmax(1) == ref.argmax(1)).all():
        raise SystemExit(f"{folder}/model.onnx disagrees with PyTorch (max |diff| {diff:.2g})")
    log(f"{folder}/model.onnx matches PyTorch on 16 validation tweets (max |diff| {diff:.1e})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=[*TASKS, "both"], default="both")
    ap.add_argument("--checkpoint", type=Path, help="teacher checkpoint (default runs/<task>/teacher)")
    ap.add_argument("--out", type=Path, help="model folder to write (default bench/.cache/teacher-<task>)")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    for task in (TASKS if a.task == "both" else (a.task,)):
        print(export(task, a.checkpoint, a.out, a.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
