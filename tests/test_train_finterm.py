"""`finterm-train --task finterm` end to end on a tiny BERT: two teachers -> the sparse int8 student
with two heads -> one model.onnx with two named outputs, scored through the real DeepSparse engine;
the losses, metrics and batch plan on their own; and the GPU chain script on the same tiny inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")
pytest.importorskip("sparseml")
pytest.importorskip("transformers")
os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")

from finterm import PROJECT_ROOT  # noqa: E402
from tests.trainkit import chatter_rows, finterm_data, sentiment_rows, tiny_backbone, topic_rows  # noqa: E402

STUDENT = ["--set", "num_epochs=4", "--set", "qat_epochs=1.0", "--set", "batch_size=16", "--set", "learning_rate=1e-3"]


def _texts() -> list[str]:
    return [t for t, _ in sentiment_rows(48, 1) + sentiment_rows(24, 2) + topic_rows(60, 3) + chatter_rows(48, 5)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from finterm.training.cli import main

    root = tmp_path_factory.mktemp("finterm")
    news, chatter = finterm_data(root)
    backbone = tiny_backbone(root / "backbone", _texts(), vocab_size=300)
    data = ["--task", "finterm", "--data-dir", str(news), "--stocktwits", str(chatter), "--run-dir", str(root / "runs"),
            "--threads", "1"]
    for seed in ("0", "1"):
        assert main(["teacher", *data, "--seed", seed, "--backbone", str(backbone), "--teacher-epochs", "6",
                     "--teacher-lr", "3e-3", "--teacher-batch-size", "16"]) == 0
    assert main(["student", *data, *STUDENT]) == 0
    out = root / "model"
    rc = main(["export", *data, "--out", str(out), "--tolerance", "100", "--no-bench"])
    return root, data, out, rc


def test_export_is_one_file_with_two_named_outputs_scored_by_deepsparse(tiny):
    import onnx

    from finterm.engine.deepsparse_import import deepsparse_unavailable_reason
    from finterm.engine.model_folder import ModelFolder
    from finterm.training.evaluate import engine_outputs

    root, _, out, rc = tiny
    assert rc == 0
    m = onnx.load(str(out / "model.onnx"), load_external_data=False)
    assert [i.name for i in m.graph.input] == ["input_ids", "attention_mask"]
    assert [o.name for o in m.graph.output] == ["sentiment_logits", "topic_logits"]
    for inp in m.graph.input:  # batch and length dynamic
        assert not any(d.HasField("dim_value") and d.dim_value > 0 for d in inp.type.tensor_type.shape.dim)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["tasks"]["sentiment"] == {"output": "sentiment_logits", "id2label": {"0": "Bearish", "1": "Bullish", "2": "Neutral"}}
    assert cfg["tasks"]["topic"]["output"] == "topic_logits" and len(cfg["tasks"]["topic"]["id2label"]) == 20
    assert "id2label" not in cfg  # the labels live in tasks only
    tok = json.loads((out / "tokenizer.json").read_text())
    assert tok["padding"] is None and tok["truncation"] is None
    folder = ModelFolder.load(out, "topic")
    assert folder.multi_task and folder.output == "topic_logits" and len(folder.labels) == 20
    for png in ("confusion_sentiment.png", "confusion_topic.png", "confusion_stocktwits.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    if deepsparse_unavailable_reason():
        pytest.skip(deepsparse_unavailable_reason())
    texts = [t for t, _ in sentiment_rows(5, 9)] + ["$NVDA rocket calls printing " * 12]  # past the 64 bucket
    (ds,), _ = engine_outputs(out, [texts], "deepsparse", batch=4)
    (ort,), _ = engine_outputs(out, [texts], "onnxruntime", batch=4)
    assert ds["sentiment_logits"].shape == (6, 3) and ds["topic_logits"].shape == (6, 20)
    assert np.isfinite(ds["sentiment_logits"]).all() and np.isfinite(ds["topic_logits"]).all()
    assert (ds["sentiment_logits"].argmax(1) == ort["sentiment_logits"].argmax(1)).mean() >= 5 / 6


def test_card_holds_every_goal_the_loss_and_relative_paths(tiny):
    root, _, out, _ = tiny
    card = (out / "MODEL_CARD.md").read_text()
    for goal in ("news sentiment accuracy", "topic accuracy", "StockTwits ROC AUC", "StockTwits balanced accuracy",
                 "encoder sparsity", "folder MB", "| int8 |"):
        assert goal in card, goal
    assert "## Loss, and why" in card and "Bearish and Bullish logits only" in card and "class-balanced" in card
    assert "![news sentiment confusion matrix](confusion_sentiment.png)" in card
    assert "| true \\ pred |" in card
    assert "finterm-train teacher --task finterm" in card and "finterm-train student --task finterm" in card
    assert "finterm-train export --task finterm" in card
    assert "sha256" in card and "`news/sent_train.csv`" in card
    assert str(root) not in card and "/tmp/" not in card


def test_student_record(tiny):
    root, _, _, _ = tiny
    s = json.loads((root / "runs" / "student" / "student.json").read_text())
    assert s["encoder_sparsity"] >= 0.79
    assert [g["stage"] for g in s["stages"]] == ["end of pruning", "pruned, before QAT"]
    assert set(s["valid"]) == {"news sentiment accuracy", "topic accuracy", "StockTwits ROC AUC", "StockTwits balanced accuracy"}
    assert len(s["ensemble"]["teachers"]) == 2 and s["loss"]["chatter_weight"] == 0.3
    assert (root / "runs" / "student" / "pre_qat.pt").is_file()
    # The vocabulary table stopped training when QAT started: the checkpoint and the student share it.
    pre = torch.load(root / "runs" / "student" / "pre_qat.pt", map_location="cpu", weights_only=False)["model"]
    final = torch.load(root / "runs" / "student" / "student.pt", map_location="cpu")
    key = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(pre[key], final[key].half())


def test_eval_prints_every_goal_through_deepsparse(tiny, capsys):
    from finterm.engine.deepsparse_import import deepsparse_unavailable_reason
    from finterm.training.cli import main

    root, data, out, _ = tiny
    engine = "onnxruntime" if deepsparse_unavailable_reason() else "deepsparse"
    assert main(["eval", str(out), "--data-dir", data[3], "--stocktwits", data[5], "--engine", engine]) == 0
    text = capsys.readouterr().out
    for goal in ("news sentiment accuracy", "topic accuracy", "StockTwits ROC AUC", "StockTwits balanced accuracy",
                 "encoder sparsity", "folder MB"):
        assert goal in text and ("PASS" in text or "MISS" in text), goal
    assert f"{out}: {engine}" in text and "int8: yes" in text and "(24 rows)" in text


def test_resume_runs_the_rest_of_the_recipe_from_pre_qat(tiny, capsys):
    from finterm.training.cli import main

    root, data, _, _ = tiny
    ckpt = root / "pre_qat.pt"
    (root / "runs" / "student" / "pre_qat.pt").replace(ckpt)
    run2 = data
    assert main(["student", *run2, *STUDENT, "--resume", str(ckpt), "--max-steps", "6",
                 "--teachers", str(root / "runs" / "teachers" / "seed-0")]) == 0
    s = json.loads((root / "runs" / "student" / "student.json").read_text())
    assert s["resumed_from"]["epoch"] == 3.0 and s["steps"] == 6 and s["encoder_sparsity"] >= 0.79
    capsys.readouterr()
    # A recipe whose QAT started before the checkpoint cannot go on from it; nor can a file that is no checkpoint.
    assert main(["student", *run2, *STUDENT, "--set", "qat_epochs=2.0", "--resume", str(ckpt)]) == 1
    assert "cannot go on from there" in capsys.readouterr().err
    junk = root / "junk.pt"
    junk.write_bytes(b"no")
    assert main(["student", *run2, "--resume", str(junk)]) == 1
    assert "not a finterm multi-task student checkpoint" in capsys.readouterr().err


def test_run_trains_on_corrections_of_both_tasks(tiny, capsys):
    """`run --task finterm --extra LABELS`: sentiment and topic corrections both train (repeated
    --extra-weight times in their news source) and the card says how the export does on the held-back ones."""
    from finterm.store.labels import Correction, LabelStore
    from finterm.training.cli import main

    root, data, _, _ = tiny
    labels = root / "labels.parquet"
    fixes = [Correction(id=f"s{i}", task="sentiment", label=lab, text=f"$AAPL {w} lol {i}")
             for i, (lab, w) in enumerate([("Bullish", "tendies"), ("Bearish", "rekt"), ("Neutral", "meh")] * 3)]
    fixes += [Correction(id=f"t{i}", task="topic", label="Earnings", text=f"$MSFT eps beat {i}") for i in range(6)]
    LabelStore(labels).put(fixes)
    out = root / "model-extra"
    args = [*data[:6], "--run-dir", str(root / "runs-extra"), "--threads", "1", "--seeds", "0",
            "--backbone", str(root / "backbone"), "--teacher-epochs", "2", "--teacher-lr", "3e-3",
            "--teacher-batch-size", "16", *STUDENT, "--set", "num_epochs=2", "--set", "qat_epochs=0.5",
            "--extra", str(labels), "--extra-holdout", "0.3", "--out", str(out), "--tolerance", "100", "--no-bench"]
    assert main(["run", *args]) == 0
    err = capsys.readouterr().err
    assert "9 sentiment corrections" in err and "6 topic corrections" in err
    t = json.loads((root / "runs-extra" / "teachers" / "seed-0" / "teacher.json").read_text())
    assert t["data"]["news_sentiment"]["train"]["rows"] > 48 and t["data"]["news_topic"]["train"]["rows"] > 60
    card = (out / "MODEL_CARD.md").read_text()
    assert "User corrections (sentiment)" in card and "held-back corrections" in card


def test_one_task_options_are_refused(tiny, capsys):
    from finterm.training.cli import main

    root, data, _, _ = tiny
    assert main(["student", *data, "--train", str(root / "x.csv")]) == 1
    assert "--train is for the one-task models" in capsys.readouterr().err
    assert main(["teacher", "--task", "finterm", "--data-dir", str(root / "nowhere"), "--stocktwits", data[5],
                 "--backbone", str(root / "backbone")]) == 1
    assert "sent_train.csv does not exist" in capsys.readouterr().err


def test_chatter_loss_leaves_neutral_alone_and_balances_the_tags():
    from finterm.training.mt_model import LossConfig, label_loss

    logits = torch.zeros(4, 3, requires_grad=True)
    y = torch.tensor([0, 1, 1, 1])  # 0 Bearish, 1 Bullish
    w = torch.tensor([2.0, 2.0 / 3.0])
    for smoothing in (0.1, 0.0):
        logits.grad = None
        loss = label_loss("stocktwits", {"sentiment": logits, "topic": torch.zeros(4, 20)}, y,
                          LossConfig(chatter_smoothing=smoothing), w)
        loss.backward()
        assert torch.all(logits.grad[:, 2] == 0)  # the Neutral logit gets no gradient from the tags
        assert torch.isclose(loss, 0.3 * torch.log(torch.tensor(2.0)))  # weight 0.3, uniform logits
    # Balanced: the one Bearish row pulls as hard as the three Bullish rows together.
    assert torch.isclose(logits.grad[0, 0].abs(), logits.grad[1:, 1].abs().sum(), rtol=1e-5)


def test_roc_auc_and_chatter_metrics():
    from finterm.training.mt_eval import chatter_metrics, roc_auc

    rng = np.random.default_rng(0)
    score = rng.integers(0, 5, 200).astype(float)  # many ties
    pos = rng.random(200) < 0.4
    pairs = [(a > b) + 0.5 * (a == b) for a in score[pos] for b in score[~pos]]
    assert roc_auc(score, pos) == pytest.approx(np.mean(pairs))
    logits = np.array([[2.0, 0.0, 5.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    m = chatter_metrics(logits, np.array([0, 1, 1, 1]))
    assert m["confusion"] == [[1, 0], [1, 2]] and m["balanced_accuracy"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["neutral_share"] == 0.25 and m["roc_auc"] == pytest.approx(2 / 3)  # row 2 scores below the Bearish row


def test_epoch_plan_sees_every_chatter_row_before_repeats():
    from finterm.training.mt_data import _chatter_rows, epoch_plan

    rows = [r for e in range(3) for r in _chatter_rows(10, 4, e, seed=1)]
    assert sorted(rows[:10]) == list(range(10)) and len(set(rows[:8])) == 8

    class Src:
        def __init__(self, n):
            self.train_ids = [[1] * (1 + i % 5) for i in range(n)]

    plan = epoch_plan({"news_sentiment": Src(20), "news_topic": Src(30), "stocktwits": Src(100)}, 8, 0, 0, 16)
    assert sum(len(b) for s, b in plan if s == "stocktwits") == 16
    assert sum(len(b) for s, b in plan if s == "news_topic") == 30
    assert all(max(b) < {"news_sentiment": 20, "news_topic": 30, "stocktwits": 100}[s] for s, b in plan)


@pytest.mark.slow
def test_gpu_chain_script_runs_end_to_end_on_the_cpu(tmp_path):
    """training/gpu/multitask_run.sh, the script the GPU machine runs, on a tiny bundle: teachers side
    by side, the student under a time budget, the export, and $OUT packed within the device tool's limits;
    unpack.py turns $OUT back into a run folder that exports here."""
    bundle = tmp_path / "bundle"
    news, chatter = finterm_data(bundle / "data")
    for f in news.iterdir():
        f.replace(bundle / "data" / f.name)
    news.rmdir()
    tiny_backbone(bundle / "backbone", _texts(), vocab_size=300)
    out = tmp_path / "out"
    env = dict(os.environ, FT_PYTHON=sys.executable, FT_BUNDLE=str(bundle), FT_SCRATCH=str(tmp_path / "scratch"),
               FT_BUDGET="240", FT_TEACHER_S="60", FT_STUDENT_S="100", FT_SEEDS="0,1", OUT=str(out),
               FT_TEACHER_ARGS="--teacher-epochs 4 --teacher-lr 3e-3 --teacher-batch-size 16",
               FT_STUDENT_ARGS=" ".join(STUDENT), FT_EXPORT_ARGS="--eval-limit 20 --tolerance 100")
    r = subprocess.run(["bash", str(PROJECT_ROOT / "training" / "gpu" / "multitask_run.sh")], env=env,
                       capture_output=True, text=True, timeout=600)
    log = (out / "run.log").read_text()
    assert r.returncode == 0, log[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert {"run.log", "meta.tar.gz", "student.pt.gz.00", "preqat.pt.gz.00", "model.onnx.gz.00"} <= set(files)
    assert len(files) <= 8 and all((out / f).stat().st_size <= 15 * 2**20 for f in files)
    assert "teacher-0|" in log and "teacher-1|" in log and "packed pre_qat-slim.pt" in log

    run = tmp_path / "unpacked"
    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "training" / "gpu" / "unpack.py"), str(out), "--run-dir", str(run)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (run / "student" / "student.pt").is_file() and (run / "teachers" / "ensemble" / "soft_labels.npz").is_file()
    pre = torch.load(run / "student" / "pre_qat.pt", map_location="cpu", weights_only=False)
    assert "bert.embeddings.word_embeddings.weight" in pre["model"]  # put back from the final student

    from finterm.training.cli import main

    assert main(["export", "--task", "finterm", "--run-dir", str(run), "--out", str(tmp_path / "model"),
                 "--data-dir", str(bundle / "data"), "--stocktwits", str(chatter), "--tolerance", "100", "--no-bench"]) == 0
    assert (tmp_path / "model" / "model.onnx").is_file()
    assert "Teacher seed 1" in (tmp_path / "model" / "MODEL_CARD.md").read_text()
