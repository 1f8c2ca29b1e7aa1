"""How much of a core the Bluesky firehose costs: Jetstream frames parsed and filtered per second.

    python bench/bluesky_filter.py [--events 200000] [--runs 5] [--out bench/results/bluesky_filter.json]

Jetstream sends every Bluesky post (hundreds a second, more at peaks) as one JSON frame;
finterm keeps the few that mention a cashtag (sources/bluesky/events.py). This feeds a
seeded synthetic timeline shaped like Jetstream's (frames built as it writes them) through
`JetstreamFilter.feed`, on one core (the process is pinned to one CPU where it can be; the
time is the thread's CPU time, so other work on the machine does not count), and prints
events a second, the median of `--runs` runs (the variants take turns), for:

- the two JSON parsers, json (standard library) and orjson, side by side;
- two paths: finterm's (two substring tests on the raw bytes decide before any parsing) and
  "parse every frame" (each frame parsed, then filtered), to show what the substring tests buy;
- two mixes: what `wantedCollections=app.bsky.feed.post` sends (posts, deletes, identity and
  account events), and the whole firehose (likes, follows, reposts, ... too).

The goal (issue 18) is at least 20,000 events a second on one core, so the firehose costs a
small part of one. Numbers, not asserts: tests/test_bluesky.py checks what is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ("the market is wild today just bought more shares of my favorite company and the chart looks great "
         "earnings next week anyone holding through it lol this is not financial advice but rates are going down "
         "good morning everyone coffee first then charts the weather is nice here my cat sat on the keyboard again "
         "new paper out on protein folding check the thread below what a game last night the team played so well").split()
LANGS = [["en"]] * 60 + [["ja"]] * 15 + [["pt"]] * 10 + [["de"]] * 5 + [[]] * 5 + [["en", "es"]] * 5
CASHTAGS = ("$AAPL", "$TSLA", "$NVDA", "$SPY", "$BTC", "$GME", "$MSFT")


def _did(r: random.Random) -> str:
    return "did:plc:" + "".join(r.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(24))


def _rkey(r: random.Random) -> str:
    return "3l" + "".join(r.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(11))


def _text(r: random.Random) -> tuple[str, list]:
    words = [r.choice(WORDS) for _ in range(r.randint(4, 40))]
    facets = []
    roll = r.random()
    if roll < 0.003:  # a cashtag post: in the text, and half the time as a tag facet too
        tag = r.choice(CASHTAGS)
        words.insert(r.randrange(len(words) + 1), tag)
        if r.random() < 0.5:
            facets.append({"index": {"byteStart": 0, "byteEnd": len(tag)},
                           "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}]})
    elif roll < 0.02:  # money, not a cashtag: $5, $1.2M
        words.insert(r.randrange(len(words) + 1), r.choice(("$5", "$1.2M", "$20", "$300k")))
    if r.random() < 0.2:
        facets.append({"index": {"byteStart": 0, "byteEnd": 23},
                       "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/a/long/path"}]})
    return " ".join(words), facets


def _commit(r: random.Random, t: int, collection: str, operation: str, record: dict | None) -> bytes:
    commit = {"rev": _rkey(r), "operation": operation, "collection": collection, "rkey": _rkey(r)}
    if record is not None:
        commit["record"] = record
        commit["cid"] = "bafyrei" + "".join(r.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(52))
    ev = {"did": _did(r), "time_us": t, "kind": "commit", "commit": commit}
    return json.dumps(ev, separators=(",", ":"), ensure_ascii=False).encode()


def _post(r: random.Random, t: int) -> bytes:
    text, facets = _text(r)
    record = {"$type": "app.bsky.feed.post", "createdAt": "2026-11-25T10:00:00.000Z", "langs": r.choice(LANGS), "text": text}
    if facets:
        record["facets"] = facets
    if r.random() < 0.3:
        record["reply"] = {"parent": {"cid": "bafyrei" + _rkey(r), "uri": f"at://{_did(r)}/app.bsky.feed.post/{_rkey(r)}"},
                           "root": {"cid": "bafyrei" + _rkey(r), "uri": f"at://{_did(r)}/app.bsky.feed.post/{_rkey(r)}"}}
    return _commit(r, t, "app.bsky.feed.post", "create", record)


def _other(r: random.Random, t: int, kind: str) -> bytes:
    ev = {"did": _did(r), "time_us": t, "kind": kind,
          kind: {"did": _did(r), "seq": r.randrange(10**9), "time": "2026-11-25T10:00:00.000Z", "active": True}}
    return json.dumps(ev, separators=(",", ":")).encode()


def _subject(r: random.Random, collection: str) -> dict:
    return {"$type": collection, "createdAt": "2026-11-25T10:00:00.000Z",
            "subject": {"cid": "bafyrei" + _rkey(r), "uri": f"at://{_did(r)}/app.bsky.feed.post/{_rkey(r)}"}}


def timeline(n: int, mix: str, seed: int = 7) -> list[bytes]:
    """`n` frames. posts: creates 88%, deletes 8%, identity 2%, account 2%.
    firehose: likes 55%, posts 20%, follows 10%, reposts 8%, deletes 5%, identity/account 2%."""
    r = random.Random(seed)
    t0 = 1_795_600_800_000_000
    out = []
    for i in range(n):
        t = t0 + i * 300
        x = r.random()
        if mix == "posts":
            if x < 0.88:
                out.append(_post(r, t))
            elif x < 0.96:
                out.append(_commit(r, t, "app.bsky.feed.post", "delete", None))
            else:
                out.append(_other(r, t, "identity" if x < 0.98 else "account"))
        else:
            if x < 0.55:
                out.append(_commit(r, t, "app.bsky.feed.like", "create", _subject(r, "app.bsky.feed.like")))
            elif x < 0.75:
                out.append(_post(r, t))
            elif x < 0.85:
                out.append(_commit(r, t, "app.bsky.graph.follow", "create", {"$type": "app.bsky.graph.follow",
                                                                              "createdAt": "2026-11-25T10:00:00Z", "subject": _did(r)}))
            elif x < 0.93:
                out.append(_commit(r, t, "app.bsky.feed.repost", "create", _subject(r, "app.bsky.feed.repost")))
            elif x < 0.98:
                out.append(_commit(r, t, r.choice(("app.bsky.feed.like", "app.bsky.feed.post")), "delete", None))
            else:
                out.append(_other(r, t, "identity" if x < 0.99 else "account"))
    return out


def run_once(frames: list[bytes], loads, parse_every: bool) -> tuple[float, int]:
    from finterm.sources.bluesky.events import JetstreamFilter

    f = JetstreamFilter(loads=loads)
    if parse_every:
        def feed(raw: bytes):
            f.counts.events += 1
            t = f._time_us(raw)
            try:
                ev = loads(raw)
            except ValueError:
                f.counts.malformed += 1
                return None
            return f._event(ev, t)
    else:
        feed = f.feed
    t0 = time.thread_time()  # CPU time of this thread: what one core spends, whatever else runs
    for raw in frames:
        feed(raw)
    dt = time.thread_time() - t0
    return len(frames) / dt, f.counts.kept


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000, help="frames per run (default 200,000)")
    ap.add_argument("--runs", type=int, default=5, help="runs per variant; the median is shown (default 5)")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args(argv)

    import orjson

    pinned = None
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        pinned = cpu
    parsers = {"json": json.loads, "orjson": orjson.loads}
    results: dict = {}
    for mix in ("posts", "firehose"):
        frames = timeline(args.events, mix)
        mb = sum(map(len, frames)) / 1e6
        results[mix] = {"frames": len(frames), "mb": round(mb, 1)}
        variants = [(path, name) for path in ("finterm", "parse every frame") for name in parsers]
        rates: dict = {v: [] for v in variants}
        kept: dict = {}
        for _ in range(args.runs):  # the variants take turns, so a busy moment hits them alike
            for path, name in variants:
                rate, kept[(path, name)] = run_once(frames, parsers[name], path != "finterm")
                rates[(path, name)].append(rate)
        for (path, name), xs in rates.items():
            results[mix][f"{path} / {name}"] = {"median": statistics.median(xs), "runs": [round(x) for x in xs],
                                                "kept": kept[(path, name)]}
    where = f"pinned to CPU {pinned}" if pinned is not None else "one thread"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"Jetstream frames parsed and filtered per second, one core ({where}); median of {args.runs} runs "
          f"of {args.events:,} frames; Python {sys.version.split()[0]}, orjson {orjson.__version__}"
          + (f"; load average {load:.1f} at the end" if load is not None else "") + "\n")
    print("| mix | path | json | orjson | orjson / json | kept |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for mix in ("posts", "firehose"):
        for path in ("finterm", "parse every frame"):
            j, o = results[mix][f"{path} / json"], results[mix][f"{path} / orjson"]
            print(f"| {mix} ({results[mix]['mb']} MB) | {path} | {j['median']:,.0f}/s | {o['median']:,.0f}/s | "
                  f"{o['median'] / j['median']:.2f}× | {o['kept']:,} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"events": args.events, "runs": args.runs, "pinned_cpu": pinned, "load_avg": load,
                                        "python": sys.version.split()[0], "orjson": orjson.__version__,
                                        "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
