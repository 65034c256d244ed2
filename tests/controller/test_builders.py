"""Every builder, table-driven; every built manifest passes kubernetes-validate --strict (1.33)."""

# ruff: noqa: E501  (test tables: one case per line reads better than wrapped rows)

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from stjob.api import SentenceTransformerJobSpec
from stjob.controller import builders, naming
from stjob.controller.settings import OperatorSettings
from tests.controller.factories import EXAMPLES, META, example, spec

SETTINGS = OperatorSettings(trainer_image="registry.example/trainer:1", default_cpu="2", default_memory="8Gi")


def _children(path: Path) -> list[dict[str, Any]]:
    doc = example(path)
    meta = {**META, "name": doc["metadata"]["name"]}
    return builders.build_children(SentenceTransformerJobSpec.model_validate(doc["spec"]), meta, SETTINGS)


def _container(job: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = job["spec"]["template"]["spec"]["containers"][0]
    return container


def _env(job: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in _container(job)["env"]}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_child_of_every_example_validates_strictly(path: Path) -> None:
    children = _children(path)
    assert [c["kind"] for c in children][-1] == "Job"
    for child in children:
        kubernetes_validate.validate(child, "1.33.0", strict=True)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_child_is_owned_and_labelled(path: Path) -> None:
    for child in _children(path):
        meta = child["metadata"]
        name = meta["labels"][naming.LABEL_JOB_NAME]
        assert meta["labels"][naming.LABEL_APP_NAME] == "stjob-trainer"
        assert meta["labels"][naming.LABEL_MANAGED_BY] == "stjob-operator"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "stjob.dev/v1alpha1",
                "kind": "SentenceTransformerJob",
                "name": name,
                "uid": "uid-1",
                "controller": True,
            }
        ]
        assert meta["namespace"] == "ml"


def test_child_names_follow_the_contract() -> None:
    names = {(c["kind"], c["metadata"]["name"]) for c in _children(EXAMPLES[0])}
    assert {kind for kind, _ in names} >= {"ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Job"}
    name = example(EXAMPLES[0])["metadata"]["name"]
    assert ("ConfigMap", f"{name}-spec") in names
    assert ("ServiceAccount", f"{name}-trainer") in names
    assert ("Role", f"{name}-trainer") in names
    assert ("RoleBinding", f"{name}-trainer") in names
    assert ("Job", name) in names


def test_configmap_holds_identity_and_spec_never_status_or_token() -> None:
    s = spec(output={"hub": {"push": True, "username": "me", "tokenSecretRef": {"name": "hf", "key": "token"}}})
    cm = builders.build_configmap(s, META)
    doc = yaml.safe_load(cm["data"]["job.yaml"])
    assert doc["apiVersion"] == "stjob.dev/v1alpha1"
    assert doc["kind"] == "SentenceTransformerJob"
    assert doc["metadata"] == {"name": "sick", "namespace": "ml", "uid": "uid-1", "generation": 1}
    assert SentenceTransformerJobSpec.model_validate(doc["spec"]) == s
    assert "status" not in doc
    assert doc["spec"]["output"]["hub"]["tokenSecretRef"] == {"name": "hf", "key": "token"}


def test_trainer_role_is_limited_to_this_resource() -> None:
    role = builders.build_role(META)
    assert role["rules"] == [
        {
            "apiGroups": ["stjob.dev"],
            "resources": ["sentencetransformerjobs/status"],
            "resourceNames": ["sick"],
            "verbs": ["get", "patch"],
        },
        {
            "apiGroups": ["stjob.dev"],
            "resources": ["sentencetransformerjobs"],
            "resourceNames": ["sick"],
            "verbs": ["get"],
        },
    ]
    binding = builders.build_role_binding(META)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "sick-trainer"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "sick-trainer", "namespace": "ml"}]


