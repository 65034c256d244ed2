"""The operator pod passes the restricted Pod Security Standard, checked rule by rule.

https://kubernetes.io/docs/concepts/security/pod-security-standards/ (baseline + restricted, v1.33).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.rendering import SCENARIOS, one, render

ALLOWED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
ALLOWED_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def _pod(scenario: str) -> dict[str, Any]:
    spec: dict[str, Any] = one(render(scenario), "Deployment")["spec"]["template"]["spec"]
    return spec


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"], *pod.get("ephemeralContainers", [])]


def _effective(pod: dict[str, Any], container: dict[str, Any], field: str) -> Any:
    """A container's securityContext field, falling back to the pod's (as the kubelet does)."""
    value = container.get("securityContext", {}).get(field)
    return pod.get("securityContext", {}).get(field) if value is None else value


pytestmark = pytest.mark.parametrize("scenario", SCENARIOS)


def test_baseline_host_namespaces(scenario: str) -> None:
    pod = _pod(scenario)
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(field, False), field


def test_baseline_privileged_and_host_process(scenario: str) -> None:
    pod = _pod(scenario)
    assert not pod.get("securityContext", {}).get("windowsOptions", {}).get("hostProcess", False)
    for container in _containers(pod):
        context = container.get("securityContext", {})
        assert not context.get("privileged", False)
        assert not context.get("windowsOptions", {}).get("hostProcess", False)


def test_restricted_capabilities_drop_all_add_at_most_net_bind_service(scenario: str) -> None:
    for container in _containers(_pod(scenario)):
        capabilities = container.get("securityContext", {}).get("capabilities", {})
        assert "ALL" in capabilities.get("drop", []), container["name"]
        assert set(capabilities.get("add", [])) <= {"NET_BIND_SERVICE"}


def test_restricted_volume_types_and_no_host_path(scenario: str) -> None:
    for volume in _pod(scenario).get("volumes", []):
        types = set(volume) - {"name"}
        assert types <= ALLOWED_VOLUME_TYPES, volume


def test_baseline_no_host_ports(scenario: str) -> None:
    for container in _containers(_pod(scenario)):
        for port in container.get("ports", []):
            assert port.get("hostPort", 0) == 0


def test_baseline_apparmor_selinux_proc_mount_sysctls(scenario: str) -> None:
    pod = _pod(scenario)
    contexts = [pod.get("securityContext", {})] + [c.get("securityContext", {}) for c in _containers(pod)]
    for context in contexts:
        apparmor = context.get("appArmorProfile", {}).get("type", "RuntimeDefault")
        assert apparmor in ("RuntimeDefault", "Localhost")
        selinux = context.get("seLinuxOptions", {})
        assert selinux.get("type", "") in ALLOWED_SELINUX_TYPES
        assert "user" not in selinux and "role" not in selinux
        assert context.get("procMount", "Default") == "Default"
    for sysctl in pod.get("securityContext", {}).get("sysctls", []):
        assert sysctl["name"] in SAFE_SYSCTLS


def test_restricted_seccomp_runtime_default(scenario: str) -> None:
    pod = _pod(scenario)
    for container in _containers(pod):
        profile = _effective(pod, container, "seccompProfile") or {}
        assert profile.get("type") in ("RuntimeDefault", "Localhost"), container["name"]


def test_restricted_no_privilege_escalation(scenario: str) -> None:
    for container in _containers(_pod(scenario)):
        assert container.get("securityContext", {}).get("allowPrivilegeEscalation") is False


def test_restricted_run_as_non_root_uid_1000(scenario: str) -> None:
    pod = _pod(scenario)
    assert pod.get("securityContext", {}).get("runAsUser", 1000) != 0
    for container in _containers(pod):
        assert _effective(pod, container, "runAsNonRoot") is True
        assert _effective(pod, container, "runAsUser") == 1000


def test_read_only_root_filesystem_with_a_tmp_emptydir(scenario: str) -> None:
    pod = _pod(scenario)
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
