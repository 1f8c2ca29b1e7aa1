"""Writes fixture.jsonl: 180 synthetic finance tweets with fixed labels, for the UI tests.

Run once (`python tests/snapshots/make_fixture.py`); the file is committed. Each row is a
replay row (`id, created_at, user, text, symbols`) plus the labels the test pipeline uses.
"""

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

TOPICS = [
    "Analyst Update", "Fed | Central Banks", "Company | Product News",
    "Treasuries | Corporate Debt", "Dividend", "Earnings", "Energy | Oil", "Financials",
    "Currencies", "General News | Opinion", "Gold | Metals | Materials", "IPO",
    "Legal | Regulation", "M&A | Investments", "Macro", "Markets", "Politics",
    "Personnel Change", "Stock Commentary", "Stock Movement",
]
TEMPLATES = {
    "Bullish": ["${t} beats on revenue, guides higher for the quarter", "Buying more ${t} here, breakout looks real",
                "${t} upgraded to Buy at Morgan Stanley, target raised", "${t} rallies after strong demand update",
                "Long ${t} into the print, options flow is heavy on calls"],
    "Bearish": ["${t} misses estimates, shares slide after hours", "Trimming ${t}: margins under pressure",
                "${t} downgraded to Underweight, PT cut", "${t} falls as regulator opens a probe",
                "Short ${t}, guidance looks too rosy"],
    "Neutral": ["${t} to report earnings Thursday after the close", "${t} CEO speaks at the conference today",
                "What is everyone watching in ${t} this week?", "${t} annual meeting set for May 12",
                "${t} files 10-Q with the SEC"],
}
TICKERS = ["AAPL", "TSLA", "NVDA", "MSFT", "AMZN", "SPY", "JPM", "XOM", "GLD", "META", "BRK.B", "NFLX"]
WEIGHTS = [14, 12, 10, 8, 7, 9, 5, 4, 3, 6, 2, 3]
AUTHORS = ["marketwatch", "zerohedge", "ReutersBiz", "jimcramer", "StockTwits", "TheStreet", "WSJmarkets", "bespokeinvest"]


def main() -> None:
    rng = random.Random(2014)
    t0 = datetime(2014, 10, 14, 14, 30, tzinfo=timezone.utc)
    rows = []
    t = t0
    for i in range(180):
        t += timedelta(seconds=rng.randint(3, 22))
        sent = rng.choices(["Bullish", "Bearish", "Neutral"], [4, 3, 5])[0]
        tick = rng.choices(TICKERS, WEIGHTS)[0]
        text = rng.choice(TEMPLATES[sent]).replace("{t}", tick)
        symbols = [tick]
        if rng.random() < 0.2:
            other = rng.choices(TICKERS, WEIGHTS)[0]
            if other != tick:
                text += f" and ${other}"
                symbols.append(other)
        topic = rng.choice(TOPICS[:20])
        rows.append({
            "id": str(500000000000000000 + i), "created_at": t.isoformat().replace("+00:00", "Z"),
            "user": rng.choice(AUTHORS), "text": text, "symbols": symbols,
            "sentiment": sent, "sentiment_score": round(rng.uniform(0.5, 0.99), 3),
            "topic": topic, "topic_score": round(rng.uniform(0.3, 0.95), 3),
            "latency_ms": round(rng.uniform(6, 30), 1),
        })
    # untrusted text: markup and an escape sequence must show literally
    rows[-3]["text"] = "[bold red]FAKE ALERT[/] $TSLA \x1b[31mred\x1b[0m halted?! \x1b]0;pwned\x07"
    rows[-3]["symbols"] = ["TSLA"]
    Path(__file__).with_name("fixture.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
