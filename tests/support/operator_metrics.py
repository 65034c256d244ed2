"""The operator's own Prometheus counters, read in-process (its registry, not prometheus' default one)."""

from __future__ import annotations

from stjob.controller.metrics import REGISTRY


def counter_total(name: str, **labels: str) -> float:
    """The sum of ``<name>_total`` over the samples whose labels match ``labels`` (all of them when none).

    Only ``_total`` samples count: a counter's ``_created`` samples carry a timestamp, not a count."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == name
        for sample in metric.samples
        if sample.name.endswith("_total") and all(sample.labels.get(k) == v for k, v in labels.items())
    )
