"""A stand-in kubelet for the real-API-server tier: it runs the Pods the Job controller makes, in podman.

The 1.20 tier has no scheduler and no kubelet. This one binds each Pod of the namespaces it serves to its
Node, translates the Pod's spec into one ``podman run`` and writes the Pod's status back as a kubelet
does (Pending → Running → Succeeded/Failed, the container's state, exit code and termination message).
A deleted Pod gets SIGTERM and, after its grace period, SIGKILL; then the kubelet removes it.

It refuses every Pod field it does not translate (:func:`refusals`): such a Pod fails with reason
``Unsupported`` and ends up in :attr:`StandInKubelet.refused`, so a test can never pass on a Pod that a
cluster would have run differently. What it does differently from a kubelet, on purpose:

- host networking (``--network host``): the API server listens on loopback; the ``KUBERNETES_SERVICE_*``
  variables point at its real address (there is no kube-proxy behind a ClusterIP);
- volumes are host folders: ``emptyDir`` under the Pod's folder (tmpfs for ``medium: Memory``),
  ``hostPath`` as is, a PersistentVolumeClaim through its bound PersistentVolume's ``hostPath``;
- images are never pulled (there is no registry): a missing image is ``ErrImageNeverPull``.

The translation is pure (:func:`podman_argv`, :func:`volume_files`, the status builders) and unit-tested
in ``tests/images/test_kubelet_translation.py``; :class:`StandInKubelet` only fetches, writes files and runs podman.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

Obj = Mapping[str, Any]

NODE_NAME = "stjob-podman"
POD_IP = "127.0.0.1"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
#: A kubelet keeps at most this much of a termination message, and this much of the log as a fallback.
MAX_MESSAGE_BYTES = 4096
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048
REFUSED_REASON = "Unsupported"

# ------------------------------------------------------------------------------------ what is translated
# Every field of a Pod spec this kubelet reads, with the values it accepts where not every value works.
# Scheduling-only fields (tolerations, priority) have no effect on a node and are accepted as they are.

_POD_FIELDS = frozenset(
    {
        "containers",
        "volumes",
        "restartPolicy",
        "serviceAccountName",
        "serviceAccount",
        "automountServiceAccountToken",
        "securityContext",
        "terminationGracePeriodSeconds",
        "dnsPolicy",
        "schedulerName",
        "nodeName",
        "enableServiceLinks",
        "tolerations",
        "priority",
        "priorityClassName",
        "preemptionPolicy",
    }
)
_POD_SECURITY_FIELDS = frozenset(
    {"runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "supplementalGroups", "seccompProfile"}
)
_CONTAINER_FIELDS = frozenset(
    {
        "name",
        "image",
        "imagePullPolicy",
        "command",
        "args",
        "workingDir",
        "env",
        "resources",
        "volumeMounts",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "securityContext",
        "ports",
    }
)
_CONTAINER_SECURITY_FIELDS = frozenset(
    {
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "readOnlyRootFilesystem",
        "allowPrivilegeEscalation",
        "privileged",
        "capabilities",
        "seccompProfile",
    }
)
_MOUNT_FIELDS = frozenset({"name", "mountPath", "readOnly", "subPath"})
_VOLUME_KINDS = frozenset(
    {"emptyDir", "hostPath", "persistentVolumeClaim", "configMap", "secret", "projected", "downwardAPI"}
)
_RESOURCE_NAMES = frozenset({"cpu", "memory"})
_FIELD_REFS = frozenset(
    {"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName"}
    | {"status.podIP", "status.hostIP"}
)
_DEFAULTS_ONLY = {
    # field: the values the API server defaults it to, the only ones that mean nothing here
    "dnsPolicy": ("ClusterFirst", "Default"),
    "schedulerName": ("default-scheduler",),
    "restartPolicy": ("Never",),
    "preemptionPolicy": ("PreemptLowerPriority",),
}


class Refused(Exception):
    """The Pod uses something this kubelet does not translate (the message lists every such field)."""


def _unknown(where: str, obj: Obj, allowed: frozenset[str]) -> list[str]:
    return [f"{where}.{key}" for key in sorted(obj) if key not in allowed]


def _env_refusals(where: str, env: Sequence[Obj]) -> list[str]:
    found = []
    for i, var in enumerate(env):
        here = f"{where}.env[{i}]"
        source = var.get("valueFrom")
        if source is None:
            continue
        kinds = set(source)
        if kinds == {"fieldRef"}:
            path = source["fieldRef"].get("fieldPath", "")
            if path not in _FIELD_REFS and not re.fullmatch(r"metadata\.(labels|annotations)\['[^']+'\]", path):
                found.append(f"{here}.valueFrom.fieldRef.fieldPath={path}")
        elif kinds not in ({"secretKeyRef"}, {"configMapKeyRef"}):
            found.append(f"{here}.valueFrom." + ",".join(sorted(kinds)))
    return found


def _volume_refusals(i: int, volume: Obj) -> list[str]:
    here = f"spec.volumes[{i}]"
    kinds = [k for k in volume if k != "name"]
    if len(kinds) != 1 or kinds[0] not in _VOLUME_KINDS:
        return [f"{here}." + ",".join(sorted(kinds))]
    kind = kinds[0]
    source = volume[kind] or {}
    if kind == "emptyDir":
        if source.get("medium") not in (None, "", "Memory"):
            return [f"{here}.emptyDir.medium={source['medium']}"]
        if source.get("sizeLimit") and source.get("medium") != "Memory":
            return [f"{here}.emptyDir.sizeLimit (not enforced on disk)"]
    if kind == "hostPath" and source.get("type") not in (None, "", "Directory", "DirectoryOrCreate"):
        return [f"{here}.hostPath.type={source['type']}"]
    if kind == "projected":
        found = []
        for j, projection in enumerate(source.get("sources") or []):
            if set(projection) - {"serviceAccountToken", "configMap", "secret", "downwardAPI"}:
                found.append(f"{here}.projected.sources[{j}]." + ",".join(sorted(projection)))
        return found
    return []


def refusals(pod: Obj) -> list[str]:
    """Every field of ``pod`` this kubelet would not run as a cluster does (empty: it runs it)."""
    spec = pod.get("spec") or {}
    found = _unknown("spec", spec, _POD_FIELDS)
    for key, values in _DEFAULTS_ONLY.items():
        if key in spec and spec[key] not in values:
            found.append(f"spec.{key}={spec[key]}")
    found += _unknown("spec.securityContext", spec.get("securityContext") or {}, _POD_SECURITY_FIELDS)
    seccomp = (spec.get("securityContext") or {}).get("seccompProfile") or {}
    if seccomp.get("type") not in (None, "RuntimeDefault", "Unconfined"):
        found.append(f"spec.securityContext.seccompProfile.type={seccomp['type']}")
    containers = spec.get("containers") or []
    if len(containers) != 1:
        found.append(f"spec.containers: {len(containers)} containers (one is translated)")
    for c, container in enumerate(containers):
        where = f"spec.containers[{c}]"
        found += _unknown(where, container, _CONTAINER_FIELDS)
        security = container.get("securityContext") or {}
        found += _unknown(f"{where}.securityContext", security, _CONTAINER_SECURITY_FIELDS)
        if security.get("privileged"):
            found.append(f"{where}.securityContext.privileged=true")
        if (security.get("seccompProfile") or {}).get("type") not in (None, "RuntimeDefault", "Unconfined"):
            found.append(f"{where}.securityContext.seccompProfile.type={security['seccompProfile']['type']}")
        if container.get("imagePullPolicy") == "Always":
            found.append(f"{where}.imagePullPolicy=Always (no registry to pull from)")
        for kind in ("limits", "requests"):
            for name in (container.get("resources") or {}).get(kind) or {}:
                if name not in _RESOURCE_NAMES:
                    found.append(f"{where}.resources.{kind}.{name}")
        for m, mount in enumerate(container.get("volumeMounts") or []):
            found += _unknown(f"{where}.volumeMounts[{m}]", mount, _MOUNT_FIELDS)
        found += _env_refusals(where, container.get("env") or [])
    for i, volume in enumerate(spec.get("volumes") or []):
        found += _volume_refusals(i, volume)
    return found


# ------------------------------------------------------------------------------------ the translation


@dataclass(frozen=True)
class Prepared:
    """What the translation needs from outside the Pod: fetched objects and the host side of each volume."""

    #: volume name -> host folder (emptyDir, hostPath, PVC, and the folders written for configMap,
    #: secret, projected and downwardAPI volumes); ``medium: Memory`` emptyDirs are not in here.
    volume_paths: Mapping[str, Path]
    #: host file mounted at the container's terminationMessagePath
    termination_log: Path
    #: Secrets and ConfigMaps the env refers to: name -> decoded data
    secrets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    config_maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: the API server the Pod reaches as "kubernetes.default" (host, port)
    api_server: tuple[str, int] = ("127.0.0.1", 443)
    #: the image's USER (for runAsNonRoot when no runAsUser is set)
    image_user: str = ""
    container_name: str = ""


def _effective(pod: Obj, container: Obj, key: str) -> Any:
    """A security setting: the container's, else the pod's (the Kubernetes precedence)."""
    own = (container.get("securityContext") or {}).get(key)
    return own if own is not None else (pod["spec"].get("securityContext") or {}).get(key)


def _field_ref(pod: Obj, path: str) -> str:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": POD_IP,
        "status.hostIP": POD_IP,
    }
    if path in simple:
        return str(simple[path] or "")
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise Refused(f"fieldRef {path}")


def expand(text: str, env: Mapping[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion: defined names are replaced, ``$$`` escapes, others stay."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", one, text)


def service_env(api_server: tuple[str, int]) -> dict[str, str]:
    """The ``kubernetes`` Service's variables every Pod gets (here: the API server's real address)."""
    host, port = api_server
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
        "KUBERNETES_PORT_443_TCP": f"tcp://{host}:{port}",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": str(port),
        "KUBERNETES_PORT_443_TCP_ADDR": host,
    }


def container_env(pod: Obj, container: Obj, prepared: Prepared) -> dict[str, str]:
    """The container's environment in the kubelet's order: service variables, then ``env`` expanded."""
    env = service_env(prepared.api_server)
    for var in container.get("env") or []:
        source = var.get("valueFrom")
        if source is None:
            env[var["name"]] = expand(str(var.get("value", "")), env)
            continue
        if "fieldRef" in source:
            env[var["name"]] = _field_ref(pod, source["fieldRef"]["fieldPath"])
            continue
        kind, store = (
            ("secretKeyRef", prepared.secrets)
            if "secretKeyRef" in source
            else ("configMapKeyRef", prepared.config_maps)
        )
        ref = source[kind]
        data = store.get(ref["name"])
        if data is None or ref["key"] not in data:
            if ref.get("optional"):
                continue
            raise Refused(f"CreateContainerConfigError: {kind} {ref['name']}/{ref['key']} not found")
        env[var["name"]] = data[ref["key"]]
    return env


def _quantity(text: str) -> float:
    """A Kubernetes quantity as a number (cpu in cores, memory in bytes)."""
    suffixes = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3}
    for suffix, factor in suffixes.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _user(pod: Obj, container: Obj, prepared: Prepared) -> list[str]:
    uid, gid = _effective(pod, container, "runAsUser"), _effective(pod, container, "runAsGroup")
    if _effective(pod, container, "runAsNonRoot"):
        effective = uid if uid is not None else prepared.image_user.split(":")[0]
        if str(effective) in ("", "0", "root"):
            raise Refused("CreateContainerConfigError: container has runAsNonRoot and image will run as root")
        if uid is None and not str(effective).isdigit():
            raise Refused(f"CreateContainerConfigError: runAsNonRoot with a non-numeric image user {effective!r}")
    if uid is None:
        return []
    return ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]


def _security(pod: Obj, container: Obj) -> list[str]:
    security = container.get("securityContext") or {}
    argv: list[str] = []
    pod_security = pod["spec"].get("securityContext") or {}
    for group in [pod_security.get("fsGroup"), *(pod_security.get("supplementalGroups") or [])]:
        if group is not None:
            argv += ["--group-add", str(group)]
    if security.get("readOnlyRootFilesystem"):
        # Kubernetes mounts nothing writable by itself: no podman tmpfs on /tmp, /run, /var/tmp.
        argv += ["--read-only", "--read-only-tmpfs=false"]
    if security.get("allowPrivilegeEscalation") is False:
        argv += ["--security-opt", "no-new-privileges"]
    capabilities = security.get("capabilities") or {}
    for cap in capabilities.get("drop") or []:
        argv += ["--cap-drop", cap]
    for cap in capabilities.get("add") or []:
        argv += ["--cap-add", cap]
    seccomp = _effective(pod, container, "seccompProfile") or {}
    if seccomp.get("type") == "Unconfined":
        argv += ["--security-opt", "seccomp=unconfined"]
    return argv


def _resources(container: Obj) -> list[str]:
    limits = (container.get("resources") or {}).get("limits") or {}
    argv: list[str] = []
    if "memory" in limits:
        argv += ["--memory", str(int(_quantity(str(limits["memory"]))))]
    if "cpu" in limits:
        argv += ["--cpus", f"{_quantity(str(limits['cpu'])):g}"]
    return argv


def _mounts(pod: Obj, container: Obj, prepared: Prepared) -> list[str]:
    volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
    argv: list[str] = []
    memory_mounts: dict[str, int] = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"])
        if volume is None:
            raise Refused(f"volumeMount {mount['name']}: no such volume")
        target, read_only = mount["mountPath"], bool(mount.get("readOnly"))
        empty_dir = volume.get("emptyDir")
        if empty_dir is not None and empty_dir.get("medium") == "Memory":
            memory_mounts[mount["name"]] = memory_mounts.get(mount["name"], 0) + 1
            if memory_mounts[mount["name"]] > 1 or mount.get("subPath"):
                raise Refused(f"volume {mount['name']}: a Memory emptyDir mounted twice or with a subPath")
            options = [f"destination={target}", "tmpfs-mode=1777"]
            if empty_dir.get("sizeLimit"):
                options.append(f"tmpfs-size={int(_quantity(str(empty_dir['sizeLimit'])))}")
            argv += ["--mount", ",".join(["type=tmpfs", *options, *(["ro=true"] if read_only else [])])]
            continue
        source = prepared.volume_paths[mount["name"]]
        if mount.get("subPath"):
            source = source / mount["subPath"]
        # ConfigMap, Secret, projected and downward API volumes are always read-only in Kubernetes.
        if read_only or _volume_kind(volume) in ("configMap", "secret", "projected", "downwardAPI"):
            argv += ["-v", f"{source}:{target}:ro"]
        else:
            argv += ["-v", f"{source}:{target}"]
        pvc = volume.get("persistentVolumeClaim") or {}
        if pvc.get("readOnly") and not read_only:
            argv[-1] += ":ro"
    return argv


def _volume_kind(volume: Obj) -> str:
    return next(k for k in volume if k != "name")


def podman_argv(pod: Obj, prepared: Prepared) -> list[str]:
    """``podman run`` for the Pod's one container (without ``-d``/``--name``: the caller adds those).

    Raises :class:`Refused` for anything not translated, or a reference that does not resolve.
    """
    problems = refusals(pod)
    if problems:
        raise Refused("; ".join(problems))
    container = pod["spec"]["containers"][0]
    env = container_env(pod, container, prepared)
    argv = ["podman", "run", "--network", "host", "--pull", "never", "--hostname", pod["metadata"]["name"]]
    argv += _user(pod, container, prepared) + _security(pod, container) + _resources(container)
    argv += _mounts(pod, container, prepared)
    argv += ["-v", f"{prepared.termination_log}:{container.get('terminationMessagePath') or '/dev/termination-log'}"]
    if container.get("workingDir"):
        argv += ["--workdir", container["workingDir"]]
    for name, value in env.items():
        argv += ["--env", f"{name}={value}"]
    command = [expand(str(part), env) for part in container.get("command") or []]
    args = [expand(str(part), env) for part in container.get("args") or []]
    if command:
        # Kubernetes: `command` replaces the ENTRYPOINT and drops the image's CMD; `args` replace the CMD.
        argv += ["--entrypoint", json.dumps(command)]
    argv.append(container["image"])
    return argv + args


# ------------------------------------------------------------------------------------ volume contents


@dataclass(frozen=True)
class VolumeFile:
    content: bytes
    mode: int


def _items(data: Mapping[str, bytes], items: Sequence[Obj] | None, default_mode: int) -> dict[str, VolumeFile]:
    if not items:
        return {key: VolumeFile(value, default_mode) for key, value in data.items()}
    files = {}
    for item in items:
        if item["key"] not in data:
            raise Refused(f"key {item['key']} not found")
        files[item["path"]] = VolumeFile(data[item["key"]], item.get("mode", default_mode))
    return files


def volume_files(
    volume: Obj,
    pod: Obj,
    *,
    secrets: Mapping[str, Mapping[str, bytes]],
    config_maps: Mapping[str, Mapping[str, bytes]],
    tokens: Mapping[int, str],
) -> dict[str, VolumeFile]:
    """The files a configMap, secret, projected or downwardAPI volume holds (path -> content, mode).

    ``tokens``: for a projected volume, source index -> the token the TokenRequest API minted for it.
    """
    kind = _volume_kind(volume)
    source = volume[kind] or {}
    default_mode = int(source.get("defaultMode", 0o644))

    def lookup(store: Mapping[str, Mapping[str, bytes]], ref: Obj, what: str) -> Mapping[str, bytes]:
        if ref["name"] in store:
            return store[ref["name"]]
        if ref.get("optional"):
            return {}
        raise Refused(f"{what} {ref['name']} not found")

    if kind == "configMap":
        return _items(lookup(config_maps, source, "configmap"), source.get("items"), default_mode)
    if kind == "secret":
        ref = {"name": source["secretName"], "optional": source.get("optional")}
        return _items(lookup(secrets, ref, "secret"), source.get("items"), default_mode)
    if kind == "downwardAPI":
        return _downward(source.get("items") or [], pod, default_mode)
    if kind != "projected":
        return {}
    files: dict[str, VolumeFile] = {}
    for index, projection in enumerate(source.get("sources") or []):
        if "serviceAccountToken" in projection:
            token = projection["serviceAccountToken"]
            files[token["path"]] = VolumeFile(tokens[index].encode(), default_mode)
        elif "configMap" in projection:
            ref = projection["configMap"]
            files.update(_items(lookup(config_maps, ref, "configmap"), ref.get("items"), default_mode))
        elif "secret" in projection:
            ref = projection["secret"]
            files.update(_items(lookup(secrets, ref, "secret"), ref.get("items"), default_mode))
        elif "downwardAPI" in projection:
            files.update(_downward(projection["downwardAPI"].get("items") or [], pod, default_mode))
    return files


def _downward(items: Sequence[Obj], pod: Obj, default_mode: int) -> dict[str, VolumeFile]:
    files = {}
    for item in items:
        if "fieldRef" not in item:
            raise Refused(f"downwardAPI item {item.get('path')}: only fieldRef is translated")
        value = _field_ref(pod, item["fieldRef"]["fieldPath"]).encode()
        files[item["path"]] = VolumeFile(value, item.get("mode", default_mode))
    return files


# ------------------------------------------------------------------------------------ status, as a kubelet


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _conditions(ready: bool, at: str) -> list[dict[str, Any]]:
    flag = "True" if ready else "False"
    return [
        {"type": "Initialized", "status": "True", "lastTransitionTime": at},
        {"type": "Ready", "status": flag, "lastTransitionTime": at},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": at},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": at},
    ]


def waiting_status(container: Obj, reason: str, message: str, started: str) -> dict[str, Any]:
    """Pending, the container waiting (ContainerCreating, ErrImageNeverPull, CreateContainerConfigError)."""
    state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
    return {
        "phase": "Pending",
        "hostIP": POD_IP,
        "startTime": started,
        "conditions": _conditions(False, started),
        "containerStatuses": [_container_status(container, state, ready=False)],
    }


def running_status(container: Obj, image_id: str, container_id: str, started: str, at: str) -> dict[str, Any]:
    state = {"running": {"startedAt": at}}
    return {
        "phase": "Running",
        "hostIP": POD_IP,
        "podIP": POD_IP,
        "podIPs": [{"ip": POD_IP}],
        "startTime": started,
        "conditions": _conditions(True, at),
        "containerStatuses": [
            _container_status(container, state, ready=True, image_id=image_id, container_id=container_id)
        ],
    }


def terminated_status(
    container: Obj,
    *,
    exit_code: int,
    oom_killed: bool,
    message: str,
    image_id: str,
    container_id: str,
    started: str,
    container_started: str,
    finished: str,
) -> dict[str, Any]:
    """Succeeded or Failed (restartPolicy Never), with the container's exit code, reason and message."""
    reason = "OOMKilled" if oom_killed else ("Completed" if exit_code == 0 else "Error")
    terminated = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": container_started,
        "finishedAt": finished,
        "containerID": container_id,
    }
    if message:
        terminated["message"] = message
    return {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "hostIP": POD_IP,
        "podIP": POD_IP,
        "podIPs": [{"ip": POD_IP}],
        "startTime": started,
        "conditions": _conditions(False, finished),
        "containerStatuses": [
            _container_status(
                container, {"terminated": terminated}, ready=False, image_id=image_id, container_id=container_id
            )
        ],
    }


