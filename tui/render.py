"""Rich renderables built from untrusted tweet data: always Text objects, never markup.

Tweet text, authors and tickers are appended to `rich.text.Text` as plain strings (Rich does
not parse markup there), after control characters, escape sequences and bidi overrides are
replaced, so `[bold red]` shows as those characters and ESC never reaches the terminal.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.style import Style
from rich.text import Span, Text

from finterm.records import Scored
from finterm.text import CASHTAG_RE, one_line, ticker_ok

from .palette import GLYPH, SHORT, Palette, sentiment_color

TOPIC_SHORT = {
    "Analyst Update": "Analyst",
    "Fed | Central Banks": "Fed/CB",
    "Company | Product News": "Company",
    "Treasuries | Corporate Debt": "Treasuries",
    "Dividend": "Dividend",
    "Earnings": "Earnings",
    "Energy | Oil": "Energy/Oil",
    "Financials": "Financials",
    "Currencies": "Currencies",
    "General News | Opinion": "General",
    "Gold | Metals | Materials": "Metals",
    "IPO": "IPO",
    "Legal | Regulation": "Legal/Reg",
    "M&A | Investments": "M&A",
    "Macro": "Macro",
    "Markets": "Markets",
    "Politics": "Politics",
    "Personnel Change": "Personnel",
    "Stock Commentary": "Commentary",
    "Stock Movement": "Movement",
}


#: Display text is the one text rule's (finterm/text.py): the screen and the scorer agree.
safe = one_line


def short_topic(topic: str) -> str:
    return TOPIC_SHORT.get(topic, safe(topic, 12))


def click(action: str) -> Style:
    """A style that runs an app action on click (arguments must already be safe literals)."""
    return Style.from_meta({"@click": action})


#: The small mark a live source's posts carry on their feed line (replays and the demo have none).
SOURCE_MARKS = {"bluesky": "bsky", "stocktwits": "stwt", "x": "x", "x-stream": "x", "x-search": "x"}  # x-*: recordings made before the X source was named "x"


def source_mark(source: str) -> str:
    return SOURCE_MARKS.get(source, "")


def tweet_header(sc: Scored, p: Palette, show_scores: bool) -> Text:
    """One line: time, source mark, sentiment glyph and word, topic tag (clickable), author,
    the author's own tag (where the source has one), scores on demand."""
    tw = sc.tweet
    color = sentiment_color(p, sc.sentiment)
    sent = sc.sentiment if sc.sentiment in GLYPH else "Neutral"
    head = Text(no_wrap=True, overflow="ellipsis", end="")
    ts = tw.created_at.strftime("%H:%M:%S") if tw.created_at else "--:--:--"
    head.append(ts, style=p.muted)
    head.append(" ")
    mark = source_mark(tw.source)
    if mark:
        head.append(mark, style=Style(color=p.muted, bold=True))
        head.append(" ")
    head.append(f"{GLYPH[sent]} {SHORT[sent]}", style=Style(color=color, bold=True))
    if show_scores:
        head.append(f" {sc.sentiment_score:.0%}", style=color)
    head.append(" ")
    head.append(f" {short_topic(sc.topic)} ",
                style=Style(color=p.topic_fg, bgcolor=p.topic_bg) + click(f"app.filter_topic({sc.topic!r})"))
    if show_scores:
        head.append(f" {sc.topic_score:.0%}", style=p.muted)
    head.append("  ")
    head.append("@" + safe(tw.author, 24), style=Style(color=p.muted, italic=True))
    crowd = tw.crowd_sentiment
    if crowd in GLYPH:
        head.append("  crowd ", style=p.muted)
        head.append(f"{GLYPH[crowd]} {SHORT[crowd]}", style=sentiment_color(p, crowd))
    if show_scores and sc.batch_latency_ms:
        head.append(f"  {sc.batch_latency_ms:.0f} ms", style=p.muted)
    return head


