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
# C0 controls except tab/newline, DEL, C1 controls, and bidi overrides/isolates.
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(raw: str) -> str:
    """Unescape HTML entities once and neutralize control characters (ESC included)."""
    text = html.unescape(raw)
    return _CONTROL_RE.sub(" ", text)


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


def normalize_tickers(tickers) -> tuple[str, ...]:
    """Upper-case, `$`-less, de-duplicated tickers from entities or a `symbols` column."""
    if isinstance(tickers, str):
        tickers = tickers.replace(",", " ").split()
    out: dict[str, None] = {}
    for t in tickers or ():
        t = str(t).strip().lstrip("$").upper()
        if t:
            out.setdefault(t, None)
    return tuple(out)
