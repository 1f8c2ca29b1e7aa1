"""The alerts screen (`a`): every alert of the session, newest first; Enter or a click opens
the ticker's screen. Alerts raised over the history loaded at start are marked ◷."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ..palette import palette_for
from ..render import safe, tweet_body, tweet_header

HISTORY_MARK = "◷"


def what_text(alert) -> str:
    """The alert's figures in words: `net +0.45 (was -0.10)`, `24 posts (usually 3.5)`."""
    if alert.kind == "swing":
        return f"net {alert.value:+.2f} (was {alert.baseline:+.2f})"
    if alert.kind == "volume":
        return f"{alert.value:,.0f} posts (usually {alert.baseline:,.1f})"
    return f"{alert.value:,.0f} on topic (before {alert.baseline:,.0f})"


def when_text(alert, with_date: bool) -> str:
    return alert.time.strftime("%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


class AlertTable(DataTable):
    """One click on a row opens it (DataTable alone wants a second click)."""

    async def _on_click(self, event: events.Click) -> None:
        meta = event.style.meta
        row, col = meta.get("row"), meta.get("column")
        if row is None or col is None or row < 0 or col < 0 or Coordinate(row, col) == self.cursor_coordinate:
            return  # a header, or a click on the cursor (DataTable selects that one itself)
        self.move_cursor(row=row, animate=False)
        self.action_select_cursor()


class AlertsScreen(Screen):
    """Reads the app's alert log (`app.alert_log`); the app calls `refresh_data` as alerts come."""

    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        Binding("a", "close", "Back", show=False),
        Binding("enter", "open", "Open ticker", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="alerts-head")
        table = AlertTable(id="alerts-table", cursor_type="row", zebra_stripes=True)
        table.border_title = "Alerts · newest first"
        table.border_subtitle = "Enter or click opens the ticker · Esc back"
        yield table
        detail = Static(id="alerts-detail")
        detail.border_title = "Examples"
        yield detail
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        t = self.query_one(AlertTable)
        t.add_column(" ", key="mark", width=1)
        t.add_column("Time", key="time")
        t.add_column("Ticker", key="ticker", width=8)
        t.add_column("Rule", key="rule")
        t.add_column("What", key="what")
        t.add_column(Text("Posts", justify="right"), key="posts", width=5)
        t.add_column("Window", key="window", width=6)
        t.cursor_foreground_priority = "renderable"
        self.refresh_data()
        t.focus()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.refresh_data()  # what came while another screen was on top

    def refresh_data(self) -> None:
        app = self.app
        log = list(getattr(app, "alert_log", []))
        p = palette_for(app.theme)
        t = self.query_one(AlertTable)
        key = None
        if t.row_count:
            try:
                key = t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value
            except Exception:
                key = None
        t.clear()
        dates = {a.time.date() for a in log}
        for i in range(len(log) - 1, -1, -1):
            a = log[i]
            color = p.bull if a.kind == "swing" and a.value > a.baseline else p.bear if a.kind == "swing" else p.ticker
            t.add_row(
                Text(HISTORY_MARK if a.history else "", style=p.muted),
                Text(when_text(a, len(dates) > 1), style=p.muted),
                Text("$" + safe(a.ticker, 7), style=f"bold {p.ticker}"),
                Text(safe(a.rule, 18)),
                Text(what_text(a), style=color),
                Text(str(a.posts), justify="right"),
                Text(a.window, style=p.muted),
                key=str(i),
            )
        if key is not None:
            try:
                t.move_cursor(row=t.get_row_index(key), animate=False)
            except Exception:
                pass
        rules = getattr(app, "alert_rules", 0)
        live = sum(not a.history for a in log)
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(" Alerts ", style="bold reverse")
        if not rules and not log:
            head.append("  No alert rules yet: add them under `alerts:` in config.yaml (README: Alerts).", style=p.muted)
        else:
            head.append(f"  {live:,} this session", style="bold")
            hist = len(log) - live
            if hist:
                head.append(f" · {HISTORY_MARK} {hist:,} from the history of the recording", style=p.muted)
            if rules:
                head.append(f" · {rules} rule{'s' if rules != 1 else ''}", style=p.muted)
            if not log:
                head.append(" · none has fired yet", style=p.muted)
        self.query_one("#alerts-head", Static).update(head)
        self._detail()

    def selected(self):
        t = self.query_one(AlertTable)
        if not t.row_count:
            return None
        try:
            i = int(t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value)
        except Exception:
            return None
        log = getattr(self.app, "alert_log", [])
        return log[i] if 0 <= i < len(log) else None

    def action_open(self) -> None:
        a = self.selected()
        if a is not None:
            self.app.open_ticker(a.ticker)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._detail()

    def _detail(self) -> None:
        """The selected alert's example posts (those still in the ticker's latest posts)."""
        a = self.selected()
        p = palette_for(self.app.theme)
        widget = self.query_one("#alerts-detail", Static)
        if a is None:
            widget.display = False
            return
        widget.display = True
        widget.border_title = f"${safe(a.ticker, 10)} · {safe(a.rule, 24)} · {what_text(a)} in {a.window} · Enter opens ${safe(a.ticker, 10)}"
        timeline = getattr(self.app, "timeline", None)
        by_id = {sc.tweet.id: sc for sc, _h in (timeline.latest(a.ticker) if timeline else [])}
        lines = []
        for pid in a.example_ids[:3]:
            sc = by_id.get(pid)
            if sc is None:
                continue
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append_text(tweet_header(sc, p, False))
            line.append("  ")
            line.append_text(tweet_body(sc, safe(sc.tweet.text), p))
            lines.append(line)
        if not lines:
            shown = ", ".join(safe(i, 24) for i in a.example_ids[:5]) or "none"
            lines.append(Text(f"example posts: {shown} (no longer among the ticker's latest)", style=p.muted))
        widget.update(Group(*lines))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_close(self) -> None:
        self.dismiss()
