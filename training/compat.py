"""Small fixes that let SparseML 1.8 run on the pinned torch 2.13.

- torch's QConfig is a NamedTuple with `__slots__ = ()`; SparseML tags each qconfig with
  `.quantization_scheme`, which then raises AttributeError and QAT never starts. A subclass
  without slots carries the attribute and is still a QConfig to torch.
- SparseML's modifier logger writes `sparse_logs/` into the current directory; a file
  handler given up front sends those logs into the run folder instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")

_patched = False


def patch_sparseml(log_dir: Path | None = None) -> None:
    global _patched
    if log_dir is not None:
        lg = logging.getLogger("sparseml.pytorch.utils.logger")
        if not any(isinstance(h, logging.FileHandler) for h in lg.handlers):
            log_dir.mkdir(parents=True, exist_ok=True)
            h = logging.FileHandler(log_dir / "sparseml.log", delay=True)
            h.setLevel(logging.DEBUG)
            lg.addHandler(h)
    if _patched:
        return
    import sparseml.pytorch.sparsification.quantization.quantization_scheme as qs
    from torch.ao.quantization import QConfig

    if getattr(QConfig, "__slots__", None) is not None:

        class QConfigWithScheme(QConfig):
            """A QConfig that can carry SparseML's `quantization_scheme` attribute."""

        original = qs._get_qconfig

        def _get_qconfig(activation_args, weight_args):
            q = original(activation_args, weight_args)
            return QConfigWithScheme(activation=q.activation, weight=q.weight)

        qs._get_qconfig = _get_qconfig
    _patched = True
