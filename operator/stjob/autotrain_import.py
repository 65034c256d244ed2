"""Turn an AutoTrain sentence-transformers config into a SentenceTransformerJob (``stjob convert``).

AutoTrain configs come in two shapes: the CLI's YAML (``task``, ``base_model``, ``project_name``,
``data: {path, train_split, valid_split, column_mapping}``, ``params: {...}``, ``hub: {username, token,
push_to_hub}``) and the flat ``SentenceTransformersParams`` JSON (``training_params.json``). Both are
accepted. Every parameter without an equivalent becomes a warning, never a silent drop; a plain-text
token is never copied (it becomes a Secret reference to create).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from stjob.api.autotrain import AUTOTRAIN_PARAMS, NULL_EQUIVALENTS, set_path
from stjob.api.resource import API_VERSION, KIND, SentenceTransformerJob

# AutoTrain CLI YAML names -> SentenceTransformersParams names.
_COLUMN_MAPPING_KEYS = {
    "sentence1_column": "sentence1_column",
    "sentence2_column": "sentence2_column",
    "sentence3_column": "sentence3_column",
    "target_column": "target_column",
}
# Parameters AutoTrain has for its own bookkeeping; they have no meaning in a cluster job.
_IGNORED_SILENTLY = {"task", "backend"}
_TOKEN_SECRET_NAME = "hf-token"


def _flatten(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Bring either config shape to flat SentenceTransformersParams names."""
    warnings: list[str] = []
    if "params" not in config and "data" not in config and "base_model" not in config:
        return dict(config), warnings
    flat: dict[str, Any] = {}
    task = str(config.get("task", "sentence-transformers"))
    if not task.startswith(("sentence-transformers", "st:")):
        warnings.append(f"task {task!r} is not a sentence-transformers task; converting anyway")
    if task.startswith("sentence-transformers:") or task.startswith("st:"):
        flat["trainer"] = task.split(":", 1)[1]
    for key in ("base_model", "model"):
        if key in config:
            flat["model"] = config[key]
    if "project_name" in config:
        flat["project_name"] = config["project_name"]
    if "log" in config:
        flat["log"] = config["log"]
    data = config.get("data") or {}
    for key, target in (("path", "data_path"), ("train_split", "train_split"), ("valid_split", "valid_split")):
        if key in data:
            flat[target] = data[key]
    for key, value in (data.get("column_mapping") or {}).items():
        if key in _COLUMN_MAPPING_KEYS:
            flat[_COLUMN_MAPPING_KEYS[key]] = value
        else:
            warnings.append(f"data.column_mapping.{key} has no equivalent; ignored")
    for key in data:
        if key not in {"path", "train_split", "valid_split", "column_mapping"}:
            warnings.append(f"data.{key} has no equivalent; ignored")
    flat.update(config.get("params") or {})
    hub = config.get("hub") or {}
    for key in ("username", "token", "push_to_hub"):
        if key in hub:
            flat[key] = hub[key]
    for key in config:
        if key not in {"task", "base_model", "model", "project_name", "log", "data", "params", "hub", "backend"}:
            warnings.append(f"{key} has no equivalent; ignored")
    return flat, warnings


def _k8s_name(project_name: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", project_name.lower()).strip("-")
    return (name or "autotrain-job")[:52].rstrip("-")


def convert_autotrain_config(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Return (SentenceTransformerJob resource, warnings) for an AutoTrain config."""
    flat, warnings = _flatten(config)
    spec: dict[str, Any] = {}
    for name, value in flat.items():
        if name in _IGNORED_SILENTLY:
            continue
        param = AUTOTRAIN_PARAMS.get(name)
        if param is None:
            warnings.append(f"{name} has no equivalent in SentenceTransformerJob; ignored")
            continue
        if name == "token":
            if value:
                warnings.append(
                    "token: a plain-text token is never copied; create the Secret with "
                    f"`kubectl create secret generic {_TOKEN_SECRET_NAME} --from-literal=token=...`"
                )
                set_path(spec, param.path, {"name": _TOKEN_SECRET_NAME, "key": "token"})
            continue
        if value is None:
            if param.path in NULL_EQUIVALENTS:
                set_path(spec, param.path, NULL_EQUIVALENTS[param.path])
            continue
        if name == "project_name" and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", str(value)):
            cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", str(value)).strip("-._") or "project-name"
            warnings.append(f"project_name {value!r} is not a valid folder/repo name; using {cleaned!r}")
            value = cleaned
        if name == "mixed_precision" and value not in ("fp16", "bf16", "none"):
            warnings.append(f"mixed_precision {value!r} is not fp16/bf16; using none")
            value = "none"
        set_path(spec, param.path, value)
    hub = spec.get("output", {}).get("hub", {})
    if hub.get("push") and "tokenSecretRef" not in hub:
        hub["tokenSecretRef"] = {"name": _TOKEN_SECRET_NAME, "key": "token"}
        warnings.append(f"push_to_hub without a token: expecting Secret {_TOKEN_SECRET_NAME!r} with key 'token'")
    name = _k8s_name(str(flat.get("project_name", "project-name")))
    resource = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": spec}
    return _normalised(resource), warnings


def _normalised(resource: dict[str, Any]) -> dict[str, Any]:
    """Coerce values to their API types (YAML 1.1 reads ``2e-5`` as a string) when the result is valid;
    an invalid result is returned as converted so that ``stjob convert`` can show what is wrong."""
    try:
        job = SentenceTransformerJob.model_validate(resource)
    except ValidationError:
        return resource
    return job.model_dump(by_alias=True, exclude_unset=True, mode="json")
