"""`--demo`: a seeded market simulator that writes realistic finance tweets.

A random walk of prices for a universe of tickers, background chatter over the 20 topics,
and news events: a headline about one company (earnings, an upgrade, a deal, a lawsuit...)
with a clear tone, followed by a burst of tweets about that ticker in the same tone while
its price moves the same way. Everything but the pacing is a pure function of the seed
(`DemoMarket`), so tests and demos are repeatable; `DemoSource` plays it in real time.
"""

from __future__ import annotations

import math
import random
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterator

from finterm.records import SourceStatus, make_tweet

from ..base import Emit, StatusFn
from . import phrases as V

#: Mean seconds (simulated) between news events, their burst length and extra tweet rate.
EVENT_EVERY_S = 75.0
BURST_S = (15.0, 45.0)
BURST_RATE_FACTOR = 1.2
#: Chance that a burst tweet carries the event's tone (the rest are neutral takes).
BURST_TONE_SHARE = 0.85


@dataclass
class Event:
    """A piece of news about one ticker: its tone holds for the whole burst."""

    ticker: str
    topic: str
    tone: str
    start: float
    end: float
    move_pct: float


@dataclass(frozen=True)
class DemoTweet:
    t: float  # simulated seconds since the start
    n: int
    author: str
    text: str
    topic: str  # what the generator meant (for tests and curiosity)
    tone: str
    headline: bool = False  # the news that starts an event


