"""Hard-negative mining for ``pair`` and ``qa`` (``data.hardNegatives``), cached in the run folder.

sentence-transformers' ``util.mine_hard_negatives`` ranks the training answers for every anchor with an
embedding model and keeps, per pair, the hardest candidates that are not its positive. The result
(anchor, positive, negative_1..n) trains the in-batch-negatives loss with those as extra negatives.
Mining costs a full encoding of the training set, so the mined set is saved in the run folder under a key
of the data and the mining settings; a resumed (or repeated) run loads it instead of mining again.

Under torchrun rank 0 alone mines and saves; the other ranks wait for the saved set (its key file, written
last, on the run folder every rank shares) and load it, so every rank trains on the same negatives, even
with random sampling. No process group exists yet at this point (the Trainer creates it), hence the file.
If rank 0 fails, torchrun stops the waiting ranks; the wait is bounded anyway.
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
from sentence_transformers import CrossEncoder, SentenceTransformer
from sentence_transformers.util import mine_hard_negatives

from stjob.api.contract import RunLayout
from stjob.api.shapes import shape_of
from stjob.api.spec import SentenceTransformerJobSpec
from stjob.errors import ConfigError, DataError, StjobError
from stjob_trainer.data_loading import LoadedData
from stjob_trainer.model_loading import load_model, resolve_model_name
from stjob_trainer.reporting import Reporter
from stjob_trainer.world import current_world

logger = logging.getLogger(__name__)

#: The cache key next to the saved dataset: data fingerprint + mining settings.
KEY_FILE = "stjob_mining_key.json"
#: How long a rank other than 0 waits for rank 0's mined set (mining a million pairs takes well under this).
WAIT_FOR_RANK_ZERO_SECONDS = 6 * 3600.0
#: How often a waiting rank looks for the key file.
POLL_SECONDS = 0.5


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
    world = current_world()
    if _saved_key(key_file) == key:  # a resumed job, or a rank that arrives after rank 0 saved the set
        train = datasets.load_from_disk(str(folder))
        logger.info("hard negatives: rank %d loaded %d rows already mined into %s", world.rank, len(train), folder)
        reporter.note(f"hard negatives: {len(train)} rows from {folder} (already mined)")
        return replace(data, train=train)
    if not world.is_rank_zero:
        logger.info("hard negatives: rank %d waits for rank 0 to mine them into %s", world.rank, folder)
        wait_for_key(key_file, key, timeout=WAIT_FOR_RANK_ZERO_SECONDS)
        train = datasets.load_from_disk(str(folder))
        logger.info("hard negatives: rank %d loaded %d rows mined by rank 0", world.rank, len(train))
        return replace(data, train=train)

    anchor, positive = shape_of(spec.trainer).column_names[:2]
    miner = model
    if settings.model is not None and settings.model != spec.model.name:
        miner = load_model(
            spec.model.model_copy(update={"name": settings.model}), base_dir=base_dir, device=str(model.device)
        )
    logger.info("hard negatives: rank %d mines", world.rank)
    reranker = load_cross_encoder(settings.cross_encoder, base_dir=base_dir, device=str(model.device))
    reporter.note(f"mining {settings.num_negatives} hard negative(s) per pair over {len(data.train)} rows ...")
    started = time.monotonic()
    train = mine_hard_negatives(
        data.train,
        miner,
        anchor_column_name=anchor,
        positive_column_name=positive,
        cross_encoder=reranker,
        num_negatives=settings.num_negatives,
        range_min=settings.range_min,
        range_max=settings.range_max,
        max_score=settings.max_score,
        absolute_margin=settings.absolute_margin,
        relative_margin=settings.relative_margin,
        sampling_strategy=settings.sampling_strategy,
        output_format="n-tuple",
        batch_size=spec.hyperparameters.batch_size,
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


def load_cross_encoder(name: str | None, *, base_dir: Path | None, device: str) -> CrossEncoder | None:
    """``data.hardNegatives.crossEncoder`` as a CrossEncoder (None when unset); ConfigError when it cannot load."""
    if name is None:
        return None
    resolved = resolve_model_name(name, base_dir=base_dir)
    try:
        reranker: CrossEncoder = CrossEncoder(resolved, device=device)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"data.hardNegatives.crossEncoder: cannot load {name!r} as a CrossEncoder: {exc}") from exc
    return reranker


def _saved_key(key_file: Path) -> str | None:
    try:
        return key_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def wait_for_key(key_file: Path, key: str, *, timeout: float, poll: float = POLL_SECONDS) -> None:
    """Return once ``key_file`` holds ``key`` (rank 0 saved the mined set); StjobError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while _saved_key(key_file) != key:
        if time.monotonic() > deadline:
            raise StjobError(
                f"hard negatives: rank 0 did not save the mined set to {key_file.parent} in {timeout:.0f} s"
            )
        time.sleep(poll)


def _save(train: datasets.Dataset, folder: Path, key: str) -> None:
    """Save the mined set, then its key: a run cut off mid-save finds no key and mines again."""
    shutil.rmtree(folder, ignore_errors=True)
    train.save_to_disk(str(folder))
    (folder / KEY_FILE).write_text(key + "\n", encoding="utf-8")
