"""Kubernetes Events about a resource, reported as from ``stjob-operator`` (``kubectl describe``: From).

Posted by the operator itself (core/v1, like client-go's recorder) rather than through Kopf's poster,
so that the reporting component, the name and the one ``create`` they need are the operator's own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from stjob.api import API_VERSION, KIND
from stjob.controller.kube_api import EVENTS, ApiCalls, ApiError
from stjob.controller.naming import MANAGED_BY
from stjob.controller.ownership import ChildConflictError
from stjob.controller.reconciler import Outcome
from stjob.controller.status_logic import WARNING_REASONS

logger = logging.getLogger(__name__)

#: The ``source.component`` / ``reportingComponent`` of every Event (``kubectl describe``'s "From").
COMPONENT = MANAGED_BY
#: Event messages longer than this are cut in the middle (the API server's limit for events.k8s.io).
MAX_MESSAGE = 1024
#: (Waiting for the garbage collector to remove a previous resource's children is Normal: it clears itself.)
_WARNINGS = WARNING_REASONS | {ChildConflictError.reason}


def event_type(outcome: Outcome) -> str:
    """Warning for a failure or a reason the user must act on, else Normal."""
    after = outcome.after
    return "Warning" if after.phase == "Failed" or after.reason in _WARNINGS else "Normal"


def transition_message(outcome: Outcome) -> str:
    """``Pending -> Running: pod x is training``."""
    before = f"{outcome.before.phase} -> " if outcome.before else ""
    return f"{before}{outcome.after.phase}: {outcome.after.message}"


def shorten(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` cut in the middle to at most ``limit`` characters."""
    if len(message) <= limit:
        return message
    keep = (limit - 5) // 2
    return f"{message[:keep]} ... {message[-keep:]}"


def event_body(
    involved: Mapping[str, Any], type_: str, reason: str, message: str, instance: str, now: str
) -> dict[str, Any]:
    """A core/v1 Event about ``involved`` (named as client-go names them: ``{object}.{unique hex}``)."""
    meta = involved["metadata"]
    reference = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": meta["name"],
        "namespace": meta["namespace"],
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": meta["namespace"]},
        "involvedObject": {key: value for key, value in reference.items() if value is not None},
        "type": type_,
        "reason": reason,
        "message": shorten(message),
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


async def post(api: ApiCalls, body: dict[str, Any]) -> None:
    """Post an Event; a failure is logged, never raised (Events are a courtesy, the status is the truth)."""
    try:
        await api.create(EVENTS, body["metadata"]["namespace"], body)
    except ApiError as exc:
        if not exc.namespace_terminating:  # (the Event would go with the namespace anyway)
            logger.warning("could not post Event %s: %s", body.get("reason"), exc)


def worth_an_event(outcome: Outcome) -> bool:
    """A new phase, or a new reason the user must act on; not a step within a phase (Completing)."""
    before, after = outcome.before, outcome.after
    if before is None or before.phase != after.phase:
        return True
    return before.reason != after.reason and event_type(outcome) == "Warning"


async def announce(api: ApiCalls, outcome: Outcome, instance: str, now: str) -> bool:
    """One Event per transition worth one (messages are already redacted); whether one was posted."""
    if not worth_an_event(outcome):
        return False
    reason, message = outcome.after.reason, transition_message(outcome)
    await post(api, event_body(outcome.body, event_type(outcome), reason, message, instance, now))
    return True