def test_pod_and_container_pass_the_restricted_standard() -> None:
    job = builders.build_job(spec(), META, SETTINGS)
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = _container(job)["securityContext"]
    assert sc == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert _container(job)["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert _container(job)["terminationMessagePath"] == "/dev/termination-log"
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "sick-trainer"


def test_pod_failure_policy_fails_fast_on_trainer_errors_and_ignores_disruptions() -> None:
    policy = builders.build_job(spec(), META, SETTINGS)["spec"]["podFailurePolicy"]
    assert policy["rules"] == [
        {"action": "FailJob", "onExitCodes": {"containerName": "trainer", "operator": "In", "values": [3, 4, 5, 6, 8]}},
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    ]


MOUNT_CASES = [
    # (spec overrides, expected mounts path -> (volume kind, readOnly, subPath))
    (
        {},
        {"/etc/stjob": ("configMap", True, None), "/data": ("persistentVolumeClaim", True, None),
         "/output": ("persistentVolumeClaim", None, None), "/tmp": ("emptyDir", None, None), "/dev/shm": ("emptyDir", None, None)},
    ),
    (
        {"data": {"volume": {"claimName": "d", "subPath": "team/a"}}, "output": {"volume": None}},
        {"/etc/stjob": ("configMap", True, None), "/data": ("persistentVolumeClaim", True, "team/a"),
         "/output": ("emptyDir", None, None), "/tmp": ("emptyDir", None, None), "/dev/shm": ("emptyDir", None, None)},
    ),
    (
        {"data": {"volume": None, "path": "sentence-transformers/stsb"}},
        {"/etc/stjob": ("configMap", True, None), "/output": ("persistentVolumeClaim", None, None),
         "/tmp": ("emptyDir", None, None), "/dev/shm": ("emptyDir", None, None)},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "expected"), MOUNT_CASES)
def test_volumes_and_mounts(overrides: dict[str, Any], expected: dict[str, tuple[Any, ...]]) -> None:
    job = builders.build_job(spec(**overrides), META, SETTINGS)
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    seen = {}
    for mount in _container(job)["volumeMounts"]:
        volume = volumes[mount["name"]]
        kind = next(k for k in volume if k != "name")
        seen[mount["mountPath"]] = (kind, mount.get("readOnly"), mount.get("subPath"))
    assert seen == expected


def test_shm_is_a_memory_emptydir_of_shm_size() -> None:
    job = builders.build_job(spec(resources={"shmSize": "16Gi"}), META, SETTINGS)
    dshm = next(v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "dshm")
    assert dshm["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}


RESOURCE_CASES = [
    ({}, {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}}),
    ({"resources": {"gpus": 4, "cpu": "32", "memory": "128Gi"}},
     {"requests": {"cpu": "32", "memory": "128Gi"}, "limits": {"cpu": "32", "memory": "128Gi", "nvidia.com/gpu": "4"}}),
    ({"resources": {"gpus": 2, "gpuResourceName": "amd.com/gpu"}},
     {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "2", "memory": "8Gi", "amd.com/gpu": "2"}}),
    ({"resources": {"gpus": 0}}, {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}}),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "expected"), RESOURCE_CASES)
def test_resources_gpus_as_limits_with_operator_defaults(overrides: dict[str, Any], expected: dict[str, Any]) -> None:
    assert _container(builders.build_job(spec(**overrides), META, SETTINGS))["resources"] == expected


def test_no_resources_at_all_without_defaults() -> None:
    job = builders.build_job(spec(resources={"gpus": 0}), META, OperatorSettings())
    assert _container(job)["resources"] == {}


def test_env_follows_the_contract_and_token_only_by_reference_when_pushing() -> None:
    env = _env(builders.build_job(spec(), META, SETTINGS))
    assert env == {
        "STJOB_NAME": "sick",
        "STJOB_NAMESPACE": "ml",
        "STJOB_REPORTER": "kubernetes",
        "STJOB_DATA_DIR": "/data",
        "STJOB_OUTPUT_DIR": "/output",
        "HF_HOME": "/tmp/hf-home",
        "STJOB_TERMINATION_LOG": "/dev/termination-log",
    }
    pushing = spec(output={"hub": {"push": True, "username": "me", "tokenSecretRef": {"name": "hf", "key": "tok"}}})
    env = _env(builders.build_job(pushing, META, SETTINGS))
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "hf", "key": "tok"}}
    not_pushing = spec(output={"hub": {"push": False, "tokenSecretRef": {"name": "hf"}}})
    assert "HF_TOKEN" not in _env(builders.build_job(not_pushing, META, SETTINGS))


JOB_SPEC_CASES = [
    ({}, {"backoffLimit": 2, "suspend": False}),
    ({"runPolicy": {"backoffLimit": 5, "activeDeadlineSeconds": 3600, "ttlSecondsAfterFinished": 60}},
     {"backoffLimit": 5, "suspend": False, "activeDeadlineSeconds": 3600, "ttlSecondsAfterFinished": 60}),
    ({"suspend": True}, {"backoffLimit": 2, "suspend": True}),
    ({"queueName": "team-a"}, {"backoffLimit": 2, "suspend": True}),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "expected"), JOB_SPEC_CASES)
