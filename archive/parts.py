"""The output folder: one parquet part per input chunk, written atomically, and the manifest of
finished parts that lets a rerun skip them.

    OUT/<file key>-<chunk>.parquet   the scored rows of one chunk (none when all were rejected)
    OUT/_manifest.jsonl              the run's settings, then one line per finished chunk
    OUT/_rejects.d/<part>.jsonl      the rejected rows of one chunk
    OUT/_rejects.jsonl               all rejected rows, rebuilt from the pieces at the end of a run

A part and its rejects are written to a hidden temporary file and renamed into place; only then
is the chunk's manifest line appended (and fsynced). A kill at any moment leaves finished parts
whole and listed, at most one part written but not listed (redone, under the same name, by the
rerun) and no torn file under a part's name: a rerun writes every row exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import polars as pl

from finterm.errors import InputError
from finterm.store.durable import fsync_dir

from .inputs import InputFile

MANIFEST = "_manifest.jsonl"
REJECTS = "_rejects.jsonl"
REJECTS_DIR = "_rejects.d"
VERSION = 1


def part_name(f: InputFile, chunk: int) -> str:
    return f"{f.key}-{chunk:06d}"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` to a hidden file beside `path`, fsync it, rename it onto `path`."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_part(out: Path, name: str, frame: pl.DataFrame) -> str | None:
    """The scored rows of one chunk as OUT/<name>.parquet; None (no file) when there are none."""
    if frame.height == 0:
        return None
    target = out / f"{name}.parquet"
    atomic_write(target, lambda p: frame.write_parquet(p, compression="zstd", statistics=True))
    return target.name


def write_rejects(out: Path, name: str, rejects: list[dict]) -> str | None:
    if not rejects:
        return None
    target = out / REJECTS_DIR / f"{name}.jsonl"
    target.parent.mkdir(exist_ok=True)
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejects)
    atomic_write(target, lambda p: p.write_text(body, encoding="utf-8"))
    return f"{REJECTS_DIR}/{target.name}"


def model_identity(classifier) -> dict[str, str]:
    """Each task's model: its name and the first 12 hex digits of its model.onnx's SHA-1."""
    ident, seen = {}, {}
    for task, folder in sorted(classifier.models.items()):
        path = Path(folder.onnx_path)
        if path not in seen:
            h = hashlib.sha1()
            with path.open("rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
            seen[path] = h.hexdigest()[:12]
        ident[task] = f"{folder.name} {seen[path]}"
    return ident


class OutputDir:
    """OUT and its manifest; `settings` (chunk rows, column mapping, --probs) must match a
    previous run's, or the run is refused (parts of two shapes would mix)."""

    def __init__(self, path: Path, settings: dict):
        self.path = path.expanduser().resolve()
        self.settings = settings
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"{self.path}: exists and is not a folder (-o names the output folder)")
        self.manifest = self.path / MANIFEST
        #: (input path, chunk) -> its manifest entry, for chunks finished by this or earlier runs.
        self.entries: dict[tuple[str, int], dict] = {}
        if self.manifest.exists():
            self._load()
        elif self.path.exists() and any(p.suffix == ".parquet" for p in self.path.iterdir()):
            raise InputError(f"{self.path}: holds parquet files but no {MANIFEST}: not a finterm score output; "
                             "choose another -o folder")
        self.path.mkdir(parents=True, exist_ok=True)
        for stale in self.path.glob(".*.tmp-*"):  # a killed run's half-written part
            stale.unlink(missing_ok=True)
        if not self.manifest.exists():
            self._append({"finterm_score": VERSION, "settings": settings})

    def _load(self) -> None:
        with self.manifest.open("r", encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        header = None
        for n, line in enumerate(lines):
            try:
                obj = json.loads(line)
            except ValueError:
                continue  # a line torn by a kill: its chunk is redone
            if n == 0:
                header = obj
                continue
            if isinstance(obj, dict) and "chunk" in obj:
                self.entries[(obj["file"], obj["chunk"])] = obj
        if not isinstance(header, dict) or header.get("finterm_score") != VERSION:
            raise InputError(f"{self.manifest}: not a finterm score manifest (version {VERSION}); choose another -o folder")
        old = header.get("settings", {})
        diff = [f"{k} {old.get(k)!r} there, {v!r} now" for k, v in self.settings.items() if old.get(k) != v]
        if diff:
            raise InputError(f"{self.path}: holds a run with other settings ({'; '.join(diff)}); "
                             "rerun with the same ones to resume, or choose another -o folder")

    def _append(self, obj: dict) -> None:
        line = json.dumps(obj, ensure_ascii=False) + "\n"
        with self.manifest.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def _rewrite(self) -> None:
        header = {"finterm_score": VERSION, "settings": self.settings}
        body = "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in [header, *self.entries.values()])
        atomic_write(self.manifest, lambda p: p.write_text(body, encoding="utf-8"))

    def reconcile(self, files: list[InputFile], models: dict[str, str] | None = None) -> list[str]:
        """Drop the finished parts of input files that changed since (they are scored again);
        refuse parts scored by other models. Returns one warning line per changed file."""
        if models is not None:
            self.check_models(models)
        stamps = {str(f.path): f.stamp() for f in files}
        changed: dict[str, list[tuple[str, int]]] = {}
        for key, e in self.entries.items():
            stamp = stamps.get(e["file"])
            if stamp is not None and (e.get("size"), e.get("mtime_ns")) != (stamp["size"], stamp["mtime_ns"]):
                changed.setdefault(e["file"], []).append(key)
        warnings = []
        for path, keys in changed.items():
            for key in keys:
                e = self.entries.pop(key)
                for rel in (e.get("part"), e.get("rejects")):
                    if rel:
                        (self.path / rel).unlink(missing_ok=True)
            warnings.append(f"{path} changed since {len(keys):,} of its parts were written: scoring it again")
        if changed:
            self._rewrite()
        return warnings

    def check_models(self, models: dict[str, str]) -> None:
        """The models' files must be the ones earlier parts were scored with (names may differ)."""
        for e in self.entries.values():
            if e.get("models") and _digests(e["models"]) != _digests(models):
                raise InputError(f"{self.path}: its parts were scored by other models ({_models(e['models'])}; now "
                                 f"{_models(models)}); choose another -o folder")

    def done(self, f: InputFile) -> set[int]:
        p = str(f.path)
        return {chunk for (path, chunk) in self.entries if path == p}

    def record(self, entry: dict) -> None:
        """A chunk finished (its part and rejects are in place): list it in the manifest."""
        self._append(entry)
        self.entries[(entry["file"], entry["chunk"])] = entry

    def rebuild_rejects(self, order: list[InputFile]) -> int:
        """OUT/_rejects.jsonl from the finished chunks' pieces, in input order; rows in it."""
        rank = {str(f.path): i for i, f in enumerate(order)}
        entries = sorted(self.entries.values(), key=lambda e: (rank.get(e["file"], len(rank)), e["file"], e["chunk"]))
        pieces = [self.path / e["rejects"] for e in entries if e.get("rejects")]

        def write(p: Path) -> None:
            with p.open("wb") as out:
                for piece in pieces:
                    with piece.open("rb") as fh:
                        while block := fh.read(1 << 20):
                            out.write(block)

        atomic_write(self.path / REJECTS, write)
        return sum(e.get("rejected", 0) for e in entries)

    def totals(self) -> dict:
        t = {"parts": 0, "read": 0, "scored": 0, "rejected": 0}
        for e in self.entries.values():
            t["parts"] += 1
            for k in ("read", "scored", "rejected"):
                t[k] += e.get(k, 0)
        return t

    def ticker_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.entries.values():
            for t, n in (e.get("tickers") or {}).items():
                counts[t] = counts.get(t, 0) + n
        return counts


def entry_for(f: InputFile, chunk: int, *, part: str | None, rejects: str | None, read: int, scored: int,
              rejected: int, tickers: dict[str, int], models: dict[str, str], first_row: int, engine: str = "") -> dict:
    """A manifest line for a finished chunk."""
    return {"file": str(f.path), "size": f.size, "mtime_ns": f.mtime_ns, "chunk": chunk, "first_row": first_row,
            "part": part, "rejects": rejects, "read": read, "scored": scored, "rejected": rejected,
            "engine": engine, "models": models, "tickers": tickers}


def _digests(m: dict[str, str]) -> dict[str, str]:
    return {task: ident.rsplit(" ", 1)[-1] for task, ident in m.items()}


def _models(m: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(m.items()))
