"""What kind of place ``spec.data.path`` names: a Hub dataset, a local path, or something refused.

One home for the Hub id shape and the ``hf://datasets/`` prefix, shared by ``stjob validate`` (which
checks early, without the trainer's dependencies) and the trainer's data loading.
"""

from __future__ import annotations

import re

HF_DATASETS_PREFIX = "hf://datasets/"
# The Hub's repository names: letters, digits, '-', '_', '.', not starting or ending with '-' or '.', and
# never '..' (which would read as a parent folder). Spelled with [0-9], not \d: \d also matches '١'.
_HUB_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"
#: The patterns are RE2-compatible: the spec's CEL rules use them too (stjob.api.spec).
HUB_ID_PATTERN = rf"{_HUB_PART}/{_HUB_PART}(?::[A-Za-z0-9_.-]+)?"
HUB_ID = re.compile(rf"^{HUB_ID_PATTERN}$")
# A URL scheme such as 'file:' or 's3:' (two letters or more, so a Windows drive 'C:' is not one).
SCHEME_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]+:"
_SCHEME = re.compile(SCHEME_PATTERN)


def is_hub_id(text: str) -> bool:
    """``owner/name`` or ``owner/name:config`` as the Hub spells repository ids (no ``..`` anywhere)."""
    return bool(HUB_ID.match(text)) and ".." not in text


def data_path_problem(path: str) -> str | None:
    """Why ``path`` can never name data (a URL other than ``hf://datasets/owner/name``), else None.

    Checked before anything is read: ``file:/etc/passwd`` or ``hf://datasets/../..`` must fail in
    ``stjob validate``, not an hour later in the trainer.
    """
    if path.startswith("hf://"):
        if not path.startswith(HF_DATASETS_PREFIX) or not is_hub_id(path[len(HF_DATASETS_PREFIX) :]):
            return f"{path!r}: expected hf://datasets/owner/name[:config]"
        return None
    if _SCHEME.match(path) and not is_hub_id(path):
        scheme = path.split(":", 1)[0]
        return f"{path!r}: {scheme}: URLs are not data paths; use a path or hf://datasets/owner/name"
    return None