def test_job_spec_run_policy_and_suspend(overrides: dict[str, Any], expected: dict[str, Any]) -> None:
    job_spec = builders.build_job(spec(**overrides), META, SETTINGS)["spec"]
    for key in ("backoffLimit", "suspend", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        assert job_spec.get(key) == expected.get(key), key


def test_kueue_labels_only_with_a_queue() -> None:
    plain = builders.build_job(spec(scheduling={"priorityClassName": "high"}), META, SETTINGS)
    assert "kueue.x-k8s.io/queue-name" not in plain["metadata"]["labels"]
    queued = builders.build_job(spec(queueName="team-a", scheduling={"priorityClassName": "high"}), META, SETTINGS)
    assert queued["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    # kueue.x-k8s.io/priority-class names a WorkloadPriorityClass, not a PriorityClass: Kueue reads the
    # pod template's priorityClassName instead (docs/distributed.md).
    assert "kueue.x-k8s.io/priority-class" not in queued["metadata"]["labels"]
    assert queued["spec"]["template"]["spec"]["priorityClassName"] == "high"


def test_scheduling_and_image_pass_through() -> None:
    s = spec(
        image="my/trainer:2",
        imagePullSecrets=[{"name": "regcred"}],
        scheduling={
            "nodeSelector": {"gpu": "h100"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {}},
            "priorityClassName": "high",
        },
    )
    pod = builders.build_job(s, META, SETTINGS)["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "my/trainer:2"
    assert pod["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert pod["nodeSelector"] == {"gpu": "h100"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["affinity"] == {"nodeAffinity": {}}
    assert pod["priorityClassName"] == "high"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert _container(builders.build_job(spec(), META, SETTINGS))["image"] == "registry.example/trainer:1"


COMMAND_CASES = [
    ({"resources": {"gpus": 1}}, ["stjob-trainer", "--config", "/etc/stjob/job.yaml"]),
    ({"resources": {"gpus": 0}}, ["stjob-trainer", "--config", "/etc/stjob/job.yaml"]),
    ({"resources": {"gpus": 4}},
     ["python", "-m", "stjob_trainer.launch", "--nproc-per-node=4", "--standalone", "--nnodes=1", "-m", "stjob_trainer", "--config", "/etc/stjob/job.yaml"]),
    ({"resources": {"gpus": 4}, "distributed": {"nodes": 2}},
     ["python", "-m", "stjob_trainer.launch", "--nproc-per-node=4", "--nnodes=2", "--node-rank=$(STJOB_NODE_RANK)", "--master-addr=sick-0.sick",
      "--master-port=29500", "--max-restarts=0", "-m", "stjob_trainer", "--config", "/etc/stjob/job.yaml"]),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "expected"), COMMAND_CASES)
def test_trainer_command(overrides: dict[str, Any], expected: list[str]) -> None:
    assert _container(builders.build_job(spec(**overrides), META, SETTINGS))["command"] == expected


def test_multi_node_builds_an_indexed_job_and_a_headless_service() -> None:
    s = spec(resources={"gpus": 4}, distributed={"nodes": 3})
    children = builders.build_children(s, META, SETTINGS)
    kinds = [c["kind"] for c in children]
    assert kinds == ["ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Service", "Job"]
    service, job = children[-2], children[-1]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"stjob.dev/job-name": "sick"}
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3
    assert job["spec"]["template"]["spec"]["subdomain"] == "sick"
    assert "STJOB_NODE_RANK" in _env(job)


def test_single_node_has_no_service_and_is_not_indexed() -> None:
    children = builders.build_children(spec(), META, SETTINGS)
    assert "Service" not in [c["kind"] for c in children]
    assert "completionMode" not in children[-1]["spec"]


SUSPEND_CASES = [
    ({"suspend": True}, True),
    ({"suspend": True, "queueName": "q"}, True),
    ({"suspend": False}, False),
    ({"suspend": False, "queueName": "q"}, None),  # Kueue decides
]


@pytest.mark.parametrize(("overrides", "expected"), SUSPEND_CASES)
def test_desired_job_suspend(overrides: dict[str, Any], expected: bool | None) -> None:
    assert builders.desired_job_suspend(spec(**overrides)) is expected


def test_job_file_uses_the_c_yaml_dumper(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pure-Python dumper cost ~10% of a create's CPU: job files are dumped by libyaml."""

    def python_dumper(*_: Any, **__: Any) -> None:
        raise AssertionError("pure-Python YAML dumper used")

    monkeypatch.setattr(yaml, "safe_dump", python_dumper)
    monkeypatch.setattr(yaml.SafeDumper, "__init__", python_dumper)
    text = builders.job_file(spec(), META)
    assert yaml.safe_load(text)["spec"]["trainer"] == "pair_score"
