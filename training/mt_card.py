"""MODEL_CARD.md of the one encoder with two heads, written from what the runs measured."""

from __future__ import annotations

import platform
import time
from pathlib import Path

from .card_latency import latency_section, measured_where
from .model_card import _cell, _pct, display_command, display_path, machine
from .mt_data import CHATTER_LABELS, HEADS, OUTPUTS
from .mt_eval import fmt_goal, goal_rows

LOSS_WHY = (
    "The StockTwits tags are their authors' own Bullish/Bearish choice when posting: weak labels, "
    "with no Neutral class and three Bullish tags to every Bearish one. Taken as ordinary 3-way labels they "
    "would teach that nothing is neutral and that chatter is mostly bullish. So they train the sentiment head "
    "through a cross-entropy over the Bearish and Bullish logits only (the Neutral logit is left out of that "
    "softmax, so it is neither pushed up nor down by them), class-balanced (each tag weighs half of the loss, "
    "weights n / (2 n_class)), with label smoothing for the noisy tags, and down-weighted against the news "
    "labels: a dense probe on the GPU machine (STACK.md) found weight 0.3 lifted the StockTwits AUC from 0.63 "
    "to 0.88 at no cost on news sentiment, where weight 1.0 cost 0.7 points. The student also distils the "
    "teachers' soft labels of both heads on every row (news, topics and chatter), so what Neutral means on "
    "chatter comes from teachers that learnt it on news."
)


