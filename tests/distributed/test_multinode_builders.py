"""The multi-node children: an Indexed Job whose pods find rank 0 through a headless Service.

Every manifest passes ``kubernetes_validate`` (1.33, strict); the cross-object wiring (Service name =
pod subdomain = master address, selector matches the pod labels, the port the Service publishes is the
one rank 0 listens on, the node rank comes from the completion index) is asserted explicitly, since no
schema checks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from stjob.api import SentenceTransformerJobSpec, contract
from stjob.controller import builders, naming
from stjob.controller.settings import OperatorSettings
from stjob.errors import NON_RETRYABLE_EXIT_CODES
from tests.controller.factories import META, ROOT, spec

SETTINGS = OperatorSettings(trainer_image="registry.example/trainer:1")
MULTI_GPU = ROOT / "examples" / "multi_gpu.yaml"


def _example_children(path: Path = MULTI_GPU) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    meta = {**META, "name": doc["metadata"]["name"]}
    return builders.build_children(SentenceTransformerJobSpec.model_validate(doc["spec"]), meta, SETTINGS)


def _by_kind(children: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [c for c in children if c["kind"] == kind]
    return found


def _option(command: list[str], name: str) -> str:
    (value,) = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"--{name}=")]
    return value


@pytest.mark.parametrize("nodes", [2, 3, 8])
def test_multi_node_children_validate_and_fit_together(nodes: int) -> None:
    s = spec(resources={"gpus": 4}, distributed={"nodes": nodes}, runPolicy={"backoffLimit": 3})
    children = builders.build_children(s, META, SETTINGS)
    for child in children:
        kubernetes_validate.validate(child, "1.33.0", strict=True)
    service, job = _by_kind(children, "Service"), _by_kind(children, "Job")
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    command = container["command"]

    # Indexed gang: all pods at once, every index must succeed, no per-index retries.
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == nodes
    assert "backoffLimitPerIndex" not in job["spec"] and "successPolicy" not in job["spec"]
    # backoffLimit counts pods: runPolicy.backoffLimit gang restarts of `nodes` pods each.
    assert job["spec"]["backoffLimit"] == 3 * nodes
    assert pod["restartPolicy"] == "Never"  # podFailurePolicy requires it

    # Headless Service = pod subdomain; it selects exactly the trainer pods, before they are Ready.
    assert service["metadata"]["name"] == pod["subdomain"] == "sick"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    template_labels = job["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= template_labels.items()

    # Rank 0 is index 0: its hostname is {job}-0 (Indexed Job), its FQDN {job}-0.{subdomain}.
    assert _option(command, "master-addr") == f"{job['metadata']['name']}-0.{pod['subdomain']}"
    port = int(_option(command, "master-port"))
    assert [p["port"] for p in service["spec"]["ports"]] == [port]
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [port]
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert _option(command, "nnodes") == str(nodes)
    assert _option(command, "nproc-per-node") == "4"
    assert _option(command, "max-restarts") == "0"
    assert "--standalone" not in command
    assert command[-4:] == ["-m", "stjob_trainer", "--config", contract.CONFIG_PATH]

    # The node rank is the completion index, expanded by the kubelet from the container env.
    assert _option(command, "node-rank") == "$(STJOB_NODE_RANK)"
    env = {e["name"]: e for e in container["env"]}
    assert env["STJOB_NODE_RANK"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )

    # Any index failing with a non-retryable code fails the whole Job; disruptions are not counted.
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert rules[0]["action"] == "FailJob"
    assert rules[0]["onExitCodes"] == {
        "containerName": naming.TRAINER_CONTAINER,
        "operator": "In",
        "values": list(NON_RETRYABLE_EXIT_CODES),
    }
    assert rules[1] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}


def test_multi_gpu_single_pod_uses_standalone_torchrun() -> None:
    job = builders.build_job(spec(resources={"gpus": 8}), META, SETTINGS)
    kubernetes_validate.validate(job, "1.33.0", strict=True)
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command == [
        *builders.TORCHRUN,
        "--nproc-per-node=8",
        "--standalone",
        "--nnodes=1",
        "-m",
        "stjob_trainer",
        "--config",
        contract.CONFIG_PATH,
    ]
    assert "completionMode" not in job["spec"] and "subdomain" not in job["spec"]["template"]["spec"]
    assert job["spec"]["backoffLimit"] == 2


def test_cpu_processes_per_node_without_gpus() -> None:
    command = builders.trainer_command(spec(resources={"gpus": 0}, distributed={"processesPerNode": 2}), "sick")
    assert command[: len(builders.TORCHRUN) + 1] == [*builders.TORCHRUN, "--nproc-per-node=2"]


def test_multi_gpu_example_renders_one_indexed_job_and_one_service() -> None:
    children = _example_children()
    for child in children:
        kubernetes_validate.validate(child, "1.33.0", strict=True)
    service, job = _by_kind(children, "Service"), _by_kind(children, "Job")
    assert [c["kind"] for c in children].count("Job") == 1
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    assert job["spec"]["suspend"] is True  # queued: Kueue admits the whole Job
    labels = job["metadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "gpu-team-a"
    assert "kueue.x-k8s.io/priority-class" not in labels
    pod = job["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "training-high"
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert _option(pod["containers"][0]["command"], "master-addr") == "big-qa-0.big-qa"
    assert service["metadata"]["name"] == "big-qa"
