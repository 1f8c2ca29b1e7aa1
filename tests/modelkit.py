"""Builds tiny but real ONNX text classifiers (a few KB) in the model-folder shape.

The graph is mean-pooled word embeddings and a linear layer per head, so it runs in DeepSparse
and ONNX Runtime alike, and its predictions are meaningful: each keyword votes for one label.
A one-task folder has one head (`id2label`); `make_two_head_folder` builds the one-encoder,
two-head shape (`tasks`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

SENTIMENT_LABELS = ["Bearish", "Bullish", "Neutral"]
SENTIMENT_KEYWORDS = {
    "Bearish": ["down", "falls", "sell", "miss", "crash", "bearish", "plunges", "short"],
    "Bullish": ["up", "rises", "buy", "beat", "rally", "bullish", "soars", "long"],
    "Neutral": ["says", "report", "today", "meeting", "update", "the", "a"],
}
TOPIC_LABELS = [
    "Analyst Update", "Fed | Central Banks", "Company | Product News",
    "Treasuries | Corporate Debt", "Dividend", "Earnings", "Energy | Oil", "Financials",
    "Currencies", "General News | Opinion", "Gold | Metals | Materials", "IPO",
    "Legal | Regulation", "M&A | Investments", "Macro", "Markets", "Politics",
    "Personnel Change", "Stock Commentary", "Stock Movement",
]
TOPIC_KEYWORDS = {
    "Analyst Update": ["analyst", "upgrade", "downgrade", "target"],
    "Fed | Central Banks": ["fed", "powell", "rates"],
    "Dividend": ["dividend", "payout"],
    "Earnings": ["earnings", "eps", "revenue", "quarter"],
    "Energy | Oil": ["oil", "crude", "opec"],
    "IPO": ["ipo", "listing"],
    "M&A | Investments": ["acquire", "merger", "deal"],
    "Stock Movement": ["shares", "stock", "up", "down"],
}
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def _vocab(keywords: dict[str, list[str]]) -> dict[str, int]:
    words = SPECIALS + sorted({w for ws in keywords.values() for w in ws})
    return {w: i for i, w in enumerate(words)}


def _tokenizer(vocab: dict[str, int]) -> Tokenizer:
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return tok


def _embedding(vocab: dict[str, int], heads: list[tuple[list[str], dict[str, list[str]]]]) -> tuple[np.ndarray, list[int]]:
    """Word embeddings with one column per label of every head (each keyword votes for its label),
    then a bias column every token carries (so an empty tweet is defined) and a spare one.
    Returns the matrix and where each head's columns start."""
    starts, d = [], 0
    for labels, _ in heads:
        starts.append(d)
        d += len(labels)
    emb = np.zeros((len(vocab), d + 2), dtype=np.float32)
    emb[:, d] = 0.05
    for (labels, keywords), start in zip(heads, starts):
        for label, words in keywords.items():
            for w in words:
                emb[vocab[w], start + labels.index(label)] += 1.0
    return emb, starts


