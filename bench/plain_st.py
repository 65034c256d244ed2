"""The baseline: a minimal plain sentence-transformers v6 script doing the same training as stjob.

pair_score with CoSENTLoss on a CSV (sentence1, sentence2, score), 1 epoch, batch 16, lr 3e-5,
max_seq_length 128, warmup 0.1, seed 42, no evaluation, save the model at the end. Prints one JSON line
with samples/s as measured by the Trainer (train_samples_per_second).
"""

from __future__ import annotations

import argparse
import json
import time

T0 = time.perf_counter()

from datasets import load_dataset  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.sentence_transformer.losses import CoSENTLoss  # noqa: E402
from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer  # noqa: E402
from sentence_transformers.sentence_transformer.training_args import (  # noqa: E402
    SentenceTransformerTrainingArguments,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--bf16", action="store_true", help="bf16 mixed precision")
    parser.add_argument("--cuda", action="store_true", help="train on the GPU")
    args = parser.parse_args()

    model = SentenceTransformer(args.model, device="cuda" if args.cuda else "cpu")
    model.max_seq_length = args.max_seq_length
    train = load_dataset("csv", data_files=args.train, split="train").select_columns(
        ["sentence1", "sentence2", "score"]
    )
    training_args = SentenceTransformerTrainingArguments(
        output_dir=args.output,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=0.1,
        seed=42,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        use_cpu=not args.cuda,
        bf16=args.bf16,
        logging_steps=25,
        disable_tqdm=True,
    )
    trainer = SentenceTransformerTrainer(model=model, args=training_args, train_dataset=train, loss=CoSENTLoss(model))
    result = trainer.train()
    model.save(f"{args.output}/model")
    print(
        json.dumps(
            {
                "samples_per_second": result.metrics["train_samples_per_second"],
                "train_runtime": result.metrics["train_runtime"],
                "train_loss": result.metrics["train_loss"],
                "in_process_seconds": time.perf_counter() - T0,
            }
        )
    )


if __name__ == "__main__":
    main()
