"""The operator under fire: killed mid-reconcile, API errors and timeouts, deletion mid-create, bad specs.

The real Kopf loop runs against kmock (tests/controller/conftest.py). Faults are injected with kmock
reactions (tests/faults/injection.py); a "kill" is a real SIGKILL of an operator running in a child
process (tests/faults/operator_process.py), so nothing in memory survives it.
"""

# ruff: noqa: E501  (test tables: one case per line reads better than wrapped rows)

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stjob.controller import handlers
from stjob.controller.kube_api import KubeApi
from tests.controller import kube
from tests.controller.conftest import STJOBS, WAIT, OperatorFactory, wait_until
from tests.controller.factories import resource
from tests.faults import injection
from tests.faults.injection import Fault, Hang, error, inject
from tests.support.operator_metrics import counter_total

ROOT = Path(__file__).resolve().parents[2]
CHILD_KINDS = [
    ("v1/configmaps", "{}-spec"),
    ("v1/serviceaccounts", "{}-trainer"),
    ("rbac.authorization.k8s.io/v1/roles", "{}-trainer"),
    ("rbac.authorization.k8s.io/v1/rolebindings", "{}-trainer"),
    (kube.JOBS, "{}"),
]
PLURALS = {"configmaps", "serviceaccounts", "roles", "rolebindings", "jobs", "services"}


def children_of(emulator: Any, name: str, namespace: str = "ml") -> dict[str, dict[str, Any] | None]:
    """Each contract child of ``name`` as stored (None when missing)."""
    return {res: kube.get(emulator, res, namespace, pattern.format(name)) for res, pattern in CHILD_KINDS}


def child_posts(emulator: Any, name: str) -> dict[str, int]:
    """How many POSTs the operator sent per child plural for resource ``name``."""
    counts: dict[str, int] = {}
    for request in list(emulator):
        plural = str(request.url.path).rsplit("/", 1)[-1]
        body = request.data if isinstance(request.data, dict) else {}
        labels = body.get("metadata", {}).get("labels") or {}
        if request.method.value == "POST" and plural in PLURALS and labels.get("stjob.dev/job-name") == name:
            counts[plural] = counts.get(plural, 0) + 1
    return counts


def assert_exactly_one_owned_child_each(emulator: Any, name: str, uid: str) -> None:
    for res, child in children_of(emulator, name).items():
        assert child is not None, f"{name}: {res} missing"
        refs = child["metadata"].get("ownerReferences") or []
        assert [r["uid"] for r in refs] == [uid], f"{name}: {res} owners {refs}"
    # The emulator stores by name (it cannot hold two): count the creates that really wrote a child.
    # A delete-and-recreate, or a second write after a lost reply, shows up here as 2.
    writes = injection.ledger(emulator).writes
    for res, pattern in CHILD_KINDS:
        plural = res.rsplit("/", 1)[-1]
        assert writes[(plural, "ml", pattern.format(name))] == 1, f"{name}: {plural} written {writes}"


def reconciles() -> float:
    """stjob_reconciles_total, all kinds: how many events (bursts of them) the operator has handled."""
    return counter_total("stjob_reconciles")


def unexpected_errors() -> float:
    """stjob_reconcile_errors_total{error="Unexpected"} summed over kinds (a crash in a handler)."""
    return counter_total("stjob_reconcile_errors", error="Unexpected")


# ------------------------------------------------------------------------------ killed mid-reconcile


