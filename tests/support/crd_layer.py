"""The committed CRD, read for the static checks in ``tests/api``.

What the API server *does* with it (pruning, defaulting, CEL, immutability) is tested on a real
Kubernetes 1.36 CRD server in ``tests/kube``, not emulated here.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "stjob.dev_sentencetransformerjobs.yaml"


@cache
def crd() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return loaded


def root_schema() -> dict[str, Any]:
    schema: dict[str, Any] = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema
