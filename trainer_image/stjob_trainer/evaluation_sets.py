"""Extra evaluation sets (``spec.evaluation.datasets``): read, checked and turned into evaluators.

Each set is a fixed benchmark a team keeps across jobs. It is read before the model loads (a malformed
file fails the job at once, DataError naming file, row and column, as the training data does) and scored
on the base model and on the result next to the validation split; its metrics carry the set's name
(``{name}_{metric}``), so the report, result.json, the model card and the gate can name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentence_transformers.sentence_transformer import evaluation
from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

from stjob.api.spec import EvaluationDatasetSpec, SentenceTransformerJobSpec
from stjob.errors import DataError
from stjob_trainer.data_loading import find_split_file, locate_data_file, read_checked_columns
from stjob_trainer.evaluators import retrieval_evaluator

#: The columns each pair kind's file holds (docs/trainer.md, "Extra evaluation sets").
PAIR_COLUMNS = {"pair_score": ("sentence1", "sentence2", "score"), "pair_class": ("sentence1", "sentence2", "label")}
#: The files of a retrieval set's folder (stem: columns), each .csv or .jsonl.
RETRIEVAL_FILES = {"queries": ("id", "text"), "corpus": ("id", "text"), "relevant": ("query", "document")}


@dataclass(frozen=True)
class EvaluationSet:
    """One extra set, read and checked: its name (the metrics' prefix) and its evaluator."""

    name: str
    evaluator: SentenceEvaluator


def load_evaluation_sets(
    spec: SentenceTransformerJobSpec, *, base_dir: Path | None, data_root: Path | None, batch_size: int = 32
) -> list[EvaluationSet]:
    """Every ``evaluation.datasets`` entry as an evaluator; DataError on the first malformed file."""
    return [
        EvaluationSet(item.name, _evaluator(item, spec, base_dir=base_dir, data_root=data_root, batch=batch_size))
        for item in spec.evaluation.datasets
    ]


def _evaluator(
    item: EvaluationDatasetSpec,
    spec: SentenceTransformerJobSpec,
    *,
    base_dir: Path | None,
    data_root: Path | None,
    batch: int,
) -> SentenceEvaluator:
    field = f"evaluation.datasets[{item.name}].path"
    path, folder, confined = locate_data_file(item.path, field, spec, base_dir=base_dir, data_root=data_root)
    if item.kind == "retrieval":
        if not path.is_dir():
            raise DataError(f"{field}: a retrieval set is a folder (queries, corpus, relevant files)", file=str(path))
        return _retrieval(item.name, path, folder=folder, confined=confined, batch=batch)
    if path.is_dir():
        raise DataError(f"{field}: a {item.kind} set is one .csv or .jsonl file, not a folder", file=str(path))
    values, lines = read_checked_columns(path, PAIR_COLUMNS[item.kind], folder=folder, confined=confined)
    first, second = values["sentence1"], values["sentence2"]
    if item.kind == "pair_score":
        return evaluation.EmbeddingSimilarityEvaluator(
            first,
            second,
            values["score"],
            main_similarity="cosine",
            similarity_fn_names=["cosine"],
            batch_size=batch,
            name=item.name,
        )
    labels = []
    for label, line in zip(values["label"], lines, strict=True):
        if label not in ("0", "1"):
            raise DataError(
                f"label {label!r}: a pair_class evaluation set has labels 0 and 1",
                file=str(path),
                row=line,
                column="label",
            )
        labels.append(int(label))
    return evaluation.BinaryClassificationEvaluator(
        first, second, labels, similarity_fn_names=["cosine"], batch_size=batch, name=item.name
    )


def _retrieval(name: str, folder_path: Path, *, folder: Path, confined: bool, batch: int) -> SentenceEvaluator:
    tables: dict[str, tuple[dict[str, list[Any]], list[int], Path]] = {}
    for stem, columns in RETRIEVAL_FILES.items():
        file = find_split_file(folder_path, stem)
        values, lines = read_checked_columns(file, columns, folder=folder, confined=confined)
        tables[stem] = (values, lines, file)
    queries = _by_id(*tables["queries"])
    corpus = _by_id(*tables["corpus"])
    relevant: dict[str, set[str]] = {}
    values, lines, file = tables["relevant"]
    for query, document, line in zip(values["query"], values["document"], lines, strict=True):
        if query not in queries:
            raise DataError(f"query id {query!r} is not in the queries file", file=str(file), row=line, column="query")
        if document not in corpus:
            raise DataError(
                f"document id {document!r} is not in the corpus file", file=str(file), row=line, column="document"
            )
        relevant.setdefault(query, set()).add(document)
    asked = {qid: text for qid, text in queries.items() if qid in relevant}
    return retrieval_evaluator(asked, corpus, relevant, batch_size=batch, name=name)


def _by_id(values: dict[str, list[Any]], lines: list[int], file: Path) -> dict[str, str]:
    """id -> text; a repeated id is a DataError at its second row."""
    out: dict[str, str] = {}
    for key, text, line in zip(values["id"], values["text"], lines, strict=True):
        if key in out:
            raise DataError(f"id {key!r} appears twice", file=str(file), row=line, column="id")
        out[key] = text
    return out
