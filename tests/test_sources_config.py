"""The sources: section and how a run picks its sources (flags, config, an X token)."""

from __future__ import annotations

import pytest

from finterm.config import ConfigError, config_from_dict
from finterm.errors import InputError
from finterm.sources.registry import parse_names
from finterm.wiring import default_live_sources


def test_sources_section_is_checked_key_by_key():
    cfg = config_from_dict({"sources": {"use": "Bluesky stocktwits", "bluesky": {"url": "ws://127.0.0.1:1/subscribe"},
                                        "stocktwits": {"symbols": "$aapl, tsla", "requests_per_hour": 60}}})
    assert cfg.sources.use == ["bluesky", "stocktwits"] and cfg.sources.stocktwits.symbols == ["AAPL", "TSLA"]
    for bad, key in [({"use": ["demo"]}, "sources.use"), ({"bluesky": {"url": "https://x"}}, "sources.bluesky.url"),
                     ({"stocktwits": {"api_base": "ftp://x"}}, "sources.stocktwits.api_base"),
                     ({"stocktwits": {"requests_per_hour": 0}}, "sources.stocktwits.requests_per_hour"),
                     ({"stocktwits": {"requests_per_hour": "lots"}}, "sources.stocktwits.requests_per_hour"),
                     ({"mastodon": {}}, "sources.mastodon")]:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            config_from_dict({"sources": bad}, "c.yaml")


def test_the_live_default():
    cfg = config_from_dict({})
    assert default_live_sources(cfg, env={}) == ["bluesky", "stocktwits"]
    assert default_live_sources(cfg, env={"X_BEARER_TOKEN": "t"}) == ["x"]
    assert default_live_sources(config_from_dict({"x": {"bearer_token": "t"}}), env={}) == ["x"]
    assert default_live_sources(config_from_dict({"sources": {"use": ["stocktwits"]}}), env={"X_BEARER_TOKEN": "t"}) == ["stocktwits"]


def test_source_names():
    assert parse_names("bluesky, StockTwits,bluesky") == ["bluesky", "stocktwits"]
    assert parse_names("demo") == ["demo"]
    with pytest.raises(InputError, match="unknown source 'nope'"):
        parse_names("bluesky,nope")
    with pytest.raises(InputError, match="only live sources merge"):
        parse_names("demo,bluesky")
    with pytest.raises(InputError):
        parse_names(" , ")
