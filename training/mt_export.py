"""Export the one encoder with two heads to the model folder finterm loads (`assets/models/finterm`).

The folder: `model.onnx` (inputs input_ids, attention_mask, both dynamic; outputs
sentiment_logits, topic_logits), `config.json` whose `tasks` maps each output to its labels,
the tokenizer (padding and truncation off), the confusion matrices as PNG pictures and
MODEL_CARD.md. The export is scored through the runtime engines on the validation splits and
refused (export.runtime_gate) when any engine loses more than `tolerance` points against the
PyTorch student on any goal metric.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .common import TrainError, log
from .export import INPUT_NAMES, export_onnx, runtime_gate, write_tokenizer_files
from .mt_data import HEADS, OUTPUTS, SOURCES

#: Longest tweet the engine feeds the model (training cut news sentiment and chatter at 64 tokens,
#: topics at 96; the pretrained positions go to 512, and 128 lets the engine's 128 bucket serve).
MAX_LENGTH = 128
NAME = "finterm-minilm-2head-sparse-int8"


def write_config(out_dir: Path, student_dir: Path, name: str = NAME, max_length: int = MAX_LENGTH) -> dict:
    """config.json: the encoder's sizes, `tasks` (output and labels per head) and the finterm fields."""
    enc = json.loads((student_dir / "config.json").read_text())
    keep = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "max_position_embeddings", "vocab_size", "type_vocab_size", "hidden_act", "layer_norm_eps", "pad_token_id")
    cfg = {k: enc[k] for k in keep if k in enc}
    cfg["architectures"] = ["FintermMultiTaskEncoder"]
    cfg["finterm_pooling"] = "mean"
    cfg["tasks"] = {head: {"output": OUTPUTS[head], "id2label": {str(i): n for i, n in enumerate(labels)}}
                    for head, labels in HEADS.items()}
    cfg["finterm_name"] = name
    cfg["finterm_task"] = "finterm"
    cfg["finterm_max_length"] = max_length
    cfg["finterm_inputs"] = INPUT_NAMES
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    return cfg


def export_student(student_dir: Path, stage: Path) -> Path:
    """Rebuild the trained student from runs/ and write stage/model.onnx with the two named outputs."""
    from .mt_model import use_eager_attention
    from .mt_train import load_student_mt

    model = load_student_mt(student_dir)
    use_eager_attention(model)
    shutil.rmtree(stage, ignore_errors=True)
    path = export_onnx(model, stage, outputs=(OUTPUTS["sentiment"], OUTPUTS["topic"]))
    write_config(stage, student_dir)
    write_tokenizer_files(stage, student_dir, MAX_LENGTH)
    return path


def pytorch_reference(student_dir: Path, splits: dict) -> dict[str, float]:
    """The PyTorch student's scores on exactly these rows (used when the export is checked on a part of the splits)."""
    import torch

    from .data import load_tokenizer, pad_id
    from .mt_data import Source, tokenize_sources
    from .mt_eval import headline, score_logits
    from .mt_model import predict
    from .mt_train import load_student_mt

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_student_mt(student_dir).to(device)
    sources = {n: Source(SOURCES[n], train=s, valid=s) for n, s in splits.items()}
    tokenize_sources(sources, lambda n: load_tokenizer(student_dir, n))
    pad = pad_id(load_tokenizer(student_dir, 8))
    logits = {n: predict(model, s.valid_ids, pad, device, use_autocast=False) for n, s in sources.items()}
    return headline(score_logits(logits, {n: s.valid_head_labels() for n, s in sources.items()}))


