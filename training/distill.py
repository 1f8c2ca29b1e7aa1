"""Student: sparse transfer from the dense teacher, driven by a SparseML recipe.

The student starts from the fine-tuned teacher's weights; the recipe prunes the encoder's
linear weights gradually and switches on int8 quantization-aware training at the end.
Every step distils the teacher: loss = a*CE(labels) + (1-a)*T^2*KL(teacher/T || student/T),
with the teacher's logits precomputed once (teacher.py), since running the teacher every
step would double the CPU cost. Unlabeled transfer texts (`--transfer`, transfer.py) add
rows that only the distillation term sees (label -100).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np

from .backbone import TOKENIZER_FILES, freeze_word_embeddings, load_classifier
from .common import TrainError, accuracy, log, predict_logits, progress, require_torch
from .data import Split, collate, encode, length_batches, load_tokenizer, pad_id, sha256_file
from .recipe import load_manager, root_variables
from .teacher import teacher_logits_for


def distill_loss(student_logits, teacher_logits, labels, alpha: float, temperature: float):
    """alpha*CE + (1-alpha)*T^2*KL(softmax(t/T) || softmax(s/T)) (Hinton et al.)."""
    import torch.nn.functional as F

    labeled = labels >= 0
    # Transfer rows carry no label (-100): the label loss averages over the labeled rows only.
    ce = F.cross_entropy(student_logits[labeled], labels[labeled]) if bool(labeled.any()) else student_logits.sum() * 0.0
    if alpha >= 1.0:
        return ce
    t = temperature
    kl = F.kl_div(F.log_softmax(student_logits / t, -1), F.log_softmax(teacher_logits / t, -1),
                  log_target=True, reduction="batchmean")
    return alpha * ce + (1.0 - alpha) * t * t * kl


def encoder_sparsity(model) -> float:
    """Share of exact zeros in the encoder's linear weights (what the recipe prunes)."""
    import torch

    zeros = total = 0
    for name, mod in model.named_modules():
        if ".encoder.layer." in name and isinstance(mod, torch.nn.Linear):
            w = mod.weight.detach()
            zeros += int((w == 0).sum())
            total += w.numel()
    return zeros / max(1, total)


