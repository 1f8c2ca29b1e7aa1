"""What the one encoder with two heads is judged by, in PyTorch and through the runtime engines.

The goals of issue 19, on the full validation splits:
- news sentiment accuracy (sent_valid.csv) ≥ 88.0%, topic accuracy (topic_valid.csv) ≥ 91.0%;
- StockTwits (valid.csv): ROC AUC of p(Bullish) − p(Bearish) ≥ 0.90 and balanced accuracy of the
  Bullish-vs-Bearish decision (the larger of the two logits; Neutral is not an answer there) ≥ 0.82;
- ≥ 80% zeros in the encoder's linear weights, int8, the whole folder ≤ 25 MB.

Runtime scores come from the engine's own tokenizer, padding buckets and backends
(evaluate.engine_outputs), so what is measured is what `finterm` runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import log
from .data import Split, default_data_dir, load_split
from .evaluate import metrics
from .mt_data import CHATTER_LABELS, HEADS, OUTPUTS, SOURCES, default_stocktwits_dir

#: name -> (goal, higher is better). Values in 0..1 except the folder size (MB).
GOALS = {
    "news sentiment accuracy": (0.88, True),
    "topic accuracy": (0.91, True),
    "StockTwits ROC AUC": (0.90, True),
    "StockTwits balanced accuracy": (0.82, True),
    "encoder sparsity": (0.80, True),
    "folder MB": (25.0, False),
}
#: The metrics compared between PyTorch and the runtime by the export gate.
GATED = ("news sentiment accuracy", "topic accuracy", "StockTwits balanced accuracy")
BEAR, BULL = HEADS["sentiment"].index("Bearish"), HEADS["sentiment"].index("Bullish")


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    score = np.asarray(score, dtype=np.float64)
    positive = np.asarray(positive).astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), dtype=np.float64)
    sorted_scores = score[order]
    i = 0
    while i < len(score):  # average ranks over ties
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def chatter_metrics(sentiment_logits: np.ndarray, tags: np.ndarray) -> dict:
    """StockTwits: AUC of p(Bullish) − p(Bearish) against the tags (0 Bearish, 1 Bullish), balanced
    accuracy of the Bullish-vs-Bearish decision, its 2×2 confusion, and how often the 3-way
    argmax says Neutral (which the tags cannot score)."""
    p = softmax(sentiment_logits)
    bull = tags == 1
    decision = (sentiment_logits[:, BULL] > sentiment_logits[:, BEAR]).astype(np.int64)
    cm = np.zeros((2, 2), dtype=np.int64)
    np.add.at(cm, (tags, decision), 1)
    recall = [cm[i, i] / cm[i].sum() if cm[i].sum() else 0.0 for i in range(2)]
    argmax = sentiment_logits.argmax(1)
    return {
        "roc_auc": roc_auc(p[:, BULL] - p[:, BEAR], bull),
        "balanced_accuracy": float(np.mean(recall)),
        "accuracy": float((decision == tags).mean()) if len(tags) else float("nan"),
        "recall": {CHATTER_LABELS[i]: float(r) for i, r in enumerate(recall)},
        "confusion": cm.tolist(),
        "neutral_share": float((argmax == HEADS["sentiment"].index("Neutral")).mean()) if len(tags) else 0.0,
        "n": int(len(tags)),
        "majority_baseline": float(max(bull.mean(), 1 - bull.mean())) if len(tags) else float("nan"),
    }


def score_logits(logits: dict[str, dict[str, np.ndarray]], labels: dict[str, np.ndarray]) -> dict:
    """Per source: the metrics of its head. logits[source][head] (PyTorch or runtime), labels[source]:
    ids of the head's labels (StockTwits: 0 Bearish, 1 Bullish)."""
    out = {}
    for source, y in labels.items():
        head = SOURCES[source].head
        lg = logits[source][head]
        out[source] = chatter_metrics(lg, y) if source == "stocktwits" else metrics(lg.argmax(1), y, HEADS[head])
    return out


def headline(scores: dict) -> dict[str, float]:
    """The four accuracy goals' figures from score_logits' result."""
    out = {}
    if "news_sentiment" in scores:
        out["news sentiment accuracy"] = scores["news_sentiment"]["accuracy"]
    if "news_topic" in scores:
        out["topic accuracy"] = scores["news_topic"]["accuracy"]
    if "stocktwits" in scores:
        out["StockTwits ROC AUC"] = scores["stocktwits"]["roc_auc"]
        out["StockTwits balanced accuracy"] = scores["stocktwits"]["balanced_accuracy"]
    return out


def load_valid_splits(news_dir: Path | None = None, stocktwits_dir: Path | None = None, limit: int | None = None) -> dict[str, Split]:
    """The three validation splits (the first `limit` rows of each when given)."""
    news_dir = news_dir or default_data_dir()
    stocktwits_dir = stocktwits_dir or default_stocktwits_dir()
    out = {}
    for name, spec in SOURCES.items():
        split = load_split((news_dir if spec.folder == "news" else stocktwits_dir) / spec.valid, spec.labels)
        if limit is not None and limit < len(split):
            split = Split(split.path, split.sha256, split.texts[:limit], split.labels[:limit])
        out[name] = split
    return out


