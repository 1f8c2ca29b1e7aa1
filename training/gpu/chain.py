"""The whole `--task finterm` chain on one GPU machine under one time budget (multitask_run.sh runs it).

    teachers (one process per seed, side by side on the GPU)  ->  student (prune + QAT + distil)
    ->  export (checked through ONNX Runtime on part of the splits)  ->  everything packed into $OUT

Each stage is an ordinary `finterm-train` command with `--time-budget`; this script only starts
them, keeps the clock, and packs what exists into $OUT as it goes, so that when a later stage
fails the rest can be finished on a CPU (training/gpu/unpack.sh, then `finterm-train export` or
a `--resume`d QAT). $OUT gets at most 8 files of at most 15 MiB each (the device tool's limits):

    run.log            every stage's output, prefixed by stage
    meta.tar.gz        teacher.json / student.json / recipe / export.json of every stage, the
                       teachers' validation logits, and teachers/ensemble: the mean of the
                       teachers' soft labels (fp16), enough to distil again or resume QAT
    student.pt.gz.NN   the final student (large weights fp16), split in 15 MiB parts
    preqat.pt.gz.NN    the pruned student when QAT started (without its vocabulary table when
                       the final student holds the same one: unpack.sh puts it back)
    model.onnx.gz      the int8 export made there

Settings come from the environment (multitask_run.sh sets the paths):
    FT_NEWS, FT_STOCKTWITS, FT_BACKBONE   data folders and the backbone folder
    FT_RUN_DIR (/tmp/ft/runs)             work folder
    FT_BUDGET (520)                       seconds for the whole chain, from this script's start
    FT_TEACHER_S (200)                    seconds each teacher process has, from its start
    FT_STUDENT_S (195)                    seconds the student has once the teachers are done
    FT_SEEDS (0,1,2)                      teacher seeds, trained side by side
    FT_LIMIT                              first N rows of every file (smoke runs)
    FT_TEACHER_ARGS, FT_STUDENT_ARGS      more command-line arguments for those stages
    FT_EXPORT_ARGS ("--eval-limit 600 --tolerance 1.5")   the export's check there (the real one is here)
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

T0 = time.time()
ENV = os.environ
OUT = Path(ENV.get("OUT") or "out-gpu").resolve()
RUN = Path(ENV.get("FT_RUN_DIR", "/tmp/ft/runs"))
NEWS, STOCKTWITS, BACKBONE = Path(ENV["FT_NEWS"]), Path(ENV["FT_STOCKTWITS"]), Path(ENV["FT_BACKBONE"])
BUDGET = float(ENV.get("FT_BUDGET", 520))
TEACHER_S = float(ENV.get("FT_TEACHER_S", 200))
STUDENT_S = float(ENV.get("FT_STUDENT_S", 195))
SEEDS = [s.strip() for s in ENV.get("FT_SEEDS", "0,1,2").split(",") if s.strip()]
LIMIT = ENV.get("FT_LIMIT")
PART = 15 * 2**20  # bytes per part in $OUT (the tool takes 16 MiB a file)
OUT_CAP = 62 * 2**20  # what $OUT may hold in all (the tool takes 64 MiB)
PY = [sys.executable, "-m", "finterm.training.cli"]
LOG = OUT / "run.log"
_log_lock = threading.Lock()
timings: dict[str, float] = {}


def say(msg: str, name: str = "chain") -> None:
    line = f"[+{time.time() - T0:6.1f}s] {name}| {msg}"
    with _log_lock:
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    print(line, file=sys.stderr, flush=True)


def _pump(name: str, stream) -> None:
    for line in stream:
        line = line.rstrip("\n")
        if " INFO " in line and "sparseml" in line:  # SparseML's per-transform chatter
            continue
        say(line, name)


def spawn(name: str, args: list[str], threads: int) -> subprocess.Popen:
    env = dict(ENV, PYTHONUNBUFFERED="1", TQDM_DISABLE="1", OMP_NUM_THREADS=str(threads),
               TOKENIZERS_PARALLELISM="true")
    say(f"start: {shlex.join(['finterm-train', *args])}")
    # Not from the checkout: there `finterm/` (without its mapped subpackages) would shadow the package.
    p = subprocess.Popen([*PY, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                         start_new_session=True, cwd=RUN.parent)
    threading.Thread(target=_pump, args=(name, p.stdout), daemon=True).start()
    return p


def wait_all(procs: dict[str, subprocess.Popen], deadline: float) -> dict[str, int | None]:
    """Wait for every process until `deadline`; kill those still running then."""
    codes: dict[str, int | None] = {}
    for name, p in procs.items():
        try:
            codes[name] = p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            say(f"{name} ran past its deadline: killed")
            p.kill()
            p.wait()
            codes[name] = None
    return codes


def pack(src: Path, stem: str) -> list[Path]:
    """gzip `src` into $OUT/<stem>.gz.00, .01, ... (PART bytes each); old parts of that stem removed."""
    for old in OUT.glob(f"{stem}.gz*"):
        old.unlink()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=3, mtime=0) as gz, open(src, "rb") as f:
        shutil.copyfileobj(f, gz, 1 << 22)
    data = buf.getvalue()
    parts = []
    for i in range(0, len(data), PART):
        part = OUT / f"{stem}.gz.{i // PART:02d}"
        part.write_bytes(data[i : i + PART])
        parts.append(part)
    say(f"packed {src.name} ({src.stat().st_size / 2**20:.1f} MiB) into {len(parts)} part(s), "
        f"{len(data) / 2**20:.1f} MiB gzipped")
    return parts


def compact_state(src: Path, dst: Path, drop: tuple[str, ...] = ()) -> None:
    """A state dict with its large float tensors in fp16 (scales, zero points and small tensors kept)."""
    import torch

    ck = torch.load(src, map_location="cpu", weights_only=False)
    state = ck["model"] if isinstance(ck, dict) and "model" in ck and isinstance(ck["model"], dict) else ck
    small = {}
    for k, v in list(state.items()):
        if k in drop:
            del state[k]
        elif torch.is_tensor(v) and v.is_floating_point():
            small[k] = v.half() if v.numel() >= 4096 else v.float()
    state.update(small)
    if drop and state is not ck:
        ck["dropped"] = list(drop)
    torch.save(ck, dst)


def write_meta() -> None:
    """meta.tar.gz: every json, recipe and log the stages wrote, the teachers' validation logits,
    and teachers/ensemble (the mean soft labels)."""
    make_ensemble()
    names = []
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for p in sorted(RUN.rglob("*")):
            if not p.is_file():
                continue
            rel = p.relative_to(RUN)
            keep = (p.suffix in (".json", ".yaml", ".log", ".txt", ".md", ".png") or p.name == "valid_logits.npz"
                    or (rel.parts[:2] == ("teachers", "ensemble")))
            if keep and p.name != "model.pt":
                tar.add(p, arcname=str(rel))
                names.append(str(rel))
        summary = json.dumps({"timings": timings, "seeds": SEEDS, "budget": BUDGET, "elapsed": time.time() - T0},
                             indent=2).encode()
        info = tarfile.TarInfo("chain.json")
        info.size = len(summary)
        tar.addfile(info, io.BytesIO(summary))
    (OUT / "meta.tar.gz").write_bytes(buf.getvalue())
    say(f"meta.tar.gz: {len(names)} files, {len(buf.getvalue()) / 2**20:.1f} MiB")


def make_ensemble() -> None:
    """runs/teachers/ensemble: one pseudo-teacher holding the mean of the teachers' soft labels and
    validation logits, so a student can be distilled or resumed elsewhere without the teachers' weights."""
    import numpy as np

    done = [RUN / "teachers" / f"seed-{s}" for s in SEEDS if (RUN / "teachers" / f"seed-{s}" / "soft_labels.npz").is_file()]
    if not done:
        return
    ens = RUN / "teachers" / "ensemble"
    if (ens / "teacher.json").is_file() and json.loads((ens / "teacher.json").read_text()).get("members") == [str(d) for d in done]:
        return
    ens.mkdir(parents=True, exist_ok=True)
    for fname in ("soft_labels.npz", "valid_logits.npz"):
        acc: dict = {}
        for d in done:
            with np.load(d / fname) as z:
                for k in z.files:
                    acc[k] = acc.get(k, 0) + z[k].astype(np.float32)
        dtype = np.float16 if fname == "soft_labels.npz" else np.float32
        np.savez(ens / fname, **{k: (v / len(done)).astype(dtype) for k, v in acc.items()})
    first = json.loads((done[0] / "teacher.json").read_text())
    for name in ("config.json", "heads.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (done[0] / name).is_file():
            shutil.copy2(done[0] / name, ens / name)
    meta = {k: first[k] for k in ("task", "data", "backbone", "device") if k in first}
    meta.update({"seed": "mean of " + ", ".join(d.name for d in done), "members": [str(d) for d in done],
                 "valid": {}, "note": "the mean of the teachers' logits (training/gpu/chain.py); no weights"})
    (ens / "teacher.json").write_text(json.dumps(meta, indent=2))


def out_size() -> int:
    return sum(p.stat().st_size for p in OUT.iterdir() if p.is_file())


def watch_pre_qat(stop: threading.Event) -> None:
    """Pack the student's pre_qat.pt into $OUT as soon as it is written (a CPU can resume QAT from it)."""
    path, seen = RUN / "student" / "pre_qat.pt", None
    while not stop.is_set():
        if path.is_file():
            st = path.stat()
            if seen == (st.st_size, st.st_mtime):
                try:
                    pack(path, "preqat.pt")
                except Exception as exc:  # noqa: BLE001 - packing must never stop the chain
                    say(f"could not pack {path}: {exc}")
                return
            seen = (st.st_size, st.st_mtime)
        stop.wait(2.0)


def left() -> float:
    return BUDGET - (time.time() - T0)


def common_args() -> list[str]:
    args = ["--task", "finterm", "--run-dir", str(RUN), "--data-dir", str(NEWS), "--stocktwits", str(STOCKTWITS)]
    return args + (["--limit", LIMIT] if LIMIT else [])


def stage_teachers() -> list[Path]:
    t = time.time()
    cores = os.cpu_count() or 2
    threads = max(1, cores // max(1, len(SEEDS)))
    procs = {f"teacher-{s}": spawn(f"teacher-{s}", ["teacher", *common_args(), "--seed", s, "--backbone", str(BACKBONE),
                                                     "--time-budget", f"{TEACHER_S:.0f}", "--threads", str(threads),
                                                     *shlex.split(ENV.get("FT_TEACHER_ARGS", ""))], threads)
             for s in SEEDS}
    codes = wait_all(procs, time.time() + TEACHER_S + 40)
    timings["teachers"] = time.time() - t
    done = [RUN / "teachers" / f"seed-{s}" for s in SEEDS if (RUN / "teachers" / f"seed-{s}" / "teacher.json").is_file()]
    say(f"teachers done in {timings['teachers']:.0f} s: exit codes {codes}; {len(done)} saved")
    return done


def stage_student(teachers: list[Path]) -> bool:
    t = time.time()
    budget = min(STUDENT_S + TEACHER_S - (t - T0), left() - 75)
    budget = max(60.0, budget)
    args = ["student", *common_args(), "--time-budget", f"{budget:.0f}", "--threads", str(min(8, os.cpu_count() or 2))]
    for d in teachers:
        args += ["--teachers", str(d)]
    stop = threading.Event()
    watcher = threading.Thread(target=watch_pre_qat, args=(stop,), daemon=True)
    watcher.start()
    p = spawn("student", args + shlex.split(ENV.get("FT_STUDENT_ARGS", "")), 8)
    code = wait_all({"student": p}, time.time() + budget + 45)["student"]
    stop.set()
    watcher.join(timeout=120)
    timings["student"] = time.time() - t
    ok = code == 0 and (RUN / "student" / "student.pt").is_file()
    say(f"student done in {timings['student']:.0f} s: exit code {code}")
    if ok:
        compact_state(RUN / "student" / "student.pt", RUN / "student-fp16.pt")
        pack(RUN / "student-fp16.pt", "student.pt")
    return ok


def shrink_pre_qat() -> None:
    """When the final student holds the same vocabulary table, send the pre-QAT checkpoint without it."""
    import torch

    pre, final = RUN / "student" / "pre_qat.pt", RUN / "student" / "student.pt"
    if not (pre.is_file() and final.is_file()):
        return
    key = "bert.embeddings.word_embeddings.weight"
    a = torch.load(pre, map_location="cpu", weights_only=False)["model"].get(key)
    b = torch.load(final, map_location="cpu").get(key)
    if a is None or b is None or a.shape != b.shape or not torch.equal(a.half(), b.half()):
        say("the final student's vocabulary table differs from the pre-QAT one: pre_qat.pt stays whole")
        return
    compact_state(pre, RUN / "pre_qat-slim.pt", drop=(key,))
    pack(RUN / "pre_qat-slim.pt", "preqat.pt")


def stage_export() -> bool:
    t = time.time()
    limit = max(45.0, min(300.0, left() - 25))
    out = RUN.parent / "export" / "finterm"
    args = ["export", *common_args(), "--out", str(out), "--no-bench", "--threads", str(min(8, os.cpu_count() or 2)),
            *shlex.split(ENV.get("FT_EXPORT_ARGS", "--eval-limit 600 --tolerance 1.5"))]
    code = wait_all({"export": spawn("export", args, 8)}, time.time() + limit)["export"]
    timings["export"] = time.time() - t
    onnx = next((p for p in (out / "model.onnx", out.with_name(out.name + ".staging") / "model.onnx") if p.is_file()), None)
    say(f"export done in {timings['export']:.0f} s: exit code {code}; onnx {onnx}")
    if onnx is not None:
        for f in ("MODEL_CARD.md", "config.json"):
            if (onnx.parent / f).is_file():
                shutil.copy2(onnx.parent / f, RUN / f"export-{f}")
        pack(onnx, "model.onnx")
    return code == 0


def budget_out() -> None:
    """Keep $OUT within the tool's limits: drop the least needed files first."""
    for stem in ("model.onnx", "preqat.pt"):
        if out_size() <= OUT_CAP and len(list(OUT.iterdir())) <= 8:
            return
        for p in OUT.glob(f"{stem}.gz*"):
            say(f"$OUT over its limits ({out_size() / 2**20:.1f} MiB): dropping {p.name}")
            p.unlink()


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    say(f"budget {BUDGET:.0f} s (teachers {TEACHER_S:.0f} s each, student {STUDENT_S:.0f} s), seeds {SEEDS}, run dir {RUN}")
    try:
        import torch

        say(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
            f"GPU {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
    except Exception as exc:  # noqa: BLE001
        say(f"torch: {exc}")
    ok_student = ok_export = False
    try:
        teachers = stage_teachers()
        write_meta()
        if teachers:
            ok_student = stage_student(teachers)
            write_meta()
            if ok_student:
                shrink_pre_qat()
                ok_export = stage_export()
    except Exception as exc:  # noqa: BLE001 - whatever happened, pack what exists
        say(f"chain stopped: {type(exc).__name__}: {exc}")
    finally:
        try:
            write_meta()
        except Exception as exc:  # noqa: BLE001
            say(f"meta.tar.gz: {exc}")
        budget_out()
        say(f"done in {time.time() - T0:.0f} s (student {'ok' if ok_student else 'FAILED'}, export "
            f"{'ok' if ok_export else 'FAILED'}); $OUT: " + ", ".join(
                f"{p.name} {p.stat().st_size / 2**20:.1f} MiB" for p in sorted(OUT.iterdir())))
    return 0 if ok_student else 1


if __name__ == "__main__":
    raise SystemExit(main())
