"""Alerts: rules from config.yaml (`alerts:`) evaluated on the posts' own timestamps.

rules.py parses and checks the rules, engine.py evaluates them (pure, deterministic), and
sink.py is the pipeline sink that writes `--alerts FILE`, runs `alerts.command` and hands
alerts to the UI. Data flows one way: scored posts in, alerts out.
"""

from .engine import Alert, AlertEngine
from .rules import Rule, parse_rules

__all__ = ["Alert", "AlertEngine", "Rule", "parse_rules"]
