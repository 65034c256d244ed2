"""The SentenceTransformerJob spec: the single source of truth.

The CRD in ``crds/`` is generated from these models (``stjob crd``), the operator validates with them,
and the trainer reads its configuration through them. Field descriptions become ``kubectl explain``
output, so each one says what the field does and which AutoTrain parameter it maps to.

Each cross-field rule is declared once (``RULES`` of a model, see ``stjob.api.rules``) with its CEL form
for the API server (rejected at ``kubectl apply``) and its Python form for pydantic (``stjob validate``,
the operator, the trainer). ``tests/kube`` proves on a real CRD server that both layers agree.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from stjob.api.autotrain import AUTOTRAIN_PARAMS
from stjob.api.data_location import HF_DATASETS_PREFIX, HUB_ID_PATTERN, SCHEME_PATTERN, data_path_problem
from stjob.api.recipes import RecipeName, Resolution, recipe_summary, resolve
from stjob.api.rules import Rule, RuledModel, in_list
from stjob.api.shapes import (
    LOSSES_BY_FAMILY,
    LOSSES_BY_TRAINER,
    RERANKER_LOSSES_NEEDING_NEGATIVES,
    TRAINERS_BY_FAMILY,
    TRAINERS_NEEDING_SENTENCE3,
    TRAINERS_NEEDING_TARGET,
    LossName,
    ModelType,
    TrainerType,
    columns_summary,
    default_losses_summary,
)

OptimizerName = Literal["adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "adagrad", "rmsprop"]
SchedulerName = Literal[
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
]
MixedPrecision = Literal["none", "fp16", "bf16"]
EvalStrategy = Literal["no", "steps", "epoch"]
TrackingBackend = Literal["none", "tensorboard", "mlflow", "wandb", "trackio"]

#: AutoTrain's default per parameter name, for the descriptions of the fields a recipe fills.
_AT = {name: param.default for name, param in AUTOTRAIN_PARAMS.items()}

# A Kubernetes quantity such as "4", "500m", "16Gi" (apimachinery's regex, simplified).
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Kubernetes label values (a Kueue queue name, a priority class) share this shape.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: Longest data path or subPath (Linux's PATH_MAX).
MAX_PATH_LENGTH = 4096
# A data path inside a mounted volume must not climb out of it.
_PARENT_SEGMENT = re.compile(r"(^|/)\.\.(/|$)")


# The same escape test in CEL (a RE2 regex) and in Python.
_PARENT_SEGMENT_CEL = "(^|/)[.][.](/|$)"


def _escapes(path: str) -> bool:
    return path.startswith("/") or _PARENT_SEGMENT.search(path) is not None


@cache
def _integer_fields(model: type[BaseModel]) -> frozenset[str]:
    """Names and aliases of a model's integer fields (``int`` or ``int | None``)."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        if info.annotation is int or set(get_args(info.annotation)) == {int, type(None)}:
            names.update({name, info.alias or name})
    return frozenset(names)


