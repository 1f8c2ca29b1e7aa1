"""Dense teacher: fine-tune a Hugging Face-style encoder folder on the task, once.

The teacher is saved under runs/ (never shipped) together with its logits on the training
split: the student's distillation reads those logits instead of running the teacher every
step, which halves the CPU cost of distillation.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np

from .backbone import TOKENIZER_FILES, freeze_word_embeddings, load_classifier
from .common import TrainError, accuracy, log, predict_logits, progress, require_torch
from .data import Split, collate, encode, length_batches, load_tokenizer, pad_id
from .transfer import clear_transfer_caches


def linear_schedule(optimizer, total_steps: int, warmup: float):
    import torch

    warm = max(1, int(total_steps * warmup))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, f)


def train_teacher(
    backbone: Path,
    out_dir: Path,
    train: Split,
    valid: Split,
    labels: list[str],
    max_length: int,
    epochs: float = 2.0,
    lr: float = 1e-4,
    batch_size: int = 32,
    warmup: float = 0.06,
    seed: int = 0,
    freeze_embeddings: bool = True,
) -> dict:
    """Fine-tune the backbone densely; save model, tokenizer and a summary to out_dir."""
    torch = require_torch()
    torch.manual_seed(seed)
    if not (backbone / "tokenizer.json").is_file():
        raise TrainError(f"{backbone} has no tokenizer.json")
    tok = load_tokenizer(backbone, max_length)
    pad = pad_id(tok)
    train_ids, valid_ids = encode(tok, train.texts), encode(tok, valid.texts)
    model = load_classifier(backbone, labels)
    if freeze_embeddings:
        freeze_word_embeddings(model)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    lengths = [len(s) for s in train_ids]
    steps_per_epoch = math.ceil(len(train_ids) / batch_size)
    total = max(1, int(round(epochs * steps_per_epoch)))
    sched = linear_schedule(opt, total, warmup)
    labels_t = torch.as_tensor(train.labels)
    step, t0 = 0, time.time()
    bar = progress(range(total), "teacher", total)
    epoch = 0
    model.train()
    while step < total:
        for b in length_batches(lengths, batch_size, shuffle=True, seed=seed + epoch):
            if step >= total:
                break
            ids, mask = collate([train_ids[i] for i in b], pad)
            loss = torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=mask).logits, labels_t[b])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            bar.update(1)
            if step % 50 == 0:
                log(f"teacher step {step}/{total} loss {loss.item():.4f} {(time.time() - t0) / step:.2f} s/step")
        epoch += 1
    bar.close()
    train_secs = time.time() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("train_logits.npy", "train_logits_done.npy"):
        (out_dir / stale).unlink(missing_ok=True)
    clear_transfer_caches(out_dir)
    model.save_pretrained(str(out_dir))
    for name in TOKENIZER_FILES:
        if (backbone / name).is_file():
            shutil.copy2(backbone / name, out_dir / name)
    valid_logits = predict_logits(model, valid_ids, pad, desc="teacher valid")
    acc = accuracy(valid_logits, valid.labels)
    log(f"teacher valid accuracy {acc:.4f}")
    summary = {
        "backbone": str(backbone),
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "max_length": max_length,
        "seed": seed,
        "frozen_word_embeddings": freeze_embeddings,
        "steps": total,
        "train_seconds": round(train_secs, 1),
        "valid_accuracy": acc,
        "train_file": str(train.path),
        "train_sha256": train.sha256,
        "valid_file": str(valid.path),
        "valid_sha256": valid.sha256,
    }
    (out_dir / "teacher.json").write_text(json.dumps(summary, indent=2))
    return summary


def teacher_logits_for(teacher_dir: Path, train: Split, rows: list[int], seqs: list[list[int]], pad: int) -> np.ndarray:
    """Teacher logits for the training rows the student will see, computed once (eval mode)
    and cached beside the teacher; rows the schedule never reaches are never computed."""
    meta = json.loads((teacher_dir / "teacher.json").read_text())
    if meta.get("train_sha256") != train.sha256:
        raise TrainError(f"teacher in {teacher_dir} was trained on another file ({meta.get('train_file')}); retrain it")
    cache, done_path = teacher_dir / "train_logits.npy", teacher_dir / "train_logits_done.npy"
    if cache.is_file() and done_path.is_file():
        logits, done = np.load(cache), np.load(done_path)
    else:
        logits, done = None, np.zeros(len(train), dtype=bool)
    todo = sorted(set(rows) - set(np.flatnonzero(done).tolist()))
    if todo:
        log(f"teacher logits for {len(todo)} training rows ({int(done.sum())} cached)")
        model = load_classifier(teacher_dir, list(json.loads((teacher_dir / "config.json").read_text())["id2label"].values()))
        new = predict_logits(model, [seqs[i] for i in todo], pad, desc="teacher logits")
        if logits is None:
            logits = np.zeros((len(train), new.shape[1]), dtype=np.float32)
        logits[todo] = new
        done[todo] = True
        np.save(cache, logits)
        np.save(done_path, done)
        log(f"teacher train accuracy on those rows {accuracy(new, train.labels[todo]):.4f}")
    return logits
