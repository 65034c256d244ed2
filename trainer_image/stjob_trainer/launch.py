"""``python -m stjob_trainer.launch [torchrun options] -m stjob_trainer --config FILE``: torchrun that keeps exit codes.

Plain ``torchrun`` exits 1 whenever a worker fails, whatever the worker's exit code. The Job's
``podFailurePolicy`` fails the Job at once on the trainer's non-retryable codes (3-6, docs/contracts.md),
so under plain torchrun a DataError in a multi-GPU or multi-node job would be retried ``backoffLimit``
times instead. This wrapper runs torchrun unchanged (same options, same elastic agent) and exits with the
root-cause worker's own exit code; a SIGTERM of the launcher itself (preemption, suspend) exits 143.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from stjob.errors import EXIT_FAILED, EXIT_OK

#: Exit codes of workers that torchrun itself stopped after another worker failed: never the root cause.
_STOPPED_BY_TORCHRUN = frozenset({128 + signal.SIGTERM, -signal.SIGTERM, 128 + signal.SIGKILL, -signal.SIGKILL})


def exit_code_of(code: int) -> int:
    """A worker's exit code as a shell would report it: a negative one (killed by signal N) is 128 + N."""
    if code < 0:
        return 128 + (-code)
    return code if 0 < code < 256 else EXIT_FAILED


def root_cause_exit_code(failures: Mapping[int, Any]) -> int:
    """The exit code to report for torchrun's failed workers (``ChildFailedError.failures``).

    The earliest failure is the cause; the workers torchrun terminated afterwards (SIGTERM/SIGKILL)
    are consequences, so they are skipped while a real failure is known.
    """
    if not failures:
        return EXIT_FAILED
    ordered = sorted(failures.values(), key=lambda failure: failure.timestamp)
    cause = next((f for f in ordered if f.exitcode not in _STOPPED_BY_TORCHRUN), ordered[0])
    return exit_code_of(int(cause.exitcode))


def main(argv: Sequence[str] | None = None) -> None:
    """Run torchrun with ``argv`` (default: ``sys.argv[1:]``) and exit with the root cause's exit code."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun(list(argv) if argv is not None else None)
    except ChildFailedError as exc:
        sys.exit(root_cause_exit_code(exc.failures))
    except SignalException as exc:
        # torchrun has already forwarded the signal to the workers and waited for them (checkpoint saved).
        sys.exit(128 + int(exc.sigval))
    sys.exit(EXIT_OK)


if __name__ == "__main__":
    main()
