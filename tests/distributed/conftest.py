"""The controller tier's kmock + Kopf fixtures, reused for the multi-node operator tests."""

from __future__ import annotations

from tests.controller.conftest import emulator, operator

__all__ = ["emulator", "operator"]
