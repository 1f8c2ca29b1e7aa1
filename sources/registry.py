"""Every source finterm knows, by the name `--source` and `sources:` use: one line each.

A source module offers `build(options: SourceOptions, config: Config) -> Source`; it is
imported only when asked for, so `finterm --demo` never imports an HTTP client. To add a
source: write its module (or folder) under sources/ and add its line here.
"""

from __future__ import annotations

import importlib

from finterm.errors import InputError

from .base import Source, SourceOptions

#: name -> module with `build(options, config)`.
SOURCES: dict[str, str] = {
    "demo": "finterm.sources.demo.simulator",
    "replay": "finterm.sources.replay",
    "x": "finterm.sources.x.stream",
    "bluesky": "finterm.sources.bluesky.source",
    "stocktwits": "finterm.sources.stocktwits.source",
}
#: The sources that can run together (`--source bluesky,stocktwits`); demo and replay run alone.
LIVE = ("x", "bluesky", "stocktwits")


def build_source(name: str, options: SourceOptions, config) -> Source:
    """The source called `name`, built from the flags and config; unknown names are an input error."""
    module = SOURCES.get(name)
    if module is None:
        raise InputError(f"unknown source {name!r} (known: {', '.join(SOURCES)})")
    return importlib.import_module(module).build(options, config)


def parse_names(value: str | list[str]) -> list[str]:
    """`bluesky,stocktwits` -> ["bluesky", "stocktwits"]: known names, each once; several only if live."""
    names = value.replace(",", " ").split() if isinstance(value, str) else [n.strip() for n in value]
    names = list(dict.fromkeys(n.lower() for n in names if n))
    if not names:
        raise InputError("--source needs a name (known: " + ", ".join(SOURCES) + ")")
    for name in names:
        if name not in SOURCES:
            raise InputError(f"unknown source {name!r} (known: {', '.join(SOURCES)})")
    if len(names) > 1 and any(n not in LIVE for n in names):
        raise InputError(f"only live sources merge ({', '.join(LIVE)}); demo and replay run alone")
    return names


def build_sources(names: str | list[str], options: SourceOptions, config) -> Source:
    """One source, or several live ones merged into one feed (sources/merged.py)."""
    names = parse_names(names)
    if len(names) == 1:
        return build_source(names[0], options, config)
    from .merged import MergedSource

    return MergedSource([build_source(n, options, config) for n in names])
