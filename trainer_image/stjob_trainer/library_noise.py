"""Library output that misleads a newcomer, silenced at the source, each with the reason it is noise.

Kept to what is ours to silence: messages about things this trainer already guarantees, and bars for
steps too short to need one. Real warnings (a deprecated option, a failed download) still come through.
"""

from __future__ import annotations

import functools
import logging

#: sentence-transformers' data collator logs this when a column name sits at an unusual index.
COLUMN_ORDER_WARNING = "is usually expected at index"
COLLATOR_LOGGER = "sentence_transformers.base.data_collator"


class _DropColumnOrderWarning(logging.Filter):
    """Drop the collator's column-order advice.

    The collator guesses the role of a column from its name: "hypothesis" is index 0 in its NLI triplet
    convention, so every ``pair_class`` run (premise, hypothesis, label) was told to call
    ``select_columns(['hypothesis', 'entailment', 'contradiction'])``, columns the user never had. Our
    data loader always hands over the trainer shape's canonical columns in the loss's order
    (stjob_trainer.data_loading), so the guess can only be wrong here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return COLUMN_ORDER_WARNING not in record.getMessage()


def silence_library_noise() -> None:
    """Install the filters once per process (idempotent)."""
    collator_logger = logging.getLogger(COLLATOR_LOGGER)
    if not any(isinstance(f, _DropColumnOrderWarning) for f in collator_logger.filters):
        collator_logger.addFilter(_DropColumnOrderWarning())
    _quiet_widget_examples_bar()


def _quiet_widget_examples_bar() -> None:
    """No "Computing widget examples 0%" bar: it covers well under a second and, piped, leaves a stray line.

    The model card still gets its widget examples; only the bar goes.
    """
    try:
        from sentence_transformers.base import model_card
    except ImportError:  # another sentence-transformers layout: nothing to quiet
        return
    bar = getattr(model_card, "tqdm", None)
    if bar is not None and not isinstance(bar, functools.partial):
        model_card.tqdm = functools.partial(bar, disable=True)  # type: ignore[attr-defined]
