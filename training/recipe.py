"""Recipes: SparseML YAML files in training/recipes/, selectable by name or path.

Root variables drive both SparseML's modifiers (pruning / QAT epochs) and our own loop
(learning rate, batch size, distillation alpha and temperature). `--set name=value`
overrides reach SparseML as recipe variables, so `eval(...)` expressions follow them.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import yaml

from .common import TrainError

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
LOOP_VARIABLES = ("learning_rate", "final_lr_fraction", "warmup", "batch_size", "distill_alpha", "distill_temperature")
#: Read by the training loop too, with a default when a recipe leaves them out.
OPTIONAL_LOOP_VARIABLES = ("freeze_word_embeddings", "freeze_word_embeddings_in_qat")


def resolve_recipe(name_or_path: str) -> Path:
    """A path to an existing YAML file, or the name of one in training/recipes/."""
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    candidate = RECIPES_DIR / (name_or_path if name_or_path.endswith(".yaml") else f"{name_or_path}.yaml")
    if candidate.is_file():
        return candidate
    names = ", ".join(sorted(f.stem for f in RECIPES_DIR.glob("*.yaml")))
    raise TrainError(f"no recipe {name_or_path!r}: give a YAML path or one of {names}")


def parse_overrides(items: list[str] | None) -> dict:
    """`name=value` strings -> dict (numbers parsed, everything else kept as text)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise TrainError(f"--set expects name=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = ast.literal_eval(v.strip())
        except (ValueError, SyntaxError):
            out[k.strip()] = v.strip()
    return out


def overrides_from_args(a) -> dict:
    """The recipe overrides of a command line: every --set, then --alpha / --temperature."""
    ov = parse_overrides(a.set)
    if a.alpha is not None:
        ov["distill_alpha"] = a.alpha
    if a.temperature is not None:
        ov["distill_temperature"] = a.temperature
    return ov


class _AnyTagLoader(yaml.SafeLoader):
    """Reads SparseML YAML without knowing its `!Modifier` tags."""


_AnyTagLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def root_variables(path: Path, overrides: dict) -> dict:
    """The recipe's scalar root variables with overrides applied and `eval(...)` resolved."""
    raw = yaml.load(path.read_text(), Loader=_AnyTagLoader) or {}
    values: dict = {}
    for k, v in raw.items():
        if isinstance(v, (list, dict)) or v is None:
            continue
        values[k] = overrides.get(k, v)
    for k, v in overrides.items():
        values.setdefault(k, v)
    for _ in range(5):  # expressions may refer to each other
        for k, v in list(values.items()):
            if isinstance(v, str) and v.startswith("eval(") and v.endswith(")"):
                try:
                    values[k] = eval(v[5:-1], {"__builtins__": {}, "math": math}, dict(values))  # noqa: S307
                except Exception:
                    pass
    missing = [k for k in LOOP_VARIABLES if k not in values]
    if missing:
        raise TrainError(f"recipe {path} lacks root variables {', '.join(missing)}")
    return values


def load_manager(path: Path, overrides: dict, log_dir: Path | None = None):
    """SparseML's ScheduledModifierManager for the recipe with the overrides applied."""
    from .compat import patch_sparseml

    patch_sparseml(log_dir)
    from sparseml.pytorch.optim import ScheduledModifierManager

    sparse_vars = {k: v for k, v in overrides.items() if k not in LOOP_VARIABLES + OPTIONAL_LOOP_VARIABLES}
    return ScheduledModifierManager.from_yaml(str(path), recipe_variables=sparse_vars or None)
