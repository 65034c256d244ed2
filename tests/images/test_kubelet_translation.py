"""The stand-in kubelet's translation, Pod dict -> ``podman run`` argv, on the operator's own trainer Pod.

The base Pod is what ``build_pod_spec`` makes plus what the 1.20 API server adds (defaults and the
ServiceAccount token volume); each row changes one thing and names the argv it must give, or the field
the kubelet must refuse.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stjob.api import contract
from stjob.controller.builders import build_pod_spec
from stjob.controller.settings import OperatorSettings
from tests.controller.factories import META, spec
from tests.support import kubelet as k

Pod = dict[str, Any]
H = Path("/host")
TOKEN_VOLUME = "sick-trainer-token-abcde"


def operator_pod() -> Pod:
    """The trainer Pod as the Job controller creates it on 1.20 (server defaults and the token volume)."""
    pod_spec = build_pod_spec(
        spec(resources={"gpus": 0}), META, OperatorSettings(trainer_image="localhost/stjob/trainer:dev")
    )
    container = pod_spec["containers"][0]
    container.setdefault("imagePullPolicy", "IfNotPresent")
    container["volumeMounts"].append({"name": TOKEN_VOLUME, "mountPath": k.SERVICE_ACCOUNT_DIR, "readOnly": True})
    pod_spec["volumes"].append({"name": TOKEN_VOLUME, "secret": {"secretName": TOKEN_VOLUME, "defaultMode": 420}})
    pod_spec.update(
        dnsPolicy="ClusterFirst",
        schedulerName="default-scheduler",
        terminationGracePeriodSeconds=30,
        enableServiceLinks=True,
        priority=0,
        serviceAccount=pod_spec["serviceAccountName"],
        tolerations=[
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
        ],
    )
    meta = {"name": "sick-x7k2p", "namespace": "ml", "uid": "pod-uid-1", "annotations": {"a": "b"}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}


def prepared(pod: Pod, **changes: Any) -> k.Prepared:
    paths = {v["name"]: H / v["name"] for v in pod["spec"]["volumes"] if "Memory" not in json.dumps(v)}
    values: dict[str, Any] = {
        "volume_paths": paths,
        "termination_log": H / "termination-log",
        "secrets": {"hf": {"token": "hf_secret"}},
        "config_maps": {"settings": {"level": "debug"}},
        "api_server": ("127.0.0.1", 6443),
        "image_user": "1000:1000",
    }
    values.update(changes)
    return k.Prepared(**values)


def container(pod: Pod) -> dict[str, Any]:
    c: dict[str, Any] = pod["spec"]["containers"][0]
    return c


def has(argv: list[str], *fragment: str) -> bool:
    """Whether ``fragment`` occurs in ``argv`` as consecutive items."""
    n = len(fragment)
    return any(argv[i : i + n] == list(fragment) for i in range(len(argv) - n + 1))


def env_of(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, a in enumerate(argv) if a == "--env"]
    return dict(p.split("=", 1) for p in pairs)


# ------------------------------------------------------------------------------------ the operator's pod


def test_the_operator_pod_runs_as_the_contract_says() -> None:
    pod = operator_pod()
    argv = k.podman_argv(pod, prepared(pod))
    assert argv[:2] == ["podman", "run"] and has(argv, "--network", "host") and has(argv, "--pull", "never")
    assert has(argv, "--user", "1000:1000") and has(argv, "--group-add", "1000")
    assert has(argv, "--read-only", "--read-only-tmpfs=false")
    assert has(argv, "--cap-drop", "ALL") and has(argv, "--security-opt", "no-new-privileges")
    assert has(argv, "-v", f"{H}/job-config:{contract.CONFIG_DIR}:ro")
    assert has(argv, "-v", f"{H}/data:{contract.DATA_DIR}:ro")
    assert has(argv, "-v", f"{H}/output:{contract.OUTPUT_DIR}")
    assert has(argv, "-v", f"{H}/tmp:/tmp")
    assert has(argv, "-v", f"{H}/{TOKEN_VOLUME}:{k.SERVICE_ACCOUNT_DIR}:ro")
    assert has(argv, "-v", f"{H}/termination-log:{contract.TERMINATION_LOG}")
    assert any(a.startswith(f"type=tmpfs,destination={contract.SHM_DIR},tmpfs-mode=1777") for a in argv)
    assert has(argv, "--entrypoint", json.dumps(["stjob-trainer", "--config", contract.CONFIG_PATH]))
    assert argv[-1] == "localhost/stjob/trainer:dev"
    env = env_of(argv)
    assert env[contract.ENV_NAME] == "sick" and env[contract.ENV_NAMESPACE] == "ml"
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1" and env["KUBERNETES_SERVICE_PORT"] == "6443"


# ------------------------------------------------------------------------------------ one change per row


def _set(path: str, value: Any) -> Callable[[Pod], None]:
    def change(pod: Pod) -> None:
        node: Any = pod
        *parents, leaf = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[leaf] = value

    return change


def _env(*variables: dict[str, Any]) -> Callable[[Pod], object]:
    return lambda pod: container(pod)["env"].extend(variables)


TRANSLATED: list[tuple[str, Callable[[Pod], object], list[tuple[str, ...]]]] = [
    (
        "secret-env",
        _env({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}),
        [("--env", "HF_TOKEN=hf_secret")],
    ),
    (
        "configmap-env",
        _env({"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}}),
        [("--env", "LEVEL=debug")],
    ),
    (
        "optional-missing-secret-env",
        _env({"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}}),
        [],
    ),
    (
        "field-ref-and-expansion",
        lambda pod: (
            _env(
                {"name": "RANK", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['a']"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            )(pod),
            container(pod).update(command=["run", "--rank=$(RANK)", "$(UNDEFINED)", "$$(RANK)"]),
        ),
        [
            ("--env", "RANK=b"),
            ("--env", "POD=sick-x7k2p"),
            ("--entrypoint", '["run", "--rank=b", "$(UNDEFINED)", "$(RANK)"]'),
        ],
    ),
    (
        "limits",
        _set("spec.containers.0.resources", {"limits": {"memory": "2Gi", "cpu": "1500m"}, "requests": {"cpu": "1"}}),
        [("--memory", str(2 * 2**30)), ("--cpus", "1.5")],
    ),
    (
        "args-only",
        lambda pod: (container(pod).pop("command"), container(pod).update(args=["--help"])),
        [("localhost/stjob/trainer:dev", "--help")],
    ),
    (
        "caps-add",
        _set("spec.containers.0.securityContext.capabilities", {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}),
        [("--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE")],
    ),
    (
        "shm-size",
        lambda pod: pod["spec"]["volumes"][-2]["emptyDir"].update(sizeLimit="2Gi"),
        [("--mount", f"type=tmpfs,destination={contract.SHM_DIR},tmpfs-mode=1777,tmpfs-size={2 * 2**30}")],
    ),
    (
        "read-only-claim",
        lambda pod: pod["spec"]["volumes"][2]["persistentVolumeClaim"].update(readOnly=True),
        [("-v", f"{H}/output:{contract.OUTPUT_DIR}:ro")],
    ),
    (
        "sub-path",
        _set("spec.containers.0.volumeMounts.1.subPath", "team-a"),
        [("-v", f"{H}/data/team-a:{contract.DATA_DIR}:ro")],
    ),
    ("working-dir", _set("spec.containers.0.workingDir", "/tmp/w"), [("--workdir", "/tmp/w")]),
    ("supplemental-groups", _set("spec.securityContext.supplementalGroups", [2000]), [("--group-add", "2000")]),
    (
        "image-user-when-no-run-as-user",
        lambda pod: (
            pod["spec"]["securityContext"].pop("runAsUser"),
            container(pod)["securityContext"].pop("runAsUser"),
        ),
        [],
    ),
]


@pytest.mark.parametrize(("change", "fragments"), [row[1:] for row in TRANSLATED], ids=[row[0] for row in TRANSLATED])
def test_translated(change: Callable[[Pod], object], fragments: list[tuple[str, ...]]) -> None:
    pod = operator_pod()
    change(pod)
    argv = k.podman_argv(pod, prepared(pod))
    for fragment in fragments:
        assert has(argv, *fragment), f"{fragment} not in {argv}"


def test_seccomp_unconfined_and_image_user() -> None:
    pod = operator_pod()
    _set("spec.securityContext.seccompProfile", {"type": "Unconfined"})(pod)
    assert not has(k.podman_argv(pod, prepared(pod)), "--security-opt", "seccomp=unconfined")  # the container's wins
    container(pod)["securityContext"].pop("seccompProfile")
    assert has(k.podman_argv(pod, prepared(pod)), "--security-opt", "seccomp=unconfined")
    for where in (pod["spec"]["securityContext"], container(pod)["securityContext"]):
        where.pop("runAsUser")
    argv = k.podman_argv(pod, prepared(pod))
    assert "--user" not in argv  # the image's own USER (1000) runs, as on a node


REFUSED: list[tuple[str, Callable[[Pod], object], str]] = [
    ("host-network", _set("spec.hostNetwork", True), "spec.hostNetwork"),
    ("init-container", _set("spec.initContainers", [{"name": "i", "image": "x"}]), "spec.initContainers"),
    ("probe", _set("spec.containers.0.livenessProbe", {"exec": {"command": ["true"]}}), "livenessProbe"),
    ("two-containers", lambda pod: pod["spec"]["containers"].append(copy.deepcopy(container(pod))), "2 containers"),
    ("privileged", _set("spec.containers.0.securityContext.privileged", True), "privileged=true"),
    ("pull-always", _set("spec.containers.0.imagePullPolicy", "Always"), "imagePullPolicy=Always"),
    ("gpu", _set("spec.containers.0.resources", {"limits": {"nvidia.com/gpu": "1"}}), "limits.nvidia.com/gpu"),
    ("env-from", _set("spec.containers.0.envFrom", [{"secretRef": {"name": "hf"}}]), "envFrom"),
    (
        "resource-field-ref",
        _env({"name": "M", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}}),
        "resourceFieldRef",
    ),
    (
        "unknown-field-ref",
        _env({"name": "M", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}}),
        "status.phase",
    ),
    ("sub-path-expr", _set("spec.containers.0.volumeMounts.0.subPathExpr", "$(POD)"), "subPathExpr"),
    ("propagation", _set("spec.containers.0.volumeMounts.0.mountPropagation", "Bidirectional"), "mountPropagation"),
    ("node-selector", _set("spec.nodeSelector", {"gpu": "a100"}), "spec.nodeSelector"),
    ("subdomain", _set("spec.subdomain", "sick"), "spec.subdomain"),
    ("restart-on-failure", _set("spec.restartPolicy", "OnFailure"), "restartPolicy=OnFailure"),
    (
        "nfs-volume",
        lambda pod: pod["spec"]["volumes"].append({"name": "n", "nfs": {"server": "s", "path": "/"}}),
        "nfs",
    ),
    ("disk-size-limit", lambda pod: pod["spec"]["volumes"][3]["emptyDir"].update(sizeLimit="1Gi"), "sizeLimit"),
    (
        "localhost-seccomp",
        _set("spec.securityContext.seccompProfile", {"type": "Localhost", "localhostProfile": "p"}),
        "seccompProfile.type=Localhost",
    ),
    ("pod-sysctls", _set("spec.securityContext.sysctls", [{"name": "a", "value": "1"}]), "securityContext.sysctls"),
    (
        "missing-secret",
        _env({"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}),
        "CreateContainerConfigError: secretKeyRef nope/k not found",
    ),
    (
        "non-root-as-root",
        _set("spec.containers.0.securityContext.runAsUser", 0),
        "runAsNonRoot and image will run as root",
    ),
    (
        "non-root-root-image",
        lambda pod: (
            pod["spec"]["securityContext"].pop("runAsUser"),
            container(pod)["securityContext"].pop("runAsUser"),
            container(pod).update(image="root-image"),
        ),
        "runAsNonRoot and image will run as root",
    ),
]


@pytest.mark.parametrize(("change", "named"), [row[1:] for row in REFUSED], ids=[row[0] for row in REFUSED])
def test_refused(change: Callable[[Pod], object], named: str) -> None:
    pod = operator_pod()
    change(pod)
    image_user = "root" if container(pod)["image"] == "root-image" else "1000:1000"
    with pytest.raises(k.Refused, match=named.replace("[", r"\[").replace(".", r"\.")):
        k.podman_argv(pod, prepared(pod, image_user=image_user))


def test_refusals_lists_every_field_at_once() -> None:
    pod = operator_pod()
    _set("spec.hostNetwork", True)(pod)
    _set("spec.containers.0.livenessProbe", {})(pod)
    assert k.refusals(pod) == ["spec.hostNetwork", "spec.containers[0].livenessProbe"]
    assert k.refusals(operator_pod()) == []


# ------------------------------------------------------------------------------------ volume contents


def test_volume_files_configmap_items_secret_and_projected() -> None:
    pod = operator_pod()
    config_maps = {"sick-spec": {contract.CONFIG_KEY: b"spec", "other": b"x"}, "kube-root-ca.crt": {"ca.crt": b"CA"}}
    secrets = {TOKEN_VOLUME: {"token": b"t", "ca.crt": b"CA", "namespace": b"ml"}}
    lookups: dict[str, Any] = {"secrets": secrets, "config_maps": config_maps, "tokens": {0: "minted"}}
    by_name = {v["name"]: v for v in pod["spec"]["volumes"]}
    files = k.volume_files(by_name["job-config"], pod, **lookups)
    assert files == {contract.CONFIG_KEY: k.VolumeFile(b"spec", 0o644)}
    assert set(k.volume_files(by_name[TOKEN_VOLUME], pod, **lookups)) == {"token", "ca.crt", "namespace"}
    projected = {
        "name": "kube-api-access",
        "projected": {
            "defaultMode": 0o640,
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
            ],
        },
    }
    assert k.volume_files(projected, pod, **lookups) == {
        "token": k.VolumeFile(b"minted", 0o640),
        "ca.crt": k.VolumeFile(b"CA", 0o640),
        "namespace": k.VolumeFile(b"ml", 0o640),
    }
    with pytest.raises(k.Refused, match="configmap sick-spec not found"):
        k.volume_files(by_name["job-config"], pod, secrets={}, config_maps={}, tokens={})


# ------------------------------------------------------------------------------------ status and message


@pytest.mark.parametrize(
    ("exit_code", "oom", "phase", "reason"),
    [(0, False, "Succeeded", "Completed"), (4, False, "Failed", "Error"), (137, True, "Failed", "OOMKilled")],
)
def test_terminated_status(exit_code: int, oom: bool, phase: str, reason: str) -> None:
    status = k.terminated_status(
        container(operator_pod()),
        exit_code=exit_code,
        oom_killed=oom,
        message="m",
        image_id="i",
        container_id="podman://c",
        started="s",
        container_started="cs",
        finished="f",
    )
    assert status["phase"] == phase
    (trainer,) = status["containerStatuses"]
    assert trainer["state"]["terminated"] == {
        "exitCode": exit_code,
        "reason": reason,
        "message": "m",
        "startedAt": "cs",
        "finishedAt": "f",
        "containerID": "podman://c",
    }


@pytest.mark.parametrize(
    ("written", "exit_code", "policy", "expected"),
    [
        (b'{"outcome":"Failed"}', 4, "FallbackToLogsOnError", '{"outcome":"Failed"}'),
        (b"", 1, "FallbackToLogsOnError", "line 2\nline 3"),
        (b"", 1, "File", ""),
        (b"", 0, "FallbackToLogsOnError", ""),
        (b"x" * 5000, 1, "File", "x" * k.MAX_MESSAGE_BYTES),
    ],
)
def test_termination_message(written: bytes, exit_code: int, policy: str, expected: str) -> None:
    assert k.termination_message(written, "line 1\nline 2\nline 3", exit_code=exit_code, policy=policy).endswith(
        expected
    )


def test_expand() -> None:
    assert k.expand("$(A)-$(B)-$$(A)-$(C", {"A": "1", "B": "2"}) == "1-2-$(A)-$(C"