class ApiModel(BaseModel):
    """Base for every API object: camelCase on the wire, unknown fields rejected, and the API server's
    typing (strict: ``"16"`` is not an integer and ``"yes"`` is not a boolean, as on the server)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
        strict=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _read_as_the_api_server_does(cls, data: Any) -> Any:
        # The API server prunes an explicit null before defaulting and validation (so: unset), and takes a
        # whole float such as 3.0 for an integer field (JSON has one number type). Anything else stays strict.
        if not isinstance(data, dict):
            return data
        integers = _integer_fields(cls)
        return {
            key: int(value) if key in integers and isinstance(value, float) and value.is_integer() else value
            for key, value in data.items()
            if value is not None
        }


# --------------------------------------------------------------------------------------- data


class ColumnMapping(ApiModel):
    """Which columns of the dataset hold the texts and the target."""

    sentence1: str = Field(
        "sentence1",
        min_length=1,
        description="Column with the first text (anchor, premise, query, sentence1). AutoTrain: `sentence1_column`.",
    )
    sentence2: str = Field(
        "sentence2",
        min_length=1,
        description="Column with the second text (positive, hypothesis, answer, sentence2). "
        "AutoTrain: `sentence2_column`.",
    )
    sentence3: str | None = Field(
        None,
        min_length=1,
        description="Column with the third text, the negative; required by the `triplet` trainer. "
        "AutoTrain: `sentence3_column`.",
    )
    target: str | None = Field(
        None,
        min_length=1,
        description="Column with the label (`pair_class`) or the similarity score (`pair_score`); "
        "required by those two trainers. AutoTrain: `target_column`.",
    )


class VolumeSource(ApiModel, RuledModel):
    """A PersistentVolumeClaim mounted into the trainer pod."""

    claim_name: str = Field(
        ..., min_length=1, pattern=DNS_SUBDOMAIN_PATTERN, description="Name of the PersistentVolumeClaim."
    )
    sub_path: str | None = Field(
        None,
        max_length=MAX_PATH_LENGTH,
        description="Path inside the volume to mount instead of its root. Must be relative and stay inside the volume.",
    )
    read_only: bool = Field(False, description="Mount the volume read-only.")

    RULES: ClassVar[tuple[Rule[Any], ...]] = (
        Rule["VolumeSource"](
            cel="!has(self.subPath) || "
            f"(!self.subPath.startsWith('/') && !self.subPath.matches('{_PARENT_SEGMENT_CEL}'))",
            check=lambda v: v.sub_path is None or not _escapes(v.sub_path),
            message="subPath must be a relative path that stays inside the volume",
            field=".subPath",
        ),
    )


#: The shapes whose (anchor, positive) pairs can be extended with mined hard negatives.
TRAINERS_MINING_NEGATIVES: tuple[TrainerType, ...] = ("pair", "qa")


class HardNegativesSpec(ApiModel):
    """Mine hard negatives for the training pairs (sentence-transformers' ``util.mine_hard_negatives``)."""

    num_negatives: int = Field(1, ge=1, le=20, description="Negatives mined per (anchor, positive) pair.")
    range_min: int = Field(
        0, ge=0, description="Skip this many of the most similar candidates (they are often unlabeled positives)."
    )
    range_max: int | None = Field(None, ge=1, description="Consider only this many of the most similar candidates.")
    max_score: float | None = Field(None, description="Discard candidates more similar to the anchor than this.")
    absolute_margin: float | None = Field(
        None, ge=0, description="A negative must score at least this much below the positive."
    )
    relative_margin: float | None = Field(
        None, ge=0, le=1, description="A negative must score at most (1 - relativeMargin) x the positive's score."
    )
    sampling_strategy: Literal["top", "random"] = Field(
        "top", description="top: the hardest candidates; random: a random pick within the range."
    )
    model: str | None = Field(
        None, min_length=1, description="The model that ranks candidates (Hub id or local path); default: model.name."
    )
    cross_encoder: str | None = Field(
        None,
        min_length=1,
        description="A reranker (a CrossEncoder: Hub id or local path) that rescores the candidates the model "
        "found; maxScore and the margins then apply to its scores. Unset: the model's cosine scores decide.",
    )


class DataSpec(ApiModel, RuledModel):
    """Where the training data comes from and how its columns map to the trainer's shape."""

    path: str = Field(
        ...,
        min_length=1,
        # Bounded so the server's CEL cost estimate of the path rules fits its budget (tests/kube).
        max_length=MAX_PATH_LENGTH,
        description="The dataset. With `volume`: a CSV or JSONL file, or a folder holding "
        "`{trainSplit}` and `{validSplit}` files, relative to the volume. Without `volume`: a Hugging Face Hub "
        "dataset id (`owner/name`, optionally `owner/name:config`), or for local runs a file or folder path. "
        "AutoTrain: `data_path`.",
    )
    train_split: str = Field(
        "train",
        min_length=1,
        description="Split (Hub) or file stem (folder) used for training; `config:split` is accepted for Hub "
        "datasets. AutoTrain: `train_split`.",
    )
    valid_split: str | None = Field(
        None,
        min_length=1,
        description="Split or file stem used for evaluation. Without it there is no evaluation, no early "
        "stopping and no best-model selection. AutoTrain: `valid_split`.",
    )
    columns: ColumnMapping = Field(
        default_factory=ColumnMapping, description="Column mapping to the trainer's canonical columns."
    )
    volume: VolumeSource | None = Field(
        None, description="A PersistentVolumeClaim holding the data, mounted read-only at /data."
    )
    revision: str | None = Field(None, description="Hub dataset revision (branch, tag or commit) to pin.")
    hard_negatives: HardNegativesSpec | None = Field(
        None,
        description="pair and qa: mine hard negatives from the training answers before training (cached in "
        "the run folder); the in-batch-negatives loss then sees them as extra negatives.",
    )

    RULES: ClassVar[tuple[Rule[Any], ...]] = (
        Rule["DataSpec"](
            cel="!self.path.contains('://') || self.path.startsWith('hf://')",
            check=lambda d: "://" not in d.path or d.path.startswith("hf://"),
            message="only hf:// URLs are accepted as data paths",
            field=".path",
        ),
        Rule["DataSpec"](
            cel=f"!self.path.startsWith('hf://') || (self.path.matches('^{HF_DATASETS_PREFIX}{HUB_ID_PATTERN}$') "
            "&& !self.path.contains('..'))",
            check=lambda d: not d.path.startswith("hf://") or data_path_problem(d.path) is None,
            message=f"an hf:// data path is {HF_DATASETS_PREFIX}owner/name[:config]",
            field=".path",
        ),
        Rule["DataSpec"](
            cel=f"self.path.startsWith('hf://') || !self.path.matches('{SCHEME_PATTERN}') "
            f"|| (self.path.matches('^{HUB_ID_PATTERN}$') && !self.path.contains('..'))",
            check=lambda d: d.path.startswith("hf://") or data_path_problem(d.path) is None,
            message=f"a URL is not a data path: use a path or {HF_DATASETS_PREFIX}owner/name",
            field=".path",
        ),
        Rule["DataSpec"](
            cel="!has(self.volume) || (!self.path.startsWith('/') "
            f"&& !self.path.matches('{_PARENT_SEGMENT_CEL}') && !self.path.contains('://'))",
            check=lambda d: d.volume is None or not (_escapes(d.path) or "://" in d.path),
            message="path must be relative to the data volume and stay inside it",
            field=".path",
        ),
    )


# -------------------------------------------------------------------------------------- model


class ModelSpec(ApiModel):
    """The base model to fine-tune."""

    type: ModelType = Field(
        "embedding",
        description="Model family: `embedding` trains a SentenceTransformer (bi-encoder; all AutoTrain fields "
        "apply), `reranker` a CrossEncoder (a scoring head on `name`, any encoder checkpoint; trainers pair_class, "
        "pair_score, pair, qa), `sparse` a SPLADE SparseEncoder (`name` must be a masked-LM checkpoint; trainers "
        "pair, qa, triplet). Not in AutoTrain, which trains embeddings only.",
    )
    name: str = Field(
        "microsoft/mpnet-base",
        min_length=1,
        description="Hugging Face Hub model id or a path inside the image. A plain transformer gets mean "
        "pooling added. AutoTrain: `model`.",
    )
    max_seq_length: int = Field(
        128,
        ge=8,
        le=8192,
        description="Inputs are truncated to this many tokens (AutoTrain accepts but ignores it; we apply it). "
        "AutoTrain: `max_seq_length`.",
    )
    revision: str | None = Field(None, description="Hub model revision (branch, tag or commit) to pin.")


# ------------------------------------------------------------------------------------ training


class EarlyStoppingSpec(ApiModel):
    """Stop when the primary evaluation metric stops improving."""

    enabled: bool | None = Field(
        None,
        description="Unset: on whenever a validation split is set (as in AutoTrain). true: requires "
        "`data.validSplit` and an evaluation strategy. false: never stop early.",
    )
    patience: int = Field(
        5,
        ge=1,
        description="Evaluations without improvement before training stops. AutoTrain: `early_stopping_patience`.",
    )
    threshold: float = Field(
        0.01,
        ge=0,
        description="Least improvement of the primary metric that counts. AutoTrain: `early_stopping_threshold`.",
    )


class TrainingSpec(ApiModel):
    """Training hyperparameters (AutoTrain names and defaults)."""

    recipe: RecipeName = Field(
        "autotrain",
        description="Fills the hyperparameters left unset (learningRate, epochs, batchSize, warmupRatio, "
        "loss.name, data.hardNegatives); an explicit value always wins. `autotrain`: AutoTrain's defaults "
        "for every shape. `recommended`: per shape and data, what our benchmarks on held-in data show best: "
        f"{recipe_summary()}. `stjob validate --explain` shows the choice; result.json and the model card record it.",
    )
    # Unset (no server default) so a value the user wrote is told apart from one the recipe picks.
    learning_rate: float | None = Field(
        None,
        gt=0,
        le=1,
        description=f"Peak learning rate; unset: the recipe's ({_AT['lr']} with autotrain). AutoTrain: `lr`.",
    )
    epochs: int | None = Field(
        None,
        ge=1,
        le=1000,
        description=f"Passes over the training data; unset: the recipe's ({_AT['epochs']} with autotrain). "
        "AutoTrain: `epochs`.",
    )
    batch_size: int | None = Field(
        None,
        ge=1,
        le=65536,
        description=f"Per-device training batch size; unset: the recipe's ({_AT['batch_size']} with autotrain). "
        "AutoTrain: `batch_size`.",
    )
    warmup_ratio: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="Share of training steps used for learning-rate warm-up; unset: the recipe's "
        f"({_AT['warmup_ratio']} with autotrain). AutoTrain: `warmup_ratio`.",
    )
    gradient_accumulation: int = Field(
        1,
        ge=1,
        le=1024,
        description="Steps accumulated before each optimizer update. AutoTrain: `gradient_accumulation`.",
    )
    optimizer: OptimizerName = Field("adamw_torch", description="Optimizer. AutoTrain: `optimizer`.")
    scheduler: SchedulerName = Field("linear", description="Learning-rate schedule. AutoTrain: `scheduler`.")
    weight_decay: float = Field(0.0, ge=0, le=1, description="Weight decay. AutoTrain: `weight_decay`.")
    max_grad_norm: float = Field(
        1.0, gt=0, description="Gradients are clipped to this norm. AutoTrain: `max_grad_norm`."
    )
    seed: int = Field(
        42, ge=0, le=2**32 - 1, description="Random seed; the same seed gives the same run. AutoTrain: `seed`."
    )
    logging_steps: int = Field(
        -1,
        ge=-1,
        description="Steps between loss logs and status reports; -1 picks about 5 per epoch (1 to 25). "
        "AutoTrain: `logging_steps`.",
    )
    auto_find_batch_size: bool = Field(
        False, description="Halve the batch size and retry on out-of-memory. AutoTrain: `auto_find_batch_size`."
    )
    mixed_precision: MixedPrecision = Field(
        "none", description="Mixed precision: `fp16` (GPU only), `bf16` or `none`. AutoTrain: `mixed_precision`."
    )
    eval_strategy: EvalStrategy = Field(
        "epoch",
        description="When to evaluate (and checkpoint): every `epoch`, every `evalSteps` steps, or `no`. "
        "AutoTrain: `eval_strategy`.",
    )
    eval_steps: int | None = Field(
        None, ge=1, description="Steps between evaluations with `evalStrategy: steps`; default: the logging interval."
    )
    save_total_limit: int = Field(
        1,
        ge=1,
        description="Checkpoints kept on the output volume (the best one is always kept). "
        "AutoTrain: `save_total_limit`.",
    )
    early_stopping: EarlyStoppingSpec = Field(
        default_factory=EarlyStoppingSpec, description="Early stopping on the primary evaluation metric."
    )


