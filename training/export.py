"""Export the trained student to a model folder the finterm engine loads.

The ONNX graph takes exactly (input_ids, attention_mask) -> logits, both inputs dynamic in
batch and sequence. A thin wrapper fixes the positional order, because SparseML's exporter
binds inputs by position: a dict sample in another order once named the attention mask
`token_type_ids` (see STACK.md). BERT's token_type_ids are all zero for single texts, so
the graph builds them itself and the engine does not feed them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .common import TrainError, log, require_torch
from .data import load_tokenizer

INPUT_NAMES = ["input_ids", "attention_mask"]


def logits_only(model):
    """A Hugging Face classifier as forward(input_ids, attention_mask) -> logits, in the ONNX
    input order (what every finterm export and bench/teacher_onnx.py trace), in eval mode."""
    import torch

    class LogitsOnly(torch.nn.Module):

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)[0]

    return LogitsOnly(model).eval()


def export_onnx(model, out_dir: Path, convert_qat: bool = True, outputs: tuple[str, ...] = ("logits",)) -> Path:
    """Write out_dir/model.onnx (int8 when the model carries QAT), dynamic batch and length.

    `outputs`: the graph's output names. A Hugging Face classifier (one output) is traced through
    `logits_only`; a model whose forward already is (input_ids, attention_mask) -> outputs, such as
    the one encoder with two heads, is traced as it is."""
    torch = require_torch()
    from sparseml.pytorch.utils import ModuleExporter

    out_dir.mkdir(parents=True, exist_ok=True)
    wrapped = logits_only(model) if outputs == ("logits",) else model.eval()
    # A sample with batch 2 x 24 tokens; both dimensions are declared dynamic below.
    vocab = int(getattr(model.config, "vocab_size", 1000))
    ids = torch.randint(min(5, vocab - 1), vocab, (2, 24), dtype=torch.long, generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 20:] = 0
    dyn = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
           **{name: {0: "batch"} for name in outputs}}
    ModuleExporter(wrapped, str(out_dir)).export_onnx(
        sample_batch=(ids, mask),
        name="model.onnx",
        convert_qat=convert_qat,
        input_names=INPUT_NAMES,
        output_names=list(outputs),
        dynamic_axes=dyn,
        dynamo=False,  # torch >= 2.9 defaults to the dynamo exporter, which SparseML's QAT conversion cannot read
    )
    path = out_dir / "model.onnx"
    check_onnx_io(path, outputs)
    return path


def runtime_gate(path: Path, runtime: dict[str, dict], reference: dict[str, float], tolerance: float,
                 stage: Path, out: Path) -> None:
    """The export gate: refuse to ship when the exported file, run by any runtime engine, scores
    any metric more than `tolerance` points below the PyTorch model it came from (a broken export
    such as the input-order trap in STACK.md scores near the majority baseline).

    `runtime`: {engine: {metric: value, ...}} (values in 0..1; a "majority_baseline" entry is quoted
    in the message); `reference`: {metric: PyTorch value}. The failed export stays in `stage` and
    the folder at `out` is left untouched (TrainError, exit 1)."""
    for metric, ref in reference.items():
        for engine, got in runtime.items():
            value = got[metric]
            if value < ref - tolerance / 100:
                base = got.get("majority_baseline")
                raise TrainError(
                    f"REFUSING TO SHIP: {path} scores {value:.2%} ({metric}) through {engine} vs {ref:.2%} in PyTorch "
                    f"(more than {tolerance} point lost{'' if base is None else f'; majority baseline {base:.2%}'}). "
                    f"The broken export is left in {stage} for inspection; {out} was not touched.")


def check_onnx_io(path: Path, outputs: tuple[str, ...] = ("logits",)) -> None:
    """Fail unless the file takes exactly input_ids, attention_mask (dynamic) and gives `outputs`."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    names = [i.name for i in m.graph.input if i.name not in inits]
    outs = [o.name for o in m.graph.output]
    if names != INPUT_NAMES or outs[: len(outputs)] != list(outputs):
        raise TrainError(f"exported {path} has inputs {names} and outputs {outs}; expected {INPUT_NAMES} -> {list(outputs)}")
    for inp in m.graph.input:
        if inp.name in INPUT_NAMES:
            dims = inp.type.tensor_type.shape.dim
            if any(d.HasField("dim_value") and d.dim_value > 0 for d in dims):
                raise TrainError(f"exported {path}: input {inp.name} has a fixed dimension; batch and length must be dynamic")


def _encoder_int8(init, arr) -> bool:
    """An int8 weight matrix of the encoder's linear layers (by name: not the embeddings, not a head)."""
    return arr.ndim == 2 and arr.dtype in (np.int8, np.uint8) and "encoder" in init.name


def onnx_stats(path: Path) -> dict:
    """Size, int8 share and quantized ops of the exported weights (what the engine actually runs)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    by_type: dict[str, int] = {}
    int8_mats = 0
    for init in m.graph.initializer:
        arr = numpy_helper.to_array(init)
        by_type[str(arr.dtype)] = by_type.get(str(arr.dtype), 0) + arr.size
        int8_mats += _encoder_int8(init, arr)
    ops: dict[str, int] = {}
    for node in m.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return {"size_bytes": path.stat().st_size, "params_by_dtype": by_type, "int8_matrices": int8_mats,
            "quantized_ops": {k: v for k, v in ops.items() if "Quant" in k or "Integer" in k or k.startswith("QLinear")}}


def onnx_encoder_sparsity(path: Path) -> float:
    """Zeros among the exported int8 weight matrices of the encoder (embeddings and heads excluded)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    zeros = total = 0
    for init in m.graph.initializer:
        arr = numpy_helper.to_array(init)
        if _encoder_int8(init, arr):
            zp = 0 if arr.dtype == np.int8 else 128  # symmetric weights: zero is 0 (int8) or 128 (uint8)
            zeros += int((arr.astype(np.int32) == zp).sum())
            total += arr.size
    return zeros / total if total else 0.0


def write_folder_files(out_dir: Path, student_dir: Path, labels: list[str], max_length: int, name: str, task: str) -> None:
    """config.json (id2label/label2id + finterm fields) and tokenizer files, padding/truncation off."""
    cfg = json.loads((student_dir / "config.json").read_text())
    cfg["id2label"] = {str(i): n for i, n in enumerate(labels)}
    cfg["label2id"] = {n: i for i, n in enumerate(labels)}
    cfg["finterm_name"] = name
    cfg["finterm_task"] = task
    cfg["finterm_max_length"] = max_length
    cfg["finterm_inputs"] = INPUT_NAMES
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    write_tokenizer_files(out_dir, student_dir, max_length)
    log(f"wrote {out_dir}/config.json and tokenizer files")


def write_tokenizer_files(out_dir: Path, student_dir: Path, max_length: int) -> None:
    """tokenizer.json with padding and truncation off (the engine pads and cuts per length bucket),
    and the other tokenizer files."""
    tok = load_tokenizer(student_dir, max_length)
    tok.no_padding()
    tok.no_truncation()  # the engine truncates and pads itself, per length bucket
    tok.save(str(out_dir / "tokenizer.json"))
    for fname in ("tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (student_dir / fname).is_file():
            shutil.copy2(student_dir / fname, out_dir / fname)