def runtime_scores(folder: Path, splits: dict[str, Split], engines: list[str]) -> dict:
    """{engine: {"scores": score_logits(...), "headline": {...}, "tweets_per_second": ...}} for a folder
    with a head per task, every split through each engine (one backend per engine)."""
    from .evaluate import engine_outputs

    names = list(splits)
    labels = {n: np.asarray([HEADS[SOURCES[n].head].index(SOURCES[n].labels[i]) for i in splits[n].labels])
              for n in names}
    # StockTwits labels stay 0 Bearish / 1 Bullish (chatter_metrics), the same ids as in the head.
    result = {}
    for eng in engines:
        outs, secs = engine_outputs(folder, [splits[n].texts for n in names], eng)
        logits = {n: {h: o[OUTPUTS[h]] for h in HEADS} for n, o in zip(names, outs)}
        scores = score_logits(logits, labels)
        rows = sum(len(splits[n]) for n in names)
        result[eng] = {"scores": scores, "headline": headline(scores),
                       "tweets_per_second": rows / secs if secs else None}
        log(f"{folder.name} via {eng}: " + ", ".join(f"{k} {v:.4f}" for k, v in result[eng]["headline"].items()))
    return result


def folder_facts(folder: Path) -> dict:
    """Sparsity and int8 of the exported file, and the folder's size."""
    from .export import onnx_encoder_sparsity, onnx_stats

    onnx_path = folder / "model.onnx"
    stats = onnx_stats(onnx_path)
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    return {"encoder sparsity": onnx_encoder_sparsity(onnx_path), "int8": bool(stats["int8_matrices"]),
            "int8_matrices": stats["int8_matrices"], "quantized_ops": stats["quantized_ops"],
            "onnx": stats, "folder MB": size / 1e6}


def goal_rows(head: dict[str, float], facts: dict) -> list[tuple[str, float, float, bool]]:
    """(name, value, goal, met) for every goal that has a value."""
    values = {**head, "encoder sparsity": facts.get("encoder sparsity"), "folder MB": facts.get("folder MB")}
    rows = []
    for name, (goal, higher) in GOALS.items():
        v = values.get(name)
        if v is None:
            continue
        rows.append((name, v, goal, bool(v >= goal) if higher else bool(v <= goal)))
    return rows


def fmt_goal(name: str, value: float, goal: float) -> tuple[str, str]:
    if name == "folder MB":
        return f"{value:.1f} MB", f"≤ {goal:.0f} MB"
    if "AUC" in name:
        return f"{value:.4f}", f"≥ {goal:.2f}"
    return f"{100 * value:.2f}%", f"≥ {100 * goal:.1f}%"


def confusion_png(cm, rows: list[str], cols: list[str], title: str, path: Path) -> Path:
    """A confusion matrix as a PNG: cells shaded by the share of their row, counts written in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=np.int64)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    big = len(cols) > 6
    fig, ax = plt.subplots(figsize=(11, 9.5) if big else (4.6, 3.8), dpi=80 if big else 100)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(cols)), cols, rotation=60 if big else 0, ha="right" if big else "center", fontsize=8 if big else 9)
    ax.set_yticks(range(len(rows)), rows, fontsize=8 if big else 9)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7 if big else 9,
                        color="white" if share[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_pictures(folder: Path, scores: dict, engine: str) -> dict[str, str]:
    """The three confusion matrices as PNGs in the model folder; {source: file name}."""
    files = {}
    if "news_sentiment" in scores:
        lab = HEADS["sentiment"]
        files["news_sentiment"] = confusion_png(scores["news_sentiment"]["confusion"], lab, lab,
                                                f"news sentiment ({engine})", folder / "confusion_sentiment.png").name
    if "news_topic" in scores:
        lab = HEADS["topic"]
        files["news_topic"] = confusion_png(scores["news_topic"]["confusion"], lab, lab, f"topic ({engine})",
                                            folder / "confusion_topic.png").name
    if "stocktwits" in scores:
        files["stocktwits"] = confusion_png(scores["stocktwits"]["confusion"], CHATTER_LABELS, CHATTER_LABELS,
                                            f"StockTwits tags vs decision ({engine})", folder / "confusion_stocktwits.png").name
    return files


def print_report(folder: Path, runtime: dict, facts: dict, file=None) -> None:
    """What `finterm-train eval` prints for a folder with a head per task."""
    import sys

    file = file or sys.stdout
    for eng, r in runtime.items():
        print(f"{folder}: {eng} ({r['tweets_per_second'] or 0:.0f} tweets/s over the three validation splits)", file=file)
        s = r["scores"]
        if "news_sentiment" in s:
            m = s["news_sentiment"]
            print(f"  news sentiment: accuracy {m['accuracy']:.2%}  macro-F1 {m['macro_f1']:.2%}  ({m['n']} rows)", file=file)
        if "news_topic" in s:
            m = s["news_topic"]
            print(f"  topic:          accuracy {m['accuracy']:.2%}  macro-F1 {m['macro_f1']:.2%}  ({m['n']} rows)", file=file)
        if "stocktwits" in s:
            m = s["stocktwits"]
            print(f"  StockTwits:     ROC AUC {m['roc_auc']:.4f}  balanced accuracy {m['balanced_accuracy']:.2%}  "
                  f"(Bearish recall {m['recall']['Bearish']:.2%}, Bullish {m['recall']['Bullish']:.2%}; "
                  f"argmax Neutral on {m['neutral_share']:.1%}; {m['n']} rows)", file=file)
        print(f"  goals ({eng}):", file=file)
        for name, v, goal, met in goal_rows(r["headline"], facts):
            value, want = fmt_goal(name, v, goal)
            print(f"    {'PASS' if met else 'MISS'}  {name:<30} {value:>9}  (goal {want})", file=file)
    print(f"  int8: {'yes' if facts['int8'] else 'NO'} ({facts['int8_matrices']} int8 weight matrices; "
          f"quantized ops {facts['quantized_ops']})", file=file)
