"""`finterm-train ... --task finterm`: the one encoder with two heads (sentiment + topic).

    finterm-train teacher --task finterm --seed 0             # runs/finterm/teachers/seed-0
    finterm-train student --task finterm                      # distils every saved teacher
    finterm-train export  --task finterm                      # -> assets/models/finterm
    finterm-train run     --task finterm --seeds 0,1,2        # all of it
    finterm-train eval assets/models/finterm                  # every goal, through DeepSparse

The training/gpu/ scripts run the same commands on a GPU machine under a time budget.
"""

from __future__ import annotations

import json
from pathlib import Path

from .common import TrainError, default_backbone, log

TASK = "finterm"
#: Options of the one-task commands that mean nothing here (refused rather than ignored).
ONE_TASK_ONLY = {"train": "--train", "valid": "--valid", "labels": "--labels", "max_length": "--max-length",
                 "ensemble_teacher": "--ensemble-teacher", "transfer": "--transfer"}


def add_options(p, cmd: str) -> None:
    """The --task finterm options of subcommand `cmd` (added to the shared parsers)."""
    g = p.add_argument_group("--task finterm (one encoder, two heads)")
    g.add_argument("--stocktwits", type=Path, default=None, metavar="DIR",
                   help="folder with the StockTwits train.csv/valid.csv (default $FINTERM_STOCKTWITS or ../shared/data/stocktwits)")
    g.add_argument("--limit", type=int, default=None, metavar="N", help="use only the first N rows of every file (smoke runs)")
    if cmd in ("teacher", "student", "run"):
        g.add_argument("--device", default="auto", help="auto (a GPU when torch sees one), cpu or cuda")
        g.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                       help="fit the run into this many seconds from the process start (the step count is measured to fit)")
        g.add_argument("--chatter-weight", type=float, default=0.3, help="weight of the StockTwits tag loss (default 0.3)")
        g.add_argument("--chatter-smoothing", type=float, default=0.1, help="label smoothing of the StockTwits tags (default 0.1)")
        g.add_argument("--news-smoothing", type=float, default=0.0, help="label smoothing of the news labels (default 0)")
        g.add_argument("--chatter-per-epoch", type=int, default=20000,
                       help="StockTwits rows an epoch takes (default 20000 of 56k; 0: all)")
    if cmd in ("student", "run"):
        g.add_argument("--teachers", type=Path, action="append", default=[], metavar="DIR",
                       help="teacher folders to distil (default: every runs/finterm/teachers/seed-*)")
        g.add_argument("--max-steps", type=int, default=None, help="cap the student's steps (smoke runs, CPU resumes)")
        g.add_argument("--cross-kd", type=float, default=1.0,
                       help="weight of distilling the head a row has no label for (default 1)")
    if cmd == "run":
        g.add_argument("--seeds", default="0,1,2", help="teacher seeds (default 0,1,2)")
    if cmd in ("export", "run"):
        g.add_argument("--eval-limit", type=int, default=None, metavar="N",
                       help="score the export on the first N rows of each validation split only (a quick check)")


def refuse_one_task_options(a) -> None:
    for attr, flag in ONE_TASK_ONLY.items():
        v = getattr(a, attr, None)
        if v not in (None, [], ()):
            raise TrainError(f"{flag} is for the one-task models; --task finterm reads its three sources from "
                             "--data-dir and --stocktwits")


def _dirs(a) -> tuple[Path, Path]:
    from .data import default_data_dir
    from .mt_data import default_stocktwits_dir

    return a.data_dir or default_data_dir(), a.stocktwits or default_stocktwits_dir()


def _loss(a):
    from .mt_model import LossConfig

    return LossConfig(chatter_weight=a.chatter_weight, chatter_smoothing=a.chatter_smoothing,
                      news_smoothing=a.news_smoothing, cross_kd=getattr(a, "cross_kd", 1.0))


def _extra(a, news_dir: Path, stocktwits_dir: Path) -> dict | None:
    """The user's corrections per task ({task: Extra}), validation texts dropped."""
    if a.extra is None:
        return None
    from .data import TASKS
    from .extra import load_extra
    from .mt_eval import load_valid_splits

    valid = load_valid_splits(news_dir, stocktwits_dir)
    by_task = {"sentiment": valid["news_sentiment"], "topic": valid["news_topic"]}
    out = {}
    for task, split in by_task.items():
        ex = load_extra(a.extra, task, list(TASKS[task]["labels"]), split, holdout=a.extra_holdout,
                        weight=a.extra_weight, seed=a.seed)
        if len(ex.train) or len(ex.heldout):
            log(ex.summary())
            out[task] = ex
    if not any(len(ex.train) for ex in out.values()):
        raise TrainError(f"{a.extra} has no sentiment or topic corrections left to train on")
    return out


def _sources(a, news_dir, stocktwits_dir, extra):
    from .mt_data import check_files, load_sources

    check_files(news_dir, stocktwits_dir)
    log(f"loading the news sets from {news_dir} and StockTwits from {stocktwits_dir}")
    return load_sources(news_dir, stocktwits_dir, limit=a.limit, extra=extra)


