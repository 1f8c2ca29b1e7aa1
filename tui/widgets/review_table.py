"""The review list: one row per tweet, least certain first, with marks for bulk actions.

Cells are Rich Text built from `safe` strings (a str cell would be read as markup).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from finterm.records import Scored
from finterm.store.labels import task_view

from ..palette import GLYPH, palette_for, sentiment_color
from ..render import safe, short_topic
from ..review_state import doubt

COLUMNS = (("mark", " "), ("label", "Label"), ("doubt", "Margin"), ("model", "Model"), ("score", "Score"),
           ("tickers", "Tickers"), ("text", "Tweet"))


class ReviewTable(DataTable):
    """Rows keyed by the item's index in the review (a file may repeat a tweet id)."""

    DEFAULT_CSS = """
    ReviewTable { height: 1fr; }
    ReviewTable > .datatable--cursor { background: $primary 30%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def _label_text(self, task: str, label: str | None) -> Text:
        if label is None:
            return Text("·", style="dim")
        return Text("✎ ") + self._class_text(task, label)

    def _class_text(self, task: str, label: str) -> Text:
        if task == "sentiment":
            p = palette_for(self.app.theme)
            return Text(f"{GLYPH.get(label, '')} {safe(label, 10)}", style=sentiment_color(p, label))
        return Text(short_topic(label))

    def _cells(self, sc: Scored, task: str, label: str | None, marked: bool) -> list[Text]:
        model, score, _ = task_view(sc, task)
        return [
            Text("●" if marked else " ", style="bold"),
            self._label_text(task, label),
            Text(f"{doubt(sc, task):.2f}", justify="right"),
            self._class_text(task, model),
            Text(f"{score:.0%}", justify="right"),
            Text(safe(" ".join("$" + t for t in sc.tweet.tickers), 24)),
            Text(safe(sc.tweet.text, 90), no_wrap=True, overflow="ellipsis"),  # whole text: #review-detail
        ]

    def show(self, rows: list[tuple[int, Scored, str | None, bool]], task: str) -> None:
        """Replace all rows: (index, scored, corrected label or None, marked)."""
        keep = self.cursor_row
        self.clear()
        for i, sc, label, marked in rows:
            self.add_row(*self._cells(sc, task, label, marked), key=str(i))
        if rows:
            self.move_cursor(row=min(max(keep, 0), len(rows) - 1), animate=False)

    def update_row(self, i: int, sc: Scored, task: str, label: str | None, marked: bool) -> None:
        key = str(i)
        if key not in self.rows:
            return
        self.update_cell(key, "mark", Text("●" if marked else " ", style="bold"))
        self.update_cell(key, "label", self._label_text(task, label))

    def cursor_index(self) -> int | None:
        """The review index of the row under the cursor."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        return int(key)
