"""Helpers shared by the test packages."""

import os
from pathlib import Path

#: The real datasets (SICK, MSRP, TREC-QA): ../shared/data beside the checkout, as laid out for
#: developers and CI; STJOB_SHARED_DATA overrides.
SHARED_DATA = Path(os.environ.get("STJOB_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
