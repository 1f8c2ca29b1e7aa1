"""training/extra.py on tiny real files: dedup by id, no validation leaks, a stable held-back part,
weights; and a smoke run that trains a tiny BERT with the corrections mixed in."""

from __future__ import annotations

import csv
import os
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from finterm.store.labels import Correction, LabelStore
from finterm.training.data import SENTIMENT_LABELS, DataError, Split
from finterm.training.extra import load_extra, mix, replicate, report

T0 = datetime(2026, 1, 15, 9, 30, tzinfo=timezone.utc)


def split(rows: list[tuple[str, int]], name: str = "x.csv") -> Split:
    return Split(path=Path(name), sha256=name, texts=[t for t, _ in rows], labels=np.asarray([y for _, y in rows], dtype=np.int64))


def fix(i, label, text, task="sentiment", minutes=0) -> Correction:
    return Correction(id=str(i), task=task, label=label, text=text, time=T0 + timedelta(minutes=minutes))


@pytest.fixture
def labels_file(tmp_path) -> Path:
    path = tmp_path / "labels.parquet"
    store = LabelStore(path)
    store.put([fix(i, ("Bearish", "Bullish", "Neutral")[i % 3], f"$XYZ tweet number {i} &amp; more") for i in range(30)])
    store.put([fix(1, "Neutral", "$XYZ tweet number 1 &amp; more", minutes=5)])  # replaces id 1
    store.put([fix(99, "Bullish", "in the validation split")])  # must not leak
    store.put([fix(3, "IPO", "$XYZ tweet number 3 &amp; more", task="topic")])
    return path


VALID = split([("in the validation split", 1), ("another valid row", 0)], "valid.csv")


def test_dedup_by_id_no_leaks_other_tasks_ignored(labels_file):
    ex = load_extra(labels_file, "sentiment", SENTIMENT_LABELS, VALID)
    texts = ex.train.texts + ex.heldout.texts
    assert len(texts) == 30 and len(set(texts)) == 30
    assert "in the validation split" not in texts and ex.leaks == 1
    assert ex.other_tasks == 1
    assert "$XYZ tweet number 7 & more" in texts  # clean_text, as training and run time
    both = dict(zip(ex.train.texts, ex.train.labels.tolist())) | dict(zip(ex.heldout.texts, ex.heldout.labels.tolist()))
    assert both["$XYZ tweet number 1 & more"] == SENTIMENT_LABELS.index("Neutral")  # the later correction
    assert 1 <= len(ex.heldout) <= 15
    assert "30 sentiment corrections" in ex.summary()


def test_held_back_part_is_stable_and_texts_never_straddle(labels_file, tmp_path):
    a = load_extra(labels_file, "sentiment", SENTIMENT_LABELS, VALID)
    b = load_extra(labels_file, "sentiment", SENTIMENT_LABELS, VALID)
    assert a.heldout.texts == b.heldout.texts and a.train.texts == b.train.texts
    # the same text under another id: on the same side as its twin
    store = LabelStore(labels_file)
    twin = a.heldout.texts[0]
    store.put([fix(500, "Bearish", twin)])
    c = load_extra(labels_file, "sentiment", SENTIMENT_LABELS, VALID)
    assert twin not in c.train.texts and c.heldout.texts.count(twin) == 2
    assert set(a.heldout.texts) <= set(c.heldout.texts)  # more corrections never move old ones across


def test_a_few_rows_still_hold_one_back(tmp_path):
    path = tmp_path / "few.parquet"
    LabelStore(path).put([fix(1, "Bullish", "one"), fix(2, "Bearish", "two"), fix(3, "Neutral", "three")])
    ex = load_extra(path, "sentiment", SENTIMENT_LABELS, VALID)
    assert len(ex.heldout) >= 1 and len(ex.train) + len(ex.heldout) == 3


def test_mix_weights_supersedes_base_rows_and_replicates(labels_file):
    ex = load_extra(labels_file, "sentiment", SENTIMENT_LABELS, VALID, weight=2.0)
    held, trained = ex.heldout.texts[0], ex.train.texts[0]
    base = split([("plain base row", 2), (held, 0), (trained, 0), ("another base row", 1)], "train.csv")
    mixed, w = mix(base, ex)
    assert held not in mixed.texts  # a held-back text is never trained on
    assert mixed.texts.count(trained) == 1  # the correction replaced the base row's label
    assert mixed.texts[:2] == ["plain base row", "another base row"]
    assert len(mixed) == 2 + len(ex.train) and w.tolist() == [1.0, 1.0] + [2.0] * len(ex.train)
    assert mixed.sha256 != base.sha256
    rep = replicate(base, ex)
    assert len(rep) == 2 + 2 * len(ex.train) and rep.texts.count(trained) == 2


