"""Turn an AutoTrain sentence-transformers config into a SentenceTransformerJob (``stjob convert``).

AutoTrain configs come in two shapes: the CLI's YAML (``task``, ``base_model``, ``project_name``,
``data: {path, train_split, valid_split, column_mapping}``, ``params: {...}``, ``hub: {username, token,
push_to_hub}``) and the flat ``SentenceTransformersParams`` JSON (``training_params.json``). Both are
accepted. Every parameter without an equivalent becomes a warning, never a silent drop; a plain-text
token is never copied (it becomes a Secret reference to create).

Refused (ConfigError, exit 3) rather than converted into a job that fails later: another AutoTrain task
(text classification, ...), a ``${VAR}`` that is not set in the environment (set ones are expanded, as
AutoTrain does), and AutoTrain's own processed copy of the data (the Arrow ``autotrain-data`` folder
with ``autotrain_*`` columns that its rewritten ``training_params.json`` points at). Said as warnings:
a local data path (in a cluster it must sit on ``spec.data.volume``), a local dataset without a
validation split (AutoTrain would hold out 25% of it; the job evaluates nothing), the ``backend``
hardware (mapped to ``spec.resources.gpus``), and any value shaped like a credential (not copied).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from stjob.api.autotrain import AUTOTRAIN_PARAMS, NULL_EQUIVALENTS, get_path, set_path
from stjob.api.contract import REDACTED, redact
from stjob.api.data_location import HF_DATASETS_PREFIX, is_hub_id
from stjob.api.resource import API_VERSION, KIND, SentenceTransformerJob
from stjob.errors import ConfigError

# AutoTrain CLI YAML names -> SentenceTransformersParams names.
_COLUMN_MAPPING_KEYS = {
    "sentence1_column": "sentence1_column",
    "sentence2_column": "sentence2_column",
    "sentence3_column": "sentence3_column",
    "target_column": "target_column",
}
# Parameters AutoTrain has for its own bookkeeping; they have no meaning in a cluster job.
_IGNORED_SILENTLY = {"task"}
_TOKEN_SECRET_NAME = "hf-token"
_TASK_PREFIXES = ("sentence-transformers", "st:")
# Parameters of AutoTrain's other tasks: a flat training_params.json holding them is not ours to convert.
_OTHER_TASK_PARAMS = frozenset(
    {"text_column", "tokens_column", "tags_column", "image_column", "prompt_text_column", "rejected_text_column",
     "question_column", "answer_column", "chat_template", "categorical_columns", "numerical_columns", "id_column"}
)  # fmt: skip
# AutoTrain's processed copy of the data: {project}/autotrain-data, an Arrow dataset with renamed columns.
_AUTOTRAIN_DATA_DIR = "autotrain-data"
_AUTOTRAIN_COLUMN_PREFIX = "autotrain_"
_ENV_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
# AutoTrain's share of a local training file it holds out when valid_split is null.
_AUTOTRAIN_VALID_SHARE = "25%"


def _flatten(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Bring either config shape to flat SentenceTransformersParams names."""
    warnings: list[str] = []
    task = str(config.get("task", "sentence-transformers"))
    if not task.startswith(_TASK_PREFIXES):
        raise ConfigError(
            f"task {redact(task)!r} is not a sentence-transformers task: stjob convert only converts "
            "AutoTrain sentence-transformers configs"
        )
    if "params" not in config and "data" not in config and "base_model" not in config:
        foreign = sorted(_OTHER_TASK_PARAMS & set(config))
        if foreign:
            raise ConfigError(
                f"parameters of another AutoTrain task ({', '.join(foreign)}): stjob convert only converts "
                "sentence-transformers configs"
            )
        return dict(config), warnings
    for section in ("data", "params", "hub"):
        if config.get(section) is not None and not isinstance(config[section], dict):
            raise ConfigError(f"{section}: expected a mapping, found {type(config[section]).__name__}")
    flat: dict[str, Any] = {}
    if task.startswith("sentence-transformers:") or task.startswith("st:"):
        flat["trainer"] = task.split(":", 1)[1]
    for key in ("base_model", "model"):
        if key in config:
            flat["model"] = config[key]
    if "project_name" in config:
        flat["project_name"] = config["project_name"]
    for key in ("log", "backend"):
        if key in config:
            flat[key] = config[key]
    data = config.get("data") or {}
    for key, target in (("path", "data_path"), ("train_split", "train_split"), ("valid_split", "valid_split")):
        if key in data:
            flat[target] = data[key]
    column_mapping = data.get("column_mapping") or {}
    if not isinstance(column_mapping, dict):
        raise ConfigError(f"data.column_mapping: expected a mapping, found {type(column_mapping).__name__}")
    for key, value in column_mapping.items():
        if key in _COLUMN_MAPPING_KEYS:
            flat[_COLUMN_MAPPING_KEYS[key]] = value
        else:
            warnings.append(f"data.column_mapping.{_said(key)} has no equivalent; ignored")
    for key in data:
        if key not in {"path", "train_split", "valid_split", "column_mapping"}:
            warnings.append(f"data.{_said(key)} has no equivalent; ignored")
    flat.update(config.get("params") or {})
    hub = config.get("hub") or {}
    for key in ("username", "token", "push_to_hub"):
        if key in hub:
            flat[key] = hub[key]
    for key in config:
        if key not in {"task", "base_model", "model", "project_name", "log", "data", "params", "hub", "backend"}:
            warnings.append(f"{_said(key)} has no equivalent; ignored")
    return flat, warnings