def _container_status(
    container: Obj, state: Obj, *, ready: bool, image_id: str = "", container_id: str = ""
) -> dict[str, Any]:
    status = {
        "name": container["name"],
        "image": container["image"],
        "imageID": image_id,
        "ready": ready,
        "restartCount": 0,
        "started": "running" in state,
        "state": dict(state),
    }
    if container_id:
        status["containerID"] = container_id
    return status


def termination_message(written: bytes, logs: str, *, exit_code: int, policy: str) -> str:
    """What a kubelet reports: the file's text, else (FallbackToLogsOnError, a failure) the log's tail."""
    text = written[:MAX_MESSAGE_BYTES].decode(errors="replace")
    if text.strip() or policy != "FallbackToLogsOnError" or exit_code == 0:
        return text
    tail = "\n".join(logs.splitlines()[-FALLBACK_LOG_LINES:])
    return tail.encode()[-FALLBACK_LOG_BYTES:].decode(errors="replace")


# ------------------------------------------------------------------------------------ the running part


ROOT = Path(__file__).resolve().parents[2]
IMAGES_SCRIPT = ROOT / "scripts" / "images.sh"


@dataclass(frozen=True)
class Images:
    """The images ``scripts/images.sh`` builds and the podman settings (storage, runtime) they live in."""

    operator: str
    trainer: str
    podman_env: Mapping[str, str]


