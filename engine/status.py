"""What the classifier is, in words: a line for the log and a short one for the status bar."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class Classifier(Protocol):
    """What these lines read of a classifier (engine/classifier.py's, or a test double): named
    here so this module needs nothing from the classifier's own."""

    engine_name: str

    @property
    def runs(self) -> Sequence[Any]: ...  # each with .tasks and .folder (name, size_bytes)

    @property
    def models(self) -> Mapping[str, Any]: ...  # task -> its model folder (.name)

    def bridging_now(self) -> bool: ...


def describe(clf: Classifier) -> str:
    """The engine, and each model file with the tasks it scores and its size (logs)."""
    parts = [f"{'+'.join(run.tasks)} {run.folder.name} ({run.folder.size_bytes / 1e6:.1f} MB)" for run in clf.runs]
    return f"{clf.engine_name} · " + " + ".join(parts)


def short_name(name: str, task: str) -> str:
    """A model's name without the `finterm-` and `<task>-` prefixes."""
    for prefix in ("finterm-", f"{task}-"):
        name = name[len(prefix):] if name.startswith(prefix) and len(name) > len(prefix) else name
    return name


def status_line(clf: Classifier) -> str:
    """The engine that scores the tweets on screen and each task's model, short (status bars)."""
    engine = clf.engine_name
    if clf.bridging_now():
        engine = f"{engine} compiling (onnxruntime meanwhile)"
    names = {task: short_name(folder.name, task) for task, folder in clf.models.items()}
    if len(set(names.values())) == 1:  # one model file, or the shipped pair: one name says it
        return f"{engine} · {'+'.join(names)} {next(iter(names.values()))}"
    return f"{engine} · " + " · ".join(f"{task} {name}" for task, name in names.items())