def train_student(
    teacher_dir: Path,
    out_dir: Path,
    train: Split,
    valid: Split,
    labels: list[str],
    max_length: int,
    recipe: Path,
    overrides: dict,
    seed: int = 0,
    ensemble: tuple[Path, ...] = (),
    transfer=None,
    command: str = "",
    resume: Path | None = None,
) -> dict:
    """Run the recipe with distillation; save the student's state and its PyTorch accuracy.

    `ensemble`: more saved teachers (same training file); the distillation target is then the
    mean of all the teachers' logits. The student still starts from `teacher_dir`'s weights.
    `transfer`: unlabeled texts (transfer.Transfer) appended to the training rows; an epoch
    then covers them too.
    `resume`: a checkpoint written when an earlier run reached QAT (`pre_qat.pt`, same data,
    teachers, seed, batch size): training goes on from there under this recipe, so a QAT
    schedule can be tried again without pruning and recovering anew.
    """
    torch = require_torch()
    torch.manual_seed(seed)
    hp = root_variables(recipe, overrides)
    alpha, temp = float(hp["distill_alpha"]), float(hp["distill_temperature"])
    bs, lr = int(hp["batch_size"]), float(hp["learning_rate"])
    tok = load_tokenizer(teacher_dir, max_length)
    pad = pad_id(tok)
    train_ids, valid_ids = encode(tok, train.texts), encode(tok, valid.texts)
    n_labeled = len(train_ids)
    xfer_ids = encode(tok, transfer.texts) if transfer is not None else []
    all_ids = train_ids + xfer_ids
    lengths = [len(s) for s in all_ids]
    manager = load_manager(recipe, overrides, out_dir.parent)
    steps_per_epoch = math.ceil(len(lengths) / bs)
    epochs = float(hp.get("num_epochs", manager.max_epochs))  # max_epochs rounds up to whole epochs
    total = max(1, int(round(epochs * steps_per_epoch)))
    # The batch schedule is fixed up front, so the teacher runs only on rows the student will see.
    schedule, epoch = [], 0
    while len(schedule) < total:
        schedule += length_batches(lengths, bs, shuffle=True, seed=seed + 1000 + epoch)
        epoch += 1
    schedule = schedule[:total]
    seen_rows = sorted({i for b in schedule for i in b if i < n_labeled})
    teachers = (teacher_dir, *ensemble)
    target = np.mean([teacher_logits_for(t, train, seen_rows, train_ids, pad) for t in teachers], axis=0)
    transfer_info = None
    if transfer is not None:
        from .transfer import describe, transfer_logits_for

        xfer = np.mean([transfer_logits_for(t, transfer, xfer_ids, pad, labels) for t in teachers], axis=0)
        transfer_info = describe(transfer, xfer, labels)
        log(f"transfer: {len(transfer)} unlabeled texts beside {n_labeled} labeled rows; the teacher calls them "
            + ", ".join(f"{k} {v}" for k, v in transfer_info["teacher_labels"].items()))
        target = np.concatenate([target, xfer])
    teacher_logits = torch.as_tensor(target.astype(np.float32))
    ensemble_info = ensemble_report(teachers, valid_ids, valid.labels, pad, labels) if ensemble else None
    model = load_classifier(teacher_dir, labels)
    if bool(hp.get("freeze_word_embeddings", True)):
        freeze_word_embeddings(model)
    base_opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    fingerprint = {"teachers": [sha256_file(t / "teacher.json") for t in teachers], "seed": seed, "batch_size": bs,
                   "rows": len(all_ids), "steps_per_epoch": steps_per_epoch,
                   "texts": hashlib.sha256("\n".join([*train.texts, *(transfer.texts if transfer else [])]).encode()).hexdigest(),
                   "freeze_word_embeddings": bool(hp.get("freeze_word_embeddings", True))}
    start, stages, origin = 0, [], None
    if resume is not None:
        start, stages, origin = resume_from(resume, model, base_opt, fingerprint, hp, total)
        log(f"student: resuming at step {start} (epoch {start / steps_per_epoch:.2f}) from {resume}")
    opt = manager.modify(model, base_opt, steps_per_epoch=steps_per_epoch, epoch=start / steps_per_epoch)
    warm = max(1, int(total * float(hp["warmup"])))
    floor = float(hp["final_lr_fraction"])
    log(f"student: {epochs} epochs, {total} steps, alpha {alpha}, T {temp}, lr {lr}, batch {bs}")
    labels_t = torch.as_tensor(np.concatenate([train.labels, np.full(len(xfer_ids), -100)]).astype(np.int64))
    milestones = {k: v for k, v in stage_steps(hp, steps_per_epoch, total).items() if k > start}
    step, t0 = start, time.time()
    bar = progress(range(total), "student", total)
    bar.update(start)
    model.train()
    for b in schedule[start:]:
        if step in milestones:  # where the accuracy goes: pruning, then quantization
            model.eval()
            stage_acc = accuracy(predict_logits(model, valid_ids, pad, desc="student valid"), valid.labels)
            model.train()
            stages.append({"stage": milestones[step], "epoch": round(step / steps_per_epoch, 2),
                           "sparsity": encoder_sparsity(model), "valid_accuracy": stage_acc})
            log(f"student at epoch {step / steps_per_epoch:.2f} ({milestones[step]}): valid accuracy {stage_acc:.4f}")
            if milestones[step] == PRE_QAT:
                save_checkpoint(out_dir / "pre_qat.pt", model, base_opt, step, stages, fingerprint,
                                origin or {"command": command, "recipe_overrides": overrides})
        frac = step / warm if step < warm else 1.0 - (1.0 - floor) * (step - warm) / max(1, total - warm)
        for g in base_opt.param_groups:
            g["lr"] = lr * frac
        ids, mask = collate([all_ids[i] for i in b], pad)
        logits = model(input_ids=ids, attention_mask=mask).logits
        loss = distill_loss(logits, teacher_logits[b], labels_t[b], alpha, temp)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        bar.update(1)
        if step % 25 == 0:
            log(f"student step {step}/{total} epoch {step / steps_per_epoch:.2f} loss {loss.item():.4f} "
                f"sparsity {encoder_sparsity(model):.3f} {(time.time() - t0) / (step - start):.2f} s/step")
    bar.close()
    manager.finalize(model)
    train_secs = time.time() - t0
    model.eval()
    valid_logits = predict_logits(model, valid_ids, pad, desc="student valid")
    acc = accuracy(valid_logits, valid.labels)
    sparsity = encoder_sparsity(model)
    log(f"student (PyTorch, fake-quant) valid accuracy {acc:.4f}, encoder sparsity {sparsity:.4f}")
    if sparsity < float(root_variables(recipe, overrides).get("final_sparsity", 0.0)) - 0.01:
        raise TrainError(f"student reached only {sparsity:.1%} sparsity; the recipe asked for more")

    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out_dir / "student.pt")
    (out_dir / "recipe.yaml").write_text(str(manager))
    model.config.save_pretrained(str(out_dir))
    for name in TOKENIZER_FILES:
        if (teacher_dir / name).is_file():
            (out_dir / name).write_bytes((teacher_dir / name).read_bytes())
    np.save(out_dir / "valid_logits.npy", valid_logits)
    summary = {
        "teacher_dir": str(teacher_dir),
        "recipe_file": str(recipe),
        "recipe_overrides": overrides,
        "hyperparameters": {k: hp[k] for k in sorted(hp) if isinstance(hp[k], (int, float, str))},
        "epochs": epochs,
        "steps": total,
        "train_seconds": round(train_secs, 1),
        "pytorch_valid_accuracy": acc,
        "encoder_sparsity": sparsity,
        "max_length": max_length,
        "stages": stages,
        "teacher_ensemble": ensemble_info,
        "transfer": transfer_info,
        "command": command,
        "resumed_from": {"checkpoint": str(resume), "epoch": round(start / steps_per_epoch, 2), **origin} if resume else None,
    }
    (out_dir / "student.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


PRE_QAT = "pruned, before QAT"


def save_checkpoint(path: Path, model, optimizer, step: int, stages: list, fingerprint: dict, origin: dict) -> None:
    """The pruned fp32 student just before QAT, with its optimizer and RNG state (`--resume`);
    `origin` (the command and overrides of the run that pruned it) goes to the resumed run's card."""
    import torch

    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "stages": list(stages), "fingerprint": fingerprint, "rng": torch.get_rng_state(), "origin": origin}, tmp)
    tmp.replace(path)
    log(f"student: checkpoint before QAT saved to {path} (resume with --resume {path})")


