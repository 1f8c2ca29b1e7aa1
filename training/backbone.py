"""Hugging Face-style encoder folders: loading a classifier from one, and what travels with it.

Shared by the teacher, the student, the transfer-text labelling and the export, so that none of
them has to import another to reach these (teacher.py and transfer.py once imported each other).
"""

from __future__ import annotations

from pathlib import Path

from .common import TrainError

#: The tokenizer files copied from a backbone into every teacher, student and model folder.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def load_classifier(folder: Path, labels: list[str]):
    """AutoModelForSequenceClassification with our label maps (a new head if sizes differ)."""
    from transformers import AutoModelForSequenceClassification

    try:
        return AutoModelForSequenceClassification.from_pretrained(
            str(folder),
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
            ignore_mismatched_sizes=True,
        )
    except OSError as exc:
        raise TrainError(f"cannot load a model from {folder}: {str(exc).splitlines()[0]}") from None


def freeze_word_embeddings(model) -> int:
    """Freeze the vocabulary table: on a CPU its dense gradient and AdamW update (a third
    of MiniLM's weights) cost more than the little it moves in a short fine-tune."""
    emb = model.get_input_embeddings()
    emb.weight.requires_grad_(False)
    return emb.weight.numel()
