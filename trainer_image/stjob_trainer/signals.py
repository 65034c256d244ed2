"""SIGTERM handling: finish the current step, save a checkpoint, exit 143 (a retry resumes from it)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

logger = logging.getLogger(__name__)


class TrainingInterrupted(Exception):
    """Training stopped on request (SIGTERM); ``checkpoint`` is where it can resume, if anywhere."""

    def __init__(self, message: str, checkpoint: str | None = None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


class StopFlag:
    """Set by the signal handler, read by the training loop's callback after each step."""

    def __init__(self) -> None:
        self._event = threading.Event()
        #: While False (data and model loading), a signal interrupts at once: there is nothing to save.
        self.training_started = False

    def set(self) -> None:
        """Ask training to stop after the current step."""
        self._event.set()

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self._event.is_set()


def install_sigterm_handler(flag: StopFlag) -> Callable[[], None]:
    """Route SIGTERM to ``flag`` (main thread only); returns a function that restores the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handle(signum: int, frame: FrameType | None) -> None:
        logger.warning("SIGTERM received: saving a checkpoint after the current step, then exiting")
        flag.set()
        if not flag.training_started:
            raise TrainingInterrupted("SIGTERM before training started")

    previous = signal.signal(signal.SIGTERM, handle)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
