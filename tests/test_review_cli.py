"""`finterm label`'s command line without the UI: export, and one-line errors."""

from __future__ import annotations

import polars as pl
import pytest

from finterm.store.labels import Correction, LabelStore
from finterm.tui.label_cli import main


@pytest.fixture
def no_user_config(monkeypatch, tmp_path):
    monkeypatch.delenv("FINTERM_CONFIG", raising=False)
    monkeypatch.delenv("FINTERM_LABELS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def test_export_writes_text_label_of_one_task(tmp_path, no_user_config, capsys):
    path = tmp_path / "data" / "finterm" / "labels.parquet"  # the default place
    LabelStore(path).put([Correction(id="1", task="sentiment", label="Bearish", text="a"),
                          Correction(id="1", task="topic", label="IPO", text="a"),
                          Correction(id="2", task="sentiment", label="Bullish", text="b")])
    assert main(["--export", str(tmp_path / "s.csv")]) == 0
    assert "2 sentiment labels" in capsys.readouterr().err
    assert pl.read_csv(tmp_path / "s.csv").select("text", "label").rows() == [("a", "Bearish"), ("b", "Bullish")]
    assert main(["--export", str(tmp_path / "t.parquet"), "--task", "topic", "--labels", str(path)]) == 0
    assert pl.read_parquet(tmp_path / "t.parquet")["label"].to_list() == ["IPO"]


def test_errors_are_one_line(tmp_path, no_user_config, capsys):
    assert main(["--export", str(tmp_path / "s.csv")]) == 2
    assert "no labels file yet" in capsys.readouterr().err
    assert main([]) == 2
    assert "give a FILE" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err and "Traceback" not in err


def test_finterm_label_is_a_subcommand_of_finterm(finterm, tmp_path, model_args):
    """`finterm label ...` reaches the review command (its own flags, its own errors)."""
    r = finterm("label", tmp_path / "missing.csv", *model_args)
    err = r.stderr.decode()
    assert r.returncode == 2 and err.startswith("finterm label: ") and "no such file" in err, err
    r = finterm("label", "--help")
    assert r.returncode == 0 and b"--export" in r.stdout
    assert b"finterm label FILE" in finterm("--help").stdout
