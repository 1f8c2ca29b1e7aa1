"""The one encoder with two heads (`--task finterm`), its losses, and saving it.

A BERT encoder (all-MiniLM-L6-v2 by default) is mean-pooled over the real tokens (the pooling
that backbone was trained with) and read by two linear heads: sentiment (Bearish / Bullish /
Neutral) and topic (20). `forward(input_ids, attention_mask)` returns both logits in that
order, which is also the ONNX export's input and output order.

Losses, per batch (a batch comes from one source, mt_data.py):
- news sentiment / news topic: cross-entropy of that source's head;
- StockTwits: the authors' tags are weak, two-class and 3:1 Bullish. A class-balanced
  cross-entropy over the Bearish and Bullish logits only (the Neutral logit is left out, so the
  tags teach direction without teaching that nothing is neutral), with label smoothing for the
  noisy tags, down-weighted (0.3: it cost nothing on news in the dense probes, STACK.md);
- the student adds distillation of both heads on every row (the teachers' soft labels):
  alpha * labels + (1 - alpha) * T^2 * KL, the other head of a row weighted `cross_kd`.

Imports torch at import time: only the training commands load this module.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbone import TOKENIZER_FILES
from .common import TrainError
from .data import collate
from .mt_data import HEADS, SOURCES

BEARISH, BULLISH = HEADS["sentiment"].index("Bearish"), HEADS["sentiment"].index("Bullish")
WEIGHTS_FILE = "model.pt"


class MultiTaskEncoder(nn.Module):
    """BERT encoder, mean pooling, a sentiment head and a topic head."""

    def __init__(self, bert: nn.Module, n_sentiment: int = 3, n_topic: int = 20, dropout: float = 0.1):
        super().__init__()
        self.bert = bert
        hidden = bert.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.sentiment_head = nn.Linear(hidden, n_sentiment)
        self.topic_head = nn.Linear(hidden, n_topic)
        for head in (self.sentiment_head, self.topic_head):
            nn.init.normal_(head.weight, std=0.02)
            nn.init.zeros_(head.bias)

    @property
    def config(self):
        return self.bert.config

    def forward(self, input_ids, attention_mask):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)[0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        pooled = self.dropout(pooled)
        return self.sentiment_head(pooled), self.topic_head(pooled)


def _bert_from_config(config):
    from transformers import BertModel

    return BertModel(config, add_pooling_layer=False)


def new_model(backbone: Path) -> MultiTaskEncoder:
    """The pretrained encoder from a Hugging Face-style folder (weights may be stored as fp16), new heads."""
    from transformers import BertModel

    try:
        bert = BertModel.from_pretrained(str(backbone), add_pooling_layer=False)
    except OSError as exc:
        raise TrainError(f"cannot load an encoder from {backbone}: {str(exc).splitlines()[0]}") from None
    return MultiTaskEncoder(bert.float(), len(HEADS["sentiment"]), len(HEADS["topic"]))


def use_eager_attention(model: MultiTaskEncoder) -> None:
    """Plain matmul attention (what the ONNX export traces), whatever the transformers default is."""
    setter = getattr(model.bert, "set_attn_implementation", None)
    if callable(setter):
        try:
            setter("eager")
            return
        except Exception:  # noqa: BLE001 - older transformers: fall back to the config field
            pass
    model.bert.config._attn_implementation = "eager"


def save_model(model: MultiTaskEncoder, folder: Path, tokenizer_from: Path | None = None, dtype=torch.float32) -> None:
    """config.json (the encoder's), heads.json, model.pt (state dict in `dtype`), tokenizer files."""
    folder.mkdir(parents=True, exist_ok=True)
    model.bert.config.save_pretrained(str(folder))
    (folder / "heads.json").write_text(json.dumps({"heads": HEADS, "pooling": "mean"}, indent=2))
    state = {k: (v.to(dtype) if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    torch.save(state, folder / WEIGHTS_FILE)
    if tokenizer_from is not None:
        for name in TOKENIZER_FILES:
            if (tokenizer_from / name).is_file():
                (folder / name).write_bytes((tokenizer_from / name).read_bytes())


def empty_model(folder: Path) -> MultiTaskEncoder:
    """The architecture saved in `folder` (config.json, heads.json), weights not loaded."""
    from transformers import AutoConfig

    if not (folder / "heads.json").is_file():
        raise TrainError(f"{folder} holds no finterm multi-task model (no heads.json)")
    heads = json.loads((folder / "heads.json").read_text())["heads"]
    config = AutoConfig.from_pretrained(str(folder))
    return MultiTaskEncoder(_bert_from_config(config), len(heads["sentiment"]), len(heads["topic"]))


def load_state(model: nn.Module, state: dict) -> None:
    """Load a state dict saved in any float dtype into the model's own dtypes, strictly."""
    own = model.state_dict()
    cast = {k: (v.to(own[k].dtype) if k in own and v.is_floating_point() else v) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(cast, strict=False)
    if missing or unexpected:
        raise TrainError(f"the saved weights do not fit the model: missing {missing[:4]}, unexpected {unexpected[:4]}")


def load_model(folder: Path) -> MultiTaskEncoder:
    model = empty_model(folder)
    load_state(model, torch.load(folder / WEIGHTS_FILE, map_location="cpu"))
    return model


@dataclass
class LossConfig:
    """The loss knobs (recorded in teacher.json / student.json and the model card)."""

    #: StockTwits tags: weight of their loss, and label smoothing of their two-logit target.
    chatter_weight: float = 0.3
    chatter_smoothing: float = 0.1
    #: Label smoothing of the news labels (both heads).
    news_smoothing: float = 0.0
    #: Student: weight of the distillation of the head a row has no label for.
    cross_kd: float = 1.0

    def as_dict(self) -> dict:
        return asdict(self)


def label_loss(source: str, logits: dict, y, cfg: LossConfig, chatter_w):
    """The label term of a batch of `source` (see the module docstring)."""
    if source == "stocktwits":
        return cfg.chatter_weight * balanced_two_logit_ce(logits["sentiment"], y, chatter_w, cfg.chatter_smoothing)
    head = SOURCES[source].head
    return F.cross_entropy(logits[head].float(), y, label_smoothing=cfg.news_smoothing)


def balanced_two_logit_ce(sentiment_logits, tags, class_weight, smoothing: float):
    """Cross-entropy of the StockTwits tags (0 Bearish, 1 Bullish) over the Bearish and Bullish logits
    only; each row's target is smoothed ((1 - s) on its tag, s spread over both) and the row weighs its
    tag's class weight, the mean taken over those weights (so each tag weighs half of the loss)."""
    logp = F.log_softmax(sentiment_logits[:, [BEARISH, BULLISH]].float(), -1)
    nll = -logp.gather(1, tags.unsqueeze(1)).squeeze(1)
    per_row = (1.0 - smoothing) * nll - smoothing * logp.mean(1)
    w = class_weight[tags]
    return (w * per_row).sum() / w.sum().clamp(min=1e-12)


def kd_loss(source: str, student: dict, teacher: dict, temperature: float, cfg: LossConfig):
    """T^2 * KL(teacher/T || student/T) of both heads; the head the source has no label for weighs `cross_kd`."""
    t = temperature
    own = SOURCES[source].head
    total = 0.0
    for head, s in student.items():
        kl = F.kl_div(F.log_softmax(s.float() / t, -1), F.log_softmax(teacher[head].float() / t, -1),
                      log_target=True, reduction="batchmean")
        total = total + (1.0 if head == own else cfg.cross_kd) * t * t * kl
    return total


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on a GPU (dense phases); nothing on the CPU or when disabled (QAT runs in fp32)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def to_device(ids, mask, device: torch.device):
    return ids.to(device, non_blocking=True), mask.to(device, non_blocking=True)


def predict(model: MultiTaskEncoder, seqs: list[list[int]], pad: int, device: torch.device,
            batch_size: int = 256, use_autocast: bool = True) -> dict[str, np.ndarray]:
    """Both heads' logits (fp32) for token id lists, in eval mode, batched by length (order kept)."""
    from .data import length_batches

    was_training = model.training
    model.eval()
    out = {h: np.zeros((len(seqs), len(labels)), dtype=np.float32) for h, labels in HEADS.items()}
    with torch.inference_mode():
        for b in length_batches([len(s) for s in seqs], batch_size, shuffle=False):
            ids, mask = to_device(*collate([seqs[i] for i in b], pad), device)
            with autocast(device, use_autocast):
                s, t = model(ids, mask)
            out["sentiment"][b] = s.float().cpu().numpy()
            out["topic"][b] = t.float().cpu().numpy()
    model.train(was_training)
    return out


def lr_factor(step: int, total: int, warmup: float, floor: float = 0.0) -> float:
    """Linear warm-up over `warmup` of the run, then linear decay to `floor` (a fraction of the peak)."""
    warm = max(1, int(total * warmup))
    if step < warm:
        return (step + 1) / warm
    return max(floor, 1.0 - (1.0 - floor) * (step - warm) / max(1, total - warm))


def structure_size(model: nn.Module) -> int:
    """How many submodules the model has: it grows when SparseML switches quantization on."""
    return sum(1 for _ in model.modules())

