"""Builds tiny but real ONNX text classifiers (a few KB) in the model-folder shape.

The graph is mean-pooled word embeddings and a linear layer, so it runs in DeepSparse and
ONNX Runtime alike, and its predictions are meaningful: each keyword votes for one label.
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
    """Write model.onnx, config.json, tokenizer.json and MODEL_CARD.md into `path`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = _vocab(keywords)
    n, d = len(labels), len(labels) + 2
    emb = np.zeros((len(vocab), d), dtype=np.float32)
    emb[:, n] = 0.05  # every token carries a little bias mass so an empty tweet is defined
    for label, words in keywords.items():
        for w in words:
            emb[vocab[w], labels.index(label)] += 1.0
    weight = np.zeros((d, n), dtype=np.float32)
    weight[:n, :n] = np.eye(n, dtype=np.float32) * 4.0
    bias = np.zeros(n, dtype=np.float32)
    bias[-1] = 0.1  # ties go to the last label (Neutral for sentiment)

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
        helper.make_node("MatMul", ["pooled", "weight"], ["proj"]),
        helper.make_node("Add", ["proj", "bias"], ["logits"]),
    ]
    inits = [
        numpy_helper.from_array(emb, "emb"),
        numpy_helper.from_array(weight, "weight"),
        numpy_helper.from_array(bias, "bias"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one"),
    ]
    graph = helper.make_graph(
        nodes, "tiny_classifier", inputs,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, n if classes_dim is None else classes_dim])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path / "model.onnx")
    _tokenizer(vocab).save(str(path / "tokenizer.json"))
    (path / "config.json").write_text(json.dumps({
        "model_type": "tiny-bag-of-words",
        "id2label": {str(i): l for i, l in enumerate(labels)},
        "label2id": {l: i for i, l in enumerate(labels)},
        "max_position_embeddings": 512,
    }, indent=2))
    (path / "MODEL_CARD.md").write_text("# tiny test model\nBuilt by tests/modelkit.py for tests.\n")
    return path


def make_sentiment_folder(path: Path, **kw) -> Path:
    return make_model_folder(path, SENTIMENT_LABELS, SENTIMENT_KEYWORDS, **kw)


def make_topic_folder(path: Path, **kw) -> Path:
    return make_model_folder(path, TOPIC_LABELS, TOPIC_KEYWORDS, **kw)
