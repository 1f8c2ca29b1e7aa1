"""Behaviour behind the engine's speed work (issue 6): the score cache, exact padding on
ONNX Runtime, background DeepSparse compiles with ONNX Runtime meanwhile, the lean import.

Nothing here checks a timing: speed is measured by bench/, not asserted in tests.
"""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from finterm.engine.classifier import Classifier
from finterm.engine.deepsparse_import import deepsparse_unavailable_reason
from finterm.records import make_tweet
from tests.modelkit import make_sentiment_folder, make_topic_folder

NO_DS = deepsparse_unavailable_reason()


def tweets(texts):
    return [make_tweet(i, "2014-10-01T00:00:00Z", "u", t) for i, t in enumerate(texts)]


@pytest.fixture()
def folders(tmp_path):
    return make_sentiment_folder(tmp_path / "sentiment"), make_topic_folder(tmp_path / "topic")


def record_shapes(clf):
    """(tasks of the model file, shape) of every engine run, as `tasks` is one task per file here."""
    shapes = []

    def spy(run, tasks):
        def counted(enc):
            shapes.append((tasks, enc.shape))
            return run(enc)
        return counted

    for model in clf.runs:
        model.backend.run = spy(model.backend.run, "+".join(model.tasks))
    return shapes


def backends(clf):
    return {task: clf.backend_for(task) for task in ("sentiment", "topic")}


def test_repeated_texts_are_scored_once_with_the_same_result(folders):
    clf = Classifier(*folders, engine="onnxruntime", batch_size=8)
    shapes = record_shapes(clf)
    texts = ["$AAPL soars up buy", "oil crude falls down sell", "$AAPL soars up buy"]
    first = clf.score(tweets(texts))
    assert [s.tweet.id for s in first] == ["0", "1", "2"]
    assert sorted(shapes) == [("sentiment", (2, 7)), ("topic", (2, 7))]  # two distinct texts, exact length
    again = clf.score(tweets(["oil crude falls down sell"]))
    assert len(shapes) == 2  # all from the cache
    assert again[0].sentiment == first[1].sentiment and again[0].topic_probs == first[1].topic_probs
    assert first[0].sentiment_probs == first[2].sentiment_probs
    assert (clf.cache_lookups, clf.cache_hits) == (3, 1)


def test_cache_is_bounded_and_can_be_off(folders):
    clf = Classifier(*folders, engine="onnxruntime", cache_size=2)
    clf.score(tweets(["up", "down", "fed"]))
    assert list(clf._cache) == ["down", "fed"]
    off = Classifier(*folders, engine="onnxruntime", cache_size=0)
    shapes = record_shapes(off)
    off.score(tweets(["up"]))
    off.score(tweets(["up"]))
    assert len(shapes) == 4 and not off._cache


def test_cached_and_uncached_scores_agree(folders):
    texts = ["up " * n + "down" for n in range(1, 40, 3)] * 2
    a = Classifier(*folders, engine="onnxruntime").score(tweets(texts))
    b = Classifier(*folders, engine="onnxruntime", cache_size=0).score(tweets(texts))
    np.testing.assert_allclose([s.sentiment_score for s in a], [s.sentiment_score for s in b], atol=1e-6)
    assert [s.topic for s in a] == [s.topic for s in b]


def test_onnxruntime_pads_to_the_longest_tweet_not_a_bucket(folders):
    clf = Classifier(*folders, engine="onnxruntime", batch_size=4)
    shapes = record_shapes(clf)
    clf.score(tweets(["up " * 20, "down", "fed " * 35]))  # 22, 3 and 37 tokens with [CLS]/[SEP]
    assert ("sentiment", (3, 37)) in shapes


def test_predict_gives_probabilities_per_task(folders):
    clf = Classifier(*folders, engine="onnxruntime")
    out = clf.predict(["up buy", "oil crude"], tasks=("topic",))
    assert list(out) == ["topic"] and out["topic"].shape == (2, 20)
    np.testing.assert_allclose(out["topic"].sum(axis=1), 1, atol=1e-5)
    assert clf.predict([])["sentiment"].shape == (0, 3)