class QualityGateSpec(ApiModel):
    """Keep a model that did not improve enough from shipping (no Hub push; the job fails)."""

    metric: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="Evaluator metric to judge, as in result.json's evaluation report (e.g. cosine_ndcg@10); "
        "default: the trainer's primary metric.",
    )
    min_improvement: float = Field(
        0.0,
        description="Least final - baseline the metric must reach (0: no regression; negative: a tolerated "
        "loss). Missed: reason QualityGateFailed, the model stays on the output volume, nothing is pushed.",
    )


#: What an extra evaluation set holds (``evaluation.datasets[].kind``) and the columns it needs.
EvaluationSetKind = Literal["pair_score", "pair_class", "retrieval"]
#: Longest path of an extra evaluation set (shorter than data.path: eight of them share one CEL cost budget).
MAX_EVALUATION_PATH_LENGTH = 1024


class EvaluationDatasetSpec(ApiModel):
    """A fixed evaluation set scored on the base model and the result (named metrics in the report)."""

    name: str = Field(
        ...,
        min_length=1,
        max_length=40,
        pattern=DNS_LABEL_PATTERN,
        description="Names the set's metrics in the report, result.json and the model card: "
        "`{name}_{metric}` (e.g. `sts-fixed_spearman_cosine`); evaluation.gate.metric may name one.",
    )
    kind: EvaluationSetKind = Field(
        ...,
        description="pair_score: a CSV/JSONL file with columns sentence1, sentence2, score (Spearman/Pearson "
        "of the cosine similarity); pair_class: sentence1, sentence2, label 0/1 (cosine-threshold accuracy, "
        "F1, average precision); retrieval: a folder with queries (id, text), corpus (id, text) and relevant "
        "(query, document: the ids) files, .csv or .jsonl (MRR@10, NDCG@10, MAP@100, accuracy@k).",
    )
    path: str = Field(
        ...,
        min_length=1,
        max_length=MAX_EVALUATION_PATH_LENGTH,
        description="The file (pair_score, pair_class) or folder (retrieval): relative to the data volume with "
        "data.volume, else a local path (for `stjob train`, relative to the job file).",
    )