def _spawn_operator(emulator: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    url = str(emulator.url).rstrip("/")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults.operator_process", url],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize(
    ("kill_at", "stored_before_kill"),
    [
        # After the ConfigMap, before the Job: the ServiceAccount POST is written but never answered.
        (injection.posts("serviceaccounts", "sick-trainer"), {"v1/configmaps", "v1/serviceaccounts"}),
        # After the Job, before the status: the Job POST is written but never answered.
        (injection.posts("jobs", "sick"), {res for res, _ in CHILD_KINDS}),
    ],
    ids=["after-configmap-before-job", "after-job-before-status"],
)
async def test_sigkill_mid_reconcile_then_restart_converges_without_duplicates(
    emulator: Any, operator: OperatorFactory, kill_at: injection.Matcher, stored_before_kill: set[str]
) -> None:
    hang = inject(emulator, Fault("kill point", kill_at, [Hang(seconds=60)]))
    process = _spawn_operator(emulator)
    try:
        # The child process's watch is open (or it died: then fail now, with its output).
        await wait_until(
            lambda: len(emulator["watch " + STJOBS]) > 0 or process.poll() is not None, what="the operator's watch"
        )
        assert process.poll() is None, process.communicate()[0][-3000:]
        await kube.create(emulator, STJOBS, resource())
        await asyncio.wait_for(hang.reached.wait(), WAIT)
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 10)
    finally:
        if process.poll() is None:
            process.kill()
        hang.release.set()
    assert process.returncode == -signal.SIGKILL
    stored = {res for res, child in children_of(emulator, "sick").items() if child is not None}
    assert stored == stored_before_kill
    assert kube.status_of(emulator).get("phase") is None  # the killed operator never wrote a status

    async with operator():
        status = await kube.wait_phase(emulator, "Pending")
        await wait_until(lambda: kube.status_of(emulator).get("jobName") == "sick", what="jobName")
    assert_exactly_one_owned_child_each(emulator, "sick", "uid-1")
    # (After a restart the operator may POST a child again: the 409 makes it read and adopt it, never a copy.)
    assert kube.condition(status, "Reconciling")["status"] == "True"


# ------------------------------------------------------------------------------ API errors and timeouts

# (resource name, what, matcher factory, replies, minimum backoff before a retry in seconds, only the
# reconcile sends this request (so it must be the reconcile that failed and was retried))
API_FAULTS: list[tuple[str, str, Any, list[Any], float, bool]] = [
    ("rolebinding-500", "POST RoleBinding answered 500, nothing written", lambda n: injection.posts("rolebindings", f"{n}-trainer"),
     [error(500, "InternalError")], 9.5, True),
    ("post-job-500", "POST Job answered 500, nothing written", functools.partial(injection.posts, "jobs"),
     [error(500, "InternalError")], 9.5, True),
    ("post-cm-429", "POST ConfigMap throttled 429 with Retry-After", lambda n: injection.posts("configmaps", f"{n}-spec"),
     [error(429, "TooManyRequests", retry_after=1)], 0.9, True),
    ("status-409", "status PATCH conflicts 409", injection.patches_status_of,
     [error(409, "Conflict")], 9.5, False),
    ("sa-503", "POST ServiceAccount unavailable 503 with Retry-After", lambda n: injection.posts("serviceaccounts", f"{n}-trainer"),
     [error(503, "ServiceUnavailable", retry_after=2)], 1.9, True),
    ("job-timeout", "POST Job written, reply never comes (client timeout)", functools.partial(injection.posts, "jobs"),
     [Hang(seconds=4)], 0.0, True),  # the Job it wrote comes back as an event: reconciling at once is right
]  # fmt: skip


#: Writes that failed and wrote nothing must be sent again (a hung POST did write: the retry finds the
#: Job instead). The operator reads Jobs and Pods from its watch caches, so no GET or LIST fault here.
MUST_BE_RESENT = ("rolebinding-500", "post-job-500", "post-cm-429", "status-409", "sa-503")


