"""`finterm-train bench DIR --card`: the card's latency section measured again, the rest kept."""

from __future__ import annotations

import shutil

from finterm import PROJECT_ROOT
from training.card_latency import refresh_card
from training.cli import main

ROW = {"batch": 16, "tokens": 32, "median_ms": 40.0, "p90_ms": 44.0, "ms_per_tweet": 2.5, "tweets_per_second": 400.0}
CARD = """# a model

## Size and sparsity

- model.onnx: 22.88 MB.

## Latency (this machine, one run, noisy)

| engine | shape | median ms | p90 ms | ms per tweet | tweets/s |
|---|---|---|---|---|---|
| deepsparse | 1 × 32 | 711.99 | 722.97 | 711.99 | 1 |

Machine (evaluation): some CPU.
"""


def test_the_latency_section_is_replaced_and_the_rest_kept(tmp_path):
    (tmp_path / "MODEL_CARD.md").write_text(CARD)
    text = refresh_card(tmp_path, {"deepsparse": {"b16x32": ROW}}).read_text()
    assert "711.99" not in text and "| deepsparse | 16 × 32 | 40.00 | 44.00 | 2.50 | 400 |" in text
    assert text.startswith("# a model\n\n## Size and sparsity\n\n- model.onnx: 22.88 MB.\n\n## Latency (median")
    assert text.count("## Latency") == 1 and text.endswith("Machine (evaluation): some CPU.\n")
    assert "load average" in text


def test_a_card_without_the_section_gets_it_at_the_end(tmp_path):
    (tmp_path / "MODEL_CARD.md").write_text("# a model\n\nSome text.\n")
    text = refresh_card(tmp_path, {"onnxruntime": {"b16x32": ROW}}).read_text()
    assert text.startswith("# a model\n\nSome text.\n\n## Latency") and "| onnxruntime | 16 × 32 |" in text


def test_a_folder_without_a_card_is_refused_in_one_line_before_measuring(tmp_path, capsys):
    assert main(["bench", str(tmp_path), "--card"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "MODEL_CARD.md: no model card to update" in err


def test_bench_card_measures_the_shipped_model_through_the_runtime(tmp_path):
    folder = tmp_path / "finterm"
    shutil.copytree(PROJECT_ROOT / "assets" / "models" / "finterm", folder)
    before = (folder / "MODEL_CARD.md").read_text()
    assert main(["bench", str(folder), "--card", "--engine", "onnxruntime", "--repeats", "2"]) == 0
    after = (folder / "MODEL_CARD.md").read_text()
    section = after[after.index("## Latency"):]
    assert section.count("| onnxruntime |") == 4 and "| deepsparse |" not in section
    assert after[:after.index("## Latency")] == before[:before.index("## Latency")]


def test_bench_of_a_missing_model_folder_is_one_line_not_a_traceback(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "nope")]) == 3
    err = capsys.readouterr().err.strip()
    assert err == f"finterm-train: no model folder at {tmp_path / 'nope'} (model.onnx, config.json, tokenizer.json): " \
                  "train one with `finterm-train`"
    assert main(["bench", str(tmp_path)]) == 3
    assert capsys.readouterr().err.strip() == f"finterm-train: model folder {tmp_path} lacks model.onnx, config.json, tokenizer.json"