class EvaluationSpec(ApiModel, RuledModel):
    """What the base-vs-fine-tuned evaluation report decides."""

    gate: QualityGateSpec | None = Field(
        None, description="Opt-in quality gate on the report; needs data.validSplit and an evalStrategy."
    )
    datasets: list[EvaluationDatasetSpec] = Field(
        default_factory=list,
        max_length=8,
        description="Extra evaluation sets (a fixed benchmark across jobs), scored before and after training "
        "next to the validation split; needs data.validSplit and an evalStrategy.",
    )

    RULES: ClassVar[tuple[Rule[Any], ...]] = (
        Rule["EvaluationSpec"](
            cel="!has(self.datasets) || self.datasets.all(d, self.datasets.filter(e, e.name == d.name).size() == 1)",
            check=lambda e: len({d.name for d in e.datasets}) == len(e.datasets),
            message="evaluation.datasets names must be unique (they name the metrics)",
            field=".datasets",
        ),
        Rule["EvaluationSpec"](
            cel="!has(self.datasets) || self.datasets.all(d, !d.path.contains('://'))",
            check=lambda e: all("://" not in d.path for d in e.datasets),
            message="an evaluation dataset path is a file or folder path, not a URL",
            field=".datasets",
        ),
    )


class LossSpec(ApiModel):
    """Override the trainer's default loss (for users who know better)."""

    name: LossName | None = Field(
        None,
        description="Loss class from sentence-transformers (the model family's own: the reranker's "
        "MultipleNegativesRankingLoss is the cross-encoder one). Defaults by model.type: "
        + ". ".join(f"{family}: {default_losses_summary(family)}" for family in LOSSES_BY_FAMILY)
        + ".",
    )
    mini_batch_size: int | None = Field(
        None, ge=1, description="Mini-batch size of CachedMultipleNegativesRankingLoss (memory vs. speed)."
    )
    matryoshka_dimensions: list[int] | None = Field(
        None,
        min_length=1,
        max_length=16,
        description="Wrap the loss in MatryoshkaLoss with these embedding dimensions (largest first).",
    )
    gather_across_devices: bool = Field(
        True,
        description="In-batch-negative losses gather embeddings from all GPUs, so more GPUs mean more negatives.",
    )


