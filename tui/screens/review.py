"""Review a scored file: least certain tweets first, correct or accept them, alone or in bulk.

The loop that annotation tools offer: the model pre-annotates, the user reviews the doubtful
ones first (smallest margin between the top two classes), and every decision goes to the
labels file at once (`LabelStore.put` is durable when it returns). Accepting the model's
label is a decision too: it is stored with label == model_label.
"""

from __future__ import annotations

import logging

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from finterm.records import Scored
from finterm.store.labels import TASKS, LabelStore, correction_for, task_view

from ..filters import Filters
from ..render import safe
from ..review_state import ScoreRange, doubt_order, progress, visible
from ..widgets.review_progress import ReviewProgress
from ..widgets.review_table import ReviewTable
from .label_picker import LabelPickerScreen, task_labels
from .score_range import ScoreRangeScreen
from .ticker_filter import TickerFilterScreen
from .topic_picker import ALL, TopicPickerScreen

log = logging.getLogger("finterm.tui.review")


class ReviewScreen(Screen):
    """The review list with its progress lines; actions apply to the marked rows, else the cursor row."""

    BINDINGS = [
        Binding("space", "mark", "Mark", tooltip="Mark / unmark the row for a bulk action"),
        Binding("asterisk,ctrl+a", "mark_all", "All", key_display="*", tooltip="Mark every row shown (again: none)"),
        Binding("a", "accept", "Accept", tooltip="Accept the model's label for the marked rows"),
        Binding("l", "set_label", "Label", tooltip="Set one label on the marked rows"),
        Binding("m", "switch_task", "Task", tooltip="Review sentiment / topic"),
        Binding("q", "app.quit", "Quit"),
        Binding("t", "pick_ticker", "Ticker"),
        Binding("p", "pick_topic", "Topic"),
        Binding("e", "cycle_sentiment", "Sentiment"),
        Binding("r", "pick_range", "Score"),
        Binding("h", "toggle_reviewed", "Done", tooltip="Show / hide reviewed rows"),
        Binding("x", "clear_filters", "Clear"),
    ]

    def __init__(self, items: list[Scored], store: LabelStore, task: str = "sentiment", source: str = "") -> None:
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}")
        self.items = items
        self.store = store
        self.review_task = task
        self.source = source
        self.filters = Filters()
        self.scores = ScoreRange()
        self.hide_reviewed = False
        self.marked: set[int] = set()
        self.order: list[int] = []
        self.shown: list[int] = []

    def compose(self) -> ComposeResult:
        yield ReviewProgress(id="review-progress")
        yield ReviewTable(id="review-table")
        yield Static(id="review-detail")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._reorder()
        self.query_one(ReviewTable).focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The whole tweet under the cursor, wrapped, with what each model said: the table's
        Tweet column can only show the start of it."""
        from rich.text import Text

        detail = self.query_one("#review-detail", Static)
        try:
            sc = self.items[int(event.row_key.value)]
        except (TypeError, ValueError, IndexError):
            detail.update("")
            return
        t = sc.tweet
        line = Text()
        line.append(f"@{safe(t.author, 40)}" if t.author else "", style="bold")
        if t.created_at is not None:
            line.append(f"  {t.created_at:%Y-%m-%d %H:%M} UTC", style="dim")
        line.append(f"  model: {safe(sc.sentiment, 24)} {sc.sentiment_score:.0%} · {safe(sc.topic, 40)} {sc.topic_score:.0%}", style="dim")
        line.append("\n")
        line.append(safe(t.text, 600))
        detail.update(line)

    # -- state -> screen ---------------------------------------------------------------------
    def label_of(self, i: int) -> str | None:
        c = self.store.get(self.items[i].tweet.id, self.review_task)
        return c.label if c is not None else None

    def _reviewed_ids(self) -> set[str]:
        return {c.id for c in self.store.corrections() if c.task == self.review_task}

    def class_names(self) -> list[str]:
        probs = next((task_view(sc, self.review_task)[2] for sc in self.items if task_view(sc, self.review_task)[2]), None)
        return task_labels(self.review_task, probs)

    def _reorder(self) -> None:
        self.order = doubt_order(self.items, self.review_task)
        self._refilter()

    def _refilter(self) -> None:
        self.shown = visible(self.items, self.order, self.review_task, self.filters, self.scores, self.hide_reviewed,
                             self._reviewed_ids())
        self.marked &= set(self.shown)
        rows = [(i, self.items[i], self.label_of(i), i in self.marked) for i in self.shown]
        self.query_one(ReviewTable).show(rows, self.review_task)
        self._refresh_progress()

    def _refresh_progress(self) -> None:
        labels = {c.id: c.label for c in self.store.corrections() if c.task == self.review_task}
        pr = progress(self.items, self.review_task, labels, self.class_names())
        self.query_one(ReviewProgress).show(pr, len(self.shown), len(self.marked), self.filters, self.scores,
                                            self.hide_reviewed, self.source)

    def _update_rows(self, indices) -> None:
        table = self.query_one(ReviewTable)
        for i in indices:
            table.update_row(i, self.items[i], self.review_task, self.label_of(i), i in self.marked)
        self._refresh_progress()

    def targets(self) -> list[int]:
        """The marked rows in screen order, else the row under the cursor."""
        if self.marked:
            return [i for i in self.shown if i in self.marked]
        cur = self.query_one(ReviewTable).cursor_index()
        return [] if cur is None else [cur]

    # -- decisions ---------------------------------------------------------------------------
    def apply(self, indices: list[int], label: str | None) -> int:
        """Store `label` (None: each row's model label) for the rows; returns how many were stored."""
        if not indices:
            return 0
        fixes = []
        for i in indices:
            sc = self.items[i]
            fixes.append(correction_for(sc, self.review_task, label or task_view(sc, self.review_task)[0], origin="review"))
        try:
            self.store.put(fixes)
        except Exception as exc:
            log.exception("saving review labels")
            self.notify(f"Could not save: {safe(str(exc), 200)}", severity="error", markup=False)
            return 0
        was_marked = bool(self.marked)
        self.marked.clear()
        if self.hide_reviewed:
            self._refilter()
        else:
            self._update_rows(indices)
            if not was_marked:
                self.query_one(ReviewTable).action_cursor_down()
        return len(fixes)

    def action_accept(self) -> None:
        n = self.apply(self.targets(), None)
        if n:
            self.notify(f"Accepted the model's {self.review_task} for {n:,} tweet{'s' * (n != 1)}", timeout=2)

    def action_set_label(self) -> None:
        rows = self.targets()
        if not rows:
            return
        one = self.items[rows[0]] if len(rows) == 1 else None
        title = "Set the label" if one else f"Set one label on {len(rows):,} tweets"
        current = {self.review_task: self.label_of(rows[0])} if one and self.label_of(rows[0]) else {}

        def done(choice: tuple[str, str] | None) -> None:
            if choice is not None:
                n = self.apply(rows, choice[1])
                if n:
                    self.notify(f"{choice[1]} on {n:,} tweet{'s' * (n != 1)}", timeout=2, markup=False)

        names = {self.review_task: self.class_names()}  # the models' own names, for marked rows too
        self.app.push_screen(LabelPickerScreen(one, tasks=(self.review_task,), current=current, title=title,
                                               names=names), done)

    # -- marks -------------------------------------------------------------------------------
    def action_mark(self) -> None:
        table = self.query_one(ReviewTable)
        i = table.cursor_index()
        if i is None:
            return
        self.marked ^= {i}
        self._update_rows([i])
        table.action_cursor_down()

    def action_mark_all(self) -> None:
        self.marked = set() if self.marked >= set(self.shown) and self.marked else set(self.shown)
        self._update_rows(self.shown)

    # -- views -------------------------------------------------------------------------------
    def action_switch_task(self) -> None:
        self.review_task = TASKS[(TASKS.index(self.review_task) + 1) % len(TASKS)]
        self.marked.clear()
        self._reorder()
        self.notify(f"Reviewing {self.review_task}", timeout=2)

    def set_filters(self, filters: Filters | None = None, scores: ScoreRange | None = None) -> None:
        self.filters = filters if filters is not None else self.filters
        self.scores = scores if scores is not None else self.scores
        self._refilter()

    def action_pick_ticker(self) -> None:
        names = sorted({t for sc in self.items for t in sc.tweet.tickers})

        def done(t: str | None) -> None:
            if t is not None:
                self.set_filters(self.filters.with_(ticker=t))

        self.app.push_screen(TickerFilterScreen(names, self.filters.ticker), done)

    def action_pick_topic(self) -> None:
        counts = {t: 0 for t in task_labels("topic", next((sc.topic_probs for sc in self.items if sc.topic_probs), None))}
        for sc in self.items:
            counts[sc.topic] = counts.get(sc.topic, 0) + 1

        def done(topic: str | None) -> None:
            if topic is not None:
                self.set_filters(self.filters.with_(topic=None if topic == ALL else topic))

        self.app.push_screen(TopicPickerScreen(counts, self.filters.topic), done)

    def action_cycle_sentiment(self) -> None:
        self.set_filters(self.filters.next_sentiment())

    def action_pick_range(self) -> None:
        def done(r: ScoreRange | None) -> None:
            if r is not None:
                self.set_filters(scores=r)

        self.app.push_screen(ScoreRangeScreen(self.scores), done)

    def action_toggle_reviewed(self) -> None:
        self.hide_reviewed = not self.hide_reviewed
        self._refilter()

    def action_clear_filters(self) -> None:
        self.hide_reviewed = False
        self.set_filters(Filters(), ScoreRange())
