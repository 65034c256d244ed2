"""Non-finite numbers: JSON has no NaN or Infinity, and a diverged run must stop, not report garbage.

A constant validation set makes a correlation NaN and the Trainer's best metric -inf; ``json.dumps``
would write them as ``NaN``/``-Infinity``, which no JSON parser (and no API server) accepts, so
``result.json`` and the status patch would break exactly when training goes wrong. Such values become
null with a warning. A NaN or infinite training loss (or gradient norm) means the weights are gone:
the run stops at once with its own reason, ``Diverged``.
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

from stjob.errors import EXIT_CONFIG_ERROR, StjobError

logger = logging.getLogger(__name__)

#: Logged values whose non-finite value means the run diverged (the Trainer logs both every logging step).
DIVERGENCE_KEYS = ("loss", "grad_norm")


class TrainingDiverged(StjobError):
    """The training loss became NaN or infinite: retrying with the same spec and seed diverges again."""

    reason: ClassVar[str] = "Diverged"
    exit_code: ClassVar[int] = EXIT_CONFIG_ERROR  # not retried: lower training.learningRate, check the data


def is_finite_number(value: Any) -> bool:
    """A real number that JSON can hold (bools are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def json_safe(value: Any, *, what: str = "", warn: bool = True) -> Any:
    """``value`` with every NaN/±Infinity float (in nested dicts and lists) replaced by None.

    ``what`` names the document in the warning, which lists the dotted keys that were replaced.
    """
    replaced: list[str] = []
    clean = _replace(value, "", replaced)
    if replaced and warn:
        logger.warning("%snot a finite number, written as null: %s", f"{what}: " if what else "", ", ".join(replaced))
    return clean


def _replace(value: Any, path: str, replaced: list[str]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        replaced.append(f"{path or 'value'} ({value})")
        return None
    if isinstance(value, dict):
        return {key: _replace(item, f"{path}.{key}" if path else str(key), replaced) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace(item, f"{path}[{index}]", replaced) for index, item in enumerate(value)]
    return value


def check_divergence(logs: dict[str, Any], step: int) -> None:
    """Raise :class:`TrainingDiverged` when a logged loss or gradient norm is NaN or infinite."""
    for key in DIVERGENCE_KEYS:
        value = logs.get(key)
        if isinstance(value, (int, float)) and not is_finite_number(value):
            raise TrainingDiverged(
                f"training diverged at step {step}: {key} is {value}; lower training.learningRate "
                "(or set training.maxGradNorm), and check the data for extreme values"
            )
