"""The demo market's vocabulary: tickers with sectors, and tweet templates per topic and tone.

Written for finterm (not drawn from any dataset). Placeholders are filled by demo.py:
{t} cashtag, {name} company, {t2}/{name2} a second company, {pct} move in %, {price},
{firm} analyst firm, {target} price target, {q} quarter, {eps}/{est} earnings per share,
{rev} revenue, {div} dividend, {yld} yield %, {amt} deal size, {role} executive title,
{person} a name, {bps} basis points, {oil}/{gold} commodity prices, {pair}/{fx} currency,
{ten} 10-year yield, {sector} sector, {idx} index cashtag.
"""

from __future__ import annotations

#: ticker, company, sector, popularity weight
UNIVERSE: tuple[tuple[str, str, str, float], ...] = (
    ("AAPL", "Apple", "Tech", 9), ("MSFT", "Microsoft", "Tech", 7), ("NVDA", "Nvidia", "Semis", 9),
    ("AMD", "AMD", "Semis", 5), ("INTC", "Intel", "Semis", 3), ("AVGO", "Broadcom", "Semis", 2),
    ("GOOGL", "Alphabet", "Internet", 5), ("META", "Meta", "Internet", 6), ("AMZN", "Amazon", "Internet", 7),
    ("NFLX", "Netflix", "Media", 3), ("DIS", "Disney", "Media", 3), ("TSLA", "Tesla", "Autos", 9),
    ("F", "Ford", "Autos", 2), ("GM", "General Motors", "Autos", 2), ("RIVN", "Rivian", "Autos", 2),
    ("JPM", "JPMorgan", "Banks", 4), ("BAC", "Bank of America", "Banks", 3), ("GS", "Goldman Sachs", "Banks", 3),
    ("WFC", "Wells Fargo", "Banks", 2), ("V", "Visa", "Payments", 2), ("PYPL", "PayPal", "Payments", 2),
    ("XOM", "Exxon Mobil", "Energy", 3), ("CVX", "Chevron", "Energy", 3), ("OXY", "Occidental", "Energy", 2),
    ("PFE", "Pfizer", "Pharma", 3), ("MRNA", "Moderna", "Pharma", 2), ("LLY", "Eli Lilly", "Pharma", 3),
    ("UNH", "UnitedHealth", "Health", 2), ("KO", "Coca-Cola", "Staples", 2), ("PEP", "PepsiCo", "Staples", 1),
    ("WMT", "Walmart", "Retail", 3), ("COST", "Costco", "Retail", 2), ("NKE", "Nike", "Retail", 2),
    ("BA", "Boeing", "Aerospace", 3), ("CAT", "Caterpillar", "Industrials", 2), ("NEE", "NextEra", "Utilities", 1),
    ("T", "AT&T", "Telecom", 2), ("VZ", "Verizon", "Telecom", 2), ("FCX", "Freeport-McMoRan", "Materials", 1),
    ("NEM", "Newmont", "Materials", 1),
)

#: Market-wide instruments for macro tweets.
INDEXES = ("SPY", "QQQ", "IWM", "DIA")
TREASURY = ("TLT", "IEF", "SHY")
GOLD = ("GLD", "SLV", "GDX")
OIL = ("USO", "XLE")
FX_PAIRS = ("EUR/USD", "USD/JPY", "GBP/USD", "USD/CNH", "AUD/USD")

FIRMS = ("Morgan Stanley", "Goldman", "Barclays", "Jefferies", "Bernstein", "UBS", "Citi",
         "Wedbush", "Piper Sandler", "Evercore ISI", "Raymond James", "KeyBanc", "Mizuho")
ROLES = ("CEO", "CFO", "COO", "CTO", "chairman", "general counsel", "head of AI")
PEOPLE = ("Dana Whitfield", "Marcus Oyelaran", "Priya Ranganathan", "Tomás Ferreira", "Helen Zhou",
          "Grant Okafor", "Sofia Lindqvist", "Raj Malhotra", "Claire Dubois", "Ethan Kowalczyk")
PRODUCTS = ("AI chip", "subscription tier", "electric pickup", "smartwatch", "cloud region",
            "weight-loss drug", "streaming bundle", "payments app", "robotaxi pilot", "data-center GPU")
REGULATORS = ("the FTC", "the SEC", "the DOJ", "EU regulators", "the FDA", "a federal judge")

