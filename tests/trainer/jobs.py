"""Test data (real rows from ../shared/data, reshaped per trainer) and job builders."""

from __future__ import annotations

import copy
import csv
from pathlib import Path
from typing import Any

from stjob.api import SentenceTransformerJob
from tests.support import shared_data


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _trec_triplets(rows: list[dict[str, str]], limit: int) -> list[list[str]]:
    by_question: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        entry = by_question.setdefault(row["qtext"], {"1": [], "0": []})
        entry.setdefault(row["label"], []).append(row["atext"])
    out = []
    for question, answers in by_question.items():
        for i, positive in enumerate(answers["1"]):
            if answers["0"]:
                out.append([question, positive, answers["0"][i % len(answers["0"])]])
    return out[:limit]


def write_dataset(folder: Path, trainer: str, n_train: int = 96, n_valid: int = 32) -> Path:
    """``folder/train.csv`` and ``folder/valid.csv`` for ``trainer``, from the real corpora."""
    if trainer in ("pair_score", "pair_class", "pair"):
        train = _read_tsv(shared_data("sick2014/SICK_train.txt"))
        valid = _read_tsv(shared_data("sick2014/SICK_trial.txt"))
        for name, rows, n in (("train", train, n_train), ("valid", valid, n_valid)):
            if trainer == "pair_score":
                data = [[r["sentence_A"], r["sentence_B"], float(r["relatedness_score"]) / 5] for r in rows[:n]]
                _write_csv(folder / f"{name}.csv", ["sentence1", "sentence2", "score"], data)
            elif trainer == "pair_class":
                data = [[r["sentence_A"], r["sentence_B"], r["entailment_judgment"]] for r in rows[:n]]
                _write_csv(folder / f"{name}.csv", ["sentence1", "sentence2", "label"], data)
            else:
                pos = [r for r in rows if r["entailment_judgment"] == "ENTAILMENT"][:n]
                _write_csv(
                    folder / f"{name}.csv",
                    ["sentence1", "sentence2"],
                    [[r["sentence_A"], r["sentence_B"]] for r in pos],
                )
    else:
        train = _read_csv(shared_data("trecqa/train.csv"))
        valid = _read_csv(shared_data("trecqa/dev.csv"))
        for name, rows, n in (("train", train, n_train), ("valid", valid, n_valid)):
            if trainer == "qa":
                data = [[r["qtext"], r["atext"]] for r in rows if r["label"] == "1"][:n]
                _write_csv(folder / f"{name}.csv", ["question", "answer"], data)
            else:
                _write_csv(folder / f"{name}.csv", ["question", "good", "bad"], _trec_triplets(rows, n))
    return folder


COLUMNS: dict[str, dict[str, str]] = {
    "pair": {},
    "pair_score": {"target": "score"},
    "pair_class": {"target": "label"},
    "qa": {"sentence1": "question", "sentence2": "answer"},
    "triplet": {"sentence1": "question", "sentence2": "good", "sentence3": "bad"},
}


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` merged into a copy of ``base`` (nested mappings merged, other values replaced)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def job_document(trainer: str, data_dir: Path, model_name: Path | str, **spec_overrides: Any) -> dict[str, Any]:
    """A SentenceTransformerJob resource as a dict: 1 epoch, batch 16, evaluation on ``valid``."""
    spec: dict[str, Any] = {
        "trainer": trainer,
        "model": {"name": str(model_name), "maxSeqLength": 64},
        "data": {"path": str(data_dir), "validSplit": "valid", "columns": COLUMNS[trainer]},
        "training": {"epochs": 1, "batchSize": 16, "learningRate": 1e-4, "warmupRatio": 0.1},
        "output": {"projectName": f"test-{trainer.replace('_', '-')}"},
        "resources": {"gpus": 0},
    }
    return {
        "apiVersion": "stjob.dev/v1alpha1",
        "kind": "SentenceTransformerJob",
        "metadata": {"name": f"test-{trainer.replace('_', '-')}"},
        "spec": deep_merge(spec, spec_overrides),
    }


def make_job(trainer: str, data_dir: Path, model_name: Path | str, **spec_overrides: Any) -> SentenceTransformerJob:
    """The validated resource for :func:`job_document`."""
    return SentenceTransformerJob.model_validate(job_document(trainer, data_dir, model_name, **spec_overrides))
