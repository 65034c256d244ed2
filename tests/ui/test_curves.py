"""Curves from a pod log: the Trainer's printed dicts are read as data, never run; other lines are skipped."""

from __future__ import annotations

from stjob.ui.curves import log_records


def test_trainer_lines_become_records_and_the_rest_is_skipped() -> None:
    text = "\n".join(
        [
            "loading data",
            "{'loss': '4.53', 'grad_norm': '4.4', 'epoch': '0.5'}",  # transformers 5: values as text
            "{'eval_loss': 3.2, 'eval_spearman_cosine': 0.81, 'epoch': 1.0}",
            "{'train_runtime': '9.1', 'epoch': '1'}",  # no loss, no evaluation: not a curve point
            "{'loss': float('nan')}",  # a call, not a literal: not evaluated
            "{'loss': 'nan', 'epoch': 2}",  # non-finite: left out, so no loss remains
            "{'loss': " + "9" * 5000 + "}",  # too long to be a metric line
            "[#####.....]  50%  step 7/14",
        ]
    )
    assert log_records(text) == [
        {"loss": 4.53, "grad_norm": 4.4, "epoch": 0.5},
        {"eval_loss": 3.2, "eval_spearman_cosine": 0.81, "epoch": 1.0},
    ]
