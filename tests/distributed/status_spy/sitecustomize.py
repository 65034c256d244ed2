"""Loaded by every Python process of a test's torchrun (PYTHONPATH): counts status patches per rank.

Only active with ``STJOB_TEST_STATUS_SPY`` set. It replaces the Kubernetes client of the real
:class:`~stjob_trainer.reporting.KubernetesReporter` (the trainer's code path stays unchanged) with one
that appends each patch, and the rank that sent it, to the spy file.
"""

from __future__ import annotations

import json
import os
from typing import Any

_SPY = os.environ.get("STJOB_TEST_STATUS_SPY")


class _SpyApi:
    """Stands in for ``CustomObjectsApi``: one JSON line per status patch."""

    def __init__(self, path: str) -> None:
        self.path = path

    def patch_namespaced_custom_object_status(self, *args: Any, **kwargs: Any) -> None:
        body = args[5] if len(args) > 5 else kwargs.get("body")
        line = {"rank": os.environ.get("RANK"), "pid": os.getpid(), "name": args[4], "body": body}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")


if _SPY:
    from stjob_trainer import reporting

    def _connect(self: reporting.KubernetesReporter) -> Any:
        self._api = _SpyApi(str(_SPY))
        return self._api

    reporting.KubernetesReporter._connect = _connect  # type: ignore[method-assign]
