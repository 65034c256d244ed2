"""Hard-negative mining for ``pair`` and ``qa`` (``data.hardNegatives``), cached in the run folder.

sentence-transformers' ``util.mine_hard_negatives`` ranks the training answers for every anchor with an
embedding model and keeps, per pair, the hardest candidates that are not its positive. The result
(anchor, positive, negative_1..n) trains the in-batch-negatives loss with those as extra negatives.
Mining costs a full encoding of the training set, so the mined set is saved in the run folder under a key
of the data and the mining settings; a resumed (or repeated) run loads it instead of mining again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path

import datasets
from sentence_transformers import SentenceTransformer
from sentence_transformers.util import mine_hard_negatives

from stjob.api.contract import RunLayout
from stjob.api.shapes import shape_of
from stjob.api.spec import SentenceTransformerJobSpec
from stjob.errors import DataError
from stjob_trainer.data_loading import LoadedData
from stjob_trainer.model_loading import load_model
from stjob_trainer.reporting import Reporter

logger = logging.getLogger(__name__)

#: The cache key next to the saved dataset: data fingerprint + mining settings.
KEY_FILE = "stjob_mining_key.json"


def mining_key(spec: SentenceTransformerJobSpec, data_fingerprint: str) -> str:
    """What the mined set depends on: the training rows and the mining settings (incl. the model)."""
    settings = spec.data.hard_negatives.model_dump(mode="json") if spec.data.hard_negatives else None
    material = json.dumps({"data": data_fingerprint, "settings": settings, "model": spec.model.name}, sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()


def with_hard_negatives(
    spec: SentenceTransformerJobSpec,
    data: LoadedData,
    model: SentenceTransformer,
    *,
    run: RunLayout,
    data_fingerprint: str,
    reporter: Reporter,
    base_dir: Path | None = None,
) -> LoadedData:
    """``data`` with mined negatives in its training split when the spec asks for them, else unchanged."""
    settings = spec.data.hard_negatives
    if settings is None:
        return data
    folder, key = run.hard_negatives, mining_key(spec, data_fingerprint)
    key_file = folder / KEY_FILE
    if key_file.is_file() and key_file.read_text(encoding="utf-8").strip() == key:
        train = datasets.load_from_disk(str(folder))
        reporter.note(f"hard negatives: {len(train)} rows from {folder} (already mined)")
        return replace(data, train=train)

    anchor, positive = shape_of(spec.trainer).column_names[:2]
    miner = model
    if settings.model is not None and settings.model != spec.model.name:
        miner = load_model(
            spec.model.model_copy(update={"name": settings.model}), base_dir=base_dir, device=str(model.device)
        )
    reporter.note(f"mining {settings.num_negatives} hard negative(s) per pair over {len(data.train)} rows ...")
    started = time.monotonic()
    train = mine_hard_negatives(
        data.train,
        miner,
        anchor_column_name=anchor,
        positive_column_name=positive,
        num_negatives=settings.num_negatives,
        range_min=settings.range_min,
        range_max=settings.range_max,
        max_score=settings.max_score,
        absolute_margin=settings.absolute_margin,
        relative_margin=settings.relative_margin,
        sampling_strategy=settings.sampling_strategy,
        output_format="n-tuple",
        batch_size=spec.training.batch_size,
        verbose=False,
    )
    seconds = time.monotonic() - started
    if len(train) == 0:
        raise DataError(
            "data.hardNegatives found no negatives for any pair (too few rows, or rangeMin/maxScore/margins "
            "leave no candidate)"
        )
    reporter.note(f"hard negatives: {len(train)} of {len(data.train)} pairs kept with negatives ({seconds:.0f} s)")
    _save(train, folder, key)
    return replace(data, train=train)


def _save(train: datasets.Dataset, folder: Path, key: str) -> None:
    """Save the mined set, then its key: a run cut off mid-save finds no key and mines again."""
    shutil.rmtree(folder, ignore_errors=True)
    train.save_to_disk(str(folder))
    (folder / KEY_FILE).write_text(key + "\n", encoding="utf-8")
