"""Model folders: `model.onnx` + `config.json` (id2label) + `tokenizer.json` (+ MODEL_CARD.md).

Any folder of this shape loads, dense or sparse, with fixed or dynamic batch and sequence
dimensions; what the ONNX graph fixes is read from its inputs so the engine can comply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from finterm.errors import ModelError

TASKS = ("sentiment", "topic")
KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _assets_models() -> Path:
    from finterm import ASSETS_MODELS

    return ASSETS_MODELS


def default_model_dir(task: str) -> Path:
    """Where the shipped model for `task` lives: assets/models/<task>."""
    return _assets_models() / task


def no_model_message(task: str, path: Path) -> str:
    return (
        f"no {task} model is installed at {path}: train one with `finterm-train` "
        f"or point --{task}-model at a model folder (model.onnx, config.json, tokenizer.json)"
    )


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    name: str
    labels: list[str]
    onnx_path: Path
    tokenizer_path: Path
    #: Longest sequence the model takes (its fixed length, else its position limit).
    max_length: int
    #: ONNX input names in graph order (a subset of KNOWN_INPUTS).
    input_names: tuple[str, ...]
    fixed_batch: int | None
    fixed_seq: int | None
    size_bytes: int
    config: dict = field(repr=False, default_factory=dict)
    #: numpy dtype name per input ("int64" unless the graph asks for another integer type).
    input_dtypes: dict = field(repr=False, default_factory=dict)

    @classmethod
    def load(cls, path: str | Path, task: str = "model") -> "ModelFolder":
        p = Path(path).expanduser()
        if not p.exists():
            raise ModelError(no_model_message(task, p))
        if not p.is_dir():
            raise ModelError(f"{task} model {p} is not a folder")
        onnx_path, cfg_path, tok_path = p / "model.onnx", p / "config.json", p / "tokenizer.json"
        missing = [f.name for f in (onnx_path, cfg_path, tok_path) if not f.is_file()]
        if missing:
            raise ModelError(f"{task} model folder {p} lacks {', '.join(missing)}")
        try:
            config = json.loads(cfg_path.read_text(encoding="utf-8"))
            id2label = config["id2label"]
            labels = [str(id2label[k]) for k in sorted(id2label, key=lambda k: int(k))]
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{cfg_path} has no usable id2label ({exc.__class__.__name__}: {exc})") from None
        if len(labels) < 2:
            raise ModelError(f"{cfg_path} names fewer than two labels")
        names, fixed_batch, fixed_seq, dtypes, classes = _read_inputs(onnx_path)
        if classes is not None and classes != len(labels):
            raise ModelError(f"{task} model folder {p}: model.onnx gives {classes} scores per tweet but "
                             f"config.json names {len(labels)} labels ({', '.join(labels)})")
        max_len = fixed_seq or int(config.get("finterm_max_length") or min(512, int(config.get("max_position_embeddings", 512))))
        return cls(
            path=p,
            name=config.get("finterm_name") or p.name,
            labels=labels,
            onnx_path=onnx_path,
            tokenizer_path=tok_path,
            max_length=max_len,
            input_names=names,
            fixed_batch=fixed_batch,
            fixed_seq=fixed_seq,
            size_bytes=onnx_path.stat().st_size,
            config=config,
            input_dtypes=dtypes,
        )


#: ONNX integer element types finterm can feed token ids as.
_INT_TYPES = {6: "int32", 7: "int64"}


def _read_inputs(onnx_path: Path) -> tuple[tuple[str, ...], int | None, int | None, dict, int | None]:
    """Input names, any fixed batch / sequence dimension, input dtypes, and the number of
    scores per row when the graph fixes it."""
    import onnx

    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends
        raise ModelError(f"{onnx_path} is not a readable ONNX model ({exc.__class__.__name__})") from None
    init_names = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in init_names]
    names = tuple(i.name for i in inputs)
    unknown = [n for n in names if n not in KNOWN_INPUTS]
    if unknown or "input_ids" not in names:
        raise ModelError(
            f"{onnx_path} takes inputs {list(names)}; finterm feeds {list(KNOWN_INPUTS)} (input_ids required)"
        )
    dims = [d for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 2:
        raise ModelError(f"{onnx_path}: input_ids must be 2-D (batch, sequence)")
    fixed = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
    dtypes = {}
    for i in inputs:
        t = i.type.tensor_type.elem_type
        if t not in _INT_TYPES:
            raise ModelError(f"{onnx_path}: input {i.name} has element type {t}; finterm feeds int32 or int64 token ids")
        dtypes[i.name] = _INT_TYPES[t]
    classes = None
    if model.graph.output:
        out_dims = list(model.graph.output[0].type.tensor_type.shape.dim)
        if len(out_dims) == 2 and out_dims[1].HasField("dim_value") and out_dims[1].dim_value > 0:
            classes = out_dims[1].dim_value
    return names, fixed[0], fixed[1], dtypes, classes
