"""Where this process stands in a torchrun world: the one place that reads torchrun's variables.

Without torchrun none of them is set: one process, rank 0, a world of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: Set by torchrun for every worker.
ENV_RANK = "RANK"
ENV_WORLD_SIZE = "WORLD_SIZE"
ENV_LOCAL_WORLD_SIZE = "LOCAL_WORLD_SIZE"


@dataclass(frozen=True)
class World:
    """This process's global rank, the number of processes, and how many of them share this node."""

    rank: int = 0
    size: int = 1
    local_size: int = 1

    @property
    def is_rank_zero(self) -> bool:
        """Rank 0 alone writes the shared files (metrics, model, result) and reports status."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """More than one process trains (a process group is needed)."""
        return self.size > 1


def current_world() -> World:
    """The world as torchrun describes it in this process's environment (read each time: tests change it)."""
    return World(
        rank=int(os.environ.get(ENV_RANK, "0")),
        size=int(os.environ.get(ENV_WORLD_SIZE, "1")),
        local_size=int(os.environ.get(ENV_LOCAL_WORLD_SIZE, "1")),
    )