@pytest.mark.skipif(bool(NO_DS), reason=str(NO_DS))
def test_deepsparse_warmup_compiles_in_background_and_onnxruntime_scores_meanwhile(folders):
    lines = []
    clf = Classifier(*folders, engine="deepsparse", batch_size=16, on_progress=lines.append)
    clf.warmup()  # returns before the compiles are done
    texts = ["$AAPL soars up buy", "oil crude falls down sell", "fed meeting today", "down " * 40]
    got = clf.score(tweets(texts))  # whatever is compiled by now runs on DeepSparse, the rest on ORT
    ref = Classifier(*folders, engine="onnxruntime").score(tweets(texts))
    assert [s.sentiment for s in got] == [s.sentiment for s in ref]
    np.testing.assert_allclose([s.topic_score for s in got], [s.topic_score for s in ref], atol=1e-4)
    assert clf.wait_ready(timeout=300)
    heads = backends(clf)
    # The compile worker runs below the scoring threads' priority, so it yields them the CPU.
    worker = heads["sentiment"].queue.worker
    assert os.getpriority(os.PRIO_PROCESS, worker.native_id) >= max(10, os.getpriority(os.PRIO_PROCESS, 0))
    # warm-up shapes plus the shapes the tweets needed, all compiled now
    assert set(heads["sentiment"].compiled_shapes()) == {(1, 32), (16, 32), (16, 64)}
    before = heads["sentiment"].bridged_batches
    clf.score(tweets(["sell " * 35, "up up down", "sell sell", "buy"]))  # 4 rows padded to 16 x 64 again
    assert heads["sentiment"].bridged_batches == before  # compiled shapes run on DeepSparse
    assert any("compiled" in line for line in lines)
    total, bridged = clf.bridged_share()  # what the headless summary reports
    assert total == sum(h.batches for h in heads.values()) and 0 < bridged < total

    from types import SimpleNamespace

    from finterm.headless import summary_line
    from finterm.pipeline.runner import PipelineStats

    line = summary_line(SimpleNamespace(stats=PipelineStats(count=8, elapsed_s=1.0, rate=8.0), classifier=clf, source=None))
    assert f"engine deepsparse ({bridged} of {total} model batches on onnxruntime while DeepSparse compiled)" in line


@pytest.mark.skipif(bool(NO_DS), reason=str(NO_DS))
def test_deepsparse_without_warmup_compiles_before_scoring(folders):
    clf = Classifier(*folders, engine="deepsparse", batch_size=4)
    clf.score(tweets(["up"]))
    head = clf.backend_for("sentiment")
    assert head.compiled_shapes() == [(1, 32)] and head.bridged_batches == 0 and not head.background