def resume_from(path: Path, model, optimizer, fingerprint: dict, hp: dict, total: int) -> tuple[int, list, dict]:
    """Load a pre-QAT checkpoint into model and optimizer; refuse one this run cannot go on from."""
    import torch

    if not path.is_file():
        raise TrainError(f"--resume {path}: no such checkpoint (a student run writes pre_qat.pt when QAT starts)")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        step, stages, theirs, origin = int(ck["step"]), list(ck["stages"]), dict(ck["fingerprint"]), dict(ck["origin"])
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise TrainError(f"--resume {path}: not a student checkpoint ({type(e).__name__}: {e})") from None
    differ = [k for k in fingerprint if theirs.get(k) != fingerprint[k]]
    if differ:
        raise TrainError(f"--resume {path}: the checkpoint's run differs in {', '.join(differ)} "
                         f"({', '.join(f'{k} {theirs.get(k)!r} there, {fingerprint[k]!r} here' for k in differ)})")
    spe = fingerprint["steps_per_epoch"]
    prune_end = round(float(hp.get("prune_end_epoch", 0)) * spe)
    qat_start = round(float(hp.get("qat_start_epoch", math.inf)) * spe) if "qat_start_epoch" in hp else total
    if not prune_end <= step <= min(qat_start, total - 1):
        raise TrainError(f"--resume {path}: the checkpoint is at epoch {step / spe:.2f}; this recipe prunes until "
                         f"epoch {prune_end / spe:.2f} and starts QAT at epoch {qat_start / spe:.2f}, "
                         "so it cannot go on from there (resume between the two)")
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    torch.set_rng_state(ck["rng"])
    return step, stages, origin


def stage_steps(hp: dict, steps_per_epoch: int, total: int) -> dict[int, str]:
    """Steps at which the student is scored on the validation split on its way: when pruning
    has reached its final sparsity and when quantization-aware training starts (the same
    step when the recipe goes straight from one to the other). Each costs one validation pass."""
    out: dict[int, str] = {}
    for name, key in ((PRE_QAT, "qat_start_epoch"), ("end of pruning", "prune_end_epoch")):
        try:
            step = int(round(float(hp[key]) * steps_per_epoch))
        except (KeyError, TypeError, ValueError):
            continue
        if 0 < step < total:
            out[step] = out.get(step) or name
    return dict(sorted(out.items()))


def ensemble_report(teachers: tuple[Path, ...], valid_ids, valid_labels, pad: int, labels: list[str]) -> dict:
    """Each teacher's and the averaged teachers' validation accuracy (PyTorch), for the log and card."""
    each, logits = {}, []
    for t in teachers:
        model = load_classifier(t, labels)
        model.eval()
        lg = predict_logits(model, valid_ids, pad, desc=f"teacher valid ({t.name})")
        each[str(t)] = accuracy(lg, valid_labels)
        logits.append(lg)
    mean = accuracy(np.mean(logits, axis=0), valid_labels)
    log("distilling from the mean of " + ", ".join(f"{t} ({a:.4f})" for t, a in each.items())
        + f": together {mean:.4f} on the validation split")
    return {"teachers": each, "valid_accuracy": mean}


def load_student(student_dir: Path, labels: list[str]):
    """Rebuild the trained student (QAT structure re-applied from its recipe) for export."""
    torch = require_torch()
    from .compat import patch_sparseml

    patch_sparseml(student_dir.parent)
    from sparseml.pytorch.optim import ScheduledModifierManager

    if not (student_dir / "student.pt").is_file():
        raise TrainError(f"{student_dir} holds no trained student (student.pt); run `finterm-train student` first")
    from transformers import AutoConfig, AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(str(student_dir)))
    manager = ScheduledModifierManager.from_yaml(str(student_dir / "recipe.yaml"))
    manager.apply_structure(model, epoch=math.inf)
    state = torch.load(student_dir / "student.pt", map_location="cpu")
    model.load_state_dict(state)
    model.eval()
    return model, manager