def cmd_teacher(a, run_dir: Path, sources, command: str, seed: int | None = None) -> dict:
    from .mt_train import pick_device, train_teacher_mt

    seed = a.seed if seed is None else seed
    backbone = a.backbone or default_backbone()
    if not (backbone / "config.json").is_file():
        raise TrainError(f"backbone folder {backbone} has no config.json")
    out = run_dir / "teachers" / f"seed-{seed}"
    return train_teacher_mt(sources, backbone, out, seed=seed, epochs=a.teacher_epochs, lr=a.teacher_lr,
                            batch_size=a.teacher_batch_size or 64, loss=_loss(a),
                            chatter_per_epoch=a.chatter_per_epoch or None, device=pick_device(a.device),
                            time_budget=a.time_budget, command=command)


def cmd_student(a, run_dir: Path, sources, command: str) -> dict:
    from .mt_train import pick_device, teacher_dirs_in, train_student_mt
    from .recipe import overrides_from_args, resolve_recipe

    teachers = list(a.teachers) or teacher_dirs_in(run_dir)
    for t in teachers:
        if not (t / "teacher.json").is_file():
            raise TrainError(f"--teachers {t}: no saved teacher there (no teacher.json)")
    if not teachers:
        raise TrainError(f"no saved teachers in {run_dir / 'teachers'}: run `finterm-train teacher --task finterm` first")
    return train_student_mt(sources, teachers, run_dir / "student", resolve_recipe(a.recipe or "multitask"), overrides_from_args(a),
                            seed=a.seed, loss=_loss(a), chatter_per_epoch=a.chatter_per_epoch or None,
                            device=pick_device(a.device), time_budget=a.time_budget, max_steps=a.max_steps,
                            resume=a.resume, command=command)


def cmd_export(a, run_dir: Path, command: str, extra) -> dict:
    from .mt_export import export_finterm

    news_dir, stocktwits_dir = _dirs(a)
    return export_finterm(run_dir, a.out or Path("assets/models") / TASK, tolerance=a.tolerance,
                          eval_limit=a.eval_limit if a.eval_limit is not None else a.limit, news_dir=news_dir,
                          stocktwits_dir=stocktwits_dir, bench=not a.no_bench, command=command, extra=extra)


def _teacher_is_current(folder: Path, sources) -> bool:
    meta_path = folder / "teacher.json"
    if not meta_path.is_file():
        return False
    data = json.loads(meta_path.read_text()).get("data", {})
    return all(data.get(n, {}).get("train", {}).get("sha256") == s.train.sha256 for n, s in sources.items())


def main(a, command: str) -> None:
    """Dispatch `teacher|student|export|run --task finterm`."""
    from .common import require_torch, set_threads

    refuse_one_task_options(a)
    run_dir = a.run_dir or Path("runs") / TASK
    news_dir, stocktwits_dir = _dirs(a)
    if a.cmd == "export":
        require_torch()
        extra = _extra(a, news_dir, stocktwits_dir) if a.extra else None
        cmd_export(a, run_dir, command, extra)
        return
    require_torch()
    set_threads(a.threads)
    if a.cmd in ("teacher", "run") and a.backbone is None:
        default_backbone()  # fail early, in one line, when the wheel is absent
    extra = _extra(a, news_dir, stocktwits_dir)
    sources = _sources(a, news_dir, stocktwits_dir, extra)
    if a.cmd == "teacher":
        cmd_teacher(a, run_dir, sources, command)
    elif a.cmd == "student":
        cmd_student(a, run_dir, sources, command)
    elif a.cmd == "run":
        seeds = [int(x) for x in str(a.seeds).split(",") if x.strip()]
        for seed in seeds:
            folder = run_dir / "teachers" / f"seed-{seed}"
            if _teacher_is_current(folder, sources) and not a.retrain_teacher:
                log(f"reusing the saved teacher in {folder} (--retrain-teacher to train anew)")
            else:
                cmd_teacher(a, run_dir, sources, command, seed=seed)
        if not a.teachers:
            a.teachers = [run_dir / "teachers" / f"seed-{s}" for s in seeds]
        cmd_student(a, run_dir, sources, command)
        cmd_export(a, run_dir, command, extra)


def cmd_eval(a) -> None:
    """`finterm-train eval DIR` for a folder with a head per task: every goal, per engine."""
    from .evaluate import choose_engines
    from .mt_eval import folder_facts, load_valid_splits, print_report, runtime_scores

    news_dir, stocktwits_dir = _dirs(a)
    splits = load_valid_splits(news_dir, stocktwits_dir, a.limit)
    runtime = runtime_scores(a.dir, splits, choose_engines(a.engine))
    facts = folder_facts(a.dir)
    if a.json:
        print(json.dumps({"runtime": runtime, "facts": facts,
                          "splits": {n: {"file": str(s.path), "rows": len(s)} for n, s in splits.items()}}, indent=2, default=str))
    else:
        print_report(a.dir, runtime, facts)
