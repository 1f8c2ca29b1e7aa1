"""Replay files: formats, ids, tickers, pacing controls, and one-line errors for bad input."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import polars as pl
import pytest

from finterm.errors import InputError
from finterm.sources.base import parse_speed
from finterm.sources.replay import ReplaySource, parse_time, read_rows
from tests.conftest import STOCKNET_CSV, STOCKNET_JSONL

ROWS = [
    {"created_at": "2024-03-01T14:30:00Z", "id": "007", "user": "alice", "symbols": "AAPL MSFT", "text": "$TSLA is mentioned but symbols win"},
    {"created_at": "2024-03-01T14:30:05+00:00", "id": "123456789012345678", "user": "bob", "symbols": "", "text": "Buying $nvda and $BRK.B today, not $5"},
    {"created_at": "2024-03-01 14:31:00", "id": "3", "user": "carol", "symbols": None, "text": "no cashtag here &amp; fine"},
]


def play(src: ReplaySource):
    out, statuses = [], []
    src.run(out.append, statuses.append, threading.Event())
    return out, statuses


def write_csv(path, rows):
    pl.DataFrame(rows).write_csv(path)
    return path


def test_csv_keeps_ids_and_prefers_symbols(tmp_path):
    src = ReplaySource(write_csv(tmp_path / "t.csv", ROWS), speed=None)
    tweets, statuses = play(src)
    assert [t.id for t in tweets] == ["007", "123456789012345678", "3"]
    assert tweets[0].tickers == ("AAPL", "MSFT")  # from symbols, not the text
    assert tweets[1].tickers == ("NVDA", "BRK.B")  # symbols empty: parsed from the text
    assert tweets[2].tickers == () and tweets[2].text == "no cashtag here & fine"
    assert tweets[2].created_at == datetime(2024, 3, 1, 14, 31, tzinfo=timezone.utc)
    assert [t.author for t in tweets] == ["alice", "bob", "carol"]
    assert statuses[0].state == "live" and statuses[-1].state == "ended"
    assert statuses[-1].position == statuses[-1].total == 3


def test_parquet_with_int_ids_datetimes_and_list_symbols(tmp_path):
    p = tmp_path / "t.parquet"
    pl.DataFrame({
        "created_at": [datetime(2024, 1, 2, 3, 4, 5), datetime(2024, 1, 2, 3, 4, 6)],
        "id": [517070131315236864, 2],
        "symbols": [["fb"], []],
        "text": ["a", "b $GE"],
    }).write_parquet(p)
    tweets, _ = play(ReplaySource(p, speed=None))
    assert [t.id for t in tweets] == ["517070131315236864", "2"]
    assert tweets[0].created_at.tzinfo is not None and tweets[0].tickers == ("FB",)
    assert tweets[1].tickers == ("GE",) and tweets[1].author == ""


def test_csv_with_bom_and_padded_header(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufeffcreated_at, text ,id\n2024-01-01T00:00:00Z,hello $SPY,9\n".encode("utf-8"))
    (row,) = read_rows(p)
    assert row.text == "hello $SPY" and row.id == "9"


def test_rows_without_id_get_stable_distinct_ids(tmp_path):
    rows = [{"created_at": "2024-01-01T00:00:00Z", "text": "same"}] * 2 + [{"created_at": "2024-01-01T00:00:01Z", "text": "other"}]
    p = tmp_path / "noid.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    first = [r.id for r in read_rows(p)]
    again = [r.id for r in read_rows(p)]
    assert first == again and len(set(first)) == 3 and all(first)


def test_shared_files_read_in_place():
    csv_rows = read_rows(STOCKNET_CSV)
    jsonl_rows = read_rows(STOCKNET_JSONL)
    assert len(csv_rows) == len(jsonl_rows) == 2733
    assert [r.id for r in csv_rows] == [r.id for r in jsonl_rows]
    assert csv_rows[0].id == "517070131315236864" and csv_rows[0].created_at.year == 2014


def test_garbled_jsonl_line_is_skipped_with_its_line_number(tmp_path):
    p = tmp_path / "g.jsonl"
    p.write_text('{"created_at": "2024-01-01T00:00:00Z", "text": "one"}\n{"created_at": "2024-01-01T00:00:01Z", "te\n\n'
                 '[1, 2]\n{"created_at": "2024-01-01T00:00:02Z", "text": "two"}\n')
    warnings: list[str] = []
    rows = read_rows(p, warnings.append)
    assert [r.text for r in rows] == ["one", "two"]
    assert any("line 2" in w for w in warnings) and any("line 4" in w for w in warnings)


@pytest.mark.parametrize("name, content, words", [
    ("gone.csv", None, "no such file"),
    ("t.txt", "created_at,text\n", "unknown file type '.txt'"),
    ("empty.csv", "", "empty"),
    ("header.csv", "created_at,text\n", "no rows"),
    ("cols.csv", "date,body\n2024-01-01,hi\n", "missing column created_at, text"),
    ("notext.jsonl", '{"created_at": "2024-01-01T00:00:00Z"}\n', "missing column text"),
    ("time.csv", "created_at,text\nyesterday,a\nlater,b\n", "row 1: created_at 'yesterday' is not a timestamp (nor"),
    ("time.jsonl", '{"created_at": null, "text": "a"}\n{"text": "b"}\n', "line 1: no created_at (nor has any other row a usable one)"),
    ("allbad.jsonl", "not json\n", "no rows"),
    ("junk.parquet", "this is not parquet", "cannot read as parquet"),
])
def test_bad_files_raise_one_line_input_error(tmp_path, name, content, words):
    p = tmp_path / name
    if content is not None:
        p.write_text(content)
    with pytest.raises(InputError) as e:
        read_rows(p)
    assert words in e.value.message and "\n" not in e.value.message and e.value.exit_code == 2


def test_parse_time_formats():
    want = datetime(2018, 10, 10, 20, 19, 24, tzinfo=timezone.utc)
    assert parse_time("Wed Oct 10 20:19:24 +0000 2018") == want
    assert parse_time("2018-10-10T22:19:24+02:00") == want
    assert parse_time(int(want.timestamp())) == want
    assert parse_time(int(want.timestamp()) * 1000) == want
    assert parse_time("soon") is None and parse_time("") is None


def test_parse_speed():
    assert parse_speed("max") is None and parse_speed("2") == 2.0 and parse_speed("0.5x") == 0.5
    for bad in ("0", "-1", "fast"):
        with pytest.raises(ValueError):
            parse_speed(bad)


def test_stop_during_a_long_gap_ends_the_replay(tmp_path):
    rows = [{"created_at": "2024-01-01T00:00:00Z", "text": "first"}, {"created_at": "2024-01-01T05:00:00Z", "text": "hours later"}]
    src = ReplaySource(write_csv(tmp_path / "gap.csv", rows), speed=1.0)
    stop, got = threading.Event(), []

    def emit(t):
        got.append(t)
        stop.set()  # stop while the replay waits five hours for the next row

    src.run(emit, lambda s: None, stop)
    assert [t.text for t in got] == ["first"]


def test_set_speed_to_max_releases_a_waiting_replay(tmp_path):
    rows = [{"created_at": f"2024-01-01T0{i}:00:00Z", "text": f"t{i}"} for i in range(4)]
    src = ReplaySource(write_csv(tmp_path / "slow.csv", rows), speed=1.0)
    got = []

    def emit(t):
        got.append(t)
        if len(got) == 1:
            src.set_speed(None)  # hours apart at speed 1; max plays the rest at once

    done = threading.Thread(target=src.run, args=(emit, lambda s: None, threading.Event()))
    done.start()
    done.join(timeout=30)
    assert not done.is_alive() and [t.text for t in got] == ["t0", "t1", "t2", "t3"]
    assert src.speed is None


@pytest.mark.parametrize("name, content", [
    ("time.csv", "created_at,text\n2024-01-01T00:00:05Z,a\nyesterday,b\n2024-01-01T00:00:09Z,c\n"),
    ("time.jsonl", '{"created_at": "2024-01-01T00:00:05Z", "text": "a"}\n{"created_at": null, "text": "b"}\n'
                   '{"text": "no time"}\n{"created_at": "2024-01-01T00:00:09Z", "text": "c"}\n'),
])
def test_a_row_without_a_usable_time_is_played_at_the_time_before_it_with_a_warning(tmp_path, name, content):
    p = tmp_path / name
    p.write_text(content)
    warnings = []
    rows = read_rows(p, warnings.append)
    assert [r.text for r in rows][0] == "a" and rows[-1].text == "c" and len(rows) == content.count("\n") - name.endswith(".csv")
    assert all(r.created_at == rows[0].created_at for r in rows[:-1])
    assert len(warnings) == len(rows) - 2 and all("played at the time of the row before it" in w for w in warnings)


def test_many_bad_times_are_summed_up_after_a_few_warnings(tmp_path):
    p = tmp_path / "many.jsonl"
    p.write_text('{"created_at": "2024-01-01T00:00:00Z", "text": "ok"}\n' + '{"text": "x"}\n' * 40)
    warnings = []
    assert len(read_rows(p, warnings.append)) == 41
    assert len(warnings) == 6 and warnings[-1].endswith("35 more rows without a usable created_at, played the same way")
