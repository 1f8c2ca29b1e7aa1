"""Turn what training/gpu/chain.py left in $OUT into a run folder here, ready for export or a resume.

    .venv/bin/python training/gpu/unpack.py FILES_DIR [--run-dir runs/finterm]

FILES_DIR is where the device tool put the files (its files_at). It writes:
    <run>/teachers/seed-N/teacher.json, valid_logits.npz      what each teacher measured
    <run>/teachers/ensemble/                                  the mean soft labels (distil or resume from it)
    <run>/student/{student.pt, student.json, recipe.yaml, ...} the final student, when it finished
    <run>/student/pre_qat.pt                                  the pruned student when QAT started
    <run>/gpu-export/                                         the export made there, as a model folder
    <run>/gpu-run.log                                         the run's log
and prints the commands that come next.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tarfile
from pathlib import Path


def joined(files_dir: Path, stem: str) -> bytes | None:
    parts = sorted(files_dir.glob(f"{stem}.gz.[0-9][0-9]"))
    if not parts:
        return None
    return gzip.decompress(b"".join(p.read_bytes() for p in parts))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files_dir", type=Path)
    ap.add_argument("--run-dir", type=Path, default=Path("runs/finterm"))
    a = ap.parse_args(argv)
    src, run = a.files_dir, a.run_dir
    if not src.is_dir():
        print(f"unpack: {src} is not a folder", file=sys.stderr)
        return 1
    run.mkdir(parents=True, exist_ok=True)
    if (src / "run.log").is_file():
        shutil.copy2(src / "run.log", run / "gpu-run.log")
    if (src / "meta.tar.gz").is_file():
        with tarfile.open(src / "meta.tar.gz") as tar:
            tar.extractall(run, filter="data")
        print(f"meta.tar.gz -> {run}/ (teachers' and student's records, teachers/ensemble)")
    student = run / "student"
    data = joined(src, "student.pt")
    if data is not None:
        student.mkdir(parents=True, exist_ok=True)
        (student / "student.pt").write_bytes(data)
        print(f"student.pt -> {student / 'student.pt'}")
    data = joined(src, "preqat.pt")
    if data is not None:
        import io

        import torch

        ck = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
        for key in ck.get("dropped", []):  # sent without the vocabulary table the final student shares
            final = torch.load(student / "student.pt", map_location="cpu")
            ck["model"][key] = final[key].half()
        ck.pop("dropped", None)
        student.mkdir(parents=True, exist_ok=True)
        torch.save(ck, student / "pre_qat.pt")
        print(f"pre_qat.pt -> {student / 'pre_qat.pt'} (recipe epoch {ck['epoch']:.2f})")
    data = joined(src, "model.onnx")
    if data is not None:
        folder = run / "gpu-export"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.onnx").write_bytes(data)
        if (run / "export-config.json").is_file():
            shutil.copy2(run / "export-config.json", folder / "config.json")
        for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
            if (student / name).is_file():
                shutil.copy2(student / name, folder / name)
        if (student / "tokenizer.json").is_file():
            from finterm.training.export import write_tokenizer_files
            from finterm.training.mt_export import MAX_LENGTH

            write_tokenizer_files(folder, student, MAX_LENGTH)
        print(f"model.onnx -> {folder}/ (the export made on the GPU machine)")
    out = "assets/models/finterm" if run == Path("runs/finterm") else f"{run}-model"
    print("\nnext:")
    if (student / "student.pt").is_file():
        print(f"  finterm-train export --task finterm --run-dir {run} --out {out}   # export here, score through DeepSparse, card")
        print(f"  finterm-train eval {out}")
    elif (student / "pre_qat.pt").is_file():
        print(f"  finterm-train student --task finterm --run-dir {run} --teachers {run}/teachers/ensemble "
              f"--resume {student / 'pre_qat.pt'} --max-steps 300 --device cpu   # QAT here, then export")
    if (run / "gpu-export" / "model.onnx").is_file():
        print(f"  finterm-train eval {run}/gpu-export   # the GPU machine's own export, for comparison")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