HANDLE_A = ("Chart", "Tape", "Alpha", "Value", "Macro", "Options", "Dividend", "Swing", "Bull", "Bear",
            "Quant", "Gamma", "Candle", "Momentum", "Contrarian", "Sector", "Street", "Ticker")
HANDLE_B = ("Hawk", "Reader", "Hunter", "Desk", "Notes", "Wolf", "Sage", "Trader", "Watch", "Lab",
            "Pilot", "Journal", "Scout", "Owl", "Guy", "Queen", "Flow", "Insider")
NEWS_DESKS = ("WireDeskMarkets", "StreetHeadlines", "MarketPulseNow", "TickerTapeNews", "FinBulletin")

BULL, BEAR, NEUTRAL = "bull", "bear", "neutral"

# topic -> tone -> templates. Topic names are the model's 20 labels.
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "Analyst Update": {
        BULL: ("{firm} upgrades {t} to Buy, target raised to ${target}",
               "{firm} lifts {name} price target to ${target}, sees {pct}% upside {t}",
               "Another upgrade for {t}: {firm} now Overweight, cites margin expansion",
               "{firm} adds {t} to its top picks list, PT ${target}"),
        BEAR: ("{firm} downgrades {t} to Sell, cuts target to ${target}",
               "{firm} slashes {name} price target to ${target} on weaker demand {t}",
               "{t} cut to Underweight at {firm}; analyst sees {pct}% downside",
               "{firm} removes {t} from its conviction list, PT lowered to ${target}"),
        NEUTRAL: ("{firm} initiates {t} at Neutral with ${target} target",
                  "{firm} reiterates Hold on {name}, PT ${target} {t}",
                  "{firm} adjusts {t} estimates ahead of {q} results; rating unchanged"),
    },
    "Earnings": {
        BULL: ("{name} beats: {q} EPS ${eps} vs ${est} est, revenue ${rev} {t}",
               "{t} crushes {q} estimates and raises full-year guidance",
               "Blowout quarter from {t}: EPS ${eps} vs ${est} expected, guide above street",
               "{name} {q} revenue ${rev} tops forecasts; shares jump {pct}% after hours {t}"),
        BEAR: ("{name} misses: {q} EPS ${eps} vs ${est} est {t}",
               "{t} cuts guidance after a weak {q}; revenue ${rev} below consensus",
               "Ugly print from {t}. Margins shrink, outlook lowered, stock down {pct}% AH",
               "{name} {q} earnings disappoint, EPS ${eps} misses by a wide margin {t}"),
        NEUTRAL: ("{name} to report {q} earnings after the close today {t}",
                  "{t} {q} results in line: EPS ${eps} vs ${est} est, guidance reaffirmed",
                  "Earnings this week: {t}, {t2} and more. What are you watching?"),
    },
    "Fed | Central Banks": {
        BULL: ("Fed signals rate cuts ahead; {idx} rallies on dovish minutes",
               "Powell: inflation cooling, policy can ease. Stocks like it {idx}",
               "Fed holds and drops hiking bias, risk assets ripping {idx}"),
        BEAR: ("Fed hikes {bps}bp and warns more may come {idx}",
               "Hawkish Fed: higher for longer, cuts pushed out. {idx} slides",
               "Fed minutes show officials worried about sticky inflation {idx}"),
        NEUTRAL: ("Fed decision at 2pm ET; markets price a hold {idx}",
                  "ECB keeps rates unchanged, as expected",
                  "Fed speakers on deck today: three regional presidents"),
    },
    "Company | Product News": {
        BULL: ("{name} unveils new {product}, early reviews glowing {t}",
               "{t} wins a multi-year contract worth ${amt}B",
               "{name} says {product} demand far exceeds supply {t}"),
        BEAR: ("{name} recalls {product} over safety issue {t}",
               "{t} delays {product} launch to next year",
               "Outage hits {name} services for hours {t}"),
        NEUTRAL: ("{name} to hold product event next month {t}",
                  "{t} announces {product} update, details at developer conference",
                  "{name} opens new office and hiring plan for {product} team {t}"),
    },
    "Treasuries | Corporate Debt": {
        BULL: ("Bonds rally, 10-year yield falls to {ten}% {tlt}",
               "{name} prices ${amt}B bond deal, orders 4x covered {t}"),
        BEAR: ("10-year yield jumps to {ten}%, highest in months {tlt}",
               "Moody's cuts {name} credit rating to junk {t}",
               "Weak Treasury auction, tails by {bps}bp {tlt}"),
        NEUTRAL: ("Treasury to auction $42B of 10-year notes today {tlt}",
                  "{name} files for ${amt}B debt offering {t}"),
    },
    "Dividend": {
        BULL: ("{name} raises quarterly dividend to ${div}, yield {yld}% {t}",
               "{t} hikes payout for the 20th straight year and adds buyback",
               "Special dividend of ${div} declared by {name} {t}"),
        BEAR: ("{name} cuts its dividend to ${div} to preserve cash {t}",
               "{t} suspends dividend after weak quarter"),
        NEUTRAL: ("{name} declares regular dividend of ${div} per share {t}",
                  "{t} goes ex-dividend tomorrow, ${div} a share"),
    },
    "Energy | Oil": {
        BULL: ("Crude up {pct}% to ${oil} as OPEC+ extends cuts {oil_t}",
               "Oil rallies on supply worries, {t} {t2} leading energy higher"),
        BEAR: ("Oil drops {pct}% to ${oil} on demand fears {oil_t}",
               "Crude inventories build more than expected, energy names lower {t}"),
        NEUTRAL: ("OPEC+ meeting this weekend, oil at ${oil} {oil_t}",
                  "EIA inventory report due at 10:30 ET {oil_t}"),
    },
    "Financials": {
        BULL: ("Banks rally after stress test results, {t} and {t2} higher",
               "{name} net interest income beats, lending strong {t}"),
        BEAR: ("Regional bank worries weigh on {t}, deposits outflow reported",
               "{name} sets aside more for loan losses {t}"),
        NEUTRAL: ("Bank earnings kick off Friday: {t}, {t2}",
                  "{name} to present at financials conference next week {t}"),
    },
    "Currencies": {
        BULL: ("{pair} breaks out to {fx} as the dollar weakens",),
        BEAR: ("Dollar surges; {pair} slides to {fx}",),
        NEUTRAL: ("{pair} flat at {fx} ahead of jobs data", "FX desk: {pair} range {fx} holds"),
    },
    "General News | Opinion": {
        BULL: ("Opinion: the bull market has more room to run {idx}",
               "Long-term investors should love this dip. Buying {idx}"),
        BEAR: ("Opinion: valuations are stretched and the market ignores the risks {idx}",
               "Retail euphoria feels a lot like a top to me {idx}"),
        NEUTRAL: ("Markets closed Monday for the holiday", "What's the best investing book you read this year?"),
    },
    "Gold | Metals | Materials": {
        BULL: ("Gold hits ${gold}, record high {gold_t}", "Copper surges {pct}% on supply disruptions {t}"),
        BEAR: ("Gold slides {pct}% as yields climb {gold_t}", "Metals selloff drags miners {t} lower"),
        NEUTRAL: ("Gold steady at ${gold} {gold_t}",),
    },
    "IPO": {
        BULL: ("{name2} IPO prices above range, opens up {pct}%", "Hot IPO: {name2} doubles on debut"),
        BEAR: ("{name2} IPO breaks issue price on first day", "{name2} postpones IPO citing market conditions"),
        NEUTRAL: ("{name2} files for IPO, seeks ${amt}B valuation", "IPO calendar: three listings this week"),
    },
    "Legal | Regulation": {
        BULL: ("{name} wins court ruling, {regulator} case dismissed {t}",
               "{t} settles dispute for less than feared"),
        BEAR: ("{regulator} sues {name} over antitrust concerns {t}",
               "{name} fined ${amt}B by {regulator} {t}",
               "{regulator} opens probe into {name} accounting {t}"),
        NEUTRAL: ("{regulator} reviewing {name} proposal, decision expected later {t}",
                  "{t} hearing scheduled for next month"),
    },
    "M&A | Investments": {
        BULL: ("{name} to acquire {name2} for ${amt}B in cash {t}",
               "{t} jumps on report of takeover interest",
               "{name} takes a ${amt}B stake in {name2} {t}"),
        BEAR: ("{name} deal for {name2} collapses {t}", "{t} overpaying for {name2}? Shares fall on ${amt}B deal"),
        NEUTRAL: ("{name} in early talks to buy {name2}, sources say {t}",
                  "{t} completes acquisition of {name2}"),
    },
    "Macro": {
        BULL: ("CPI cooler than expected, core up just 0.1% {idx}", "Jobs report strong, unemployment falls {idx}"),
        BEAR: ("Inflation hotter than forecast, core CPI up 0.5% {idx}", "GDP contracts, recession fears grow {idx}"),
        NEUTRAL: ("Economic calendar: CPI Wednesday, retail sales Friday", "Jobless claims at 9:30, consensus 215k"),
    },
    "Markets": {
        BULL: ("Stocks close at record highs, {idx} up {pct}%", "Broad rally: {sector} leads, {idx} green"),
        BEAR: ("Stocks sink, {idx} down {pct}% in worst day since spring", "Selloff spreads, {sector} hit hardest {idx}"),
        NEUTRAL: ("Futures flat ahead of the open {idx}", "Quiet session so far, {idx} little changed"),
    },
    "Politics": {
        BULL: ("Congress reaches budget deal, shutdown avoided {idx}",),
        BEAR: ("New tariffs announced on imports, {sector} stocks fall {idx}",),
        NEUTRAL: ("Senate hearing on trade policy today", "White House to speak on the economy at noon"),
    },
    "Personnel Change": {
        BULL: ("{name} names {person} as {role}; investors cheer the pick {t}",
               "{t} up after activist-backed {role} hire"),
        BEAR: ("{name} {role} resigns unexpectedly {t}", "{t} {role} {person} steps down amid probe"),
        NEUTRAL: ("{name} appoints {person} as new {role} {t}", "{t} board adds {person} as director"),
    },
    "Stock Commentary": {
        BULL: ("{t} looks ready to break out, loading calls", "Long {t}. Fundamentals never better",
               "{t} chart is a beauty, higher lows all month", "Added more {t} today, still cheap",
               "{t} to ${target} is just a matter of time"),
        BEAR: ("{t} looks toppy, taking profits here", "Short {t}, valuation makes no sense",
               "{t} losing support, careful", "Sold my {t}, too much risk into earnings",
               "{t} breaking down on volume"),
        NEUTRAL: ("Watching {t} at ${price} for a decision", "What's everyone's take on {t} here?",
                  "{t} and {t2} on my list this week", "Holding {t}, no changes"),
    },
    "Stock Movement": {
        BULL: ("{t} up {pct}% to ${price}", "{name} shares rise {pct}% in midday trading {t}",
               "{t} hits a new 52-week high at ${price}", "{t} +{pct}% premarket"),
        BEAR: ("{t} down {pct}% to ${price}", "{name} shares fall {pct}% {t}",
               "{t} hits 52-week low at ${price}", "{t} -{pct}% premarket"),
        NEUTRAL: ("{t} trading flat near ${price}", "{t} unchanged at ${price} ahead of the data"),
    },
}

