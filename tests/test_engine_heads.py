"""One encoder, two heads (issue 19): a model folder whose config.json maps named outputs to tasks.

Tiny real models under real DeepSparse and ONNX Runtime; nothing here checks a timing.
"""

import json

import numpy as np
import pytest

import finterm
from finterm.config import Config
from finterm.engine.classifier import Classifier
from finterm.engine.deepsparse_import import deepsparse_unavailable_reason
from finterm.engine.model_folder import ModelFolder, resolve_model_dirs
from finterm.errors import ModelError
from finterm.records import make_tweet
from tests.modelkit import SENTIMENT_LABELS, TOPIC_LABELS, make_sentiment_folder, make_topic_folder, make_two_head_folder

NO_DS = deepsparse_unavailable_reason()
ENGINES = ["onnxruntime"] + ([] if NO_DS else ["deepsparse"])
TEXTS = ["$AAPL soars up buy", "oil crude falls down sell", "fed meeting today", "dividend payout rises",
         "analyst upgrade target", "earnings beat revenue up " * 6, "ipo listing", "x", "merger deal crash " * 15]


def tweets(texts):
    return [make_tweet(i, "2014-10-01T00:00:00Z", "u", t) for i, t in enumerate(texts)]


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    root = tmp_path_factory.mktemp("heads")
    return {"two": make_two_head_folder(root / "finterm"), "sentiment": make_sentiment_folder(root / "sentiment"),
            "topic": make_topic_folder(root / "topic"), "root": root}


def copy_with_config(src, dest, edit):
    dest.mkdir()
    for f in src.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((dest / "config.json").read_text())
    edit(cfg)
    (dest / "config.json").write_text(json.dumps(cfg))
    return dest


def engine_runs(clf):
    """Engine runs per model file (tasks joined by '+')."""
    runs = []

    def spy(run, tasks):
        def counted(enc):
            runs.append((tasks, enc.shape))
            return run(enc)
        return counted

    for model in clf.runs:
        model.backend.run = spy(model.backend.run, "+".join(model.tasks))
    return runs


def test_a_two_head_folder_loads_with_both_tasks(kit):
    folder = ModelFolder.load(kit["two"], "topic")
    assert folder.multi_task and folder.output_names == ("sentiment_logits", "topic_logits")
    assert {t: (h.output, h.labels) for t, h in folder.heads.items()} == {
        "sentiment": ("sentiment_logits", SENTIMENT_LABELS), "topic": ("topic_logits", TOPIC_LABELS)}
    assert folder.labels == TOPIC_LABELS and folder.output == "topic_logits"  # the task it was loaded for
    old = ModelFolder.load(kit["sentiment"], "sentiment")  # a one-task folder keeps loading as before
    assert not old.multi_task and old.labels == SENTIMENT_LABELS and old.output == "logits"


@pytest.mark.parametrize("engine", ENGINES)
def test_two_head_folder_scores_both_tasks_as_the_separate_folders_do(kit, engine):
    two = Classifier(model_dir=kit["two"], engine=engine, batch_size=4, cache_size=0)
    sep = Classifier(kit["sentiment"], kit["topic"], engine=engine, batch_size=4, cache_size=0)
    assert len(two.runs) == 1 and two.runs[0].tasks == ("sentiment", "topic") and len(sep.runs) == 2
    assert two.labels == sep.labels == {"sentiment": SENTIMENT_LABELS, "topic": TOPIC_LABELS}
    runs = engine_runs(two)
    a, b = two.score(tweets(TEXTS)), sep.score(tweets(TEXTS))
    assert [(s.sentiment, s.topic) for s in a] == [(s.sentiment, s.topic) for s in b]
    assert (a[0].sentiment, a[1].topic, a[2].topic, a[3].topic) == ("Bullish", "Energy | Oil", "Fed | Central Banks", "Dividend")
    np.testing.assert_allclose([s.sentiment_score for s in a], [s.sentiment_score for s in b], atol=1e-4)
    np.testing.assert_allclose([s.topic_score for s in a], [s.topic_score for s in b], atol=1e-4)
    # one engine run per batch answers both tasks: every run is the shared file's
    assert runs and {tasks for tasks, _ in runs} == {"sentiment+topic"}
    assert two.describe().startswith(f"{engine} · sentiment+topic finterm-tiny-two-head (")
    assert two.describe_short() == f"{engine} · sentiment+topic tiny-two-head"


