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
}


def build_source(name: str, options: SourceOptions, config) -> Source:
    """The source called `name`, built from the flags and config; unknown names are an input error."""
    module = SOURCES.get(name)
    if module is None:
        raise InputError(f"unknown source {name!r} (known: {', '.join(SOURCES)})")
    return importlib.import_module(module).build(options, config)
