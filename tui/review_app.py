"""`finterm label FILE`'s app: the review screen over tweets already scored, nothing running behind.

Scoring happens before the app starts (tui/label_cli.py), so the review list is complete and
its doubt order fixed from the first frame.
"""

from __future__ import annotations

from typing import Any

from textual.app import App

from finterm.records import Scored
from finterm.store.labels import LabelStore

from .palette import THEMES, theme_name
from .screens.review import ReviewScreen


class ReviewApp(App):
    """One screen: ReviewScreen. Styles and themes are the monitor's."""

    CSS_PATH = "app.tcss"
    TITLE = "finterm label"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, items: list[Scored], store: LabelStore, task: str = "sentiment", source: str = "",
                 theme: Any = None) -> None:
        super().__init__()
        self.items = items
        self.store = store
        self.review_task = task
        self.source = source
        for th, _ in THEMES.values():
            self.register_theme(th)
        self.theme = theme_name(theme)

    def get_default_screen(self) -> ReviewScreen:
        return ReviewScreen(self.items, self.store, self.review_task, self.source)

    def on_unmount(self) -> None:
        self.store.close()  # fold the corrections journal into the parquet file