@pytest.mark.skipif(bool(NO_DS), reason=str(NO_DS))
def test_lean_deepsparse_import_skips_torch_and_leaves_deepsparse_importable():
    code = (
        "import sys\n"
        "from finterm.engine.deepsparse_import import import_deepsparse\n"
        "m = import_deepsparse()\n"
        "assert m.__name__ == 'deepsparse.engine', m.__name__\n"
        "assert 'torch' not in sys.modules\n"
        "import deepsparse\n"
        "assert deepsparse.Engine is m.Engine and hasattr(deepsparse, 'Pipeline')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


@pytest.mark.parametrize("engine", ["onnxruntime"] + ([] if NO_DS else ["deepsparse"]))
def test_parallel_heads_score_like_serial_heads(folders, engine):
    texts = ["$AAPL soars up buy", "oil crude falls down sell", "fed meeting today", "dividend payout rises"] * 3
    par = Classifier(*folders, engine=engine, batch_size=4, parallel=True, cache_size=0)
    ser = Classifier(*folders, engine=engine, batch_size=4, parallel=False, cache_size=0)
    assert par.parallel and not ser.parallel
    a, b = par.score(tweets(texts)), ser.score(tweets(texts))
    assert [(s.sentiment, s.topic) for s in a] == [(s.sentiment, s.topic) for s in b]
    np.testing.assert_allclose([s.topic_score for s in a], [s.topic_score for s in b], atol=1e-4)


def spy_ort(backend):
    """Shapes ONNX Runtime ran for a DeepSparse backend's bridge."""
    shapes = []
    ort = backend.bridge.ort()
    run = ort.run_uncounted

    def spy(enc):
        shapes.append(enc.shape)
        return run(enc)

    ort.run_uncounted = spy
    return shapes


@pytest.mark.skipif(bool(NO_DS), reason=str(NO_DS))
def test_live_bridge_scores_on_onnxruntime_until_no_compile_is_left_with_real_rows_only(folders):
    clf = Classifier(*folders, engine="deepsparse", batch_size=16, cache_size=0)
    clf.warmup(lengths=(32, 64))
    heads = backends(clf)
    ort_shapes = spy_ort(heads["sentiment"])
    texts = ["$AAPL soars up buy", "oil crude falls down sell sell sell"]
    ref = Classifier(*folders, engine="onnxruntime", cache_size=0).score(tweets(texts))
    first = clf.score(tweets(texts))
    if heads["sentiment"].bridging_now():  # compiles still queued: ONNX Runtime ran the two real rows only
        assert ort_shapes and ort_shapes[0][0] == 2 and ort_shapes[0][1] < 32
        assert clf.describe_short().startswith("deepsparse compiling (onnxruntime meanwhile) · ")
    assert clf.wait_ready(timeout=300)
    assert not heads["sentiment"].bridging_now()
    assert clf.describe_short().startswith("deepsparse · ")
    before = heads["sentiment"].bridged_batches
    again = clf.score(tweets(texts))
    assert heads["sentiment"].bridged_batches == before  # all compiled: DeepSparse only
    for got in (first, again):
        assert [s.sentiment for s in got] == [s.sentiment for s in ref]
        np.testing.assert_allclose([s.topic_score for s in got], [s.topic_score for s in ref], atol=1e-4)


@pytest.mark.skipif(bool(NO_DS), reason=str(NO_DS))
def test_batch_scoring_bridges_only_until_the_first_engine_then_waits_for_shapes(folders):
    clf = Classifier(*folders, engine="deepsparse", batch_size=4, cache_size=0, compile_jobs=2)
    clf.warmup(lengths=(32, 64), rows=(4,), bridge="first")
    heads = backends(clf)
    clf.score(tweets(["up"]))  # nothing compiled yet (or just): ONNX Runtime may take it
    assert heads["sentiment"].bridged_batches <= 1
    deadline = time.monotonic() + 300
    while not heads["sentiment"].compiled_shapes() and time.monotonic() < deadline:  # its first engine
        time.sleep(0.05)
    before = heads["sentiment"].bridged_batches
    mid = ["up down " * 18, "fed " * 40]  # 38-42 tokens: the queued 4 x 64 shape, waited for
    got = clf.score(tweets(mid))
    assert heads["sentiment"].bridged_batches == before and (4, 64) in heads["sentiment"].compiled_shapes()
    clf.wait_ready(timeout=300)
    long_texts = ["fed " * 80, "up down " * 45]  # past 64 tokens: a rare length nobody queued
    got += clf.score(tweets(long_texts))
    assert heads["sentiment"].bridged_batches == before + 1  # ONNX Runtime, at the exact length
    assert not any(seq > 64 for _, seq in heads["sentiment"].compiled_shapes())  # and no compile for it
    ref = Classifier(*folders, engine="onnxruntime", cache_size=0).score(tweets(mid + long_texts))
    assert [s.topic for s in got] == [s.topic for s in ref]
    np.testing.assert_allclose([s.sentiment_score for s in got], [s.sentiment_score for s in ref], atol=1e-4)


@pytest.mark.skipif(bool(NO_DS), reason=str(NO_DS))
def test_warmup_can_give_each_model_its_own_lengths_and_compile_times_are_reported(folders):
    clf = Classifier(*folders, engine="deepsparse", batch_size=4, cache_size=0, compile_jobs=2)
    clf.warmup(lengths=(32,), rows=(4,), bridge="first", tasks=("sentiment",))
    clf.warmup(lengths=(32, 64), rows=(4,), bridge="first", tasks=("topic",))
    assert clf.wait_ready(timeout=300)
    seconds = clf.compile_seconds()
    assert sorted(seconds["sentiment"]) == [(4, 32)] and sorted(seconds["topic"]) == [(4, 32), (4, 64)]
    assert all(s > 0 for shapes in seconds.values() for s in shapes.values())
    heads = backends(clf)
    got = clf.score(tweets(["up down " * 18]))  # ~38 tokens: topic has its 64 shape, sentiment does not
    assert heads["sentiment"].bridged_batches == 1 and heads["topic"].bridged_batches == 0
    assert (4, 64) not in heads["sentiment"].compiled_shapes()
    ref = Classifier(*folders, engine="onnxruntime", cache_size=0).score(tweets(["up down " * 18]))
    np.testing.assert_allclose([got[0].sentiment_score, got[0].topic_score],
                               [ref[0].sentiment_score, ref[0].topic_score], atol=1e-4)
    assert Classifier(*folders, engine="onnxruntime").compile_seconds() == {"sentiment": {}, "topic": {}}


@pytest.mark.skipif(bool(NO_DS), reason=str(NO_DS))
def test_a_few_tweets_run_one_by_one_on_the_single_row_engine(folders):
    clf = Classifier(*folders, engine="deepsparse", batch_size=16, cache_size=0)
    clf.warmup(lengths=(32,), rows=(16, 1))
    assert clf.wait_ready(timeout=300)
    shapes = record_shapes(clf)
    texts = ["$AAPL soars up buy", "oil crude falls", "fed meeting today"]
    got = clf.score(tweets(texts))
    assert shapes.count(("sentiment", (1, 32))) == 3 and ("sentiment", (16, 32)) not in shapes
    many = ["buy " * (i + 1) for i in range(12)]  # most of a batch: one padded batch
    shapes.clear()
    clf.score(tweets(many))
    assert shapes.count(("sentiment", (16, 32))) == 1 and ("sentiment", (1, 32)) not in shapes
    ref = Classifier(*folders, engine="onnxruntime", cache_size=0).score(tweets(texts))
    np.testing.assert_allclose([s.sentiment_score for s in got], [s.sentiment_score for s in ref], atol=1e-4)


def test_bridge_mode_is_checked(folders):
    if NO_DS:
        pytest.skip(str(NO_DS))
    clf = Classifier(*folders, engine="deepsparse", batch_size=4)
    with pytest.raises(ValueError, match="bridge must be one of"):
        clf.backend_for("sentiment").compile_in_background([], bridge="sometimes")
    with pytest.raises(ValueError, match="bridge must be one of"):
        clf.warmup(bridge="sometimes")
