"""How AutoTrain's ``SentenceTransformersParams`` map onto the SentenceTransformerJob spec.

Used for the README's mapping table, the defaults test and ``stjob convert`` (AutoTrain config import).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class AutoTrainParam(NamedTuple):
    """One AutoTrain parameter: its spec path (camelCase, dotted), AutoTrain's default, and a note."""

    path: str
    default: Any
    note: str = ""


#: All 32 AutoTrain sentence-transformers parameters, in AutoTrain's order.
AUTOTRAIN_PARAMS: dict[str, AutoTrainParam] = {
    "data_path": AutoTrainParam("data.path", None, "required here"),
    "model": AutoTrainParam("model.name", "microsoft/mpnet-base"),
    "lr": AutoTrainParam("training.learningRate", 3e-5),
    "epochs": AutoTrainParam("training.epochs", 3),
    "max_seq_length": AutoTrainParam("model.maxSeqLength", 128, "AutoTrain ignores it; applied here"),
    "batch_size": AutoTrainParam("training.batchSize", 8),
    "warmup_ratio": AutoTrainParam("training.warmupRatio", 0.1),
    "gradient_accumulation": AutoTrainParam("training.gradientAccumulation", 1),
    "optimizer": AutoTrainParam("training.optimizer", "adamw_torch"),
    "scheduler": AutoTrainParam("training.scheduler", "linear"),
    "weight_decay": AutoTrainParam("training.weightDecay", 0.0),
    "max_grad_norm": AutoTrainParam("training.maxGradNorm", 1.0),
    "seed": AutoTrainParam("training.seed", 42, "AutoTrain ignores it; applied here"),
    "train_split": AutoTrainParam("data.trainSplit", "train"),
    "valid_split": AutoTrainParam("data.validSplit", None),
    "logging_steps": AutoTrainParam("training.loggingSteps", -1),
    "project_name": AutoTrainParam("output.projectName", "project-name"),
    "auto_find_batch_size": AutoTrainParam("training.autoFindBatchSize", False),
    "mixed_precision": AutoTrainParam("training.mixedPrecision", None, "`none` here instead of null"),
    "save_total_limit": AutoTrainParam("training.saveTotalLimit", 1),
    "token": AutoTrainParam("output.hub.tokenSecretRef", None, "a Secret reference, never plain text"),
    "push_to_hub": AutoTrainParam("output.hub.push", False),
    "eval_strategy": AutoTrainParam("training.evalStrategy", "epoch"),
    "username": AutoTrainParam("output.hub.username", None),
    "log": AutoTrainParam("tracking.log", "none"),
    "early_stopping_patience": AutoTrainParam("training.earlyStopping.patience", 5),
    "early_stopping_threshold": AutoTrainParam("training.earlyStopping.threshold", 0.01),
    "trainer": AutoTrainParam("trainer", "pair_score"),
    "sentence1_column": AutoTrainParam("data.columns.sentence1", "sentence1"),
    "sentence2_column": AutoTrainParam("data.columns.sentence2", "sentence2"),
    "sentence3_column": AutoTrainParam("data.columns.sentence3", None),
    "target_column": AutoTrainParam("data.columns.target", None),
}

#: Spec values that stand for AutoTrain's null.
NULL_EQUIVALENTS: dict[str, Any] = {"training.mixedPrecision": "none"}


def get_path(tree: dict[str, Any], dotted: str) -> Any:
    """Read ``a.b.c`` from nested dicts; None when any part is missing."""
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Write ``a.b.c`` into nested dicts, creating the intermediate ones."""
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
