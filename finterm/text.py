"""The one text rule: cleaning, cashtags, model text and display text, for sources, scorer, screen and training.

Text is untrusted: entities are unescaped once, and control characters (terminal escape
sequences included) are replaced so nothing downstream can be steered by them.
"""

from __future__ import annotations

import html
import re

URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
# A cashtag: `$` then 1-6 letters, optionally a class suffix (.B), not preceded by a word
# character or `$`, and not followed by a word character or `$`. `$5`, `$1.2M` fail the
# letter-first rule.
CASHTAG_RE = re.compile(r"(?<![\w$])\$([A-Za-z]{1,6}(?:[._][A-Za-z]{1,2})?)(?![\w$])")
# C0 controls except tab/newline, DEL, C1 controls, zero-width characters and marks, bidi
# overrides/isolates, and the BOM: what could hide text or steer a terminal.
CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES_RE = re.compile(r"\s+")
# What may go into a click action on screen: a ticker's characters only.
_TICKER_OK_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,11}$")


def clean_text(raw: str) -> str:
    """Unescape HTML entities once and neutralize control characters (ESC included)."""
    text = html.unescape(raw)
    return CONTROL_RE.sub(" ", text)


def model_text(text: str) -> str:
    """The text the classifier sees: URLs cut to their host so link paths cost no tokens.

    Links stay visible in the displayed text; to the model a link is only its host
    (`https://t.co/AbC123` -> `https://t.co`), the same in training and at run time.
    """
    return URL_RE.sub(lambda m: _url_host(m.group(0)), text)


def _url_host(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme.lower()}://{rest.split('/', 1)[0].split('?', 1)[0]}"


def parse_cashtags(text: str) -> tuple[str, ...]:
    """Upper-case cashtags in order of first appearance, without `$`; URLs are skipped."""
    seen: dict[str, None] = {}
    for m in CASHTAG_RE.finditer(URL_RE.sub(" ", text)):
        seen.setdefault(m.group(1).upper(), None)
    return tuple(seen)


def word_count(text: str) -> int:
    """Words in a tweet, URLs not counted."""
    return len(URL_RE.sub(" ", text).split())


def normalize_ticker(raw: object) -> str:
    """`$aapl ` -> `AAPL`: the one ticker cleanup (entities, watchlists, filters, rules)."""
    return str(raw).strip().lstrip("$").strip().upper()


def normalize_tickers(tickers) -> tuple[str, ...]:
    """Upper-case, `$`-less, de-duplicated tickers from entities, a `symbols` column or a
    watchlist (a list, or one string of words separated by spaces or commas)."""
    if isinstance(tickers, str):
        tickers = tickers.replace(",", " ").split()
    return tuple(dict.fromkeys(t for t in map(normalize_ticker, tickers or ()) if t))


def ticker_ok(ticker: str) -> bool:
    """Whether a ticker is tame enough to put in a click action on screen."""
    return bool(_TICKER_OK_RE.match(ticker))


def one_line(s: object, limit: int | None = None) -> str:
    """Display text: control/escape/bidi characters replaced, whitespace collapsed, cut at `limit`."""
    out = _SPACES_RE.sub(" ", CONTROL_RE.sub(" ", str(s))).strip()
    if limit is not None and len(out) > limit:
        out = out[: max(limit - 1, 0)] + "…"
    return out