@dataclass
class DemoMarket:
    """Generates DemoTweets in time order from a seed; `rate` is background tweets per second."""

    seed: int = 0
    rate: float = 4.0
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        r = self.rng
        self.companies = {t: (name, sector) for t, name, sector, _ in V.UNIVERSE}
        self.tickers = [t for t, *_ in V.UNIVERSE]
        self.weights = [w for *_, w in V.UNIVERSE]
        self.open = {t: round(r.uniform(15, 600), 2) for t in self.tickers}
        self.price = dict(self.open)
        self.oil, self.gold, self.ten = r.uniform(60, 95), r.uniform(1800, 2600), r.uniform(3.5, 4.9)
        self.authors = [r.choice(V.HANDLE_A) + r.choice(V.HANDLE_B) + r.choice(("", "", str(r.randint(1, 99))))
                        for _ in range(150)]
        self.events: list[Event] = []

    # -- the market -------------------------------------------------------------------------
    def change_pct(self, ticker: str) -> float:
        return (self.price[ticker] / self.open[ticker] - 1.0) * 100.0

    def _drift(self, dt: float) -> None:
        r = self.rng
        sd = 0.0015 * math.sqrt(max(dt, 1e-3))
        for t in self.tickers:
            self.price[t] *= math.exp(r.gauss(0.0, sd))
        for ev in self.events:  # news moves its stock towards the event's target, gradually
            tgt = self.open[ev.ticker] * (1 + ev.move_pct / 100.0)
            self.price[ev.ticker] += (tgt - self.price[ev.ticker]) * min(1.0, dt / 8.0)
        self.oil *= math.exp(r.gauss(0, sd))
        self.gold *= math.exp(r.gauss(0, sd))
        self.ten = min(6.0, max(2.0, self.ten + r.gauss(0, sd * 3)))

    def _new_event(self, now: float) -> Event:
        r = self.rng
        ticker = r.choices(self.tickers, self.weights)[0]
        tone = r.choices((V.BULL, V.BEAR, V.NEUTRAL), (0.45, 0.42, 0.13))[0]
        move = {V.BULL: r.uniform(3, 14), V.BEAR: -r.uniform(3, 16), V.NEUTRAL: r.uniform(-1, 1)}[tone]
        self.open[ticker] = self.price[ticker]  # the move is measured from the news
        return Event(ticker, r.choice(V.EVENT_TOPICS), tone, now, now + r.uniform(*BURST_S), move)

    # -- the text ---------------------------------------------------------------------------
    def _fill(self, template: str, ticker: str | None, tone: str) -> str:
        r = self.rng
        t = ticker or r.choices(self.tickers, self.weights)[0]
        others = [x for x in self.tickers if x != t]
        t2 = r.choice(others)
        name, sector = self.companies[t]
        price = self.price[t]
        pct = abs(self.change_pct(t))
        if pct < 0.3:
            pct = r.uniform(0.5, 4.0)
        est = round(r.uniform(0.3, 6.0), 2)
        eps = round(est * (r.uniform(1.03, 1.25) if tone == V.BULL else r.uniform(0.7, 0.97) if tone == V.BEAR
                           else r.uniform(0.99, 1.01)), 2)
        tgt_mult = r.uniform(1.1, 1.45) if tone == V.BULL else r.uniform(0.6, 0.9) if tone == V.BEAR else r.uniform(0.95, 1.1)
        idx = r.choice(V.INDEXES)
        values = {
            "t": f"${t}", "name": name, "t2": f"${t2}", "name2": r.choice(V.IPO_NAMES) if "IPO" in template or r.random() < 0.3
            else self.companies[t2][0], "sector": sector.lower(), "price": f"{price:,.2f}", "pct": f"{pct:.1f}",
            "firm": r.choice(V.FIRMS), "target": f"{price * tgt_mult:,.0f}", "q": f"Q{r.randint(1, 4)}",
            "eps": f"{eps:.2f}", "est": f"{est:.2f}", "rev": f"{r.uniform(0.4, 120):.1f}B",
            "div": f"{r.uniform(0.1, 2.5):.2f}", "yld": f"{r.uniform(0.8, 6.5):.1f}", "amt": f"{r.uniform(0.5, 70):.1f}",
            "role": r.choice(V.ROLES), "person": r.choice(V.PEOPLE), "bps": r.choice((25, 50, 75)),
            "oil": f"{self.oil:.2f}", "gold": f"{self.gold:,.0f}", "ten": f"{self.ten:.2f}",
            "pair": r.choice(V.FX_PAIRS), "fx": f"{r.uniform(0.6, 1.6):.4f}", "idx": f"${idx}",
            "tlt": f"${r.choice(V.TREASURY)}", "gold_t": f"${r.choice(V.GOLD)}", "oil_t": f"${r.choice(V.OIL)}",
            "product": r.choice(V.PRODUCTS), "regulator": r.choice(V.REGULATORS),
        }
        text = template.format(**values)
        return text[0].upper() + text[1:]

    def _suffix(self, tone: str) -> str:
        r = self.rng
        pool = V.SUFFIXES + (V.BULL_SUFFIXES if tone == V.BULL else V.BEAR_SUFFIXES if tone == V.BEAR else ())
        s = r.choice(pool)
        if "{link}" in s:
            s = s.format(link="".join(r.choices(string.ascii_letters + string.digits, k=10)))
        return s

    def _tweet(self, now: float, n: int, topic: str, tone: str, ticker: str | None, headline: bool = False,
               author: str | None = None) -> DemoTweet:
        r = self.rng
        if topic in V.TOPIC_SECTORS and (ticker is None or self.companies[ticker][1] not in V.TOPIC_SECTORS[topic]):
            ticker = r.choice([t for t in self.tickers if self.companies[t][1] in V.TOPIC_SECTORS[topic]])
        if topic == "Stock Movement" and ticker is not None:
            ch = self.change_pct(ticker)  # movement tweets agree with the price
            tone = V.BULL if ch > 0.4 else V.BEAR if ch < -0.4 else V.NEUTRAL
        text = self._fill(r.choice(V.TEMPLATES[topic][tone]), ticker, tone)
        text += "" if headline else self._suffix(tone)
        return DemoTweet(now, n, author or r.choice(self.authors), text, topic, tone, headline)

    # -- the stream -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[DemoTweet]:
        r = self.rng
        now, n = 0.0, 0
        next_event = r.expovariate(1.0 / EVENT_EVERY_S) * 0.25  # the first news comes soon
        topics, tw = list(V.TOPIC_WEIGHTS), list(V.TOPIC_WEIGHTS.values())
        while True:
            self.events = [e for e in self.events if e.end > now]
            total_rate = self.rate * (1.0 + BURST_RATE_FACTOR * len(self.events))
            dt = r.expovariate(total_rate)
            if now + dt >= next_event:  # the news comes first
                self._drift(next_event - now)
                now = next_event
                ev = self._new_event(now)
                self.events.append(ev)
                next_event = now + r.expovariate(1.0 / EVENT_EVERY_S)
                yield self._tweet(now, n, ev.topic, ev.tone, ev.ticker, True, r.choice(V.NEWS_DESKS))
                n += 1
                continue
            self._drift(dt)
            now += dt
            share = BURST_RATE_FACTOR * len(self.events) / (1.0 + BURST_RATE_FACTOR * len(self.events))
            if self.events and r.random() < share:
                ev = r.choice(self.events)
                tone = ev.tone if r.random() < BURST_TONE_SHARE else V.NEUTRAL
                topic = r.choice(V.REACTION_TOPICS + (ev.topic,))
                yield self._tweet(now, n, topic, tone, ev.ticker)
            else:
                topic = r.choices(topics, tw)[0]
                tone = r.choices((V.BULL, V.BEAR, V.NEUTRAL), (0.32, 0.26, 0.42))[0]
                ticker = r.choices(self.tickers, self.weights)[0] if topic in _COMPANY_TOPICS else None
                yield self._tweet(now, n, topic, tone, ticker)
            n += 1


