"""Model folders: `model.onnx` + `config.json` + `tokenizer.json` (+ MODEL_CARD.md).

Two shapes of config.json load:

- one task: `id2label` names the labels of the graph's first output (the folder is then
  whatever task it is given for: `--sentiment-model`, `--topic-model`);
- several tasks on one encoder: `tasks: {sentiment: {output, id2label}, topic: {...}}` maps
  each named graph output to its labels, so one run of the file scores every task.

Any folder of these shapes loads, dense or sparse, with fixed or dynamic batch and sequence
dimensions; what the ONNX graph fixes is read from it so the engine can comply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from finterm.errors import ModelError

TASKS = ("sentiment", "topic")
KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: The folder of the one encoder with a head per task, used when it is installed.
SHARED_MODEL = "finterm"


def _assets_models() -> Path:
    from finterm import ASSETS_MODELS

    return ASSETS_MODELS


def default_model_dir(task: str) -> Path:
    """Where the shipped model for `task` lives: assets/models/<task>."""
    return _assets_models() / task


def default_shared_dir() -> Path | None:
    """assets/models/finterm when a model is installed there, else None."""
    path = _assets_models() / SHARED_MODEL
    return path if (path / "model.onnx").is_file() else None


def resolve_model_dirs(sentiment: str | Path | None = None, topic: str | Path | None = None,
                       model: str | Path | None = None) -> dict[str, tuple[Path, bool]]:
    """The folder each task is scored from, and whether it came as the model for every task.

    A task's own folder (`--sentiment-model`, `--topic-model`) wins for that task; else the
    shared folder `model` (`--model`, a folder with a head per task); else assets/models/finterm
    when it is installed; else the shipped assets/models/<task>.
    """
    shared = Path(model) if model else default_shared_dir()
    own = {"sentiment": sentiment, "topic": topic}
    out: dict[str, tuple[Path, bool]] = {}
    for task in TASKS:
        if own[task]:
            out[task] = (Path(own[task]), False)
        elif shared is not None:
            out[task] = (shared, True)
        else:
            out[task] = (default_model_dir(task), False)
    return out


def no_model_message(task: str, path: Path) -> str:
    if task == "model":  # any model folder (finterm-train eval/bench)
        return f"no model folder at {path} (model.onnx, config.json, tokenizer.json): train one with `finterm-train`"
    return (
        f"no {task} model is installed at {path}: train one with `finterm-train` "
        f"or point --{task}-model at a model folder (model.onnx, config.json, tokenizer.json)"
    )


@dataclass(frozen=True)
class TaskHead:
    """One task a model file answers: the graph output holding its scores, its labels in id order."""

    task: str
    output: str
    labels: list[str]


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    name: str
    onnx_path: Path
    tokenizer_path: Path
    #: Longest sequence the model takes (its fixed length, else its position limit).
    max_length: int
    #: ONNX input names in graph order (a subset of KNOWN_INPUTS).
    input_names: tuple[str, ...]
    fixed_batch: int | None
    fixed_seq: int | None
    size_bytes: int
    #: The tasks this file answers. A one-task folder has one, keyed by the task it was loaded for.
    heads: dict[str, TaskHead] = field(default_factory=dict)
    #: ONNX output names in graph order (what a backend's run() returns, by name).
    output_names: tuple[str, ...] = ()
    #: The task it was loaded for (whose labels `labels` gives), or its first task.
    task: str = ""
    config: dict = field(repr=False, default_factory=dict)
    #: numpy dtype name per input ("int64" unless the graph asks for another integer type).
    input_dtypes: dict = field(repr=False, default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """The labels of the task it was loaded for, in id order."""
        return self.heads[self.task].labels

    @property
    def output(self) -> str:
        """The graph output that holds the scores of the task it was loaded for."""
        return self.heads[self.task].output

    @property
    def multi_task(self) -> bool:
        """True when config.json maps named outputs to tasks (`tasks`), rather than one `id2label`."""
        return "tasks" in self.config

    def head(self, task: str) -> TaskHead:
        try:
            return self.heads[task]
        except KeyError:
            raise ModelError(f"model folder {self.path} has no {task} head "
                             f"(its config.json names: {', '.join(self.heads)})") from None

    @classmethod
    def load(cls, path: str | Path, task: str = "model", shared: bool = False) -> ModelFolder:
        """Load and check a folder for `task` (one of TASKS, or "model" for any). `shared`: it was
        given as the model for every task, so its config.json must name its tasks."""
        p = Path(path).expanduser()
        # How the messages name the folder ("model" alone when any model folder will do).
        subject = "shared model" if shared else "model" if task == "model" else f"{task} model"
        if not p.exists():
            if shared:
                raise ModelError(f"no model folder at {p} (--model / models.model): give a folder with a head per task")
            raise ModelError(no_model_message(task, p))
        if not p.is_dir():
            raise ModelError(f"{subject} {p} is not a folder")
        onnx_path, cfg_path, tok_path = p / "model.onnx", p / "config.json", p / "tokenizer.json"
        missing = [f.name for f in (onnx_path, cfg_path, tok_path) if not f.is_file()]
        if missing:
            raise ModelError(f"{subject} folder {p} lacks {', '.join(missing)}")
        try:
            config = json.loads(cfg_path.read_text(encoding="utf-8"))
            if not isinstance(config, dict):
                raise TypeError("not a JSON object")
        except (ValueError, TypeError) as exc:
            raise ModelError(f"{cfg_path} is not a JSON object ({exc.__class__.__name__}: {exc})") from None
        graph = _read_graph(onnx_path)
        if "tasks" in config:
            heads = _task_heads(cfg_path, config["tasks"], graph.outputs)
            if task in TASKS and task not in heads:
                raise ModelError(f"{subject} folder {p} has no {task} head (its config.json names: {', '.join(heads)})")
        elif shared:
            raise ModelError(f"{p} is given as the model for every task (--model / models.model) but its config.json "
                             f"has no 'tasks'; a one-task folder goes to --sentiment-model or --topic-model")
        else:
            labels = _labels(cfg_path, config.get("id2label"), "id2label")
            first = next(iter(graph.outputs), None)
            if first is None:
                raise ModelError(f"{onnx_path} has no outputs")
            heads = {task: TaskHead(task, first, labels)}
            width = graph.outputs[first]
            if width is not None and width != len(labels):
                raise ModelError(f"{task} model folder {p}: model.onnx gives {width} scores per tweet but "
                                 f"config.json names {len(labels)} labels ({', '.join(labels)})")
        max_len = graph.fixed_seq or int(config.get("finterm_max_length")
                                         or min(512, int(config.get("max_position_embeddings", 512))))
        return cls(
            path=p,
            name=config.get("finterm_name") or p.name,
            onnx_path=onnx_path,
            tokenizer_path=tok_path,
            max_length=max_len,
            input_names=graph.inputs,
            fixed_batch=graph.fixed_batch,
            fixed_seq=graph.fixed_seq,
            size_bytes=onnx_path.stat().st_size,
            heads=heads,
            output_names=tuple(graph.outputs),
            task=task if task in heads else next(iter(heads)),
            config=config,
            input_dtypes=graph.dtypes,
        )


def _labels(cfg_path: Path, id2label: object, where: str) -> list[str]:
    try:
        labels = [str(id2label[k]) for k in sorted(id2label, key=lambda k: int(k))]  # type: ignore[index, union-attr]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"{cfg_path} has no usable {where} ({exc.__class__.__name__}: {exc})") from None
    if len(labels) < 2:
        raise ModelError(f"{cfg_path}: {where} names fewer than two labels")
    return labels


def _task_heads(cfg_path: Path, tasks: object, outputs: dict[str, int | None]) -> dict[str, TaskHead]:
    """The `tasks` map of config.json, checked against the graph's outputs."""
    if not isinstance(tasks, dict) or not tasks:
        raise ModelError(f"{cfg_path}: 'tasks' must map each task to {{output, id2label}}")
    heads = {}
    for task, spec in tasks.items():
        output = spec.get("output") if isinstance(spec, dict) else None
        if not isinstance(output, str):
            raise ModelError(f"{cfg_path}: tasks.{task} names no output (want {{\"output\": NAME, \"id2label\": {{...}}}})")
        labels = _labels(cfg_path, spec.get("id2label"), f"tasks.{task}.id2label")
        if output not in outputs:
            raise ModelError(f"{cfg_path}: tasks.{task} reads output {output!r} but model.onnx has outputs "
                             f"{', '.join(outputs) or 'none'}")
        width = outputs[output]
        if width is not None and width != len(labels):
            raise ModelError(f"{cfg_path}: output {output!r} gives {width} scores per tweet but tasks.{task} "
                             f"names {len(labels)} labels ({', '.join(labels)})")
        heads[str(task)] = TaskHead(str(task), output, labels)
    return heads


#: ONNX integer element types finterm can feed token ids as.
_INT_TYPES = {6: "int32", 7: "int64"}


@dataclass(frozen=True)
class _Graph:
    inputs: tuple[str, ...]
    fixed_batch: int | None
    fixed_seq: int | None
    dtypes: dict
    #: Output name -> scores per row when the graph fixes it, in graph order.
    outputs: dict[str, int | None]


def _read_graph(onnx_path: Path) -> _Graph:
    """Input names, any fixed batch / sequence dimension, input dtypes, and the outputs with their widths."""
    import onnx

    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - onnx raises DecodeError and friends
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
    outputs: dict[str, int | None] = {}
    for out in model.graph.output:
        out_dims = list(out.type.tensor_type.shape.dim)
        width = None
        if len(out_dims) == 2 and out_dims[1].HasField("dim_value") and out_dims[1].dim_value > 0:
            width = out_dims[1].dim_value
        outputs[out.name] = width
    return _Graph(names, fixed[0], fixed[1], dtypes, outputs)