def _said(text: Any) -> str:
    """User text echoed in a warning, with anything credential-shaped masked."""
    return redact(str(text))[:200]


def _k8s_name(project_name: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", project_name.lower()).strip("-")
    return (name or "autotrain-job")[:52].rstrip("-")


_ENV_REFERENCE = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")


def token_advice(value: str) -> str:
    """How to create the token Secret without the token landing in shell history or ``ps`` output.

    ``--from-literal=token=hf_...`` would put it in both; ``--from-file`` reads it from a file (or from
    a process substitution, whose command line shows only ``/dev/fd/N``).
    """
    secret = f"kubectl create secret generic {_TOKEN_SECRET_NAME}"
    reference = _ENV_REFERENCE.match(value.strip())
    if reference:
        variable = reference.group(1)
        return (
            f"token: the config reads the token from ${variable}; the job reads it from the Secret "
            f'{_TOKEN_SECRET_NAME} instead: `{secret} --from-file=token=<(printf %s "${variable}")`'
        )
    return (
        "token: a plain-text token is never copied into the job; save it to a file and create the Secret "
        f"{_TOKEN_SECRET_NAME} from it: `{secret} --from-file=token=PATH` (not --from-literal, which leaves "
        "the token in your shell history)"
    )


#: Printed by ``stjob convert`` after the resource: the converted job keeps AutoTrain's recipe.
RECOMMENDED_HINT = (
    "training.recipe is autotrain (AutoTrain's defaults, the same training as AutoTrain); "
    "`recipe: recommended` picks per shape and data what our benchmarks show better (e.g. "
    "OnlineContrastiveLoss for binary pair_class); `stjob validate --explain FILE` shows both"
)


def convert_autotrain_config(
    config: dict[str, Any], *, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Return (SentenceTransformerJob resource, warnings) for an AutoTrain config; ConfigError when refused.

    ``environ`` (default: the process environment) expands ``${VAR}`` references as AutoTrain would.
    """
    flat, warnings = _flatten(config)
    environ = os.environ if environ is None else environ
    _refuse_processed_data(flat)
    spec: dict[str, Any] = {}
    for name, value in flat.items():
        if name in _IGNORED_SILENTLY:
            continue
        if name == "backend":
            warnings.extend(_map_backend(str(value), spec))
            continue
        param = AUTOTRAIN_PARAMS.get(name)
        if param is None:
            warnings.append(f"{_said(name)} has no equivalent in SentenceTransformerJob; ignored")
            continue
        if name == "token":
            if value:
                warnings.append(token_advice(str(value)))
                set_path(spec, param.path, {"name": _TOKEN_SECRET_NAME, "key": "token"})
            continue
        if value is None:
            if param.path in NULL_EQUIVALENTS:
                set_path(spec, param.path, NULL_EQUIVALENTS[param.path])
            continue
        if isinstance(value, str):
            value = _as_number(_expand(name, value, environ, warnings), param.default)
        if name == "project_name" and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", str(value)):
            cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", str(value)).strip("-._") or "project-name"
            warnings.append(f"project_name {_said(value)!r} is not a valid folder/repo name; using {cleaned!r}")
            value = cleaned
        if name == "mixed_precision" and value not in ("fp16", "bf16", "none"):
            warnings.append(f"mixed_precision {_said(value)!r} is not fp16/bf16; using none")
            value = "none"
        set_path(spec, param.path, value)
    hub = spec.get("output", {}).get("hub", {})
    if hub.get("push") and "tokenSecretRef" not in hub:
        hub["tokenSecretRef"] = {"name": _TOKEN_SECRET_NAME, "key": "token"}
        warnings.append(f"push_to_hub without a token: expecting Secret {_TOKEN_SECRET_NAME!r} with key 'token'")
    if get_path(spec, "resources.gpus") == 0 and get_path(spec, "training.mixedPrecision") == "fp16":
        set_path(spec, "training.mixedPrecision", "none")
        warnings.append("mixed_precision fp16 needs a GPU and the backend has none; using none")
    warnings.extend(_local_data_warnings(spec))
    warnings.extend(_mask_credentials(spec))
    # AutoTrain's meaning, pinned: the hyperparameters the config leaves out resolve to AutoTrain's defaults.
    set_path(spec, "training.recipe", "autotrain")
    name = _k8s_name(str(get_path(spec, "output.projectName") or "project-name"))
    resource = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": spec}
    return _normalised(resource), warnings


def _expand(name: str, value: str, environ: Mapping[str, str], warnings: list[str]) -> str:
    """``${VAR}``/``$VAR`` from the environment, as AutoTrain reads them; an unset one is refused."""

    def lookup(match: re.Match[str]) -> str:
        variable = match.group(1) or match.group(2)
        if variable not in environ:
            raise ConfigError(
                f"{name}: {value!r} refers to ${variable}, which is not set in this environment: set it, or "
                "write the value into the config (the job would otherwise carry the literal text)"
            )
        return environ[variable]

    expanded = _ENV_VARIABLE.sub(lookup, value)
    if expanded != value:
        warnings.append(f"{name}: {value!r} expanded from the environment to {_said(expanded)!r}")
    return expanded


_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


def _as_number(value: str, default: Any) -> Any:
    """YAML 1.1 (PyYAML, AutoTrain) reads ``2e-5`` as a string: a number where AutoTrain has a number."""
    if isinstance(default, bool) or not isinstance(default, (int, float)) or not _NUMBER.match(value.strip()):
        return value
    number = float(value)
    return int(number) if isinstance(default, int) and number.is_integer() else number


def _refuse_processed_data(flat: dict[str, Any]) -> None:
    """AutoTrain rewrites data_path to its Arrow copy ({project}/autotrain-data, autotrain_* columns)."""
    path = str(flat.get("data_path") or "")
    columns = [str(flat.get(key)) for key in _COLUMN_MAPPING_KEYS.values() if flat.get(key)]
    if path.rstrip("/").split("/")[-1] == _AUTOTRAIN_DATA_DIR or any(
        column.startswith(_AUTOTRAIN_COLUMN_PREFIX) for column in columns
    ):
        raise ConfigError(
            f"data_path {_said(path)!r} is AutoTrain's processed copy of the data (an Arrow dataset with "
            f"{_AUTOTRAIN_COLUMN_PREFIX}* columns, from a rewritten training_params.json): convert the config you "
            "gave AutoTrain, with the original data path and column names"
        )


def _map_backend(backend: str, spec: dict[str, Any]) -> list[str]:
    """AutoTrain's hardware name → GPUs per pod; the GPU model itself is the cluster's node labels."""
    if backend.startswith("local"):
        return []  # "here": the resources of whoever runs the job
    if "cpu" in backend:
        set_path(spec, "resources.gpus", 0)
        return [f"backend {_said(backend)!r}: mapped to resources.gpus: 0 (CPU)"]
    count = re.search(r"x(\d+)$", backend) or re.search(r"dgx-(\d+)", backend)
    if re.search(r"(a10g|a100|h100|t4|l4|l40s)", backend):
        gpus = int(count.group(1)) if count else 1
        set_path(spec, "resources.gpus", gpus)
        return [
            f"backend {_said(backend)!r}: mapped to resources.gpus: {gpus}; pick the GPU model with "
            "scheduling.nodeSelector (your cluster's node labels)"
        ]
    return [f"backend {_said(backend)!r} has no equivalent: set spec.resources.gpus yourself"]


def _is_local_path(path: str) -> bool:
    return not path.startswith(HF_DATASETS_PREFIX) and not is_hub_id(path)


def _local_data_warnings(spec: dict[str, Any]) -> list[str]:
    path = get_path(spec, "data.path")
    if not isinstance(path, str) or not _is_local_path(path):
        return []
    warnings = [
        f"data.path {_said(path)!r} is a local path: in a cluster the trainer reads data from a volume; add "
        "spec.data.volume (claimName of a PVC holding the data) and make data.path relative to it "
        "(`stjob train` on this machine reads the path as is)"
    ]
    if get_path(spec, "data.validSplit") is None:
        warnings.append(
            f"valid_split is null: AutoTrain would hold out {_AUTOTRAIN_VALID_SHARE} of the local training data "
            "for validation; this job does not split, so it trains without evaluation (no best model, no early "
            "stopping): write a validation file and set data.validSplit"
        )
    return warnings


def _mask_credentials(node: Any, path: str = "spec") -> list[str]:
    """Replace every string value shaped like a credential (a token in the wrong field) by ``[redacted]``."""
    warnings: list[str] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        where = f"{path}.{key}" if isinstance(node, dict) else f"{path}[{key}]"
        if isinstance(value, str) and redact(value) != value:
            node[key] = REDACTED
            warnings.append(f"{where}: the value looks like a credential; not copied")
        elif isinstance(value, (dict, list)):
            warnings.extend(_mask_credentials(value, where))
    return warnings


def _normalised(resource: dict[str, Any]) -> dict[str, Any]:
    """Coerce values to their API types (YAML 1.1 reads ``2e-5`` as a string) when the result is valid;
    an invalid result is returned as converted so that ``stjob convert`` can show what is wrong."""
    try:
        job = SentenceTransformerJob.model_validate(resource)
    except ValidationError:
        return resource
    return job.model_dump(by_alias=True, exclude_unset=True, mode="json")