def test_two_head_folder_is_tokenized_once_per_call(kit):
    clf = Classifier(model_dir=kit["two"], engine="onnxruntime", cache_size=0)
    calls = []
    tok = clf.runs[0].tokenizer
    real = tok.tokenize
    tok.tokenize = lambda texts: calls.append(len(texts)) or real(texts)
    clf.score(tweets(TEXTS))
    assert calls == [len(TEXTS)]


@pytest.mark.skipif(bool(NO_DS), reason=str(NO_DS))
def test_two_head_folder_compiles_each_shape_once(kit):
    lines = []
    clf = Classifier(model_dir=kit["two"], engine="deepsparse", batch_size=4, cache_size=0, on_progress=lines.append)
    clf.score(tweets(TEXTS))  # no warm-up: each shape compiles when first needed
    backend = clf.backend_for("sentiment")
    assert backend is clf.backend_for("topic")
    shapes = backend.compiled_shapes()
    assert shapes and sum("compiling" in line for line in lines) == len(shapes)
    assert list(clf.compile_seconds()) == ["sentiment+topic"] and sorted(clf.compile_seconds()["sentiment+topic"]) == shapes


@pytest.mark.skipif(bool(NO_DS), reason=str(NO_DS))
def test_two_head_folder_through_the_background_compiles_and_the_bridge(kit):
    lines = []
    clf = Classifier(model_dir=kit["two"], engine="deepsparse", batch_size=4, cache_size=0, on_progress=lines.append)
    clf.warmup(lengths=(32, 64), rows=(4, 1))  # live: ONNX Runtime scores both heads until the compiles are done
    first = clf.score(tweets(TEXTS))
    assert clf.wait_ready(timeout=300)
    again = clf.score(tweets(TEXTS))
    ref = Classifier(kit["sentiment"], kit["topic"], engine="onnxruntime", cache_size=0).score(tweets(TEXTS))
    for got in (first, again):
        assert [(s.sentiment, s.topic) for s in got] == [(s.sentiment, s.topic) for s in ref]
        np.testing.assert_allclose([s.topic_score for s in got], [s.topic_score for s in ref], atol=1e-4)
    shapes = clf.backend_for("topic").compiled_shapes()
    assert {(4, 32), (4, 64), (1, 32), (1, 64)} <= set(shapes)
    assert sum("compiling" in line for line in lines) == len(shapes)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_task_folder_given_beside_the_shared_one_wins_for_its_task(kit, engine):
    mixed = Classifier(kit["sentiment"], model_dir=kit["two"], engine=engine, cache_size=0)
    assert [r.tasks for r in mixed.runs] == [("sentiment",), ("topic",)]
    assert mixed.models["sentiment"].path == kit["sentiment"] and mixed.models["topic"].path == kit["two"]
    ref = Classifier(kit["sentiment"], kit["topic"], engine="onnxruntime", cache_size=0)
    a, b = mixed.score(tweets(TEXTS)), ref.score(tweets(TEXTS))
    assert [(s.sentiment, s.topic) for s in a] == [(s.sentiment, s.topic) for s in b]
    # the shared folder given as both tasks' own folder still runs once
    same = Classifier(kit["two"], kit["two"], engine=engine)
    assert len(same.runs) == 1 and same.labels["topic"] == TOPIC_LABELS
    assert same.predict(["oil crude"], tasks=("topic",))["topic"].shape == (1, 20)


def test_model_resolution_falls_back_in_order(kit, tmp_path, monkeypatch):
    assets = tmp_path / "assets"
    assets.mkdir()
    monkeypatch.setattr(finterm, "ASSETS_MODELS", assets)
    copy_with_config(kit["sentiment"], assets / "sentiment", lambda c: None)
    copy_with_config(kit["topic"], assets / "topic", lambda c: None)
    (assets / "finterm").mkdir()  # an empty folder (a training run not done yet) is not a model
    assert resolve_model_dirs() == {"sentiment": (assets / "sentiment", False), "topic": (assets / "topic", False)}
    clf = Classifier(engine="onnxruntime")
    assert [r.folder.path for r in clf.runs] == [assets / "sentiment", assets / "topic"]

    (assets / "finterm").rmdir()
    copy_with_config(kit["two"], assets / "finterm", lambda c: None)  # installed: the default for both tasks
    assert resolve_model_dirs() == {"sentiment": (assets / "finterm", True), "topic": (assets / "finterm", True)}
    clf = Classifier(engine="onnxruntime")
    assert len(clf.runs) == 1 and clf.runs[0].folder.path == assets / "finterm"
    assert clf.labels == {"sentiment": SENTIMENT_LABELS, "topic": TOPIC_LABELS}

    other = kit["two"]  # --model wins over the installed default; a task's own folder wins over both
    assert resolve_model_dirs(model=other)["topic"] == (other, True)
    assert resolve_model_dirs(topic=kit["topic"], model=other) == {"sentiment": (other, True), "topic": (kit["topic"], False)}