def export_finterm(run_dir: Path, out: Path, *, tolerance: float = 1.0, engines: list[str] | None = None,
                   eval_limit: int | None = None, news_dir: Path | None = None, stocktwits_dir: Path | None = None,
                   bench: bool = True, command: str = "", extra=None) -> dict:
    """Export runs/<run>/student to `out` through a staging folder; score, gate, picture, card."""
    from .evaluate import available_engines
    from .mt_card import write_multitask_card
    from .mt_eval import folder_facts, load_valid_splits, runtime_scores, write_pictures

    student_dir = run_dir / "student"
    if not (student_dir / "student.json").is_file():
        raise TrainError(f"no trained student in {student_dir}: run `finterm-train student --task finterm` first")
    meta = json.loads((student_dir / "student.json").read_text())
    stage = out.with_name(out.name + ".staging")
    path = export_student(student_dir, stage)
    splits = load_valid_splits(news_dir, stocktwits_dir, eval_limit)
    engines = engines or available_engines()
    runtime = runtime_scores(stage, splits, engines)
    if eval_limit is None:
        reference, ref_note = meta["valid"], "the student's PyTorch scores on the full validation splits (student.json)"
    else:
        reference, ref_note = pytorch_reference(student_dir, splits), f"the PyTorch student on the first {eval_limit} rows of each split"
    log(f"PyTorch reference ({ref_note}): " + ", ".join(f"{k} {v:.4f}" for k, v in reference.items()))
    runtime_gate(path, {e: r["headline"] for e, r in runtime.items()}, reference, tolerance, stage, out)
    pictures = write_pictures(stage, runtime[engines[0]]["scores"], engines[0])
    bench_res = {}
    if bench:
        from .bench import bench_folder

        bench_res = bench_folder(stage)
    teachers = [json.loads(f.read_text()) for f in (teacher_json(run_dir, t) for t in meta["teachers"]) if f is not None]
    extra_res = extra_heldout(extra, stage, engines) if extra else None
    (stage / "MODEL_CARD.md").write_text("")  # counted in the folder size
    facts = folder_facts(stage)
    info = {"name": NAME, "command": command, "student": meta, "encoder": json.loads((stage / "config.json").read_text()), "teachers": teachers, "runtime": runtime,
            "reference": reference, "reference_note": ref_note, "eval_limit": eval_limit, "facts": facts,
            "pictures": pictures, "bench": bench_res, "recipe_text": (student_dir / "recipe.yaml").read_text(),
            "extra": extra_res, "splits": {n: {"file": str(s.path), "rows": len(s), "sha256": s.sha256} for n, s in splits.items()}}
    write_multitask_card(stage, info)
    facts = folder_facts(stage)
    info["facts"] = facts
    write_multitask_card(stage, info)  # again, with the card's own size in the folder size
    (run_dir / "export.json").write_text(json.dumps(info, indent=2, default=str))
    if out.exists():
        shutil.rmtree(out)
    stage.rename(out)
    if facts["folder MB"] > 25:
        log(f"warning: {out} is {facts['folder MB']:.1f} MB (> 25 MB)")
    log(f"wrote {out} ({facts['folder MB']:.1f} MB)")
    return info


def teacher_json(run_dir: Path, teacher: str) -> Path | None:
    """A teacher's teacher.json where the student saw it, else under this run's teachers/ (a run
    trained on another machine and unpacked here, training/gpu/unpack.sh)."""
    for folder in (Path(teacher), run_dir / "teachers" / Path(teacher).name):
        if (folder / "teacher.json").is_file():
            return folder / "teacher.json"
    return None


def extra_heldout(extra: dict, folder: Path, engines: list[str]) -> dict:
    """Accuracy of the new export on the held-back corrections of each task (the first engine)."""
    from .evaluate import engine_logits

    out = {}
    for task, ex in extra.items():
        if not len(ex.heldout):
            continue
        logits, _ = engine_logits(folder, ex.heldout.texts, engines[0], task=task)
        acc = float((logits.argmax(1) == ex.heldout.labels).mean())
        out[task] = {"summary": ex.summary(), "heldout_rows": len(ex.heldout), "heldout_accuracy": acc, "engine": engines[0]}
        log(f"{ex.summary()}; the new export scores {acc:.2%} on the held-back corrections ({engines[0]})")
    return out
