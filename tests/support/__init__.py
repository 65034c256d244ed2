"""Helpers shared by the test packages."""

import os
from pathlib import Path

#: The real datasets (SICK, MSRP, TREC-QA): ../shared/data beside the checkout, as laid out for
#: developers and CI; STJOB_SHARED_DATA overrides.
SHARED_DATA = Path(os.environ.get("STJOB_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))


def shared_data(relative: str) -> Path:
    """``SHARED_DATA / relative``; skips the test, always with this one reason, when it is missing (an error in CI)."""
    path = SHARED_DATA / relative
    if not path.exists():
        import pytest

        pytest.skip(f"shared data {path} missing (lay out ../shared/data beside the checkout or set STJOB_SHARED_DATA)")
    return path