def tweet_body(sc: Scored, body: str, p: Palette) -> Text:
    """The tweet's text (already `safe`), cashtags highlighted and clickable."""
    text = Text(body, end="")
    tickers = set(sc.tweet.tickers)
    for m in CASHTAG_RE.finditer(body):
        t = m.group(1).upper()
        style = Style(color=p.ticker, bold=True)
        if ticker_ok(t) and (t in tickers or not tickers):
            style += click(f"app.filter_ticker({t!r})")
        text.stylize(style, m.start(), m.end())
    return text


_WORD = re.compile(r"\S+\s*")


def wrap_offsets(text: str, width: int) -> list[int]:
    """Where each line after the first starts, wrapping `text` greedily by words into `width` cells.

    Words longer than a line are folded. Cheap enough to lay out every tweet in the feed on
    each batch; the lines are only drawn (by `Text.divide` at these offsets) when on screen.
    """
    width = max(width, 1)
    breaks: list[int] = []
    col = 0
    for m in _WORD.finditer(text):
        word = m.group(0)
        core = word.rstrip()
        wlen = cell_len(core)
        if col and col + wlen > width:
            breaks.append(m.start())
            col = 0
        if wlen > width:  # fold a long word (a URL) over several lines
            start = m.start()
            pos = start
            for ch in core:
                w = cell_len(ch)
                if col + w > width:
                    breaks.append(pos)
                    col = 0
                col += w
                pos += 1
            col += len(word) - len(core)
        else:
            col += cell_len(word)
    return breaks


def _runs(chars: list[str], styles: list[str]) -> Text:
    """A Text from per-cell characters and styles, one span per run of equal style (fast)."""
    t = Text("".join(chars), no_wrap=True)
    spans = []
    start = 0
    for i in range(1, len(styles) + 1):
        if i == len(styles) or styles[i] != styles[start]:
            spans.append(Span(start, i, styles[start]))
            start = i
    t.spans = spans
    return t


def gauge(bull: int, bear: int, neutral: int, width: int, p: Palette) -> Text:
    """A bullish/bearish bar: bull share from the left, bear share from the right, neutral between."""
    total = bull + bear + neutral
    if not total:
        return Text("·" * width, style=p.muted, no_wrap=True)
    nb = round(width * bull / total)
    nr = round(width * bear / total)
    if bull and not nb:
        nb = 1
    if bear and not nr:
        nr = 1
    while nb + nr > width:
        if nb >= nr:
            nb -= 1
        else:
            nr -= 1
    nn = width - nb - nr
    return _runs(["█"] * nb + ["░"] * nn + ["█"] * nr, [p.bull] * nb + [p.neutral] * nn + [p.bear] * nr)


_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(series: list[tuple[int, int, int]], width: int, p: Palette) -> Text:
    """Net sentiment per time step: height is (bull - bear) / total, color its sign.

    The per-minute series is grouped into `width` columns (the counts of a column summed).
    """
    if not series or width <= 0:
        return Text(no_wrap=True)
    n = len(series)
    if n <= width:
        cols = series
    else:
        cols = []
        for i in range(width):
            bull = bear = neu = 0
            for c in series[i * n // width : (i + 1) * n // width]:
                bull += c[0]
                bear += c[1]
                neu += c[2]
            cols.append((bull, bear, neu))
    chars, styles = [], []
    for bull, bear, neu in cols:
        total = bull + bear + neu
        if not total:
            chars.append("·")
            styles.append(p.muted)
            continue
        net = (bull - bear) / total
        chars.append(_BLOCKS[min(7, max(0, round((net + 1) * 3.5)))])
        styles.append(p.bull if net > 0 else p.bear if net < 0 else p.neutral)
    return _runs(chars, styles)


def net_text(net: float, total: int, p: Palette) -> Text:
    if not total:
        return Text("  –  ", style=p.muted)
    color = p.bull if net > 0.05 else p.bear if net < -0.05 else p.neutral
    return Text(f"{net:+.2f}", style=color)
