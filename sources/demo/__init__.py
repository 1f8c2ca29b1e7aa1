"""The demo market simulator: realistic finance tweets with bursts and news events, no network."""