_COMPANY_TOPICS = frozenset({"Analyst Update", "Earnings", "Company | Product News", "Dividend", "Financials",
                             "Legal | Regulation", "M&A | Investments", "Personnel Change", "Stock Commentary",
                             "Stock Movement", "Treasuries | Corporate Debt"})


class DemoSource:
    """Plays a DemoMarket in real time (times `speed`; None = as fast as possible)."""

    name = "demo"

    def __init__(self, seed: int | None = None, rate: float = 4.0, limit: int | None = None,
                 speed: float | None = 1.0, start: datetime | None = None):
        self.seed = seed if seed is not None else random.SystemRandom().randrange(1, 1_000_000)
        self.rate = rate
        self.limit = limit
        self.speed_factor = speed
        self.start = start

    def describe(self) -> str:
        lim = f", {self.limit:,} tweets" if self.limit else ""
        return f"demo market (seed {self.seed}, {self.rate:g}/s{lim})"

    def tweets(self) -> Iterator:
        """(simulated seconds, Tweet) pairs; created_at = start + simulated time."""
        start = self.start or datetime.now(timezone.utc)
        for i, d in enumerate(DemoMarket(self.seed, self.rate)):
            if self.limit is not None and i >= self.limit:
                return
            yield d.t, make_tweet(f"demo-{self.seed}-{d.n}", start + timedelta(seconds=d.t), d.author, d.text,
                                  source="demo")

    def run(self, emit: Emit, status: StatusFn, stop: threading.Event) -> None:
        status(SourceStatus("live", self.describe(), total=self.limit))
        t0 = time.monotonic()
        n = 0
        for sim_t, tweet in self.tweets():
            if self.speed_factor is not None:
                while (delay := t0 + sim_t / self.speed_factor - time.monotonic()) > 0:
                    if stop.wait(min(delay, 0.25)):
                        return
            if stop.is_set():
                return
            emit(tweet)
            n += 1
        status(SourceStatus("ended", f"demo finished: {n:,} tweets", position=n, total=self.limit))


def build(options, config) -> DemoSource:
    """The registry's entry (sources/registry.py): the seed and rate come from config or flags."""
    return DemoSource(seed=config.demo.seed, rate=config.demo.rate, limit=options.limit, speed=options.speed)
