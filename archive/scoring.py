"""A chunk in, its output columns out: the app's text rules and classifier, column by column.

The text rules are the replay's (`make_tweet`: `clean_text`, tickers from `symbols` when the row
has them, else the cashtags of the clean text) and the classifier sees `model_text` of the clean
text, as `Classifier.score` does, so a row gets the label `finterm --replay FILE --headless`
gives it. Each distinct text is cleaned and scored once per chunk; the models run on batches of
texts of similar length; labels, scores and probabilities are numpy columns. The only per-row
Python is the text rules (regexes) and the time check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from finterm.sources.replay import parse_time
from finterm.text import clean_text, model_text, normalize_tickers, parse_cashtags

from .inputs import LINE, PRIVATE, REJECT, ROW, SYMBOLS, Chunk, Columns

TASKS = ("sentiment", "topic")
#: The columns every part adds to the input's, in this order.
OUTPUT_COLUMNS = ("tickers", "sentiment", "sentiment_score", "topic", "topic_score")
#: With --probs: one struct column per task, a field per label (the model folder's names).
PROB_COLUMNS = ("sentiment_probs", "topic_probs")
#: Distinct texts per classifier call: the progress bar moves and a stop is seen between calls.
SLICE_TEXTS = 256
#: Characters of a rejected row's text kept in _rejects.jsonl.
REJECT_TEXT_CHARS = 200
#: Joins a row's tickers while the column is built (a control character: never in a ticker).
_SEP = "\x1f"


def tweet_fields(text: str | None, symbols) -> tuple[str, tuple[str, ...]]:
    """(clean text, tickers) exactly as `finterm.records.make_tweet` makes them."""
    clean = clean_text(text or "")
    return clean, (normalize_tickers(symbols) if symbols else parse_cashtags(clean))


@dataclass
class ChunkResult:
    chunk: Chunk
    #: The scored rows: the input's columns, then OUTPUT_COLUMNS (and PROB_COLUMNS).
    frame: pl.DataFrame
    #: One dict per rejected row: file, row, line (JSONL), id, reason, text.
    rejects: list[dict]
    tickers: dict[str, int] = field(default_factory=dict)

    @property
    def read(self) -> int:
        return self.chunk.read

    @property
    def scored(self) -> int:
        return self.frame.height

    @property
    def rejected(self) -> int:
        return len(self.rejects)


def reject_reasons(frame: pl.DataFrame, columns: Columns) -> pl.Series:
    """Why each row cannot be scored (null where it can): the reader's reason, then no or empty
    text, then no or unreadable post time."""
    n = frame.height
    reasons = frame[REJECT] if REJECT in frame.columns else pl.Series(REJECT, [None] * n, dtype=pl.String)
    if columns.text in frame.columns:
        text = frame[columns.text].cast(pl.String)
        text_reason = (pl.when(text.is_null()).then(pl.lit(f"no {columns.text}"))
                       .when(text.str.strip_chars() == "").then(pl.lit(f"empty {columns.text}")))
        text_reason = frame.select(text_reason.otherwise(None).alias("r"))["r"] if n else pl.Series([], dtype=pl.String)
    else:
        text_reason = pl.Series([f"no {columns.text}"] * n, dtype=pl.String)
    reasons = reasons.fill_null(text_reason)
    reasons = reasons.fill_null(_time_reasons(frame, columns.time))
    return reasons.alias("reason")


def _time_reasons(frame: pl.DataFrame, col: str) -> pl.Series:
    n = frame.height
    if col not in frame.columns:
        return pl.Series([f"no {col}"] * n, dtype=pl.String)
    s = frame[col]
    if s.dtype.is_temporal():
        return pl.select(pl.when(s.is_null()).then(pl.lit(f"no {col}")).otherwise(pl.lit(None, dtype=pl.String))).to_series()
    # The replay's rule (ISO text, Twitter's format, epoch seconds or ms) for what polars' own
    # ISO parser does not take; most archives are ISO text, parsed here without a Python loop.
    fast = None
    if s.dtype == pl.String:
        try:
            fast = s.str.to_datetime(strict=False, time_zone="UTC")
        except Exception:  # noqa: BLE001 - a format polars cannot infer: every value goes the slow way
            fast = None
    slow_at = range(n) if fast is None else fast.is_null().arg_true().to_list()
    out: list[str | None] = [None] * n
    if slow_at:
        values = s.gather(list(slow_at)).to_list() if fast is not None else s.to_list()
        memo: dict[object, str | None] = {}
        for i, v in zip(slow_at, values):
            if v not in memo:
                memo[v] = (f"no {col}" if v is None or (isinstance(v, str) and not v.strip()) else
                           None if parse_time(v) is not None else f"{col} {str(v)[:40]!r} is not a timestamp")
            out[i] = memo[v]
    return pl.Series(out, dtype=pl.String)


def _jsonable(v):
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


class ChunkScorer:
    """Scores chunks with one classifier (built by `finterm.wiring.build_classifier`)."""

    def __init__(self, classifier, columns: Columns, probs: bool = False,
                 check_stop: Callable[[], None] | None = None, on_rows: Callable[[int], None] | None = None):
        self.classifier = classifier
        self.columns = columns
        self.probs = probs
        #: Raises `finterm.signals.Stopped` when a stop was asked for (between two slices).
        self.check_stop = check_stop or (lambda: None)
        self.on_rows = on_rows or (lambda n: None)
        self.labels = {task: list(classifier.models[task].labels) for task in TASKS}

    def score(self, chunk: Chunk) -> ChunkResult:
        cols = self.columns
        frame = chunk.frame
        reasons = reject_reasons(frame, cols)
        bad = reasons.is_not_null()
        rejects = self._rejects(chunk, frame.filter(bad), reasons.filter(bad)) if bad.any() else []
        ok = frame.filter(~bad)
        if rejects:
            self.on_rows(len(rejects))
        texts = ok[cols.text].cast(pl.String).to_list() if ok.height else []
        symbols = ok[SYMBOLS].to_list() if SYMBOLS in ok.columns else [None] * len(texts)

        cleaned: dict[str, str] = {t: clean_text(t) for t in dict.fromkeys(texts)}
        slot: dict[str, int] = {}  # model text -> its row in the probability arrays
        slot_of: dict[str, int] = {}  # raw text -> the same
        for t, c in cleaned.items():
            slot_of[t] = slot.setdefault(model_text(c), len(slot))
        model_texts = list(slot)
        probs = self._predict(model_texts, rows_per_text=len(texts) / max(1, len(model_texts)))
        which = np.fromiter((slot_of[t] for t in texts), dtype=np.int64, count=len(texts))
        tickers = self._tickers(texts, symbols, cleaned)

        out = ok.drop([c for c in (*PRIVATE, *OUTPUT_COLUMNS, *PROB_COLUMNS) if c in ok.columns])
        new = [tickers]
        for task in TASKS:
            p = probs[task][which]
            best = p.argmax(axis=1) if len(p) else np.zeros(0, dtype=np.int64)
            names = np.asarray(self.labels[task], dtype=object)
            new.append(pl.Series(task, names[best].tolist(), dtype=pl.String))
            new.append(pl.Series(f"{task}_score", p[np.arange(len(p)), best], dtype=pl.Float32))
        out = out.with_columns(new)
        if self.probs:
            for task in TASKS:
                p = probs[task][which]
                struct = pl.DataFrame({label: pl.Series(label, p[:, j], dtype=pl.Float32)
                                       for j, label in enumerate(self.labels[task])}).to_struct(f"{task}_probs")
                out = out.with_columns(struct)
        counts = tickers.explode().drop_nulls().value_counts()
        return ChunkResult(chunk, out, rejects, dict(zip(counts[:, 0].to_list(), counts[:, 1].to_list())))

    @staticmethod
    def _tickers(texts: list[str], symbols: list, cleaned: dict[str, str]) -> pl.Series:
        """The tickers column: each row's `symbols` when it has some, else its cashtags (the
        replay's rule), built as joined text and split by polars (a list per row is slow)."""
        by_symbols: dict[object, str] = {}
        by_text: dict[str, str] = {}
        joined = []
        for t, sym in zip(texts, symbols):
            if sym:
                key = tuple(sym) if isinstance(sym, list) else sym
                j = by_symbols.get(key)
                if j is None:
                    j = by_symbols[key] = _SEP.join(normalize_tickers(sym))
            else:
                j = by_text.get(t)
                if j is None:
                    j = by_text[t] = _SEP.join(parse_cashtags(cleaned[t]))
            joined.append(j)
        s = pl.Series("tickers", joined, dtype=pl.String)
        return pl.select(pl.when(s == "").then(pl.lit([], dtype=pl.List(pl.String)))
                         .otherwise(s.str.split(_SEP)).alias("tickers")).to_series()

    def _predict(self, texts: list[str], rows_per_text: float) -> dict[str, np.ndarray]:
        """Probabilities per task, slice by slice in order of length (batches pad little), with a
        stop check and a progress report between slices."""
        out = {task: np.empty((len(texts), len(self.labels[task])), dtype=np.float32) for task in TASKS}
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), SLICE_TEXTS):
            self.check_stop()
            idx = order[start : start + SLICE_TEXTS]
            got = self.classifier.predict([texts[i] for i in idx])
            for task in TASKS:
                out[task][idx] = got[task]
            self.on_rows(round(len(idx) * rows_per_text))
        return out

    def _rejects(self, chunk: Chunk, rows: pl.DataFrame, reasons: pl.Series) -> list[dict]:
        cols = self.columns
        ids = rows[cols.id].to_list() if cols.id in rows.columns else [None] * rows.height
        texts = rows[cols.text].cast(pl.String).to_list() if cols.text in rows.columns else [None] * rows.height
        path = str(chunk.file.path)
        out = []
        for row, line, rid, text, reason in zip(rows[ROW].to_list(), rows[LINE].to_list(), ids, texts, reasons.to_list()):
            rec = {"file": path, "row": row}
            if line is not None:
                rec["line"] = line
            rec["id"] = _jsonable(rid)
            rec["reason"] = reason
            rec["text"] = None if text is None else text[:REJECT_TEXT_CHARS]
            out.append(rec)
        return out