# -------------------------------------------------------------------------------- output & hub


class SecretKeyRef(ApiModel):
    """A key in a Secret in the job's namespace."""

    name: str = Field(..., min_length=1, pattern=DNS_SUBDOMAIN_PATTERN, description="Secret name.")
    key: str = Field("token", min_length=1, description="Key inside the Secret.")


class HubSpec(ApiModel):
    """Push the trained model to the Hugging Face Hub."""

    push: bool = Field(False, description="Upload the trained model when training succeeds. AutoTrain: `push_to_hub`.")
    username: str | None = Field(
        None,
        min_length=1,
        max_length=96,
        # The Hub's user and organisation names; an unexpanded `${HF_USERNAME}` fails here, not at the push.
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$",
        description="Hub user or organisation; the repo is `{username}/{projectName}`. AutoTrain: `username`.",
    )
    token_secret_ref: SecretKeyRef | None = Field(
        None,
        description="Secret holding the Hub token (there is deliberately no plain-text token field). "
        "AutoTrain: `token`.",
    )
    private: bool = Field(True, description="Create the Hub repository as private.")


class OutputSpec(ApiModel, RuledModel):
    """Where the trained model and checkpoints go."""

    project_name: str = Field(
        "project-name",
        min_length=1,
        max_length=96,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Output folder name and Hub repository name. AutoTrain: `project_name`.",
    )
    volume: VolumeSource | None = Field(
        None,
        description="PersistentVolumeClaim for checkpoints and the final model, mounted at /output. Without "
        "it the output lives in the pod (use the Hub push). Multi-node training needs a ReadWriteMany volume.",
    )
    hub: HubSpec = Field(default_factory=HubSpec, description="Hugging Face Hub upload.")

    # `has(self.hub)`: the server also checks these rules against this object's default `{}`.
    RULES: ClassVar[tuple[Rule[Any], ...]] = (
        Rule["OutputSpec"](
            cel="!has(self.hub) || !has(self.hub.push) || !self.hub.push || has(self.hub.username)",
            check=lambda o: not o.hub.push or o.hub.username is not None,
            message="hub.push requires hub.username",
            field=".hub.username",
        ),
        Rule["OutputSpec"](
            cel="!has(self.hub) || !has(self.hub.push) || !self.hub.push || has(self.hub.tokenSecretRef)",
            check=lambda o: not o.hub.push or o.hub.token_secret_ref is not None,
            message="hub.push requires hub.tokenSecretRef (a Secret holding the Hub token)",
            field=".hub.tokenSecretRef",
        ),
    )


class TrackingSpec(ApiModel):
    """Experiment tracking."""

    log: TrackingBackend = Field(
        "none", description="Experiment tracker the trainer reports to (Trainer `report_to`). AutoTrain: `log`."
    )


# ------------------------------------------------------------------------------ kubernetes side


class ResourcesSpec(ApiModel):
    """Compute for each trainer pod."""

    gpus: int = Field(1, ge=0, le=16, description="GPUs per pod (`nvidia.com/gpu` by default). 0 trains on CPU.")
    gpu_resource_name: str = Field(
        "nvidia.com/gpu", min_length=1, description="Extended resource name of the GPU (e.g. `amd.com/gpu`)."
    )
    cpu: str | None = Field(None, pattern=QUANTITY_PATTERN, description="CPU request and limit, e.g. `8`.")
    memory: str | None = Field(None, pattern=QUANTITY_PATTERN, description="Memory request and limit, e.g. `32Gi`.")
    shm_size: str | None = Field(
        "1Gi", pattern=QUANTITY_PATTERN, description="Size of the in-memory /dev/shm (dataloader workers, NCCL)."
    )


class Toleration(ApiModel):
    """A pod toleration (core/v1 Toleration)."""

    key: str | None = Field(None, description="Taint key; empty with operator Exists matches all.")
    operator: Literal["Exists", "Equal"] | None = Field(None, description="`Exists` or `Equal` (default).")
    value: str | None = Field(None, description="Taint value for `Equal`.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to match; empty matches all."
    )
    toleration_seconds: int | None = Field(None, description="For NoExecute: how long the pod stays bound.")


class SchedulingSpec(ApiModel):
    """Where the trainer pods may run."""

    node_selector: dict[str, str] = Field(
        default_factory=dict, max_length=64, description="Node labels the pods require."
    )
    tolerations: list[Toleration] = Field(default_factory=list, max_length=64, description="Taints the pods tolerate.")
    affinity: dict[str, Any] | None = Field(None, description="Pod affinity (core/v1 Affinity), passed through.")
    priority_class_name: str | None = Field(
        None, pattern=DNS_SUBDOMAIN_PATTERN, description="PriorityClass of the pods (also used by Kueue)."
    )


