"""``python -m stjob_trainer --config FILE`` (what torchrun starts in each process)."""

from __future__ import annotations

from stjob_trainer.entrypoint import main

main()