@pytest.mark.slow
async def test_api_errors_are_retried_with_backoff_without_duplicates_or_crash(
    emulator: Any, operator: OperatorFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six resources at once, each hit by one kind of API fault; all converge (about 25 s: Kopf's delays)."""
    # A 1 s client timeout instead of 30 s, so a hung reply turns into a timeout quickly.
    monkeypatch.setattr(handlers, "KubeApi", functools.partial(KubeApi, timeout=1.0))
    log = injection.ReconcileLog(monkeypatch)
    faults = {name: inject(emulator, Fault(what, make(name), replies)) for name, what, make, replies, *_ in API_FAULTS}
    crashes_before = unexpected_errors()
    async with operator() as runner:
        await kube.wait_watching(emulator)
        for index, (name, *_) in enumerate(API_FAULTS):
            await kube.create(emulator, STJOBS, resource(name=name, uid=f"uid-{index}"))
        for name, *_ in API_FAULTS:
            await wait_until(
                lambda name=name: kube.status_of(emulator, name=name).get("jobName") == name, what=f"{name} converges"
            )
        for name, *_, reconcile_only in API_FAULTS:
            if reconcile_only:  # convergence may come from a Job event first: wait for Kopf's own retry too
                await wait_until(
                    lambda name=name: any(a.failed for a in log.of(name)) and not log.of(name)[-1].failed,
                    what=f"{name}: a successful retry",
                )
        # The kubelet reports a pod for each: the operator must still be working for every resource, so the
        # request that failed (a GET, a LIST, a status PATCH among them) is sent again and answered.
        for name, *_ in API_FAULTS:
            await kube.create_pod(emulator, name=f"{name}-abc", owner=name)
        for name in MUST_BE_RESENT:
            fault = faults[name]
            await wait_until(lambda fault=fault: len(fault.seen) > fault.injected, what=f"{name}: re-sent")
        for fault in faults.values():
            fault.release.set()
    assert runner.exception is None and runner.exit_code == 0
    assert unexpected_errors() == crashes_before  # every fault was an expected, retried error
    for index, (name, what, _, replies, backoff, reconcile_only) in enumerate(API_FAULTS):
        fault = faults[name]
        assert fault.injected == len(replies), f"{name}: {what}: only {fault.injected} injected"
        # Every fault: the failed request was sent again and answered by the server, and never in a hot
        # loop: at most one re-send (a watch event may bring one) inside the backoff.
        if name in MUST_BE_RESENT:
            assert len(fault.seen) > fault.injected, f"{name}: {what}: the failed request was never sent again"
        early = [t for t in fault.seen[fault.injected :] if t - fault.last_injection < backoff]
        assert len(early) <= 1, f"{name}: {len(early)} re-sends within {backoff}s of the failure: no backoff"
        # Kopf retries a failed create/resume handler after the delay (Retry-After, else 10 s). A LIST or
        # status PATCH may instead have failed in a Job-event refresh, which is not retried: the next
        # event or the resync catches up, and here the reconcile that follows succeeds.
        # (With kmock, an event on the resource in between may wake the delayed handler early: the
        # backoff is asserted where only the reconcile sends the failing request.)
        gaps = log.retry_gaps(name)
        if reconcile_only:
            assert gaps, f"{name}: the failed reconcile was never retried"
            assert all(gap >= backoff for gap in gaps), f"{name}: retried after {gaps}s, expected >= {backoff}s"
            assert not log.of(name)[-1].failed, f"{name}: the last attempt failed"
        assert kube.status_of(emulator, name=name)["phase"] == "Pending", name
        assert_exactly_one_owned_child_each(emulator, name, f"uid-{index}")


async def test_throttled_job_create_honours_retry_after(
    emulator: Any, operator: OperatorFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick one of the set above: 429 + Retry-After 1 on the Job POST, retried after ~1 s, one Job."""
    log = injection.ReconcileLog(monkeypatch)
    fault = inject(
        emulator, Fault("429 on Job POST", injection.posts("jobs", "sick"), [error(429, "TooManyRequests", 1)])
    )
    async with operator():
        await kube.wait_watching(emulator)
        await kube.create(emulator, STJOBS, resource())
        await wait_until(lambda: kube.status_of(emulator).get("jobName") == "sick", what="convergence")
        await wait_until(lambda: len(log.of("sick")) >= 2, what="the retry")
    gaps = log.retry_gaps("sick")
    assert fault.injected == 1 and len(gaps) == 1 and gaps[0] >= 0.9, log.of("sick")
    # The 429 wrote nothing; the retry's POST did: two POSTs, one Job.
    assert child_posts(emulator, "sick")["jobs"] == 2
    assert_exactly_one_owned_child_each(emulator, "sick", "uid-1")


# ------------------------------------------------------------------------------ deleted mid-create


async def test_resource_deleted_while_its_job_is_created_leaves_nothing_behind(
    emulator: Any, operator: OperatorFactory
) -> None:
    hang = inject(emulator, Fault("Job POST in flight", injection.posts("jobs", "sick"), [Hang(seconds=30)]))
    async with operator():
        await kube.wait_watching(emulator)
        await kube.create(emulator, STJOBS, resource())
        await asyncio.wait_for(hang.reached.wait(), WAIT)
        response = await emulator.delete("/apis/stjob.dev/v1alpha1/namespaces/ml/sentencetransformerjobs/sick")
        assert response.status < 300
        requests_at_delete = len(list(emulator))
        hang.release.set()  # the Job POST completes after the owner is gone
        # The Job controller and kubelet still report on the orphan-to-be: it must not resurrect anything.
        # "Nothing happened" means something only once the operator has handled each event: one at a time.
        handled = reconciles()
        await kube.patch_status(emulator, kube.JOBS, "ml", "sick", {"active": 1})
        await wait_until(lambda: reconciles() > handled, what="the operator handling the Job event")
        handled = reconciles()
        await kube.create_pod(emulator)
        await wait_until(lambda: reconciles() > handled, what="the operator handling the Pod event")
        after = list(emulator)[requests_at_delete:]
    assert kube.get(emulator, STJOBS, "ml", "sick") is None
    # kmock has no garbage collector: what a real cluster's GC deletes is what carries our owner reference.
    for res, child in children_of(emulator, "sick").items():
        if child is not None:
            assert [r["uid"] for r in child["metadata"]["ownerReferences"]] == ["uid-1"], res
    writes = [
        (r.method.value, str(r.url.path))
        for r in after
        if r.method.value in ("POST", "PATCH", "PUT") and not str(r.url.path).endswith("/events")
    ]
    creates = [w for w in writes if w[0] == "POST" and w[1].rsplit("/", 1)[-1] in PLURALS]
    assert creates == [], f"children created for a deleted resource: {creates}"
    assert child_posts(emulator, "sick") == {
        p: 1 for p in ("configmaps", "serviceaccounts", "roles", "rolebindings", "jobs")
    }


# ------------------------------------------------------------------------------ bad specs through the operator

BAD_SPECS: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, spec overrides, field the condition must name, a fragment of the problem)
    ("unknown field", {"training": {"lr": 1e-5}}, "spec.training.lr", "Extra inputs are not permitted"),
    ("plain-text token", {"output": {"hub": {"token": "hf_CANARYcanaryCANARY1234"}}}, "spec.output.hub.token", "not permitted"),
    ("path escapes the volume", {"data": {"path": "../etc"}}, "spec.data", "path must be relative to the data volume"),
    ("fp16 on cpu", {"training": {"mixedPrecision": "fp16"}, "resources": {"gpus": 0}}, "spec", "fp16"),
    ("file url", {"data": {"volume": None, "path": "file:///etc/passwd"}}, "spec.data", "only hf:// URLs"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "field", "fragment"), [c[1:] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
async def test_operator_marks_invalid_spec_failed_and_creates_nothing(
    emulator: Any, operator: OperatorFactory, overrides: dict[str, Any], field: str, fragment: str
) -> None:
    async with operator():
        await kube.wait_watching(emulator)
        await kube.create(emulator, STJOBS, resource(**overrides))
        status = await kube.wait_phase(emulator, "Failed")
    failed = kube.condition(status, "Failed")
    assert failed["reason"] == "ConfigError"
    assert failed["message"].startswith(field), failed["message"]
    assert fragment in failed["message"]
    assert "hf_CANARY" not in json.dumps(status)
    assert all(child is None for child in children_of(emulator, "sick").values())
    assert child_posts(emulator, "sick") == {}


async def test_spec_edit_past_the_api_server_changes_no_job(emulator: Any, operator: OperatorFactory) -> None:
    """The spec is immutable (CEL, tests/api); should an edit get through, the running Job is left as built."""
    async with operator():
        await kube.wait_watching(emulator)
        await kube.create(emulator, STJOBS, resource())
        await kube.wait_phase(emulator, "Pending")
        job_before = kube.get(emulator, kube.JOBS, "ml", "sick")
        assert job_before is not None
        edit = {"metadata": {"generation": 2}, "spec": {"training": {"learningRate": 1.0}, "image": "evil:latest"}}
        await kube.patch(emulator, STJOBS, "ml", "sick", edit)
        # A marker the operator must act on, after the edit: once the Job is suspended, the edit was seen.
        await kube.patch(emulator, STJOBS, "ml", "sick", {"metadata": {"generation": 3}, "spec": {"suspend": True}})
        await wait_until(lambda: (kube.get(emulator, kube.JOBS, "ml", "sick") or {})["spec"].get("suspend") is True,
                         what="the Job suspended")  # fmt: skip
    job_after = kube.get(emulator, kube.JOBS, "ml", "sick")
    assert job_after is not None
    job_after["spec"]["suspend"] = job_before["spec"].get("suspend")
    assert job_after == job_before  # only spec.suspend followed the resource; image and arguments did not
    assert child_posts(emulator, "sick").get("jobs") == 1
