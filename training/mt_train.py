"""Training the one encoder with two heads: dense teachers, then the sparse int8 student.

Teachers (`finterm-train teacher --task finterm --seed N`): the pretrained encoder with new heads,
fine-tuned densely on the three sources (bf16 autocast on a GPU). Each writes its weights, its
soft labels (both heads' logits on every training row, fp16) and its validation logits. Several
seeds can train side by side on one GPU as separate processes.

Student (`finterm-train student --task finterm`): starts from the first teacher's weights and
runs a SparseML recipe (recipes/multitask.yaml: gradual magnitude pruning of the encoder's
linear weights to 80%, recovery, int8 quantization-aware training in fp32), distilling the mean
of the teachers' soft labels for both heads on every row plus the labels (mt_model.py).

Both can run under a time budget (`--time-budget SECONDS`, counted from the process start):
the step rate is measured first (the student measures a dense and a QAT copy of itself), the
number of steps is set to fit, and the recipe's epochs become fractions of that run, so the
schedule keeps its shape whatever the machine. Without a budget an epoch is one pass over the
data (news rows plus `chatter_per_epoch` StockTwits rows).

When QAT starts the student writes `pre_qat.pt` (the pruned fp32 student, stored as fp16);
`--resume` runs the rest of the recipe from it, e.g. a shorter QAT on a CPU.
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from .common import STARTED, TrainError, log
from .data import collate, load_tokenizer, pad_id
from .distill import PRE_QAT, encoder_sparsity, stage_steps
from .mt_data import HEADS, BatchStream, Source, chatter_balance, data_summary, steps_per_epoch, tokenize_sources
from .mt_eval import headline, score_logits
from .mt_model import (
    LossConfig,
    autocast,
    empty_model,
    kd_loss,
    label_loss,
    load_model,
    load_state,
    lr_factor,
    new_model,
    predict,
    save_model,
    structure_size,
    to_device,
)


class Budget:
    """Seconds left of a --time-budget counted from the process start (infinite without one)."""

    def __init__(self, seconds: float | None, started: float = STARTED):
        self.end = None if not seconds else started + float(seconds)

    def left(self) -> float:
        return math.inf if self.end is None else self.end - time.time()

    @property
    def limited(self) -> bool:
        return self.end is not None


def pick_device(choice: str = "auto") -> torch.device:
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError("--device cuda: no GPU is visible to torch here")
    dev = torch.device(choice)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return dev


def device_name(device: torch.device) -> str:
    """`cuda (NVIDIA H200)` or `cpu`: what the model card says a run ran on."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def prepare(sources: dict[str, Source], tokenizer_dir: Path) -> int:
    """Tokenize every split with the folder's tokenizer; return the pad id."""
    tokenize_sources(sources, lambda n: load_tokenizer(tokenizer_dir, n))
    return pad_id(load_tokenizer(tokenizer_dir, 8))


def _labels_t(sources: dict[str, Source]) -> dict[str, torch.Tensor]:
    return {n: torch.as_tensor(s.head_labels()) for n, s in sources.items()}


def validate(model, sources: dict[str, Source], pad: int, device: torch.device, use_autocast: bool = True) -> tuple[dict, dict]:
    """PyTorch logits on every validation split, and their scores."""
    logits = {n: predict(model, s.valid_ids, pad, device, use_autocast=use_autocast) for n, s in sources.items()}
    scores = score_logits(logits, {n: s.valid_head_labels() for n, s in sources.items()})
    return logits, scores


def _finite(loss, who: str, step: int) -> float:
    """The loss as a number; a run whose loss is NaN or infinite stops in one line."""
    value = loss.item()
    if not math.isfinite(value):
        raise TrainError(f"{who}: the loss is {value} at step {step}")
    return value


def _out_of_time(budget: Budget, reserve: float, step: int, total: int, who: str) -> bool:
    """True (and said in the log) when the time budget leaves only the reserve for what follows training."""
    if budget.left() < reserve and step < total:
        log(f"{who}: time budget reached at step {step} of {total}: stopping there")
        return True
    return False