def _graph(heads: list[tuple[str, list[str], dict[str, list[str]]]], vocab: dict[str, int], *, fixed_seq, fixed_batch,
           with_token_type_ids, id_type, classes_dim) -> onnx.ModelProto:
    """Mean-pooled embeddings, then one linear layer per head, each its own named output."""
    emb, starts = _embedding(vocab, [(labels, kw) for _, labels, kw in heads])
    batch = fixed_batch if fixed_batch else "batch"
    seq = fixed_seq if fixed_seq else "sequence"
    inputs = [
        helper.make_tensor_value_info("input_ids", id_type, [batch, seq]),
        helper.make_tensor_value_info("attention_mask", id_type, [batch, seq]),
    ]
    if with_token_type_ids:
        inputs.append(helper.make_tensor_value_info("token_type_ids", id_type, [batch, seq]))
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["tok"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["tok", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["maskf", "axis1"], ["count"], keepdims=1),
        helper.make_node("Max", ["count", "one"], ["count1"]),
        helper.make_node("Div", ["summed", "count1"], ["pooled"]),
    ]
    inits = [
        numpy_helper.from_array(emb, "emb"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one"),
    ]
    outputs = []
    for (output, labels, _), start in zip(heads, starts):
        n = len(labels)
        weight = np.zeros((emb.shape[1], n), dtype=np.float32)
        weight[start:start + n, :] = np.eye(n, dtype=np.float32) * 4.0
        bias = np.zeros(n, dtype=np.float32)
        bias[-1] = 0.1  # ties go to the last label (Neutral for sentiment)
        nodes += [helper.make_node("MatMul", ["pooled", f"{output}_weight"], [f"{output}_proj"]),
                  helper.make_node("Add", [f"{output}_proj", f"{output}_bias"], [output])]
        inits += [numpy_helper.from_array(weight, f"{output}_weight"), numpy_helper.from_array(bias, f"{output}_bias")]
        outputs.append(helper.make_tensor_value_info(output, TensorProto.FLOAT, [batch, n if classes_dim is None else classes_dim]))
    graph = helper.make_graph(nodes, "tiny_classifier", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _write_folder(path: Path, model: onnx.ModelProto, vocab: dict[str, int], config: dict) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path / "model.onnx")
    _tokenizer(vocab).save(str(path / "tokenizer.json"))
    (path / "config.json").write_text(json.dumps({"model_type": "tiny-bag-of-words", **config,
                                                  "max_position_embeddings": 512}, indent=2))
    (path / "MODEL_CARD.md").write_text("# tiny test model\nBuilt by tests/modelkit.py for tests.\n")
    return path


def make_model_folder(
    path: Path,
    labels: list[str],
    keywords: dict[str, list[str]],
    *,
    fixed_seq: int | None = None,
    fixed_batch: int | None = None,
    with_token_type_ids: bool = False,
    id_type: int = TensorProto.INT64,
    classes_dim: int | str | None = None,
) -> Path:
    """A one-task folder (config.json with id2label): model.onnx, tokenizer.json and MODEL_CARD.md into `path`."""
    vocab = _vocab(keywords)
    model = _graph([("logits", labels, keywords)], vocab, fixed_seq=fixed_seq, fixed_batch=fixed_batch,
                   with_token_type_ids=with_token_type_ids, id_type=id_type, classes_dim=classes_dim)
    return _write_folder(path, model, vocab, {"id2label": {str(i): lab for i, lab in enumerate(labels)},
                                              "label2id": {lab: i for i, lab in enumerate(labels)}})


#: The two heads of the shared folder: task -> (output name, labels, keywords).
TWO_HEADS = {
    "sentiment": ("sentiment_logits", SENTIMENT_LABELS, SENTIMENT_KEYWORDS),
    "topic": ("topic_logits", TOPIC_LABELS, TOPIC_KEYWORDS),
}


def make_two_head_folder(path: Path, name: str = "finterm-tiny-two-head", **kw) -> Path:
    """One encoder with a sentiment and a topic head, as issue 19's assets/models/finterm: one
    model.onnx with the outputs `sentiment_logits` and `topic_logits`, and a config.json whose
    `tasks` maps each to its labels. It scores exactly as the two one-task folders do (the same
    votes; words of the other task count as unknown tokens there)."""
    vocab = _vocab({**{f"s:{k}": v for k, v in SENTIMENT_KEYWORDS.items()}, **{f"t:{k}": v for k, v in TOPIC_KEYWORDS.items()}})
    model = _graph(list(TWO_HEADS.values()), vocab, fixed_seq=kw.pop("fixed_seq", None),
                   fixed_batch=kw.pop("fixed_batch", None), with_token_type_ids=kw.pop("with_token_type_ids", False),
                   id_type=kw.pop("id_type", TensorProto.INT64), classes_dim=kw.pop("classes_dim", None))
    if kw:
        raise TypeError(f"unexpected options {sorted(kw)}")
    tasks = {task: {"output": out, "id2label": {str(i): lab for i, lab in enumerate(labels)}}
             for task, (out, labels, _) in TWO_HEADS.items()}
    return _write_folder(path, model, vocab, {"finterm_name": name, "tasks": tasks})


def make_sentiment_folder(path: Path, **kw) -> Path:
    return make_model_folder(path, SENTIMENT_LABELS, SENTIMENT_KEYWORDS, **kw)


def make_topic_folder(path: Path, **kw) -> Path:
    return make_model_folder(path, TOPIC_LABELS, TOPIC_KEYWORDS, **kw)