def _md_confusion(cm, rows: list[str], cols: list[str]) -> list[str]:
    short_c = [_cell(c.split(" |")[0][:12]) for c in cols]
    out = ["| true \\ pred | " + " | ".join(short_c) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in zip(rows, cm):
        out.append(f"| {_cell(name.split(' |')[0][:12])} | " + " | ".join(str(v) for v in row) + " |")
    return out


def _per_class(m: dict) -> list[str]:
    out = ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for n, c in m["per_class"].items():
        out.append(f"| {_cell(n)} | {_pct(c['precision'])} | {_pct(c['recall'])} | {_pct(c['f1'])} | {c['support']} |")
    return out


def _news_section(title: str, file: str, m: dict, labels: list[str], picture: str | None, alt: str, full: bool) -> list[str]:
    """One news head's results: accuracy, and for the first engine the per-class table, the confusion
    matrix as a table and its picture."""
    out = [f"### {title} (`{display_path(file)}`, {m['n']} rows)", "",
           f"Accuracy {_pct(m['accuracy'])}, macro-F1 {_pct(m['macro_f1'])}; always-majority would score "
           f"{_pct(m['majority_baseline'])}.", ""]
    if full:
        out += _per_class(m) + ["", "Confusion matrix (rows true, columns predicted):", ""]
        out += _md_confusion(m["confusion"], labels, labels)
        if picture:
            out += ["", f"![{alt} confusion matrix]({picture})"]
        out.append("")
    return out


def _head_fig(h: dict) -> str:
    parts = []
    for k, v in h.items():
        parts.append(f"{k} {v:.4f}" if "AUC" in k else f"{k} {_pct(v)}")
    return ", ".join(parts)


def write_multitask_card(out_dir: Path, info: dict) -> Path:
    s, teachers, runtime, facts = info["student"], info["teachers"], info["runtime"], info["facts"]
    first = next(iter(runtime))
    L = [f"# {info['name']} — finterm sentiment + topic classifier (one encoder, two heads)", ""]
    L += [f"Written by `finterm-train` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
          f"(Python {platform.python_version()}, {platform.machine()}).", ""]
    enc = info.get("encoder") or {}
    L += [f"One MiniLM-sized BERT encoder ({enc.get('num_hidden_layers', '?')} layers, hidden {enc.get('hidden_size', '?')}), "
          "mean-pooled over the real tokens, read by two "
          "linear heads; 80%-sparse int8 student distilled from dense teachers and pruned + quantized with a SparseML "
          "recipe. One `model.onnx`: inputs `input_ids`, `attention_mask` (dynamic batch and length); outputs "
          + ", ".join(f"`{OUTPUTS[h]}` ({h}: " + ", ".join(f"{i} {n}" for i, n in enumerate(lab)) + ")"
                      for h, lab in HEADS.items())
          + ". `config.json` maps each output to its labels (`tasks`).", ""]
    L += [f"## Goals (exported model.onnx through {first}, full validation splits)" if not info.get("eval_limit") else
          f"## Goals (exported model.onnx through {first}, first {info['eval_limit']} rows of each validation split)", "",
          "| goal | value | target | met |", "|---|---|---|---|"]
    for name, v, goal, met in goal_rows(runtime[first]["headline"], facts):
        value, want = fmt_goal(name, v, goal)
        L.append(f"| {name} | {value} | {want} | {'yes' if met else '**no**'} |")
    L.append(f"| int8 | {'yes' if facts['int8'] else 'no'} ({facts['int8_matrices']} int8 weight matrices) | int8 | "
             f"{'yes' if facts['int8'] else '**no**'} |")
    L += ["", f"The export gate compared every engine with {info['reference_note']}: "
          + _head_fig(info["reference"]) + ".", ""]
    L += ["## Commands", "", "```"]
    seen = set()
    for t in teachers:
        if t.get("command") and t["command"] not in seen:
            seen.add(t["command"])
            L.append(display_command(t["command"]))
    for c in ((s.get("resumed_from") or {}).get("command"), s.get("command"), info.get("command")):
        if c and c not in seen:
            seen.add(c)
            L.append(display_command(c))
    L += ["```", ""]
    L += ["## Data", "", "| source | head | split | file | rows | sha256 |", "|---|---|---|---|---|---|"]
    for name, d in s["data"].items():
        for split in ("train", "valid"):
            f = d[split]
            L.append(f"| {name} | {d['head']} | {split} | `{display_path(f['file'])}` | {f['rows']} | `{f['sha256']}` |")
    L += [""]
    for name, d in s["data"].items():
        counts = ", ".join(f"{k} {v}" for k, v in d["label_counts"].items()) if name != "news_topic" else "20 topics"
        twins = d["train_rows_with_a_validation_twin"]
        line = f"- {name}: max {d['max_length']} tokens in training; training labels {counts}"
        if twins:
            line += (f"; {twins} training rows have the same model text as a validation row of the same dataset (the "
                     "datasets' own split, where they differ in their link paths; kept, as in every earlier run)")
        dropped = d["train_rows_dropped_in_another_validation_split"]
        if dropped:
            line += f"; {dropped} dropped for being in another source's validation split"
        L.append(line + ".")
    L += ["", "Texts are prepared with `finterm.text.clean_text` + `model_text`, as at run time. The validation "
          "splits are the test sets: nothing was tuned or stopped early on them in these runs (the schedule was "
          "chosen from the earlier runs in training/README.md, which were scored on them).", ""]
    loss = s["loss"]
    L += ["## Loss, and why", "", LOSS_WHY, "",
          f"Here: StockTwits weight {loss['chatter_weight']}, label smoothing {loss['chatter_smoothing']}, "
          f"class weights from the training tags; news label smoothing {loss['news_smoothing']}; an epoch takes every "
          f"news row and {s.get('chatter_per_epoch')} StockTwits rows (a new draw each epoch, every message before any "
          f"repeats); student: α {s['hyperparameters'].get('distill_alpha')} · labels + (1 − α) · T² · KL with T "
          f"{s['hyperparameters'].get('distill_temperature')}, the head a row has no label for weighted {loss['cross_kd']}.", ""]
    L += ["## Training", ""]
    for t in teachers:
        stop = f", stopped by its time budget at step {t['stopped_by_budget_at']}" if t.get("stopped_by_budget_at") else ""
        L.append(f"- Teacher seed {t['seed']}: dense fine-tune of `{display_path(t['backbone'])}` on {t['device']}, "
                 f"{t['epochs']} epochs ({t['steps']} steps of batch {t['batch_size']}, lr {t['lr']}, warm-up {t['warmup']}, "
                 f"linear decay{', bf16 autocast' if str(t['device']).startswith('cuda') else ''}){stop}, "
                 f"{t['train_seconds']} s; PyTorch validation: {_head_fig(t['valid'])}.")
    ens = s.get("ensemble") or {}
    if ens.get("together"):
        L.append(f"- The teachers together (mean of their logits), PyTorch validation: {_head_fig(ens['together'])}.")
    hp = s.get("hyperparameters", {})
    stop = f"; stopped by its time budget at step {s['stopped_by_budget_at']}" if s.get("stopped_by_budget_at") else ""
    L.append(f"- Student: initialised from `{display_path(s['init'])}`; recipe `{Path(s['recipe_file']).name}` (overrides "
             f"{s.get('recipe_overrides') or 'none'}) on {s['device']}: {s['steps']} steps of batch {hp.get('batch_size')} "
             f"({s['passes_over_data']} passes over the data; a recipe epoch = {s['steps_per_recipe_epoch']} steps), lr "
             f"{hp.get('learning_rate')}{stop}, {s['train_seconds']} s; PyTorch (fake-quant) validation: {_head_fig(s['valid'])}; "
             f"encoder sparsity {_pct(s['encoder_sparsity'])}.")
    if s.get("rates"):
        r = s["rates"]
        L.append(f"  - Measured before planning the run: {r['dense_steps_per_second']:.1f} dense and "
                 f"{r['qat_steps_per_second']:.1f} quantization-aware steps per second.")
    if s.get("stages"):
        L.append("  - On the way (PyTorch, validation): " + "; ".join(
            f"{g['stage']} (recipe epoch {g['epoch']}, {_pct(g['sparsity'])} zeros): "
            + _head_fig({k: v for k, v in g.items() if k not in ('stage', 'epoch', 'step', 'sparsity')}) for g in s["stages"]) + ".")
    if s.get("resumed_from"):
        r = s["resumed_from"]
        L.append(f"  - Resumed at recipe epoch {r['epoch']} from `{display_path(r['checkpoint'])}` (the pruned student saved "
                 f"when QAT started in `{display_command(r.get('command') or '') or 'an earlier run'}`).")
    emb = ("frozen" if hp.get("freeze_word_embeddings") else "trained until QAT started, then kept as it was (its int8 "
           "observer still calibrating)" if hp.get("freeze_word_embeddings_in_qat") else "trained with the rest")
    L.append(f"  - Vocabulary embedding: {emb}.")
    if info.get("extra"):
        for task, x in info["extra"].items():
            L.append(f"- User corrections ({task}): {x['summary']}; the export scores {_pct(x['heldout_accuracy'])} on the "
                     f"{x['heldout_rows']} held-back corrections ({x['engine']}).")
    L += ["", "<details><summary>Recipe as applied</summary>", "", "```yaml", info["recipe_text"].strip(), "```", "",
          "</details>", ""]
    for eng, r in runtime.items():
        sc = r["scores"]
        tps = r.get("tweets_per_second")
        L += [f"## Results through {eng}" + (f" ({tps:.0f} tweets/s in this evaluation)" if tps else ""), ""]
        for source, title, head, alt in (("news_sentiment", "News sentiment", "sentiment", "news sentiment"),
                                         ("news_topic", "Topic", "topic", "topic")):
            if source in sc:
                L += _news_section(title, info["splits"][source]["file"], sc[source], HEADS[head],
                                   info["pictures"].get(source) if eng == first else None, alt, full=eng == first)
        if "stocktwits" in sc:
            m = sc["stocktwits"]
            L += [f"### StockTwits (`{display_path(info['splits']['stocktwits']['file'])}`, {m['n']} rows)", "",
                  f"ROC AUC of p(Bullish) − p(Bearish) {m['roc_auc']:.4f}; balanced accuracy of the Bullish-vs-Bearish "
                  f"decision {_pct(m['balanced_accuracy'])} (Bearish recall {_pct(m['recall']['Bearish'])}, Bullish recall "
                  f"{_pct(m['recall']['Bullish'])}; plain accuracy {_pct(m['accuracy'])} against {_pct(m['majority_baseline'])} "
                  f"for always-Bullish). The 3-way argmax says Neutral on {_pct(m['neutral_share'])} of these messages. The "
                  "bag-of-bigrams logistic regression floor (stocktwits/README.md): AUC 0.869, balanced accuracy 77.9%.", ""]
            if eng == first:
                L += ["Tags against the decision (rows the authors' tag, columns the larger of the two logits):", ""]
                L += _md_confusion(m["confusion"], CHATTER_LABELS, CHATTER_LABELS)
                if "stocktwits" in info["pictures"]:
                    L += ["", f"![StockTwits confusion matrix]({info['pictures']['stocktwits']})"]
                L.append("")
    o = facts["onnx"]
    L += ["## Size and sparsity", "",
          f"- model.onnx: {o['size_bytes'] / 1e6:.2f} MB; the whole folder: {facts['folder MB']:.2f} MB.",
          f"- Zeros in the exported int8 encoder matrices: {_pct(facts['encoder sparsity'])} "
          f"(PyTorch: {_pct(s['encoder_sparsity'])} of the encoder's linear weights).",
          f"- Weights by type (elements): {o['params_by_dtype']}; quantized ops: {o['quantized_ops']}.", ""]
    if info.get("bench"):
        L += latency_section(info["bench"], measured_where() + ", at export")
    L += [f"Machine (evaluation): {machine()}.", ""]
    path = out_dir / "MODEL_CARD.md"
    path.write_text("\n".join(L) + "\n", encoding="utf-8")
    return path
