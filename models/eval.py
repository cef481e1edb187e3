"""Scores a labelled file with an exported model folder and prints accuracy,
precision, recall, F1, benign false-positive rate and ROC AUC at the folder's
threshold (chosen on the S-Labs validation split by train.py).

    .venv-train/bin/python eval.py                       # models/default on S-Labs test
    .venv-train/bin/python eval.py --model build/default --data FILE.csv|.jsonl|.parquet
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import common
import torch

import export


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=common.DEFAULT_MODEL_DIR)
    p.add_argument("--data", type=Path, default=common.CORPUS_DIR / "s-labs" / "test.csv")
    p.add_argument("--threshold", type=float, help="override the threshold in config.json")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    config = json.loads((args.model / "config.json").read_text())
    settings = config.get("portcullis", {})
    threshold = args.threshold if args.threshold is not None else settings.get("threshold", 0.5)
    max_length = settings.get("window_max_length", export.WINDOW_MAX_LENGTH)
    overlap = settings.get("window_overlap", export.WINDOW_OVERLAP)

    tok = common.load_tokenizer(args.model / "tokenizer.json")
    model = export.load_f32(args.model)
    texts, labels = common.read_labelled(args.data)
    started = time.monotonic()
    scores = common.injection_scores(model, tok, texts, max_length, overlap)
    m = common.metrics_at(scores, labels, threshold)
    m["seconds"] = round(time.monotonic() - started, 1)
    m["data"] = str(args.data)
    if args.json:
        print(json.dumps(m))
        return
    print(f"data:       {args.data} ({m['n']} rows)")
    print(f"threshold:  {threshold}")
    for key in ("accuracy", "precision", "recall", "f1", "benign_fpr", "roc_auc"):
        print(f"{key + ':':<11} {m[key]:.4f}")
    print(f"confusion:  tp={m['tp']} fp={m['fp']} tn={m['tn']} fn={m['fn']}")


if __name__ == "__main__":
    main()
