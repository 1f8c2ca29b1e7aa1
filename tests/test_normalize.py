"""Text normalization and cashtag parsing, on real tweets from ../shared/data/replay/."""

from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from finterm.records import make_tweet, stable_id, to_utc
from finterm.text import clean_text, model_text, parse_cashtags, word_count

REPLAY_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "replay" / "stocknet_tweets_2014-10.csv"


@pytest.fixture(scope="module")
def replay_rows():
    if not REPLAY_CSV.exists():
        pytest.skip("../shared/data/replay is not beside the checkout")
    return pl.read_csv(REPLAY_CSV, infer_schema_length=0).to_dicts()


def _row(rows, tweet_id):
    return next(r for r in rows if r["id"] == tweet_id)


def test_cashtags_agree_with_the_datasets_symbols(replay_rows):
    same = sum(set(parse_cashtags(clean_text(r["text"]))) == set((r["symbols"] or "").split()) for r in replay_rows)
    # The StockNet symbols column itself misses some tags (`($MSFT)'s`); 95% agreement is the floor.
    assert same / len(replay_rows) >= 0.95


def test_real_tweet_with_url_and_cashtag(replay_rows):
    r = _row(replay_rows, "517070131315236864")
    assert parse_cashtags(r["text"]) == ("FB",)
    assert "http://t.co/T0ySJ7losn" in clean_text(r["text"])  # URLs are kept in the text
    assert model_text(r["text"]).count("http://t.co") == 1
    assert "T0ySJ7losn" not in model_text(r["text"])


def test_real_tweet_entities_are_unescaped(replay_rows):
    r = next(r for r in replay_rows if "&amp;" in r["text"])
    assert "&amp;" not in clean_text(r["text"]) and "&" in clean_text(r["text"])


@pytest.mark.parametrize("text,expected", [
    ("$AAPL and $brk.b up", ("AAPL", "BRK.B")),
    ("made $5 on $1.2M of $TSLA", ("TSLA",)),
    ("$HQD.TO $ES_F futures", ("HQD.TO", "ES_F")),
    ("price $100 puts", ()),
    ("($MSFT)'s CEO", ("MSFT",)),
    ("no$TAG here, nor #$$%$D$%%", ()),
    ("dup $fb $FB", ("FB",)),
    ("link http://x.com/?s=$AAPL only", ()),
])
def test_cashtag_rules(text, expected):
    assert parse_cashtags(text) == expected


def test_control_characters_and_escape_sequences_are_neutralized():
    hostile = "\x1b[31mred\x1b[0m \x07bell [bold red]markup[/] \u202eevil"
    out = clean_text(hostile)
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "[bold red]markup[/]" in out  # markup stays literal text; the UI renders it as such


def test_word_count_ignores_urls():
    assert word_count("Buy $AAPL now https://t.co/abc http://x.y/z") == 3


def test_make_tweet_prefers_entity_tickers_and_coerces_utc():
    t = make_tweet(42, "2014-10-01T01:20:00Z", "bob", "$goog &amp; friends", tickers=["$msft", "MSFT"])
    assert t.id == "42" and t.tickers == ("MSFT",) and t.text == "$goog & friends"
    assert t.created_at == datetime(2014, 10, 1, 1, 20, tzinfo=timezone.utc)
    assert make_tweet(1, "2014-10-01T01:20:00", "a", "$goog up").tickers == ("GOOG",)


def test_to_utc_converts_offsets_and_stable_id_is_stable():
    assert to_utc("2014-10-01T03:20:00+02:00") == datetime(2014, 10, 1, 1, 20, tzinfo=timezone.utc)
    assert stable_id("a", 1) == stable_id("a", 1) != stable_id("a", 2)
