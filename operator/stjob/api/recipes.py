"""Training recipes: what ``spec.training.recipe`` fills in for the hyperparameters a spec leaves unset.

One table (:data:`RECIPES`) and one pure function (:func:`resolve`) serve the trainer (what it runs,
its log line, ``result.json``, the model card), ``stjob validate --explain`` and ``bench/recipes.py``
(which reads the table and reports it beside its measurements).

Why the tunable fields carry no default: the API server writes a CRD default into every applied object,
so after ``kubectl apply`` a default is indistinguishable from a value the user chose. The fields a recipe
may tune (:data:`TUNABLE`) therefore default to "unset" in the spec and the CRD; an explicit value always
wins, an unset one comes from the recipe. ``autotrain`` resolves every shape to AutoTrain's defaults (the
values of ``stjob.api.autotrain``), so a spec without ``recipe`` trains exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from stjob.api.autotrain import AUTOTRAIN_PARAMS
from stjob.api.shapes import LossName, TrainerType, shape_of

if TYPE_CHECKING:
    from stjob.api.spec import SentenceTransformerJobSpec

RecipeName = Literal["autotrain", "recommended"]
#: The spec fields a recipe may fill (spec path -> attribute of :class:`Resolution`).
TUNABLE: dict[str, str] = {
    "training.learningRate": "learning_rate",
    "training.epochs": "epochs",
    "training.batchSize": "batch_size",
    "training.warmupRatio": "warmup_ratio",
    "loss.name": "loss",
    "data.hardNegatives": "hard_negatives",
}


@dataclass(frozen=True)
class DataFacts:
    """What the recipe may look at in the training data; None: not known yet (before the data is read)."""

    n_train: int | None = None
    #: Distinct labels of a ``pair_class`` target.
    n_labels: int | None = None


@dataclass(frozen=True)
class Hyperparameters:
    """The values a recipe sets; None leaves the AutoTrain value (or the shape's default loss) in place."""

    learning_rate: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    warmup_ratio: float | None = None
    loss: LossName | None = None
    #: Mined hard negatives per (anchor, positive) pair (``data.hardNegatives.numNegatives``); None: no mining.
    hard_negatives: int | None = None


#: AutoTrain's defaults, read from the one table of AutoTrain parameters.
AUTOTRAIN_VALUES = Hyperparameters(
    learning_rate=AUTOTRAIN_PARAMS["lr"].default,
    epochs=AUTOTRAIN_PARAMS["epochs"].default,
    batch_size=AUTOTRAIN_PARAMS["batch_size"].default,
    warmup_ratio=AUTOTRAIN_PARAMS["warmup_ratio"].default,
)


@dataclass(frozen=True)
class RecipeRow:
    """One line of a recipe: for a trainer shape and a data case, the values and why."""

    trainer: TrainerType
    #: The data case in words (``binary labels``); ``any`` when the row does not look at the data.
    case: str
    values: Hyperparameters
    #: The measurement behind the row (bench/RESULTS.md), or why it keeps AutoTrain's values.
    evidence: str
    #: Labels the row needs (``pair_class``): None for any.
    labels: Literal["binary", "multi"] | None = None
    #: Training rows the row needs at least: None for any.
    min_rows: int | None = None

    def matches(self, facts: DataFacts) -> bool:
        """Whether this row applies to data with ``facts`` (unknown facts match the row's first case)."""
        labels_fit = self.labels is None or facts.n_labels is None or (facts.n_labels == 2) == (self.labels == "binary")
        rows_fit = self.min_rows is None or facts.n_train is None or facts.n_train >= self.min_rows
        return labels_fit and rows_fit


#: More epochs at a higher rate paid off on SICK's 4,500 rows and lost on 400; sizes in between are not
#: measured, so the threshold sits close to the measured gain (a smaller set keeps AutoTrain's values).
PAIR_SCORE_MIN_ROWS = 4000

_AUTOTRAIN_EVIDENCE = "AutoTrain's defaults"
_NO_GAIN = "no measured gain over AutoTrain's values: kept"

#: recipe -> its rows; per trainer the first matching row applies (data facts unknown: the first row).
RECIPES: dict[RecipeName, tuple[RecipeRow, ...]] = {
    "autotrain": tuple(RecipeRow(t, "any", AUTOTRAIN_VALUES, _AUTOTRAIN_EVIDENCE) for t in get_args(TrainerType)),
    "recommended": (
        RecipeRow(
            "pair_class",
            "binary labels",
            Hyperparameters(
                loss="OnlineContrastiveLoss", epochs=1, batch_size=16, learning_rate=3e-5, warmup_ratio=0.1
            ),
            "MSRP validation, 400 train rows: cosine-threshold accuracy 0.768 vs AutoTrain's SoftmaxLoss "
            "0.732 (untouched 0.750), a fifth of the time (bench/recipes.py)",
            labels="binary",
        ),
        RecipeRow(
            "pair_class",
            "three or more labels",
            AUTOTRAIN_VALUES,
            "SoftmaxLoss as AutoTrain; " + _NO_GAIN,
            labels="multi",
        ),
        RecipeRow(
            "pair_score",
            f"{PAIR_SCORE_MIN_ROWS:,} rows or more",
            Hyperparameters(loss="CoSENTLoss", epochs=4, batch_size=16, learning_rate=5e-5, warmup_ratio=0.1),
            "SICK trial, all 4,500 train rows: Spearman 0.8630 vs AutoTrain's values 0.8576 (untouched 0.7980), "
            "1.14x the time (bench/recipes.py)",
            min_rows=PAIR_SCORE_MIN_ROWS,
        ),
        RecipeRow(
            "pair_score",
            f"fewer than {PAIR_SCORE_MIN_ROWS:,} rows",
            AUTOTRAIN_VALUES,
            "SICK trial, 400 train rows: CoSENTLoss with 4 epochs, lr 5e-5, batch 16 scored 0.7909, below "
            "AutoTrain's values 0.7960 (bench/recipes.py): kept",
        ),
        *(
            RecipeRow(
                trainer,
                "any",
                Hyperparameters(
                    loss="MultipleNegativesRankingLoss",
                    epochs=1,
                    batch_size=16,
                    learning_rate=3e-5,
                    warmup_ratio=0.1,
                    hard_negatives=1,
                ),
                "TREC-QA dev: MRR@10 0.6632 vs AutoTrain's 0.6023 (untouched 0.6629): in-batch negatives "
                "alone lose to the untouched model, one mined hard negative per pair does not (bench/recipes.py)",
            )
            for trainer in ("pair", "qa")
        ),
        RecipeRow("triplet", "any", AUTOTRAIN_VALUES, "not benchmarked: " + _NO_GAIN),
    ),
}


@dataclass(frozen=True)
class Resolution:
    """The values a run uses, and where each came from (``spec`` or ``recipe``)."""

    recipe: RecipeName
    trainer: TrainerType
    case: str
    evidence: str
    learning_rate: float
    epochs: int
    batch_size: int
    warmup_ratio: float
    loss: LossName
    hard_negatives: int | None
    #: Spec path (:data:`TUNABLE`) -> "spec" (explicit in the spec) or "recipe".
    sources: dict[str, str] = field(default_factory=dict)

    def value(self, path: str) -> Any:
        """The resolved value of a :data:`TUNABLE` spec path."""
        return getattr(self, TUNABLE[path])

    def to_json(self) -> dict[str, Any]:
        """``result.json``'s ``recipe`` entry: the recipe, the data case and every tunable field's value and source."""
        return {
            "name": self.recipe,
            "case": self.case,
            "evidence": self.evidence,
            "fields": {path: {"value": self.value(path), "from": source} for path, source in self.sources.items()},
        }

    def lines(self) -> list[str]:
        """Human-readable lines (logs, the model card, ``stjob validate --explain``)."""
        out = [f"recipe {self.recipe} for {self.trainer} ({self.case}): {self.evidence}"]
        for path, source in self.sources.items():
            value = self.value(path)
            shown = "none" if value is None else (f"{value} mined per pair" if path == "data.hardNegatives" else value)
            out.append(f"  {path}: {shown}  ({'explicit in the spec' if source == 'spec' else 'from the recipe'})")
        return out

    def apply(self, spec: SentenceTransformerJobSpec) -> SentenceTransformerJobSpec:
        """``spec`` with every tunable field set to its resolved value (what the trainer runs)."""
        from stjob.api.spec import HardNegativesSpec

        training = spec.training.model_copy(
            update={
                "learning_rate": self.learning_rate,
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "warmup_ratio": self.warmup_ratio,
            }
        )
        data = spec.data
        if data.hard_negatives is None and self.hard_negatives is not None:
            data = data.model_copy(update={"hard_negatives": HardNegativesSpec(num_negatives=self.hard_negatives)})
        return spec.model_copy(
            update={"training": training, "loss": spec.loss.model_copy(update={"name": self.loss}), "data": data}
        )


def recipe_row(recipe: RecipeName, trainer: TrainerType, facts: DataFacts = DataFacts()) -> RecipeRow:
    """The row of ``recipe`` that applies to ``trainer`` and data with ``facts``."""
    rows = [row for row in RECIPES[recipe] if row.trainer == trainer]
    return next((row for row in rows if row.matches(facts)), rows[0])


def resolve(spec: SentenceTransformerJobSpec, facts: DataFacts = DataFacts()) -> Resolution:
    """The hyperparameters a run of ``spec`` uses: explicit spec values, else the recipe's row for the data.

    Pure: the trainer calls it once the data is read (``facts``), ``stjob validate --explain`` before.
    A loss the recipe picks must fit the shape; an explicit ``loss.name`` always wins. ``recommended``
    applies to ``model.type: embedding`` (where it was measured); other families get AutoTrain's values.
    """
    recipe: RecipeName = spec.training.recipe
    family = spec.model.type
    # The table's rows were measured on embedding models; other families train with AutoTrain's values.
    row = recipe_row(recipe if family == "embedding" else "autotrain", spec.trainer, facts)
    losses = shape_of(spec.trainer, family).losses
    base, wanted = AUTOTRAIN_VALUES, row.values
    t = spec.training
    explicit: dict[str, Any] = {
        "training.learningRate": t.learning_rate,
        "training.epochs": t.epochs,
        "training.batchSize": t.batch_size,
        "training.warmupRatio": t.warmup_ratio,
        "loss.name": spec.loss.name,
        "data.hardNegatives": spec.data.hard_negatives.num_negatives if spec.data.hard_negatives else None,
    }
    chosen: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for path, attr in TUNABLE.items():
        if explicit[path] is not None:
            chosen[attr], sources[path] = explicit[path], "spec"
            continue
        value = getattr(wanted, attr)
        if value is None:
            value = getattr(base, attr)
        if attr == "loss" and value is None:
            value = losses[0]
        chosen[attr], sources[path] = value, "recipe"
    if chosen["loss"] not in losses:  # a recipe never picks a loss the shape refuses
        chosen["loss"] = losses[0]
    return Resolution(
        recipe=recipe, trainer=spec.trainer, case=row.case, evidence=row.evidence, sources=sources, **chosen
    )


def data_cases(trainer: TrainerType) -> list[tuple[str, DataFacts]]:
    """The data cases ``recommended`` tells apart for a shape (``stjob validate --explain`` shows each)."""
    if trainer == "pair_class":
        return [("binary labels", DataFacts(n_labels=2)), ("three or more labels", DataFacts(n_labels=3))]
    if trainer == "pair_score":
        return [
            (f"{PAIR_SCORE_MIN_ROWS:,} rows or more", DataFacts(n_train=PAIR_SCORE_MIN_ROWS)),
            (f"fewer than {PAIR_SCORE_MIN_ROWS:,} rows", DataFacts(n_train=PAIR_SCORE_MIN_ROWS - 1)),
        ]
    return [("any", DataFacts())]


def explain(spec: SentenceTransformerJobSpec) -> list[str]:
    """What ``spec`` will train with, for each data case its recipe distinguishes (before the data is read)."""
    lines: list[str] = []
    seen: set[tuple[Any, ...]] = set()
    for _, facts in data_cases(spec.trainer):
        resolution = resolve(spec, facts)
        key = tuple(resolution.value(path) for path in TUNABLE)
        if key in seen:
            continue
        seen.add(key)
        lines += resolution.lines()
    return lines


def recipe_summary() -> str:
    """The ``recipe`` field's description of ``recommended``: each shape's choice, in words."""
    parts = []
    for row in RECIPES["recommended"]:
        v = row.values
        if v == AUTOTRAIN_VALUES:
            parts.append(f"{row.trainer} ({row.case}): AutoTrain's values")
            continue
        bits = [v.loss or "", f"{v.epochs} epoch(s)", f"lr {v.learning_rate:g}", f"batch {v.batch_size}"]
        if v.hard_negatives:
            bits.append(f"{v.hard_negatives} mined hard negative")
        parts.append(f"{row.trainer} ({row.case}): {', '.join(b for b in bits if b)}")
    return "; ".join(parts)
