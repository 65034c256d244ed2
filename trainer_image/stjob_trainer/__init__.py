"""The stjob trainer: runs inside the trainer image (and locally via `stjob train`).

It depends on the shared core (``stjob.api``, ``stjob.errors``), never on the operator (``stjob.controller``).
"""