def test_exported_text_label_files_work_too(tmp_path):
    path = tmp_path / "out.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows([("a tweet", "bullish"), ("a tweet", "Bearish"), ("b tweet", "Neutral"), ("c tweet", "Neutral")])
    ex = load_extra(path, "sentiment", SENTIMENT_LABELS, VALID)
    got = dict(zip(ex.train.texts + ex.heldout.texts, (ex.train.labels.tolist() + ex.heldout.labels.tolist())))
    assert got == {"a tweet": 0, "b tweet": 2, "c tweet": 2} and ex.duplicates == 1


def test_bad_input_says_what(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,label\nhello,Sideways\n")
    with pytest.raises(DataError, match="Sideways"):
        load_extra(path, "sentiment", SENTIMENT_LABELS, VALID)
    path.write_text("tweet,label\nhello,Bullish\n")
    with pytest.raises(DataError, match="column 'text'"):
        load_extra(path, "sentiment", SENTIMENT_LABELS, VALID)
    with pytest.raises(DataError):
        load_extra(path, "sentiment", SENTIMENT_LABELS, VALID, holdout=1.0)


def test_report_table():
    out = report({"validation": (200, 0.81, 0.8), "held-back corrections": (12, 0.5, 0.75)})
    lines = out.splitlines()
    assert "before" in lines[0] and "after" in lines[0]
    assert lines[1].startswith("validation (200)") and "0.8100" in lines[1] and "-0.0100" in lines[1]
    assert "held-back corrections (12)" in lines[2] and "+0.2500" in lines[2]
    assert "–" in report({"held-back corrections": (0, None, None)})


# -- smoke: a tiny BERT trained with and without the corrections ------------------------------
WORDS = {
    "Bearish": ["falls", "plunges", "downgrade", "misses"],
    "Bullish": ["rises", "soars", "upgrade", "beats"],
    "Neutral": ["reports", "announces", "schedules", "files"],
}
#: The user's own slang, which the base data never shows.
SLANG = {"Bearish": ["rekt", "bagholding"], "Bullish": ["mooning", "tendies"], "Neutral": ["sideways", "meh"]}


def _rows(words, n, seed, prefix="stock"):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = SENTIMENT_LABELS[i % 3]
        out.append((f"${rng.choice(['AAPL', 'TSLA', 'NVDA'])} {prefix} {rng.choice(words[label])} {i}", label))
    return out


@pytest.mark.train
def test_training_with_extra_on_a_few_rows(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification

    from finterm.training.data import encode, load_split, load_tokenizer, pad_id
    from finterm.training.teacher import train_teacher

    torch.set_num_threads(1)
    base_rows, valid_rows = _rows(WORDS, 30, 1), _rows(WORDS, 15, 2)
    for name, rows in (("train.csv", base_rows), ("valid.csv", valid_rows)):
        with open(tmp_path / name, "w", newline="") as f:
            csv.writer(f).writerows([("text", "label"), *rows])
    store = LabelStore(tmp_path / "labels.parquet")
    store.put([fix(i, lab, text) for i, (text, lab) in enumerate(_rows(SLANG, 24, 3, prefix="lol"))])

    backbone = tmp_path / "backbone"
    backbone.mkdir()
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    every = [t for t, _ in base_rows + valid_rows + _rows(SLANG, 24, 3, prefix="lol")]
    tok.train_from_iterator(every, trainers.WordPieceTrainer(vocab_size=120, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    tok.save(str(backbone / "tokenizer.json"))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertForSequenceClassification(cfg).save_pretrained(str(backbone))

    train = load_split(tmp_path / "train.csv", SENTIMENT_LABELS)
    valid = load_split(tmp_path / "valid.csv", SENTIMENT_LABELS)
    extra = load_extra(tmp_path / "labels.parquet", "sentiment", SENTIMENT_LABELS, valid, holdout=0.25)
    assert len(extra.heldout) >= 3

    def fit(tr: Split, out: str) -> tuple[float, float]:
        summary = train_teacher(backbone, tmp_path / out, tr, valid, SENTIMENT_LABELS, 32, epochs=8, lr=3e-3,
                                batch_size=8, freeze_embeddings=False)
        from finterm.training.backbone import load_classifier

        model = load_classifier(tmp_path / out, SENTIMENT_LABELS).eval()
        t = load_tokenizer(tmp_path / out, 32)
        from finterm.training.common import predict_logits

        logits = predict_logits(model, encode(t, extra.heldout.texts), pad_id(t), desc="held back")
        return summary["valid_accuracy"], float((logits.argmax(1) == extra.heldout.labels).mean())

    before = fit(train, "before")
    after = fit(replicate(train, extra), "after")
    print(report({"validation": (len(valid), before[0], after[0]),
                  "held-back corrections": (len(extra.heldout), before[1], after[1])}))
    assert after[1] > before[1]  # the slang was learned from the corrections only
    assert after[0] >= before[0] - 0.2  # and the standard split did not collapse