class LocalObjectReference(ApiModel):
    """A reference to an object in the same namespace."""

    name: str = Field(..., min_length=1, description="Object name.")


class DistributedSpec(ApiModel):
    """Multi-GPU and multi-node training with torchrun."""

    nodes: int = Field(1, ge=1, le=64, description="Pods (nodes) in the training gang; >1 makes an Indexed Job.")
    processes_per_node: int | None = Field(
        None, ge=1, le=16, description="torchrun processes per pod; default: one per GPU (one on CPU)."
    )


class RunPolicySpec(ApiModel):
    """How the Kubernetes Job behaves."""

    backoff_limit: int = Field(2, ge=0, le=100, description="Pod retries for infrastructure failures.")
    active_deadline_seconds: int | None = Field(None, ge=1, description="Hard wall-clock limit for the whole job.")
    ttl_seconds_after_finished: int | None = Field(
        None, ge=0, description="Delete the finished Job (not this resource, not the model) after this many seconds."
    )


#: The spec fields that may change after creation (the CRD's immutability rule and the applied-spec digest).
MUTABLE_SPEC_FIELDS = ("suspend",)


def _column_required(column: str, trainers: tuple[str, ...], note: str = "") -> Rule[Any]:
    """The rule that these trainers' specs name ``data.columns.<column>`` (the shape table says which)."""
    listed = trainers[0] if len(trainers) == 1 else ", ".join(trainers[:-1]) + " and " + trainers[-1]
    who = f"the {listed} trainers need" if len(trainers) > 1 else f"the {listed} trainer needs"
    return Rule["SentenceTransformerJobSpec"](
        cel=f"!(self.trainer in {in_list(trainers)}) || has(self.data.columns.{column})",
        check=lambda s: s.trainer not in trainers or getattr(s.data.columns, column) is not None,
        message=f"{who} data.columns.{column}{note}",
        field=f".data.columns.{column}",
    )


def _family_loss_rule(family: ModelType) -> Rule[Any]:
    """The rule that ``loss.name`` is one of the family's losses for the trainer (the trainer rule
    rejects a trainer the family does not take; this one stays silent then)."""
    by_trainer = LOSSES_BY_FAMILY[family]
    table = "{" + ", ".join(f"'{t}': {in_list(v)}" for t, v in by_trainer.items()) + "}"
    return Rule["SentenceTransformerJobSpec"](
        cel=f"self.model.type != '{family}' || !has(self.loss.name) || !(self.trainer in {table}) "
        f"|| self.loss.name in {table}[self.trainer]",
        check=lambda s: (
            s.model.type != family
            or s.loss.name is None
            or s.trainer not in by_trainer
            or s.loss.name in by_trainer[s.trainer]
        ),
        message=f"loss.name does not fit the trainer for model.type {family}: "
        + "; ".join(f"{t} takes {', '.join(v)}" for t, v in by_trainer.items()),
        field=".loss.name",
    )


