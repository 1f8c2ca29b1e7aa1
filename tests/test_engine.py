"""The classification engine on tiny real ONNX models, under both runtimes."""

import json
import queue
import threading

import numpy as np
import onnx
import pytest

from finterm.engine.backend import resolve_engine
from finterm.engine.classifier import Classifier
from finterm.engine.deepsparse_import import deepsparse_unavailable_reason
from finterm.engine.model_folder import ModelFolder
from finterm.engine.shapes import row_buckets
from finterm.engine.tokenization import BatchTokenizer, choose_length
from finterm.errors import EngineError, ModelError
from finterm.pipeline.batching import collect_batch
from finterm.records import make_tweet
from tests.modelkit import SENTIMENT_LABELS, TOPIC_LABELS, make_sentiment_folder, make_topic_folder

ENGINES = ["onnxruntime"] + ([] if deepsparse_unavailable_reason() else ["deepsparse"])


def tweets(texts):
    return [make_tweet(i, "2014-10-01T00:00:00Z", "u", t) for i, t in enumerate(texts)]


@pytest.fixture()
def folders(tmp_path):
    return make_sentiment_folder(tmp_path / "sentiment"), make_topic_folder(tmp_path / "topic")


def dims(path):
    d = onnx.load(str(path / "model.onnx")).graph.input[0].type.tensor_type.shape.dim
    return [x.dim_value or x.dim_param for x in d]


@pytest.mark.parametrize("engine", ENGINES)
def test_scores_every_tweet_in_order_with_valid_labels(folders, engine):
    clf = Classifier(*folders, engine=engine, batch_size=4)
    texts = ["$AAPL soars up buy", "oil crude falls down sell", "fed meeting today", "dividend payout rises"] * 5 + ["x"]
    out = clf.score(tweets(texts))
    assert [s.tweet.id for s in out] == [str(i) for i in range(len(texts))]
    assert all(s.sentiment in SENTIMENT_LABELS and s.topic in TOPIC_LABELS for s in out)
    assert (out[0].sentiment, out[1].sentiment, out[2].sentiment) == ("Bullish", "Bearish", "Neutral")
    assert (out[1].topic, out[2].topic, out[3].topic) == ("Energy | Oil", "Fed | Central Banks", "Dividend")
    for s in out:
        assert 0 < s.sentiment_score <= 1 and abs(sum(s.sentiment_probs.values()) - 1) < 1e-4
    assert clf.engine_name == engine and engine in clf.describe()


@pytest.mark.parametrize("engine", ENGINES)
def test_both_engines_agree_and_model_files_are_untouched(folders, engine):
    before = [dims(f) for f in folders]
    texts = ["up " * n + "down" for n in range(1, 60, 7)]  # lengths across buckets 32 and 64
    got = Classifier(*folders, engine=engine, batch_size=16).score(tweets(texts))
    ref = Classifier(*folders, engine="onnxruntime", batch_size=16).score(tweets(texts))
    assert [s.sentiment for s in got] == [s.sentiment for s in ref]
    np.testing.assert_allclose([s.sentiment_score for s in got], [s.sentiment_score for s in ref], atol=1e-4)
    assert [dims(f) for f in folders] == before == [["batch", "sequence"]] * 2


@pytest.mark.parametrize("engine", ENGINES)
def test_fixed_shape_models_are_padded_to_their_shape(tmp_path, engine):
    sent = make_sentiment_folder(tmp_path / "s", fixed_seq=24, fixed_batch=4)
    topic = make_topic_folder(tmp_path / "t", with_token_type_ids=True)
    assert ModelFolder.load(sent).fixed_batch == 4 and ModelFolder.load(sent).max_length == 24
    out = Classifier(sent, topic, engine=engine, batch_size=16).score(tweets(["buy up"] * 7 + ["sell " * 40]))
    assert len(out) == 8 and out[0].sentiment == "Bullish" and out[-1].sentiment == "Bearish"


def test_deepsparse_compiles_one_engine_per_shape_and_reuses_it(folders):
    if "deepsparse" not in ENGINES:
        pytest.skip(deepsparse_unavailable_reason())
    lines = []
    clf = Classifier(*folders, engine="deepsparse", batch_size=16, on_progress=lines.append)
    clf.score(tweets(["up", "up up", "up up up"]))  # distinct texts: repeats are scored once (cache)
    clf.score(tweets(["down", "down down"]))
    clf.score(tweets(["down " * 40]))
    shapes = clf.backend_for("sentiment").compiled_shapes()
    assert shapes == [(1, 64), (16, 32)]  # 2-3 rows padded to 16
    assert sum("compiling" in line for line in lines) == 2 * len(shapes)  # two model files: two compiles a shape


