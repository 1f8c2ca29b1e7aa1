"""The finterm monitor: a Textual app over any pipeline-shaped object.

The app never scores anything. The pipeline (docs/CONTRACTS.md) runs in its own threads and
puts `list[Scored]` batches, `SourceStatus` and `PipelineFailed` on `pipeline.events`; a timer
drains that queue (bounded work per tick), feeds the aggregator, and applies the updates in
one `batch_update`. The panels are redrawn from the aggregator at a lower rate, so a replay
at hundreds of tweets a second leaves the keys answering at once.
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from finterm.alerts.engine import Alert
from finterm.config import Config
from finterm.records import PipelineFailed, PostDeleted, Scored, SourceStatus
from finterm.sinks.aggregate import Aggregator
from finterm.sinks.timeline import RETAIN_MINUTES, Timeline
from finterm.stats import percentile
from finterm.store.labels import LabelStore, correction_for, default_labels_path
from finterm.text import normalize_ticker

from . import keymap
from .filters import Filters
from .logs import log_to_file
from .messages import TickerChosen, TickerHighlighted, TopicChosen
from .palette import THEME_NAMES, THEMES, theme_name
from .render import safe
from .screens import HelpScreen, TickerFilterScreen, TopicPickerScreen
from .screens.alerts import AlertsScreen
from .screens.label_picker import LabelPickerScreen
from .screens.ticker import TickerScreen
from .screens.topic_picker import ALL
from .widgets import FeedView, StatusBar, StatusInfo, TickerPanel, TopicHistogram

log = logging.getLogger("finterm.tui")

WINDOWS: list[int | None] = [15, 60, 240, None]
SPEEDS: list[float | None] = [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 1000, None]
#: Most queue items taken per drain tick, and the time budget for it (the rest waits a tick).
DRAIN_MAX_ITEMS = 2000
DRAIN_BUDGET_S = 0.030
#: The status bar shows the backlog once the oldest waiting post has waited this long (seconds).
BACKLOG_SHOW_S = 1.0
#: Alerts kept for the alerts screen (the oldest go first).
ALERT_LOG_MAX = 5000
#: Alerts of one drain shown as a toast each; more make one toast that names their tickers.
TOASTS_AT_ONCE = 3


def window_label(minutes: int | None) -> str:
    if minutes is None:
        return "session"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """An attribute of a pipeline-shaped object, which test doubles may leave out."""
    return default if obj is None else getattr(obj, name, default)


class FintermApp(App):
    """Live feed, ticker panel and topic histogram over a scoring pipeline."""

    CSS_PATH = "app.tcss"
    TITLE = "finterm"
    ENABLE_COMMAND_PALETTE = True
    HORIZONTAL_BREAKPOINTS = [(0, "-tiny"), (90, "-narrow"), (130, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]

    BINDINGS = keymap.bindings()

    def __init__(
        self,
        pipeline: Any,
        config: Config | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        drain_interval: float = 0.1,
        panel_interval: float = 0.5,
        start_pipeline: bool = True,
        log_file: str | Path | None = None,
        labels: LabelStore | None = None,
        history: Iterable[Scored] = (),
        history_alerts: Iterable[Alert] = (),
    ) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.config = config = config or Config()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.drain_interval = drain_interval
        self.panel_interval = panel_interval
        self.start_pipeline = start_pipeline
        self.log_file = log_file
        ui = config.ui
        self.window_minutes: int | None = ui.window()
        bounded = {w for w in WINDOWS if w is not None} | ({self.window_minutes} - {None})
        self.windows: list[int | None] = [*sorted(bounded), None]
        self.newest_first = ui.newest_first
        self.feed_max = ui.feed_max
        self.watchlist = list(config.watchlist)  # cleaned once, by the config loader
        for th, _ in THEMES.values():
            self.register_theme(th)
        self.theme = theme_name(ui.theme)

        #: Label names per task, from the model folders (the classifier knows them; doubles may not).
        self.labels: dict[str, list[str]] = dict(_get(_get(pipeline, "classifier"), "labels", None) or {})
        self.aggregator = Aggregator(window_minutes=self.window_minutes, retain_minutes=max(240, self.window_minutes or 0),
                                     topics=self.labels.get("topic", ()))
        self.filters = Filters()
        #: Each ticker's session (its screen's chart, sources, crowd, latest posts): the last
        #: day, or the history loaded at start when that is longer.
        self.timeline = Timeline(retain_minutes=max(RETAIN_MINUTES, round(ui.history_hours * 60) + 60))
        #: Every alert of the session, oldest first (the alerts screen lists them newest first).
        self.alert_log: list[Alert] = []
        self._new_alerts: list[Alert] = []  # since the last drain: announced once per drain
        self.alert_rules = len(config.alerts.rules)
        #: A recording's recent history, shown (marked) before going live; see _load_history.
        self._history = list(history)
        self._history_alerts = list(history_alerts)
        self._history_count = 0
        self.paused = False
        self._held: deque[Scored] = deque(maxlen=self.feed_max)
        self._held_count = 0
        self._latencies: deque[float] = deque(maxlen=512)
        self._arrivals: deque[tuple[float, int]] = deque()  # (monotonic time, tweets) of recent drains
        self._panels_dirty = True
        self._source_status: Any = None
        self._part_states: dict[str, str] = {}
        self._error = ""
        self._ended_notified = False
        self._highlighted_ticker: str | None = None
        self._stopped = False
        #: The labels file is opened on the first correction (or at start when it exists).
        self._labels = labels
        self.labels_path = labels.path if labels else Path(config.labels_file or default_labels_path()).expanduser()

    # -- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="main"):
            feed = FeedView(max_items=self.feed_max, newest_first=self.newest_first, id="feed")
            feed.border_title = "Feed"
            yield feed
            with Vertical(id="side"):
                tp = TickerPanel(watchlist=self.watchlist, id="tickers")
                tp.border_title = "Tickers"
                yield tp
                yield TopicHistogram(id="topics")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        if self.log_file is not None or not self.is_headless:
            log_to_file(self.log_file)
        self.query_one(FeedView).focus()
        self._load_history()
        self._retitle_feed()
        if self.start_pipeline:
            try:
                self.pipeline.start()
            except Exception as exc:  # a missing model, no credentials: say so, stay up
                log.exception("pipeline failed to start")
                self._fail(f"could not start: {exc}")
        self._load_corrections()
        self.set_interval(self.drain_interval, self._drain_tick)
        self.set_interval(self.panel_interval, self._panel_tick)
        self.set_interval(1.0, self._refresh_status)
        self._refresh_panels()
        self._refresh_status()

    # -- pipeline -----------------------------------------------------------------------------
    @property
    def source(self) -> Any:
        return _get(self.pipeline, "source")

    def _drain_tick(self) -> None:
        try:
            self.drain()
        except Exception as exc:  # never a traceback over the screen
            log.exception("while applying pipeline events")
            self._fail(f"display error: {exc}")

    def drain(self, max_items: int = DRAIN_MAX_ITEMS, budget_s: float = DRAIN_BUDGET_S) -> int:
        """Take what the pipeline has queued (bounded work) and apply it; returns tweets taken."""
        events = _get(self.pipeline, "events")
        if events is None:
            return 0
        batch: list[Scored] = []
        deleted: list[str] = []
        deadline = time.monotonic() + budget_s
        status_changed = False
        for _ in range(max_items):
            try:
                ev = events.get_nowait()
            except queue.Empty:
                break
            match ev:
                case list():
                    batch.extend(ev)
                    if ev:
                        self._latencies.append(float(ev[0].batch_latency_ms or 0.0))
                case SourceStatus():
                    self._on_source_status(ev)
                    status_changed = True
                case PipelineFailed():
                    self._fail(ev.message)
                    status_changed = True
                case Alert():  # raised by the alerts sink on the posts just before it
                    self._on_alert(ev)
                case PostDeleted():  # always after the post itself (the pipeline keeps the order)
                    deleted.append(ev.id)
                case _:
                    log.warning("unknown pipeline event %r", type(ev).__name__)
            if len(batch) >= 4096 or time.monotonic() > deadline:
                break
        if batch:
            now = time.monotonic()
            self._arrivals.append((now, len(batch)))
            while self._arrivals and self._arrivals[0][0] < now - 10.0:
                self._arrivals.popleft()
            self._apply(batch)
        if self._new_alerts:
            self._announce_alerts()
        if deleted:
            self._remove(deleted)
        if status_changed:
            self._refresh_status()
        return len(batch)

    def _remove(self, ids: list[str]) -> None:
        """Posts deleted by their authors leave the feed (and the held ones); the counts keep them."""
        gone = set(ids)
        if self._held:
            kept = [sc for sc in self._held if sc.tweet.id not in gone]
            self._held_count -= len(self._held) - len(kept)
            self._held = deque(kept, maxlen=self.feed_max)
        with self.batch_update():
            self.query_one(FeedView).remove(gone)
            self._retitle_feed()

    def _apply(self, batch: list[Scored]) -> None:
        self.aggregator.add_batch(batch)
        self.timeline.add_batch(batch)
        self._panels_dirty = True
        if self.paused:
            self._held.extend(batch)
            self._held_count += len(batch)
            self._retitle_feed()
            return
        with self.batch_update():
            self.query_one(FeedView).add(batch)
            self._retitle_feed()

    def _on_source_status(self, st: Any) -> None:
        self._source_status = st
        for part in _get(st, "parts", ()) or ():  # merged sources: one stopping is news, not the end
            if part.state == "error" and self._part_states.get(part.source) != "error":
                self.notify(f"{safe(part.source, 20)} stopped: {safe(part.detail, 160)}; the other sources go on",
                            title="Source", severity="warning", markup=False, timeout=8)
            self._part_states[part.source] = part.state
        state = _get(st, "state", "")
        detail = safe(_get(st, "detail", "") or "", 200)
        if state == "error":
            self._error = detail or "source error"
            log.error("source error: %s", detail)
            self.notify(self._error, title="Source", severity="error", markup=False, timeout=8)
        elif state == "reconnecting":
            self.notify(detail or "stream dropped; reconnecting", title="Source", severity="warning", markup=False)
        elif state in ("live", "polling"):
            self._error = ""
        elif state == "ended" and not self._ended_notified:
            self._ended_notified = True
            self._panels_dirty = True
            msg = "Replay finished: showing the final state. q quits." if self._is_replay() else "The source has ended."
            self.notify(msg, title="Ended", timeout=10)

    def _fail(self, message: str) -> None:
        self._error = safe(message, 300)
        log.error("pipeline: %s", self._error)
        self.notify(self._error, title="Pipeline", severity="error", markup=False, timeout=15)
        self._refresh_status()

    def _is_replay(self) -> bool:
        return callable(getattr(self.source, "set_speed", None))

    # -- refreshing -------------------------------------------------------------------------
    def _panel_tick(self) -> None:
        if _get(self.source, "live", False) or _get(self.source, "name", "") in ("live", "search", "x", "stream"):
            # a quiet live stream: the window still moves on with the wall clock
            before = self.aggregator.total
            self.aggregator.advance_to(self.clock())
            self._panels_dirty |= self.aggregator.total != before
        if self._panels_dirty and not self.paused:
            try:
                self._refresh_panels()
            except Exception as exc:
                log.exception("while refreshing panels")
                self._fail(f"display error: {exc}")

    def _histogram_scope(self) -> str | None:
        if self.filters.ticker:
            return self.filters.ticker
        tp = self.query_one(TickerPanel)
        if tp.has_focus and self._highlighted_ticker:
            return self._highlighted_ticker
        return None

    def _refresh_panels(self) -> None:
        self._panels_dirty = False
        with self.batch_update():
            tp = self.query_one(TickerPanel)
            tp.filter_ticker = self.filters.ticker
            tp.update_from(self.aggregator, self.window_minutes)
            scope = self._histogram_scope()
            self.query_one(TopicHistogram).show(self.aggregator.topic_counts(scope), scope, self.filters.topic)
            self._refresh_status()
            self._refresh_screens()

    def _latency(self) -> tuple[float | None, float | None]:
        if not self._latencies:
            stats = _get(self.pipeline, "stats")
            return _get(stats, "latency_p50"), _get(stats, "latency_p99")
        return percentile(self._latencies, 0.5), percentile(self._latencies, 0.99)

    def _status_detail(self, st: Any) -> str:
        if st is None or _get(st, "state", "") == "error":
            return ""  # errors have their own place in the status bar
        detail = safe(_get(st, "detail", "") or "", 80)
        try:
            if detail and detail == safe(self.source.describe(), 80):
                detail = ""  # already shown as the source
        except Exception:
            pass
        retry = _get(st, "next_retry_at")
        if _get(st, "state", "") == "reconnecting" and isinstance(retry, (int, float)):
            wait = f"retry in {max(0.0, retry - time.time()):.0f} s"
            detail = f"{detail}; {wait}" if detail else wait
        return detail

    def backlog(self) -> tuple[int, float | None]:
        """(posts waiting, the oldest one's wait in s) when scoring is behind, else (0, None). A
        replay at max speed keeps the queue full by design: no backlog shown for it."""
        get = _get(self.pipeline, "backlog")
        if not callable(get) or (self._is_replay() and getattr(self.source, "speed", 1.0) is None):
            return 0, None
        try:
            b = get()
        except Exception:
            return 0, None
        if b.oldest_s is None or b.oldest_s < BACKLOG_SHOW_S:
            return 0, None
        return b.waiting, b.oldest_s

    def scoring_rate(self) -> float | None:
        """Tweets a second reaching the UI over the last 10 s of wall time (None while idle)."""
        now = time.monotonic()
        while self._arrivals and self._arrivals[0][0] < now - 10.0:
            self._arrivals.popleft()
        if not self._arrivals:
            return None
        span = max(now - self._arrivals[0][0], 1.0)
        return sum(n for _, n in self._arrivals) / span

    def status_info(self) -> StatusInfo:
        src = self.source
        st = self._source_status
        name = safe(_get(src, "name", "") or "")
        desc = ""
        try:
            desc = src.describe() if callable(getattr(src, "describe", None)) else ""
        except Exception:
            desc = ""
        engine = ""
        clf = _get(self.pipeline, "classifier")
        try:
            describe = getattr(clf, "describe_short", None) or getattr(clf, "describe", None)
            engine = describe() if callable(describe) else ""
        except Exception:
            engine = ""
        is_replay = self._is_replay()
        speed = _get(st, "speed", None) if st is not None else None
        if is_replay:
            speed = getattr(src, "speed", speed)
        p50, p99 = self._latency()
        waiting, behind_s = self.backlog()
        return StatusInfo(
            source=desc or name,
            kind=name or ("replay" if is_replay else "source"),
            state=_get(st, "state", "connecting") if st is not None else "connecting",
            detail=self._status_detail(st),
            position=_get(st, "position"),
            total=_get(st, "total"),
            speed=speed,
            is_replay=is_replay,
            per_minute=self.aggregator.rate_per_minute(5),
            per_second=None if _get(st, "state", "") == "ended" else self.scoring_rate(),
            scored=self.aggregator.seen - self._history_count,
            engine=engine,
            p50=p50,
            p99=p99,
            window=window_label(self.window_minutes),
            filters=self.filters,
            paused=self.paused,
            held=self._held_count,
            backlog=waiting,
            backlog_s=behind_s,
            clock=self.clock(),
            tweet_time=self.aggregator.now,
            error=self._error,
            sources=tuple(_get(st, "parts", ()) or ()) if st is not None else (),
        )

    def _refresh_status(self) -> None:
        bars = self.query(StatusBar)
        if bars:  # none while the app is shutting down and a timer still fires
            bars.first().show(self.status_info())

    def _retitle_feed(self) -> None:
        feed = self.query_one(FeedView)
        order = "newest first" if feed.newest_first else "newest last"
        what = f"{feed.count:,} shown" if self.filters.active else f"{feed.count:,}"
        feed.border_title = f"Feed · {what} · {order}"
        if self.paused:
            feed.border_subtitle = f"❚❚ paused · {self._held_count:,} held · {self.aggregator.seen - self._history_count:,} scored"
        else:
            feed.border_subtitle = f"{self.aggregator.seen - self._history_count:,} scored" + self._history_note()

    def refresh_now(self) -> None:
        """Drain everything queued and redraw (tests and snapshots use this)."""
        while self.drain(max_items=10**9, budget_s=10**9):
            pass
        self._refresh_panels()
        self._retitle_feed()

    # -- filters ----------------------------------------------------------------------------
    def set_filters(self, filters: Filters) -> None:
        self.filters = filters
        with self.batch_update():
            self.query_one(FeedView).set_filters(filters)
            self._retitle_feed()
            scope = self._histogram_scope()
            self.query_one(TopicHistogram).show(self.aggregator.topic_counts(scope), scope, filters.topic)
            self._refresh_status()
        self._panels_dirty = True  # the ticker panel marks the filtered ticker on its next tick

    def action_filter_ticker(self, ticker: str) -> None:
        t = normalize_ticker(ticker) or None
        if t == self.filters.ticker:
            t = None  # a second click on the same ticker lifts its filter
        self.set_filters(self.filters.with_(ticker=t))

    def action_filter_topic(self, topic: str) -> None:
        tp = None if topic == self.filters.topic else topic
        self.set_filters(self.filters.with_(topic=tp))

    def action_pick_ticker(self) -> None:
        names = [s.ticker for s in self.aggregator.tickers()]
        for w in reversed(self.watchlist):
            if w not in names:
                names.insert(0, w)

        def done(t: str | None) -> None:
            if t is not None:
                self.set_filters(self.filters.with_(ticker=t))

        self.push_screen(TickerFilterScreen(names, self.filters.ticker), done)

    def action_pick_topic(self) -> None:
        def done(topic: str | None) -> None:
            if topic is not None:
                self.set_filters(self.filters.with_(topic=None if topic == ALL else topic))

        self.push_screen(TopicPickerScreen(self.aggregator.topic_counts(self.filters.ticker), self.filters.topic), done)

    def action_cycle_sentiment(self) -> None:
        self.set_filters(self.filters.next_sentiment())

    def action_clear_filters(self) -> None:
        self.set_filters(Filters())

    @on(TickerChosen)
    def _ticker_chosen(self, msg: TickerChosen) -> None:
        self.open_ticker(msg.ticker)

    @on(TopicChosen)
    def _topic_chosen(self, msg: TopicChosen) -> None:
        self.action_filter_topic(msg.topic)

    @on(TickerHighlighted)
    def _ticker_highlighted(self, msg: TickerHighlighted) -> None:
        if msg.ticker != self._highlighted_ticker:
            self._highlighted_ticker = msg.ticker
            if not self.filters.ticker and self.query_one(TickerPanel).has_focus:
                scope = msg.ticker
                self.query_one(TopicHistogram).show(self.aggregator.topic_counts(scope), scope, self.filters.topic)

    def on_descendant_focus(self) -> None:
        if not self.paused:
            scope = self._histogram_scope()
            self.query_one(TopicHistogram).show(self.aggregator.topic_counts(scope), scope, self.filters.topic)

    # -- other actions ----------------------------------------------------------------------
    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            held = list(self._held)
            self._held.clear()
            self._held_count = 0
            with self.batch_update():
                if held:
                    self.query_one(FeedView).add(held)
                self._retitle_feed()
                self._refresh_panels()
            self.notify("Resumed", timeout=2)
        else:
            self.notify("Paused: scoring goes on, new tweets are held.", timeout=3)
            self._retitle_feed()
        self._refresh_status()

    def action_speed(self, step: int) -> None:
        src = self.source
        if not self._is_replay():
            self.notify("Speed applies to replays only.", severity="warning", timeout=3)
            return
        cur = getattr(src, "speed", 1.0)
        if cur in SPEEDS:
            i = SPEEDS.index(cur)
        else:  # an odd speed from the command line: the nearest step
            i = len(SPEEDS) - 1 if cur is None else min(range(len(SPEEDS) - 1), key=lambda k: abs(SPEEDS[k] - cur))
        i = max(0, min(len(SPEEDS) - 1, i + step))
        try:
            src.set_speed(SPEEDS[i])
        except Exception as exc:
            log.exception("set_speed")
            self.notify(f"Could not change the speed: {exc}", severity="error", markup=False)
            return
        label = "max" if SPEEDS[i] is None else f"×{SPEEDS[i]:g}"
        self.notify(f"Replay speed {label}", timeout=2)
        self._refresh_status()

    def action_cycle_window(self) -> None:
        i = self.windows.index(self.window_minutes) if self.window_minutes in self.windows else 0
        self.window_minutes = self.windows[(i + 1) % len(self.windows)]
        self.aggregator.set_window(self.window_minutes)
        self._refresh_panels()
        self.notify(f"Window: {window_label(self.window_minutes)}", timeout=2)

    def action_cycle_sort(self) -> None:
        by = self.query_one(TickerPanel).cycle_sort()
        self.notify(f"Tickers by {by}", timeout=2)

    def action_toggle_scores(self) -> None:
        feed = self.query_one(FeedView)
        feed.set_show_scores(not feed.show_scores)

    def action_toggle_order(self) -> None:
        feed = self.query_one(FeedView)
        feed.set_newest_first(not feed.newest_first)
        self._retitle_feed()

    def action_cycle_theme(self) -> None:
        i = THEME_NAMES.index(self.theme) if self.theme in THEME_NAMES else -1
        self.theme = THEME_NAMES[(i + 1) % len(THEME_NAMES)]
        self.notify(f"Colors: {self.theme.removeprefix('finterm-')}", timeout=2)

    # -- corrections ----------------------------------------------------------------------
    def labels_store(self) -> LabelStore:
        if self._labels is None:
            self._labels = LabelStore(self.labels_path)
        return self._labels

    def _load_corrections(self) -> None:
        """Earlier corrections mark their tweets when they show up again (a replay of the same file)."""
        if self._labels is None and not self.labels_path.is_file():
            return
        try:
            store = self.labels_store()
        except Exception as exc:
            log.warning("labels file %s: %s", self.labels_path, exc)
            return
        feed = self.query_one(FeedView)
        for c in store.corrections():
            feed.corrections.setdefault(c.id, {})[c.task] = c.label

    def action_label(self) -> None:
        feed = self.query_one(FeedView)
        sc = feed.ensure_selected()
        if sc is None:
            self.notify("No tweet to correct yet.", severity="warning", timeout=3)
            return
        current = feed.corrections.get(sc.tweet.id, {})

        def done(choice: tuple[str, str] | None) -> None:
            if choice is not None:
                self.correct(sc, *choice)

        self.push_screen(LabelPickerScreen(sc, current=current, names=self.labels), done)

    def correct(self, sc: Scored, task: str, label: str) -> bool:
        """Save one correction (durable when this returns) and mark the tweet in the feed."""
        try:
            store = self.labels_store()
            store.put([correction_for(sc, task, label, origin="monitor")])
        except Exception as exc:
            log.exception("saving a correction")
            self.notify(f"Could not save the correction: {safe(str(exc), 200)}", severity="error", markup=False)
            return False
        self.query_one(FeedView).mark_corrected(sc.tweet.id, store.labels_for(sc.tweet.id))
        self.notify(f"{task.capitalize()}: {label} (saved)", timeout=2, markup=False)
        return True

    def action_open_link(self) -> None:
        """Open the selected post's original (https only) in the browser."""
        sc = self.query_one(FeedView).ensure_selected()
        url = sc.tweet.url if sc is not None else None
        if not url or not url.startswith("https://"):
            self.notify("This post has no link to open.", severity="warning", timeout=3)
            return
        try:
            self.open_url(url)
        except Exception as exc:
            log.exception("opening %s", url)
            self.notify(f"Could not open the link: {safe(str(exc), 120)}", severity="error", markup=False)
            return
        self.notify(f"Opening {safe(url, 80)}", timeout=3, markup=False)

    # -- alerts, the ticker screen, history -------------------------------------------------
    def _on_alert(self, alert: Alert) -> None:
        self.alert_log.append(alert)
        if len(self.alert_log) > ALERT_LOG_MAX:
            del self.alert_log[: len(self.alert_log) - ALERT_LOG_MAX]
        self._new_alerts.append(alert)

    def _announce_alerts(self) -> None:
        """The alerts of one drain: a toast each (one for all when many came at once, as in a
        fast replay) and one ring of the bell, as the config says; an open list follows."""
        new, self._new_alerts = self._new_alerts, []
        alerts = self.config.alerts
        if alerts.toast:
            if len(new) <= TOASTS_AT_ONCE:
                for a in new:
                    self.notify(safe(a.headline(), 160) + "  (a: alerts)", title="Alert", severity="warning",
                                markup=False, timeout=8)
            else:
                names = list(dict.fromkeys(f"${safe(a.ticker, 10)}" for a in reversed(new)))
                shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
                self.notify(f"{len(new)} alerts: {shown}  (a: alerts)", title="Alerts", severity="warning",
                            markup=False, timeout=8)
        if alerts.bell:
            self.bell()
        self._panels_dirty = True
        if isinstance(self.screen, (AlertsScreen, TickerScreen)):
            self.screen.refresh_data()

    def _refresh_screens(self) -> None:
        """The alerts or ticker screen on top follows the data as the panels do (one below it
        catches up when it is shown again)."""
        screen = self.screen
        if isinstance(screen, (AlertsScreen, TickerScreen)) and screen.is_mounted:
            screen.refresh_data()

    def action_show_alerts(self) -> None:
        """The alerts screen; back to it when it is under the screen shown (a ticker opened from it)."""
        if any(isinstance(s, AlertsScreen) for s in self.screen_stack):
            while not isinstance(self.screen, AlertsScreen):
                self.pop_screen()
            return
        self.push_screen(AlertsScreen())

    def open_ticker(self, ticker: str) -> None:
        """The ticker's own screen (on top of the alerts screen when opened from there)."""
        t = normalize_ticker(ticker)
        if not t:
            return
        if isinstance(self.screen, TickerScreen):
            self.pop_screen()
        self.push_screen(TickerScreen(t))

    def action_open_ticker(self) -> None:
        """The ticker under the ticker panel's cursor, else the filtered one."""
        t = self.query_one(TickerPanel).current_ticker() or self.filters.ticker
        if t:
            self.open_ticker(t)
        else:
            self.notify("No ticker yet.", severity="warning", timeout=3)

    def _load_history(self) -> None:
        """A recording's last hours into the panels and charts (marked history), before going live."""
        if not self._history and not self._history_alerts:
            return
        self.aggregator.add_batch(self._history)
        self.timeline.add_batch(self._history, history=True)
        self._history_count = len(self._history)
        self.alert_log.extend(self._history_alerts)
        until = self.timeline.history_until
        when = f" up to {until.strftime('%Y-%m-%d %H:%M')} UTC" if until else ""
        self.notify(f"History: {self._history_count:,} posts{when} and {len(self._history_alerts):,} alerts from the "
                    "recording, marked ◷; live posts follow.", title="History", timeout=6)
        self._history, self._history_alerts = [], []
        self._panels_dirty = True

    def _history_note(self) -> str:
        if not self._history_count:
            return ""
        until = self.timeline.history_until
        return f" · ◷ {self._history_count:,} from history" + (f" (to {until.strftime('%H:%M')})" if until else "")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self.stop_pipeline()
        self.exit()

    def stop_pipeline(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            stop = getattr(self.pipeline, "stop", None)
            if callable(stop):
                stop()
        except Exception:
            log.exception("pipeline stop")

    def on_unmount(self) -> None:
        self.stop_pipeline()
        if self._labels is not None:
            try:
                self._labels.close()  # fold the corrections journal into the parquet file
            except Exception:
                log.exception("closing the labels file")

    # -- command palette --------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for title, line, action in keymap.commands():
            yield SystemCommand(title, line, partial(self.run_action, action))
        yield from super().get_system_commands(screen)