def image_settings() -> Images:
    """What ``scripts/images.sh env`` prints: the script is the one home of the names and paths."""
    done = subprocess.run(["bash", str(IMAGES_SCRIPT), "env"], capture_output=True, text=True, check=True)
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    podman = {k: v for k, v in values.items() if k.startswith("CONTAINERS_")}
    return Images(values["STJOB_OPERATOR_IMAGE"], values["STJOB_TRAINER_IMAGE"], podman)


def ensure_images() -> Images:
    """Build (or reuse) both images; ``make test`` built them already, so this is normally quick."""
    done = subprocess.run(["bash", str(IMAGES_SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/images.sh failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return image_settings()


def podman_env() -> dict[str, str]:
    """The environment for podman: the storage and runtime settings the images were built with."""
    return {**os.environ, **image_settings().podman_env}


@dataclass
class PodRun:
    """One Pod this kubelet runs: its folder, its container, and a flag for "deleted, stop it"."""

    namespace: str
    name: str
    uid: str
    folder: Path
    container_name: str
    stop: threading.Event = field(default_factory=threading.Event)
    grace_seconds: int = 30
    thread: threading.Thread | None = None


class StandInKubelet:
    """Runs the Pods of ``namespaces`` on one Node, in podman; ``with StandInKubelet(...):`` or start/stop."""

    def __init__(
        self,
        api_client: Any,
        server: str,
        work_dir: Path,
        namespaces: Sequence[str],
        *,
        node_name: str = NODE_NAME,
        env: Mapping[str, str] | None = None,
    ) -> None:
        import kubernetes

        self.api_client = api_client
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.api_server = self.address_of(server)
        self.work_dir = work_dir
        self.namespaces = set(namespaces)
        self.node_name = node_name
        self.env = dict(env) if env is not None else podman_env()
        self.runs: dict[str, PodRun] = {}
        #: (namespace/name, why) of every Pod refused
        self.refused: list[tuple[str, str]] = []
        #: namespace/name of every Pod whose container this kubelet started, in order
        self.started: list[str] = []
        #: unexpected errors in the kubelet's own threads (a test should assert this stays empty)
        self.errors: list[str] = []
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    @staticmethod
    def address_of(server: str) -> tuple[str, int]:
        """(host, port) of an API server URL: what ``KUBERNETES_SERVICE_HOST``/``PORT`` say to a Pod."""
        split = urlsplit(server)
        return split.hostname or "127.0.0.1", split.port or 443

    # -------------------------------------------------------------- lifecycle

    def __enter__(self) -> StandInKubelet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._register_node()
        self._watcher = threading.Thread(target=self._watch, name="kubelet-watch", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._closing.set()
        for run in list(self.runs.values()):
            run.stop.set()
        for run in list(self.runs.values()):
            if run.thread is not None:
                run.thread.join(timeout=60)
        if self._watcher is not None:
            self._watcher.join(timeout=10)

    def _register_node(self) -> None:
        import kubernetes

        node = {
            "metadata": {"name": self.node_name, "labels": {"kubernetes.io/hostname": self.node_name}},
            "spec": {},
        }
        with contextlib.suppress(kubernetes.client.ApiException):
            self.core.create_node(node)
        capacity = {"cpu": str(os.cpu_count() or 1), "memory": "16Gi", "pods": "110"}
        status = {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now()}],
            "addresses": [{"type": "InternalIP", "address": POD_IP}],
        }
        self.core.patch_node_status(self.node_name, {"status": status})

    # -------------------------------------------------------------- watching

    def _watch(self) -> None:
        import kubernetes

        while not self._closing.is_set():
            try:
                listing = self.core.list_pod_for_all_namespaces()
                for pod in listing.items:
                    self._seen(self.api_client.sanitize_for_serialization(pod))
                stream = kubernetes.watch.Watch().stream(
                    self.core.list_pod_for_all_namespaces,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=5,
                    _preload_content=False,
                )
                for event in stream:
                    if self._closing.is_set():
                        break
                    raw = event.get("raw_object") or self.api_client.sanitize_for_serialization(event["object"])
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._seen(raw)
            except Exception as exc:  # the watch restarts; the test sees self.errors
                if not self._closing.is_set():
                    self.errors.append(f"watch: {exc!r}")
                    time.sleep(0.5)

    def _seen(self, pod: dict[str, Any]) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        if meta.get("namespace") not in self.namespaces:
            return
        uid = meta["uid"]
        with self._lock:
            run = self.runs.get(uid)
            if run is None:
                if meta.get("deletionTimestamp") and spec.get("nodeName") == self.node_name:
                    # ours, but its thread is gone (a restarted kubelet): nothing runs, remove it
                    self.core.delete_namespaced_pod(meta["name"], meta["namespace"], grace_period_seconds=0)
                    return
                if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    return
                if spec.get("nodeName") not in (None, "", self.node_name):
                    return
                container_name = ((spec.get("containers") or [{}])[0]).get("name", "")
                run = PodRun(meta["namespace"], meta["name"], uid, self.work_dir / f"{meta['name']}-{uid[:8]}",
                             container_name)  # fmt: skip
                self.runs[uid] = run
                run.thread = threading.Thread(target=self._guarded, args=(run, pod), name=f"pod-{meta['name']}")
                run.thread.start()
            elif meta.get("deletionTimestamp"):
                run.grace_seconds = int(meta.get("deletionGracePeriodSeconds") or 0)
                run.stop.set()

    def _guarded(self, run: PodRun, pod: dict[str, Any]) -> None:
        try:
            self._run(run, pod)
        except Exception as exc:  # reported through self.errors
            logger.exception("pod %s/%s", run.namespace, run.name)
            self.errors.append(f"{run.namespace}/{run.name}: {exc!r}")

    # -------------------------------------------------------------- one pod

    def _podman(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["podman", *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"podman {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done

    def _patch_status(self, run: PodRun, status: dict[str, Any]) -> None:
        self.core.patch_namespaced_pod_status(run.name, run.namespace, {"status": status})

    def _run(self, run: PodRun, pod: dict[str, Any]) -> None:
        started = now()
        if not pod["spec"].get("nodeName"):
            # The scheduler's part: bind the Pod to this Node.
            target = {"apiVersion": "v1", "kind": "Node", "name": self.node_name}
            binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": run.name}, "target": target}
            self.core.create_namespaced_binding(run.namespace, binding, _preload_content=False)
        container = pod["spec"]["containers"][0]
        problems = refusals(pod)
        if problems:
            self._refuse(run, "; ".join(problems))
            return
        self._patch_status(run, waiting_status(container, "ContainerCreating", "", started))
        image = self._podman("image", "inspect", container["image"], check=False)
        if image.returncode != 0:
            message = f'image "{container["image"]}" is not present here and this kubelet never pulls'
            self._patch_status(run, waiting_status(container, "ErrImageNeverPull", message, started))
            run.stop.wait()
            self._finish_deleted(run)
            return
        inspected = json.loads(image.stdout)[0]
        try:
            prepared = self._prepare(run, pod, image_user=str(inspected.get("Config", {}).get("User") or ""))
            argv = podman_argv(pod, prepared)
        except Refused as exc:
            self._patch_status(run, waiting_status(container, "CreateContainerConfigError", str(exc), started))
            self.refused.append((f"{run.namespace}/{run.name}", str(exc)))
            run.stop.wait()
            self._finish_deleted(run)
            return
        if run.stop.is_set():  # deleted while its volumes were being made: never start it
            self._finish_deleted(run)
            return
        name = f"k8s-{run.namespace}-{run.name}-{run.uid[:8]}"[:120]
        container_id = self._podman(*argv[1:2], "-d", "--name", name, *argv[2:]).stdout.strip()
        self.started.append(f"{run.namespace}/{run.name}")
        container_ref = f"podman://{container_id}"
        image_id = f"sha256:{inspected['Id']}"
        container_started = now()
        self._patch_status(run, running_status(container, image_id, container_ref, started, container_started))
        exit_code = self._wait(run, name)
        state = json.loads(self._podman("inspect", name).stdout)[0]["State"]
        logs = self._podman("logs", name, check=False)
        (run.folder / "container.log").write_text(logs.stdout + logs.stderr)
        message = termination_message(
            prepared.termination_log.read_bytes(),
            logs.stdout + logs.stderr,
            exit_code=exit_code,
            policy=container.get("terminationMessagePolicy", "File"),
        )
        status = terminated_status(
            container,
            exit_code=exit_code,
            oom_killed=bool(state.get("OOMKilled")),
            message=message,
            image_id=image_id,
            container_id=container_ref,
            started=started,
            container_started=container_started,
            finished=now(),
        )
        self._patch_status(run, status)
        self._podman("rm", "-f", name, check=False)
        if run.stop.is_set():
            self._finish_deleted(run)

    def _wait(self, run: PodRun, name: str) -> int:
        """The container's exit code; a deleted Pod's container gets SIGTERM, then SIGKILL after the grace."""
        waiter = subprocess.Popen(
            ["podman", "wait", name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env
        )
        while waiter.poll() is None:
            if run.stop.wait(timeout=0.5):
                self._podman(
                    "stop", "--time", str(run.grace_seconds), name, check=False, timeout=run.grace_seconds + 60
                )
                break
        out, _ = waiter.communicate(timeout=120)
        return int(out.strip().splitlines()[-1])

    def _finish_deleted(self, run: PodRun) -> None:
        """The kubelet's last word on a deleted Pod: remove it for good (grace period 0)."""
        import kubernetes

        if self._closing.is_set():
            return
        with contextlib.suppress(kubernetes.client.ApiException):
            self.core.delete_namespaced_pod(run.name, run.namespace, grace_period_seconds=0)

    def _refuse(self, run: PodRun, why: str) -> None:
        self.refused.append((f"{run.namespace}/{run.name}", why))
        at = now()
        self._patch_status(
            run,
            {"phase": "Failed", "reason": REFUSED_REASON, "message": f"the stand-in kubelet does not translate {why}",
             "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": at}]},
        )  # fmt: skip

    # -------------------------------------------------------------- volumes and references

    def _prepare(self, run: PodRun, pod: dict[str, Any], *, image_user: str) -> Prepared:
        run.folder.mkdir(parents=True, exist_ok=True)
        spec = pod["spec"]
        fs_group = (spec.get("securityContext") or {}).get("fsGroup")
        secrets: dict[str, dict[str, bytes]] = {}
        config_maps: dict[str, dict[str, bytes]] = {}
        for name in _referenced(spec, "secret"):
            found = self._read(self.core.read_namespaced_secret, name, run.namespace)
            if found is not None:
                secrets[name] = {k: base64.b64decode(v) for k, v in (found.get("data") or {}).items()}
        for name in _referenced(spec, "configMap"):
            found = self._read(self.core.read_namespaced_config_map, name, run.namespace)
            if found is not None:
                config_maps[name] = {k: v.encode() for k, v in (found.get("data") or {}).items()}
        paths: dict[str, Path] = {}
        for volume in spec.get("volumes") or []:
            name, kind = volume["name"], _volume_kind(volume)
            folder = run.folder / "volumes" / name
            if kind == "emptyDir":
                if (volume["emptyDir"] or {}).get("medium") == "Memory":
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                folder.chmod(0o777)  # as the kubelet makes emptyDirs
                paths[name] = folder
            elif kind == "hostPath":
                host = Path(volume["hostPath"]["path"])
                if volume["hostPath"].get("type") == "DirectoryOrCreate":
                    host.mkdir(parents=True, exist_ok=True)
                if not host.is_dir():
                    raise Refused(f"hostPath {host} is not a directory")
                paths[name] = host
            elif kind == "persistentVolumeClaim":
                paths[name] = self._claim_path(run.namespace, volume["persistentVolumeClaim"]["claimName"])
            else:
                tokens = self._tokens(run, pod, volume) if kind == "projected" else {}
                files = volume_files(volume, pod, secrets=secrets, config_maps=config_maps, tokens=tokens)
                _write_files(folder, files, fs_group)
                paths[name] = folder
        container = spec["containers"][0]
        for mount in container.get("volumeMounts") or []:
            if mount.get("subPath") and mount["name"] in paths:
                (paths[mount["name"]] / mount["subPath"]).mkdir(parents=True, exist_ok=True)
        termination_log = run.folder / "termination-log"
        termination_log.write_bytes(b"")
        termination_log.chmod(0o666)
        return Prepared(
            volume_paths=paths,
            termination_log=termination_log,
            secrets={k: {kk: vv.decode(errors="replace") for kk, vv in v.items()} for k, v in secrets.items()},
            config_maps={k: {kk: vv.decode() for kk, vv in v.items()} for k, v in config_maps.items()},
            api_server=self.api_server,
            image_user=image_user,
            container_name=container["name"],
        )

    def _read(self, reader: Callable[..., Any], name: str, namespace: str) -> dict[str, Any] | None:
        import kubernetes

        try:
            found: dict[str, Any] = self.api_client.sanitize_for_serialization(reader(name, namespace))
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def _claim_path(self, namespace: str, claim: str) -> Path:
        """The host folder behind a PersistentVolumeClaim: its bound PersistentVolume's hostPath."""
        pvc = self._read(self.core.read_namespaced_persistent_volume_claim, claim, namespace)
        if pvc is None:
            raise Refused(f"persistentvolumeclaim {claim} not found")
        volume_name = (pvc.get("spec") or {}).get("volumeName")
        if not volume_name or (pvc.get("status") or {}).get("phase") != "Bound":
            raise Refused(f"persistentvolumeclaim {claim} is not bound")
        pv = self.api_client.sanitize_for_serialization(self.core.read_persistent_volume(volume_name))
        host_path = (pv.get("spec") or {}).get("hostPath")
        if not host_path:
            raise Refused(f"persistentvolume {volume_name}: only hostPath volumes are translated")
        return Path(host_path["path"])

    def _tokens(self, run: PodRun, pod: dict[str, Any], volume: Obj) -> dict[int, str]:
        """Mint each projected ServiceAccount token with the TokenRequest API, bound to this Pod."""
        tokens = {}
        for index, projection in enumerate(volume["projected"].get("sources") or []):
            source = projection.get("serviceAccountToken")
            if source is None:
                continue
            request: dict[str, Any] = {
                "spec": {
                    "expirationSeconds": int(source.get("expirationSeconds", 3600)),
                    "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": run.name, "uid": run.uid},
                }
            }
            if source.get("audience"):
                request["spec"]["audiences"] = [source["audience"]]
            account = pod["spec"].get("serviceAccountName") or "default"
            result = self.core.create_namespaced_service_account_token(account, run.namespace, request)
            tokens[index] = str(result.status.token)
        return tokens


def _referenced(spec: Obj, kind: str) -> Iterator[str]:
    """Names of the Secrets (``kind="secret"``) or ConfigMaps the Pod's volumes and env refer to."""
    key_ref = "secretKeyRef" if kind == "secret" else "configMapKeyRef"
    seen = set()
    for volume in spec.get("volumes") or []:
        if kind == "secret" and "secret" in volume:
            seen.add(volume["secret"]["secretName"])
        if kind == "configMap" and "configMap" in volume:
            seen.add(volume["configMap"]["name"])
        for projection in (volume.get("projected") or {}).get("sources") or []:
            if kind in projection:
                seen.add(projection[kind]["name"])
    for container in spec.get("containers") or []:
        for var in container.get("env") or []:
            ref = (var.get("valueFrom") or {}).get(key_ref)
            if ref:
                seen.add(ref["name"])
    yield from sorted(seen)


def _write_files(folder: Path, files: Mapping[str, VolumeFile], fs_group: int | None) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    for relative, item in files.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.content)
        target.chmod(item.mode)
        if fs_group is not None:
            os.chown(target, 0, fs_group)