def test_buckets_choose_the_smallest_that_fits():
    assert choose_length(10, (32, 64, 128), 512) == 32
    assert choose_length(33, (32, 64, 128), 512) == 64
    assert choose_length(300, (32, 64, 128), 512) == 128
    assert choose_length(100, (32, 64, 128), 96) == 96
    assert row_buckets(16) == (1, 16) and row_buckets(3) == (1, 3) and row_buckets(1) == (1,)


def test_tokenizer_pads_to_bucket_and_truncates(folders):
    mf = ModelFolder.load(folders[0])
    tok = BatchTokenizer(mf.tokenizer_path, 64, (32, 64, 128))
    enc = tok.encode(["up", "down " * 100], rows=3)
    assert enc.shape == (3, 64) and enc.n == 2
    assert enc.attention_mask[0].sum() == 3 and enc.attention_mask[1].sum() == 64
    assert enc.input_ids[1, -1] == 3  # [SEP] kept when cut


def test_model_folder_errors(tmp_path, folders):
    with pytest.raises(ModelError, match="no sentiment model is installed.*finterm-train"):
        ModelFolder.load(tmp_path / "nope", "sentiment")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="lacks model.onnx, config.json, tokenizer.json"):
        ModelFolder.load(tmp_path / "empty")
    bad = make_sentiment_folder(tmp_path / "badcfg")
    (bad / "config.json").write_text(json.dumps({"labels": []}))
    with pytest.raises(ModelError, match="id2label"):
        ModelFolder.load(bad)
    garbage = make_sentiment_folder(tmp_path / "garbage")
    (garbage / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        ModelFolder.load(garbage)


def test_engine_choice():
    assert resolve_engine("onnxruntime") == "onnxruntime"
    assert resolve_engine("auto") in ("deepsparse", "onnxruntime")
    with pytest.raises(EngineError, match="unknown engine"):
        resolve_engine("tensorrt")


def test_collect_batch_takes_up_to_b_items_or_waits_t():
    q = queue.Queue()
    for i in range(10):
        q.put(i)
    assert collect_batch(q, 4, 0.01) == [0, 1, 2, 3]
    assert collect_batch(q, 100, 0.01) == [4, 5, 6, 7, 8, 9]
    q.put("a")
    threading.Timer(0.05, q.put, args=("b",)).start()
    assert collect_batch(q, 2, 5.0) == ["a", "b"]  # waits for more until B items arrive
    stop = threading.Event()
    stop.set()
    drained = []
    while (b := collect_batch(q, 4, 0.2, stop)):
        drained += b
    assert collect_batch(q, 4, 0.01, stop) == []
    q.put(1), q.put(None), q.put(2)
    assert collect_batch(q, 10, 0.05) == [1, None]


def test_int32_inputs_are_fed_as_int32(tmp_path):
    from onnx import TensorProto

    from tests.modelkit import make_sentiment_folder, make_topic_folder

    s = make_sentiment_folder(tmp_path / "s32", id_type=TensorProto.INT32)
    assert ModelFolder.load(s).input_dtypes == {"input_ids": "int32", "attention_mask": "int32"}
    clf = Classifier(s, make_topic_folder(tmp_path / "t"), engine="onnxruntime")
    out = clf.score([make_tweet("1", "2024-01-02T03:04:05Z", "u", "$AAPL soars after record quarter")])
    assert out[0].sentiment == "Bullish"


def test_label_count_must_match_the_model_output(tmp_path):
    import json

    from tests.modelkit import make_sentiment_folder, make_topic_folder

    def two_labels(folder):
        cfg = json.loads((folder / "config.json").read_text())
        cfg["id2label"] = {"0": "Bearish", "1": "Bullish"}
        (folder / "config.json").write_text(json.dumps(cfg))
        return folder

    fixed = two_labels(make_sentiment_folder(tmp_path / "fixed"))
    with pytest.raises(ModelError, match="gives 3 scores per tweet but config.json names 2 labels"):
        ModelFolder.load(fixed, "sentiment")
    # a graph that leaves the class dimension open is caught at the first scoring, as a ModelError
    dynamic = two_labels(make_sentiment_folder(tmp_path / "dyn", classes_dim="classes"))
    clf = Classifier(dynamic, make_topic_folder(tmp_path / "t"), engine="onnxruntime")
    with pytest.raises(ModelError, match="config.json names 2 labels"):
        clf.warmup()