def test_config_and_flag_carry_the_shared_model(kit):
    from finterm.cli import _apply_overrides, build_parser
    from finterm.config import config_from_dict

    cfg = config_from_dict({"models": {"model": str(kit["two"])}})
    assert cfg.models.model == str(kit["two"]) and Config().models.model is None
    args = build_parser().parse_args(["--model", "elsewhere"])
    _apply_overrides(cfg, args)
    assert cfg.models.model == "elsewhere"


def one_line_model_error(fn) -> str:
    with pytest.raises(ModelError) as err:
        fn()
    assert "\n" not in err.value.message
    return err.value.message


def test_bad_two_head_folders_give_one_line_errors(kit, tmp_path):
    def bad(name, edit):
        return copy_with_config(kit["two"], tmp_path / name, edit)

    missing_output = bad("missing", lambda c: c["tasks"]["topic"].update(output="topic_scores"))
    msg = one_line_model_error(lambda: ModelFolder.load(missing_output, "topic"))
    assert "tasks.topic reads output 'topic_scores' but model.onnx has outputs sentiment_logits, topic_logits" in msg

    def three_topics(c):
        c["tasks"]["topic"]["id2label"] = {"0": "a", "1": "b", "2": "c"}
    msg = one_line_model_error(lambda: ModelFolder.load(bad("width", three_topics)))
    assert "output 'topic_logits' gives 20 scores per tweet but tasks.topic names 3 labels" in msg

    no_labels = bad("nolabels", lambda c: c["tasks"]["sentiment"].pop("id2label"))
    assert "no usable tasks.sentiment.id2label" in one_line_model_error(lambda: ModelFolder.load(no_labels))
    no_output = bad("nooutput", lambda c: c["tasks"]["sentiment"].pop("output"))
    assert "tasks.sentiment names no output" in one_line_model_error(lambda: ModelFolder.load(no_output))
    not_a_map = bad("notamap", lambda c: c.update(tasks=["sentiment", "topic"]))
    assert "'tasks' must map each task" in one_line_model_error(lambda: ModelFolder.load(not_a_map))

    sentiment_only = bad("sentonly", lambda c: c["tasks"].pop("topic"))
    msg = one_line_model_error(lambda: Classifier(model_dir=sentiment_only, engine="onnxruntime"))
    assert "has no topic head" in msg and "sentiment" in msg
    msg = one_line_model_error(lambda: Classifier(model_dir=kit["sentiment"], engine="onnxruntime"))
    assert "has no 'tasks'" in msg and "--sentiment-model or --topic-model" in msg
    msg = one_line_model_error(lambda: Classifier(model_dir=tmp_path / "nowhere", engine="onnxruntime"))
    assert "no model folder at" in msg and "--model" in msg


def test_a_head_whose_width_the_graph_leaves_open_is_checked_at_warm_up(tmp_path):
    folder = make_two_head_folder(tmp_path / "open", classes_dim="classes")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["tasks"]["sentiment"]["id2label"] = {"0": "Bearish", "1": "Bullish"}
    (folder / "config.json").write_text(json.dumps(cfg))
    clf = Classifier(model_dir=folder, engine="onnxruntime")
    msg = one_line_model_error(clf.warmup)
    assert "output 'sentiment_logits' gives scores of shape (1, 3) but config.json names 2 labels" in msg


def test_headless_run_on_a_two_head_folder(kit, finterm):
    r = finterm("--demo", "--seed", "3", "--limit", "20", "--speed", "max", "--headless", "--model", kit["two"],
                "--engine", "onnxruntime")
    assert r.returncode == 0, r.stderr.decode()
    out = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert len(out) == 20 and {o["sentiment"] for o in out} <= set(SENTIMENT_LABELS)
    assert {o["topic"] for o in out} <= set(TOPIC_LABELS)
    assert "models sentiment finterm-tiny-two-head, topic finterm-tiny-two-head" in r.stderr.decode()
    bad = finterm("--demo", "--limit", "2", "--headless", "--model", kit["sentiment"], "--engine", "onnxruntime")
    err = bad.stderr.decode().strip()
    assert bad.returncode == 3 and len(err.splitlines()) == 1 and "has no 'tasks'" in err