class SentenceTransformerJobSpec(ApiModel, RuledModel):
    """Desired state: fine-tune a Sentence Transformer on a dataset."""

    trainer: TrainerType = Field(
        "pair_score",
        description=f"Dataset shape and training recipe: {columns_summary()}. AutoTrain: `trainer`.",
    )
    data: DataSpec = Field(..., description="Training and validation data.")
    model: ModelSpec = Field(default_factory=ModelSpec, description="Base model.")
    training: TrainingSpec = Field(default_factory=TrainingSpec, description="Training hyperparameters.")
    loss: LossSpec = Field(default_factory=LossSpec, description="Loss override.")
    evaluation: EvaluationSpec = Field(
        default_factory=EvaluationSpec, description="The evaluation report: extra sets and the quality gate."
    )
    output: OutputSpec = Field(default_factory=OutputSpec, description="Model output and Hub upload.")
    tracking: TrackingSpec = Field(default_factory=TrackingSpec, description="Experiment tracking.")
    image: str | None = Field(None, min_length=1, description="Trainer image; default: the operator's setting.")
    image_pull_secrets: list[LocalObjectReference] = Field(
        default_factory=list, max_length=16, description="Secrets for pulling the trainer image."
    )
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec, description="Compute per pod.")
    scheduling: SchedulingSpec = Field(default_factory=SchedulingSpec, description="Pod placement.")
    distributed: DistributedSpec = Field(default_factory=DistributedSpec, description="Multi-GPU / multi-node.")
    run_policy: RunPolicySpec = Field(default_factory=RunPolicySpec, description="Job retries and deadlines.")
    queue_name: str | None = Field(
        None,
        max_length=63,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Kueue LocalQueue; sets the `kueue.x-k8s.io/queue-name` label on the Job.",
    )
    suspend: bool = Field(
        False,
        description="Suspend the job (its pods are removed; resume continues from the last checkpoint). "
        "The only field that may change after creation.",
    )

    RULES: ClassVar[tuple[Rule[Any], ...]] = (
        _column_required("sentence3", TRAINERS_NEEDING_SENTENCE3, " (the negative)"),
        _column_required("target", TRAINERS_NEEDING_TARGET),
        Rule["SentenceTransformerJobSpec"](
            cel="!has(self.training.earlyStopping.enabled) || !self.training.earlyStopping.enabled || "
            "(has(self.data.validSplit) && self.training.evalStrategy != 'no')",
            check=lambda s: (
                s.training.early_stopping.enabled is not True
                or (s.data.valid_split is not None and s.training.eval_strategy != "no")
            ),
            message="training.earlyStopping.enabled needs data.validSplit and an evalStrategy other than 'no'",
            field=".training.earlyStopping.enabled",
        ),
        Rule["SentenceTransformerJobSpec"](
            cel="self.training.mixedPrecision != 'fp16' || self.resources.gpus > 0",
            check=lambda s: s.training.mixed_precision != "fp16" or s.resources.gpus > 0,
            message="training.mixedPrecision fp16 needs a GPU (resources.gpus > 0); use bf16 on CPU",
            field=".training.mixedPrecision",
        ),
        Rule["SentenceTransformerJobSpec"](
            cel="self.distributed.nodes == 1 || has(self.output.volume)",
            check=lambda s: s.distributed.nodes == 1 or s.output.volume is not None,
            message="multi-node training (distributed.nodes > 1) needs output.volume (ReadWriteMany) "
            "for shared checkpoints",
            field=".output.volume",
        ),
        Rule["SentenceTransformerJobSpec"](
            cel="self.model.type != 'embedding' || !has(self.loss.name) || self.loss.name in "
            + "{"
            + ", ".join(f"'{t}': {in_list(v)}" for t, v in LOSSES_BY_TRAINER.items())
            + "}[self.trainer]",
            check=lambda s: (
                s.model.type != "embedding" or s.loss.name is None or s.loss.name in LOSSES_BY_TRAINER[s.trainer]
            ),
            message="loss.name does not fit the trainer: "
            + "; ".join(f"{t} takes {', '.join(v)}" for t, v in LOSSES_BY_TRAINER.items()),
            field=".loss.name",
        ),
        Rule["SentenceTransformerJobSpec"](
            cel="self.trainer in "
            + "{"
            + ", ".join(f"'{m}': {in_list(v)}" for m, v in TRAINERS_BY_FAMILY.items())
            + "}[self.model.type]",
            check=lambda s: s.trainer in TRAINERS_BY_FAMILY[s.model.type],
            message="trainer does not fit model.type: "
            + "; ".join(f"{m} takes {', '.join(v)}" for m, v in TRAINERS_BY_FAMILY.items() if m != "embedding"),
            field=".trainer",
        ),
        *(_family_loss_rule(family) for family in LOSSES_BY_FAMILY if family != "embedding"),
        Rule["SentenceTransformerJobSpec"](
            cel="self.model.type != 'reranker' || !(self.trainer in "
            + in_list(TRAINERS_MINING_NEGATIVES)
            + ") || !has(self.loss.name) || !(self.loss.name in "
            + in_list(RERANKER_LOSSES_NEEDING_NEGATIVES)
            + ") || has(self.data.hardNegatives)",
            check=lambda s: (
                s.model.type != "reranker"
                or s.trainer not in TRAINERS_MINING_NEGATIVES
                or s.loss.name not in RERANKER_LOSSES_NEEDING_NEGATIVES
                or s.data.hard_negatives is not None
            ),
            message="a reranker on pair or qa data learns "
            + ", ".join(RERANKER_LOSSES_NEEDING_NEGATIVES)
            + " from negatives: set data.hardNegatives (or use MultipleNegativesRankingLoss, in-batch negatives)",
            field=".data.hardNegatives",
        ),
        Rule["SentenceTransformerJobSpec"](
            # The SPLADE model being trained starts with an untrained head: its rankings make poor negatives.
            cel="self.model.type != 'sparse' || !has(self.data.hardNegatives) || has(self.data.hardNegatives.model)",
            check=lambda s: (
                s.model.type != "sparse" or s.data.hard_negatives is None or s.data.hard_negatives.model is not None
            ),
            message="with model.type sparse, data.hardNegatives.model names the embedding model that mines the "
            "negatives (e.g. sentence-transformers/all-MiniLM-L6-v2)",
            field=".data.hardNegatives.model",
        ),
        Rule["SentenceTransformerJobSpec"](
            cel="!has(self.loss.matryoshkaDimensions) || self.model.type == 'embedding'",
            check=lambda s: s.loss.matryoshka_dimensions is None or s.model.type == "embedding",
            message="loss.matryoshkaDimensions applies to model.type embedding",
            field=".loss.matryoshkaDimensions",
        ),
        Rule["SentenceTransformerJobSpec"](
            cel="!has(self.loss.miniBatchSize) || "
            "(has(self.loss.name) && self.loss.name == 'CachedMultipleNegativesRankingLoss')",
            check=lambda s: s.loss.mini_batch_size is None or s.loss.name == "CachedMultipleNegativesRankingLoss",
            message="loss.miniBatchSize only applies to CachedMultipleNegativesRankingLoss",
            field=".loss.miniBatchSize",
        ),
        Rule["SentenceTransformerJobSpec"](
            cel="!has(self.data.hardNegatives) || self.trainer in " + in_list(TRAINERS_MINING_NEGATIVES),
            check=lambda s: s.data.hard_negatives is None or s.trainer in TRAINERS_MINING_NEGATIVES,
            message="data.hardNegatives applies to the pair and qa trainers",
            field=".data.hardNegatives",
        ),
        Rule["SentenceTransformerJobSpec"](
            cel="!has(self.evaluation) || !has(self.evaluation.gate) || "
            "(has(self.data.validSplit) && self.training.evalStrategy != 'no')",
            check=lambda s: s.evaluation.gate is None or s.evaluates,
            message="evaluation.gate needs data.validSplit and an evalStrategy other than 'no'",
            field=".evaluation.gate",
        ),
        Rule["SentenceTransformerJobSpec"](
            cel="!has(self.evaluation) || !has(self.evaluation.datasets) || size(self.evaluation.datasets) == 0 || "
            "(has(self.data.validSplit) && self.training.evalStrategy != 'no')",
            check=lambda s: not s.evaluation.datasets or s.evaluates,
            message="evaluation.datasets needs data.validSplit and an evalStrategy other than 'no'",
            field=".evaluation.datasets",
        ),
        Rule["SentenceTransformerJobSpec"](
            cel="!has(self.evaluation) || !has(self.evaluation.datasets) || size(self.evaluation.datasets) == 0 || "
            "self.model.type == 'embedding'",
            check=lambda s: not s.evaluation.datasets or s.model.type == "embedding",
            message="evaluation.datasets are scored with embedding evaluators: model.type embedding",
            field=".evaluation.datasets",
        ),
        Rule["SentenceTransformerJobSpec"](
            cel="!has(self.data.volume) || !has(self.evaluation) || !has(self.evaluation.datasets) || "
            f"self.evaluation.datasets.all(d, !d.path.startsWith('/') && !d.path.matches('{_PARENT_SEGMENT_CEL}'))",
            check=lambda s: s.data.volume is None or not any(_escapes(d.path) for d in s.evaluation.datasets),
            message="with data.volume, evaluation dataset paths are relative to the volume and stay inside it",
            field=".evaluation.datasets",
        ),
        Rule["SentenceTransformerJobSpec"](
            cel="!has(self.training.evalSteps) || has(self.data.validSplit)",
            check=lambda s: s.training.eval_steps is None or s.data.valid_split is not None,
            message="training.evalSteps needs data.validSplit",
            field=".training.evalSteps",
        ),
    )

    # --- derived values, used by both operator and trainer -----------------------------------

    @property
    def evaluates(self) -> bool:
        """Whether this job runs evaluations (needs a validation split and a strategy)."""
        return self.data.valid_split is not None and self.training.eval_strategy != "no"

    @property
    def early_stopping_active(self) -> bool:
        """Early stopping as AutoTrain does it: on whenever there is evaluation, unless disabled."""
        enabled = self.training.early_stopping.enabled
        return self.evaluates and enabled is not False

    @property
    def hyperparameters(self) -> Resolution:
        """Learning rate, epochs, batch size, warm-up, loss and mining: explicit values, else the recipe's.

        Without data facts (the first data case of the recipe); the trainer applies the data-aware
        resolution to the spec first (``Resolution.apply``), so this is then exactly what it runs.
        """
        return resolve(self)

    @property
    def loss_name(self) -> str:
        """The loss actually used: the override, else the recipe's (AutoTrain's: the family's default)."""
        return self.loss.name or self.hyperparameters.loss

    @property
    def processes_per_node(self) -> int:
        """torchrun processes per pod: explicit, else one per GPU, else one."""
        return self.distributed.processes_per_node or max(self.resources.gpus, 1)

    @property
    def world_size(self) -> int:
        """Total training processes across all pods."""
        return self.processes_per_node * self.distributed.nodes


def immutability_rule() -> dict[str, Any]:
    """CEL transition rule on ``spec``: everything but ``suspend`` is fixed after creation."""
    fields = [
        info.alias or name
        for name, info in SentenceTransformerJobSpec.model_fields.items()
        if name not in MUTABLE_SPEC_FIELDS
    ]
    parts = [f"(has(self.{f}) == has(oldSelf.{f}) && (!has(self.{f}) || self.{f} == oldSelf.{f}))" for f in fields]
    return {
        "rule": " && ".join(parts),
        "message": "spec is immutable after creation except spec.suspend",
        "reason": "FieldValueForbidden",
    }