#: How often each topic appears in the background chatter (relative weights).
TOPIC_WEIGHTS: dict[str, float] = {
    "Stock Commentary": 14, "Stock Movement": 14, "Analyst Update": 7, "Earnings": 8,
    "Company | Product News": 7, "Markets": 6, "Macro": 4, "Fed | Central Banks": 4,
    "M&A | Investments": 4, "Legal | Regulation": 3, "Energy | Oil": 3, "Dividend": 3,
    "Financials": 3, "Treasuries | Corporate Debt": 2, "Personnel Change": 2, "IPO": 2,
    "Gold | Metals | Materials": 2, "Currencies": 2, "Politics": 2, "General News | Opinion": 3,
}

#: Topics whose tweets name a company of one of these sectors.
TOPIC_SECTORS: dict[str, tuple[str, ...]] = {
    "Financials": ("Banks", "Payments"), "Energy | Oil": ("Energy",), "Gold | Metals | Materials": ("Materials",),
}

#: Topics that make a news event about one company, and their reaction chatter.
EVENT_TOPICS = ("Earnings", "Analyst Update", "M&A | Investments", "Legal | Regulation",
                "Personnel Change", "Company | Product News", "Dividend")
REACTION_TOPICS = ("Stock Movement", "Stock Commentary")

SUFFIXES = ("", "", "", "", "", " #stocks", " #investing", " #trading", " 👀", " https://t.co/{link}")
BULL_SUFFIXES = (" 🚀", " 📈", " #bullish", " 💪")
BEAR_SUFFIXES = (" 📉", " #bearish", " 😬", " ⚠️")
IPO_NAMES = ("Northwind Robotics", "Bluefin Payments", "Cascade Genomics", "Orbitline Space",
             "Harborview Energy", "Quanta Health", "Lumen Foods")
