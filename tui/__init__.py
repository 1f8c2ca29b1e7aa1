"""The Textual monitor and the command-line entry point.

- `app.py` — `FintermApp(pipeline, config)`: drains `pipeline.events` on a timer, feeds the
  aggregator (`finterm.sinks.aggregate`), applies updates in `batch_update`; starts the
  pipeline on mount and stops it on quit. Key bindings, command palette, filters.
- `app.tcss` — layout and styles; `palette.py` — themes (dark, light, contrast) and the
  colorblind-safe sentiment palette with glyphs.
- `widgets/` — one widget a module: `StatusBar`, `FeedView` (bounded, virtualized Line API
  list), `TickerPanel` (DataTable with gauges and sparklines), `TopicHistogram`.
- `screens/` — `HelpScreen`, `TickerFilterScreen` (typed, with completion), `TopicPickerScreen`.
- `render.py` — Rich Text builders for untrusted tweet data (never markup strings);
  `filters.py`, `messages.py`, `logs.py` (logs to a file, never over the screen).
- `cli.py` — the `finterm` command.
"""