def _fmt(head: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in head.items())


# --------------------------------------------------------------------------------------- teacher


def train_teacher_mt(sources: dict[str, Source], backbone: Path, out_dir: Path, *, seed: int = 0, epochs: float = 5.0,
                     lr: float = 1e-4, batch_size: int = 64, warmup: float = 0.06, loss: LossConfig | None = None,
                     chatter_per_epoch: int | None = 20000, device: torch.device | None = None,
                     time_budget: float | None = None, reserve: float = 20.0, command: str = "") -> dict:
    """Fine-tune one dense teacher; save weights, soft labels on the training rows, validation logits."""
    loss = loss or LossConfig()
    device = device or pick_device()
    budget = Budget(time_budget)
    torch.manual_seed(seed)
    np.random.seed(seed)
    pad = prepare(sources, backbone)
    model = new_model(backbone).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    spe = steps_per_epoch(sources, batch_size, chatter_per_epoch)
    planned = max(1, round(epochs * spe))
    total = planned
    stream = BatchStream(sources, batch_size, seed, chatter_per_epoch)
    chatter_w = torch.as_tensor(chatter_balance(sources["stocktwits"]), device=device)
    labels = _labels_t(sources)
    log(f"teacher seed {seed} on {device}: {spe} steps an epoch (batch {batch_size}), up to {epochs} epochs "
        f"= {planned} steps" + (f", time budget {budget.left():.0f} s left" if budget.limited else ""))
    model.train()
    step, t0, t_cal, s_cal, stopped = 0, time.time(), None, 0, None
    calib = (5, 40)
    while step < total:
        name, rows = stream.next()
        ids, mask = to_device(*collate([sources[name].train_ids[i] for i in rows], pad), device)
        for g in opt.param_groups:
            g["lr"] = lr * lr_factor(step, total, warmup)
        with autocast(device):
            s, t = model(ids, mask)
        loss_v = label_loss(name, {"sentiment": s, "topic": t}, labels[name][rows].to(device), loss, chatter_w)
        loss_v.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        if budget.limited and step == calib[0]:
            _sync(device)
            t_cal, s_cal = time.time(), step
        if budget.limited and step >= calib[1] and (step - calib[1]) % 250 == 0:
            # Measured again every 250 steps: teachers sharing a GPU slow each other down unevenly.
            _sync(device)
            rate = (step - s_cal) / max(1e-6, time.time() - t_cal)
            fit = step + int(rate * max(0.0, budget.left() - reserve))
            new_total = max(step + 1, min(planned, fit))
            if step == calib[1] or abs(new_total - total) > 0.02 * total:
                total = new_total
                log(f"teacher seed {seed}: {rate:.1f} steps/s; {total} steps fit the budget "
                    f"({total / spe:.2f} epochs{'' if total < planned else ', the planned length'})")
            t_cal, s_cal = time.time(), step
        if step % 100 == 0:
            log(f"teacher seed {seed} step {step}/{total} epoch {stream.epoch} loss {_finite(loss_v, 'teacher', step):.4f} "
                f"{(time.time() - t0) / step:.3f} s/step")
        if _out_of_time(budget, reserve, step, total, f"teacher seed {seed}"):
            stopped = step
            break
    _sync(device)
    train_secs = time.time() - t0
    valid_logits, scores = validate(model, sources, pad, device)
    head = headline(scores)
    log(f"teacher seed {seed} (PyTorch, validation): {_fmt(head)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    soft = {}
    for n, s in sources.items():
        pred = predict(model, s.train_ids, pad, device, batch_size=512)
        for h in HEADS:
            soft[f"{n}.{h}"] = pred[h].astype(np.float16)
    np.savez(out_dir / "soft_labels.npz", **soft)
    np.savez(out_dir / "valid_logits.npz", **{f"{n}.{h}": v for n, d in valid_logits.items() for h, v in d.items()})
    save_model(model, out_dir, tokenizer_from=backbone)
    summary = {
        "task": "finterm", "backbone": str(backbone), "seed": seed, "epochs_planned": epochs,
        "epochs": round(step / spe, 2), "steps": step, "steps_per_epoch": spe, "stopped_by_budget_at": stopped,
        "lr": lr, "batch_size": batch_size, "warmup": warmup, "loss": loss.as_dict(),
        "chatter_per_epoch": chatter_per_epoch, "device": device_name(device), "train_seconds": round(train_secs, 1),
        "valid": head, "valid_scores": scores, "data": data_summary(sources), "command": command,
    }
    (out_dir / "teacher.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


# --------------------------------------------------------------------------------------- student


def load_soft_labels(teacher_dirs: list[Path], sources: dict[str, Source]) -> tuple[dict, dict]:
    """Mean of the teachers' soft labels per (source, head), checked against the rows; and a report
    of each teacher's and the mean's validation scores."""
    if not teacher_dirs:
        raise TrainError("no teachers: train some with `finterm-train teacher --task finterm --seed N`")
    sums: dict[str, np.ndarray] = {}
    valid_sums: dict[str, np.ndarray] = {}
    each = {}
    for t in teacher_dirs:
        meta = json.loads((t / "teacher.json").read_text())
        for n, s in sources.items():
            have = meta["data"].get(n, {}).get("train", {})
            if have.get("sha256") != s.train.sha256 or have.get("rows") != len(s.train):
                raise TrainError(f"teacher {t} was trained on other {n} rows ({have.get('rows')} rows, "
                                 f"{str(have.get('sha256'))[:12]}) than this run ({len(s.train)}, {s.train.sha256[:12]})")
        with np.load(t / "soft_labels.npz") as z:
            for k in z.files:
                sums[k] = sums.get(k, 0) + z[k].astype(np.float32)
        with np.load(t / "valid_logits.npz") as z:
            for k in z.files:
                valid_sums[k] = valid_sums.get(k, 0) + z[k].astype(np.float32)
        each[str(t)] = meta["valid"]
    k = float(len(teacher_dirs))
    soft = {key: v / k for key, v in sums.items()}
    mean_valid = {n: {h: valid_sums[f"{n}.{h}"] / k for h in HEADS} for n in sources}
    together = headline(score_logits(mean_valid, {n: s.valid_head_labels() for n, s in sources.items()}))
    log("distilling from the mean of " + "; ".join(f"{Path(t).parent.name}/{Path(t).name} ({_fmt(v)})" for t, v in each.items())
        + f"; together: {_fmt(together)}")
    return soft, {"teachers": each, "together": together}


def _rates(model, sources, pad, device, batch_size: int, recipe: Path, overrides: dict, steps: int = 12) -> tuple[float, float]:
    """Steps per second of a dense and of a pruned + QAT copy of the student (thrown away after).

    Each copy runs the same `steps` batches twice and only the second pass is timed: first uses
    (kernel selection for each new padded shape on a GPU, the optimizer's state) are paid once in
    a long run. A probe that timed first passes read 6.3 dense steps/s on the H200 where the run
    then went ~20, and planned a third of the steps the budget had room for.
    """
    from .recipe import load_manager

    stream = BatchStream(sources, batch_size, 12345, 4096)
    batches = [stream.next() for _ in range(steps)]

    def timed(m, use_autocast: bool) -> float:
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-6)
        m.train()
        t_start = 0.0
        for i, (name, rows) in enumerate(batches + batches):
            if i == steps:
                _sync(device)
                t_start = time.time()
            ids, mask = to_device(*collate([sources[name].train_ids[j] for j in rows], pad), device)
            with autocast(device, use_autocast):
                s, t = m(ids, mask)
            (s.float().mean() + t.float().mean()).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        _sync(device)
        return steps / max(1e-6, time.time() - t_start)

    probe = copy.deepcopy(model)
    dense = timed(probe, True)
    load_manager(recipe, overrides, None).apply_structure(probe, epoch=math.inf)
    probe.to(device)
    qat = timed(probe, False)
    del probe
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return dense, qat


def _save_pre_qat(path: Path, model, step: int, spe: int, total: int, stages: list, origin: dict) -> None:
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    torch.save({"kind": "finterm-multitask-pre-qat", "step": step, "epoch": step / spe, "steps_per_epoch": spe,
                "total": total, "model": state, "stages": list(stages), "origin": origin}, tmp)
    tmp.replace(path)
    log(f"student: pruned student saved before QAT to {path} (resume with --resume {path})")


def train_student_mt(sources: dict[str, Source], teacher_dirs: list[Path], out_dir: Path, recipe: Path, overrides: dict,
                     *, seed: int = 0, loss: LossConfig | None = None, chatter_per_epoch: int | None = 20000,
                     device: torch.device | None = None, time_budget: float | None = None, reserve: float = 25.0,
                     max_steps: int | None = None, resume: Path | None = None, command: str = "") -> dict:
    """Prune, quantize and distil the student (module docstring); save student.pt and student.json."""
    from .compat import patch_sparseml
    from .recipe import load_manager, root_variables

    patch_sparseml(out_dir.parent)
    loss = loss or LossConfig()
    device = device or pick_device()
    budget = Budget(time_budget)
    torch.manual_seed(seed)
    hp = root_variables(recipe, overrides)
    alpha, temp = float(hp["distill_alpha"]), float(hp["distill_temperature"])
    bs, lr = int(hp["batch_size"]), float(hp["learning_rate"])
    num_epochs = float(hp["num_epochs"])
    init_dir = teacher_dirs[0]
    pad = prepare(sources, init_dir)
    soft_np, ensemble = load_soft_labels(teacher_dirs, sources)
    soft = {k: torch.as_tensor(v) for k, v in soft_np.items()}
    labels = _labels_t(sources)
    chatter_w = torch.as_tensor(chatter_balance(sources["stocktwits"]), device=device)
    # A resumed run takes its weights from the checkpoint: the teachers' own weights need not be at hand.
    model = (empty_model(init_dir) if resume is not None else load_model(init_dir)).to(device)
    if bool(hp.get("freeze_word_embeddings", False)):
        model.bert.get_input_embeddings().weight.requires_grad_(False)
    data_spe = steps_per_epoch(sources, bs, chatter_per_epoch)
    start_epoch, stages, origin = 0.0, [], None
    ck = None
    if resume is not None:
        ck = _load_pre_qat(resume)
        start_epoch, stages, origin = float(ck["epoch"]), list(ck["stages"]), dict(ck["origin"])
        load_state(model, ck["model"])
        prune_end = float(hp.get("prune_end_epoch", 0.0))
        qat_start = float(hp.get("qat_start_epoch", num_epochs))
        if not (prune_end <= start_epoch + 1e-6 and start_epoch <= qat_start + 1e-6 and start_epoch < num_epochs):
            raise TrainError(f"--resume {resume}: the checkpoint is at epoch {start_epoch:.2f} of its recipe; this recipe "
                             f"prunes until epoch {prune_end:.2f} and starts QAT at epoch {qat_start:.2f} of "
                             f"{num_epochs:g}, so it cannot go on from there (resume between the two)")
    remaining_epochs = num_epochs - start_epoch
    qat_share = max(0.0, min(1.0, (num_epochs - max(float(hp.get("qat_start_epoch", num_epochs)), start_epoch)) / remaining_epochs))
    planned = max(1, round(remaining_epochs * (ck["steps_per_epoch"] if ck else data_spe)))
    if max_steps:
        planned = min(planned, int(max_steps))
    rates = None
    if budget.limited:
        dense, qat = _rates(model, sources, pad, device, bs, recipe, overrides)
        rates = {"dense_steps_per_second": dense, "qat_steps_per_second": qat}
        per_step = (1 - qat_share) / dense * 1.1 + qat_share / qat  # pruning masks cost a little on dense steps
        fit = int(max(0.0, budget.left() - reserve) / per_step)
        log(f"student: {dense:.1f} dense and {qat:.1f} QAT steps/s measured; {fit} steps fit the budget "
            f"(planned {planned})")
        planned = max(10, min(planned, fit))
    spe = max(1, round(planned / remaining_epochs))
    start = round(start_epoch * spe)
    total = start + round(remaining_epochs * spe)
    opt_base = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    manager = load_manager(recipe, overrides, out_dir.parent)
    opt = manager.modify(model, opt_base, steps_per_epoch=spe, epoch=start / spe)
    model.to(device)
    warm = float(hp["warmup"])
    floor = float(hp["final_lr_fraction"])
    qat_step = round(float(hp.get("qat_start_epoch", math.inf)) * spe) if "qat_start_epoch" in hp else total
    milestones = {k: v for k, v in stage_steps(hp, spe, total).items() if k > start}
    log(f"student on {device}: {total - start} steps ({(total - start) / data_spe:.2f} passes over the data), "
        f"recipe epoch = {spe} steps, QAT from step {qat_step}, alpha {alpha}, T {temp}, lr {lr}, batch {bs}, "
        f"{len(teacher_dirs)} teacher(s)" + (f", resumed at step {start}" if resume else ""))
    stream = BatchStream(sources, bs, seed + 1000, chatter_per_epoch)
    size = structure_size(model)
    qat_on = has_fake_quant(model)
    qat_freeze_embedding, frozen = bool(hp.get("freeze_word_embeddings_in_qat", True)), False
    step, t0, stopped = start, time.time(), None
    model.train()
    while step < total:
        if step in milestones:
            _, sc = validate(model, sources, pad, device, use_autocast=not qat_on)
            head = headline(sc)
            stages.append({"stage": milestones[step], "epoch": round(step / spe, 2), "step": step,
                           "sparsity": encoder_sparsity(model), **head})
            log(f"student at recipe epoch {step / spe:.2f} ({milestones[step]}): {_fmt(head)}, "
                f"sparsity {encoder_sparsity(model):.3f}")
            model.train()
            if milestones[step] == PRE_QAT:
                _save_pre_qat(out_dir / "pre_qat.pt", model, step, spe, total, stages,
                              origin or {"command": command, "recipe_overrides": overrides, "seed": seed})
        if qat_freeze_embedding and step >= qat_step and not frozen:
            # From the step QAT starts the vocabulary table stays as it was then (its int8 observer still
            # calibrates), so the pre-QAT checkpoint and the final student share it: a GPU run sends it once.
            model.bert.get_input_embeddings().weight.requires_grad_(False)
            frozen = True
        name, rows = stream.next()
        ids, mask = to_device(*collate([sources[name].train_ids[i] for i in rows], pad), device)
        f = lr_factor(step, total, warm, floor)
        for g in opt_base.param_groups:
            g["lr"] = lr * f
        with autocast(device, not qat_on):
            s, t = model(ids, mask)
        student = {"sentiment": s, "topic": t}
        teacher = {h: soft[f"{name}.{h}"][rows].to(device, non_blocking=True) for h in HEADS}
        lab = label_loss(name, student, labels[name][rows].to(device), loss, chatter_w)
        loss_v = alpha * lab + (1.0 - alpha) * kd_loss(name, student, teacher, temp, loss)
        loss_v.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        grown = structure_size(model)
        if grown != size:  # SparseML switched quantization on: new observers may sit on the CPU
            size = grown
            model.to(device)
            qat_on = True
            if frozen:  # quantization swapped the embedding module: its new weight must not train either
                model.bert.get_input_embeddings().weight.requires_grad_(False)
            log(f"student: quantization-aware training from step {step} (fp32 from here)")
        if step % 100 == 0:
            log(f"student step {step}/{total} recipe epoch {step / spe:.2f} loss {_finite(loss_v, 'student', step):.4f} "
                f"sparsity {encoder_sparsity(model):.3f} {(time.time() - t0) / (step - start):.3f} s/step")
        if _out_of_time(budget, reserve, step, total, "student"):
            stopped = step
            break
    manager.finalize(model)
    _sync(device)
    train_secs = time.time() - t0
    model.eval()
    valid_logits, scores = validate(model, sources, pad, device, use_autocast=not qat_on)
    head = headline(scores)
    sparsity = encoder_sparsity(model)
    log(f"student (PyTorch, fake-quant) on the validation splits: {_fmt(head)}, encoder sparsity {sparsity:.4f}")
    if sparsity < float(hp.get("final_sparsity", 0.0)) - 0.01:
        raise TrainError(f"student reached only {sparsity:.1%} sparsity; the recipe asked for more")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.cpu()
    torch.save(model.state_dict(), out_dir / "student.pt")
    (out_dir / "recipe.yaml").write_text(str(manager))
    save_model_meta(out_dir, init_dir)
    np.savez(out_dir / "valid_logits.npz", **{f"{n}.{h}": v for n, d in valid_logits.items() for h, v in d.items()})
    summary = {
        "task": "finterm", "init": str(init_dir), "teachers": [str(t) for t in teacher_dirs], "ensemble": ensemble,
        "recipe_file": str(recipe), "recipe_overrides": overrides,
        "hyperparameters": {k: hp[k] for k in sorted(hp) if isinstance(hp[k], (int, float, str))},
        "loss": loss.as_dict(), "chatter_per_epoch": chatter_per_epoch, "seed": seed, "device": device_name(device),
        "steps": step - start, "planned_steps": total - start, "steps_per_recipe_epoch": spe, "data_steps_per_epoch": data_spe,
        "passes_over_data": round((step - start) / data_spe, 2), "stopped_by_budget_at": stopped, "rates": rates,
        "train_seconds": round(train_secs, 1), "valid": head, "valid_scores": scores, "encoder_sparsity": sparsity,
        "stages": stages, "data": data_summary(sources), "command": command,
        "resumed_from": {"checkpoint": str(resume), "epoch": round(start_epoch, 2), **(origin or {})} if resume else None,
    }
    (out_dir / "student.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def save_model_meta(out_dir: Path, like: Path) -> None:
    """The architecture files (config.json, heads.json) and tokenizer beside student.pt."""
    from .backbone import TOKENIZER_FILES

    for name in ("config.json", "heads.json", *TOKENIZER_FILES):
        if (like / name).is_file():
            (out_dir / name).write_bytes((like / name).read_bytes())


def _load_pre_qat(path: Path) -> dict:
    if not path.is_file():
        raise TrainError(f"--resume {path}: no such checkpoint (a student run writes pre_qat.pt when QAT starts)")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        if ck.get("kind") != "finterm-multitask-pre-qat":
            raise ValueError("not a multi-task student checkpoint")
        return ck
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise TrainError(f"--resume {path}: not a finterm multi-task student checkpoint ({type(e).__name__}: {e})") from None


def load_student_mt(student_dir: Path):
    """The trained student with its QAT structure re-applied from its recipe, for export (CPU)."""
    from .compat import patch_sparseml

    patch_sparseml(student_dir.parent)
    from sparseml.pytorch.optim import ScheduledModifierManager

    if not (student_dir / "student.pt").is_file():
        raise TrainError(f"{student_dir} holds no trained student (student.pt): run `finterm-train student --task finterm` first")
    model = empty_model(student_dir)
    ScheduledModifierManager.from_yaml(str(student_dir / "recipe.yaml")).apply_structure(model, epoch=math.inf)
    load_state(model, torch.load(student_dir / "student.pt", map_location="cpu"))
    model.eval()
    return model


def teacher_dirs_in(run_dir: Path) -> list[Path]:
    """Saved teachers under run_dir/teachers/, in seed order."""
    found = [p for p in (run_dir / "teachers").glob("seed-*") if (p / "teacher.json").is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-", 1)[1]) if p.name.split("-", 1)[1].isdigit() else 1 << 30)


def has_fake_quant(model) -> bool:
    """True once quantization-aware training is on (fake-quantize modules in the model)."""
    from torch.ao.quantization import FakeQuantizeBase

    return any(isinstance(m, FakeQuantizeBase) for m in model.modules())
