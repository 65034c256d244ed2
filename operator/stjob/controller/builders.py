"""Pure builders: (spec, resource metadata, settings) -> the child manifests as plain dicts.

Nothing here talks to a cluster; ``handlers``/``reconciler`` apply what these functions return. The
shapes follow docs/contracts.md ("The trainer container", "Child objects").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from stjob.api import API_VERSION, GROUP, KIND, PLURAL, SentenceTransformerJobSpec, contract, dump_spec
from stjob.controller import naming
from stjob.controller.compat import CURRENT, ServerSupport
from stjob.controller.settings import OperatorSettings
from stjob.errors import NON_RETRYABLE_EXIT_CODES

Manifest = dict[str, Any]

TRAINER_UID = 1000
_RESTRICTED_SECCOMP = {"type": "RuntimeDefault"}


def owner_reference(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The owner reference every child carries, so deleting the resource deletes its children.

    ``blockOwnerDeletion`` stays unset: setting it needs ``update`` on the finalizers subresource
    (OwnerReferencesPermissionEnforcement), which is not in the operator's RBAC.
    """
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
    }


def _metadata(name: str, meta: Mapping[str, Any], extra_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    labels = naming.child_labels(meta["name"])
    labels.update(extra_labels or {})
    return {
        "name": name,
        "namespace": meta.get("namespace"),
        "labels": labels,
        "ownerReferences": [owner_reference(meta)],
    }


def job_file(spec: SentenceTransformerJobSpec, meta: Mapping[str, Any]) -> str:
    """The trainer's job file: identity and spec, never the status and never a token."""
    identity = {key: meta[key] for key in ("name", "namespace", "uid", "generation") if meta.get(key) is not None}
    document = {"apiVersion": API_VERSION, "kind": KIND, "metadata": identity, "spec": dump_spec(spec)}
    # The C dumper: the pure-Python one (yaml.safe_dump) was ~10% of the operator's CPU per create.
    return yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=False)


def build_configmap(spec: SentenceTransformerJobSpec, meta: Mapping[str, Any]) -> Manifest:
    """``{name}-spec``: the job file the trainer mounts at /etc/stjob."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(naming.configmap_name(meta["name"]), meta),
        "data": {contract.CONFIG_KEY: job_file(spec, meta)},
    }


def build_service_account(meta: Mapping[str, Any]) -> Manifest:
    """``{name}-trainer``: the identity the trainer uses to patch the resource's status."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(naming.trainer_account_name(meta["name"]), meta),
    }


def build_role(meta: Mapping[str, Any]) -> Manifest:
    """``{name}-trainer``: get/patch this resource's status and get this resource, nothing else."""
    names = [meta["name"]]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(naming.trainer_account_name(meta["name"]), meta),
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": [f"{PLURAL}/status"],
                "resourceNames": names,
                "verbs": ["get", "patch"],
            },
            {"apiGroups": [GROUP], "resources": [PLURAL], "resourceNames": names, "verbs": ["get"]},
        ],
    }


def build_role_binding(meta: Mapping[str, Any]) -> Manifest:
    """``{name}-trainer``: binds the Role to the trainer's ServiceAccount."""
    account = naming.trainer_account_name(meta["name"])
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(account, meta),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": meta.get("namespace")}],
    }


def build_service(meta: Mapping[str, Any]) -> Manifest:
    """Headless Service ``{name}`` (multi-node): stable DNS for rank 0, the torchrun rendezvous."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(naming.service_name(meta["name"]), meta),
        "spec": {
            "clusterIP": "None",
            "selector": {naming.LABEL_JOB_NAME: meta["name"]},
            # Workers must resolve rank 0 before any pod is Ready: there is no readiness here.
            "publishNotReadyAddresses": True,
            "ports": [{"name": "rendezvous", "port": naming.RENDEZVOUS_PORT, "targetPort": naming.RENDEZVOUS_PORT}],
        },
    }


#: torchrun, wrapped so that the pod exits with the failed worker's own code (podFailurePolicy needs it;
#: plain torchrun exits 1 for every failure). The arguments after it are torchrun's, unchanged.
TORCHRUN = ["python", "-m", "stjob_trainer.launch"]


def trainer_command(spec: SentenceTransformerJobSpec, name: str) -> list[str]:
    """One process: ``stjob-trainer``; several processes or pods: torchrun around ``-m stjob_trainer``.

    Multi-node uses torchrun's static rendezvous: the node rank is the pod's completion index and rank 0
    (index 0) serves the rendezvous store at its stable hostname ``{job}-0.{service}``. No elastic
    restarts inside a pod (``--max-restarts=0``): a failure ends every pod of the gang and the Job
    replaces them (docs/distributed.md).
    """
    config = ["--config", contract.CONFIG_PATH]
    if spec.distributed.nodes == 1 and spec.processes_per_node == 1:
        return ["stjob-trainer", *config]
    launcher = [*TORCHRUN, f"--nproc-per-node={spec.processes_per_node}"]
    if spec.distributed.nodes == 1:
        launcher += ["--standalone", "--nnodes=1"]
    else:
        rank0 = f"{naming.job_name(name)}-0.{naming.service_name(name)}"
        launcher += [
            f"--nnodes={spec.distributed.nodes}",
            # Expanded by the kubelet from the container env (the completion index, see trainer_env).
            f"--node-rank=$({contract.ENV_NODE_RANK})",
            f"--master-addr={rank0}",
            f"--master-port={naming.RENDEZVOUS_PORT}",
            "--max-restarts=0",
        ]
    return [*launcher, "-m", "stjob_trainer", *config]


def trainer_env(spec: SentenceTransformerJobSpec, meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The container environment of the contract; the Hub token only by reference, only when pushing."""
    env: list[dict[str, Any]] = [
        {"name": contract.ENV_NAME, "value": meta["name"]},
        {"name": contract.ENV_NAMESPACE, "value": meta.get("namespace") or ""},
        {"name": contract.ENV_REPORTER, "value": contract.REPORTER_KUBERNETES},
        {"name": contract.ENV_DATA_DIR, "value": contract.DATA_DIR},
        {"name": contract.ENV_OUTPUT_DIR, "value": contract.OUTPUT_DIR},
        {"name": contract.ENV_HF_HOME, "value": contract.HF_HOME_DIR},
        {"name": contract.ENV_TERMINATION_LOG, "value": contract.TERMINATION_LOG},
    ]
    hub = spec.output.hub
    if hub.push and hub.token_secret_ref is not None:
        ref = {"name": hub.token_secret_ref.name, "key": hub.token_secret_ref.key}
        env.append({"name": contract.ENV_HF_TOKEN, "valueFrom": {"secretKeyRef": ref}})
    if spec.distributed.nodes > 1:
        index = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        env.append({"name": contract.ENV_NODE_RANK, "valueFrom": {"fieldRef": {"fieldPath": index}}})
    return env


def trainer_resources(spec: SentenceTransformerJobSpec, settings: OperatorSettings) -> dict[str, Any]:
    """Requests equal limits (Guaranteed-like); GPUs as limits of the extended resource."""
    amounts: dict[str, str] = {}
    cpu = spec.resources.cpu or settings.default_cpu
    memory = spec.resources.memory or settings.default_memory
    if cpu:
        amounts["cpu"] = cpu
    if memory:
        amounts["memory"] = memory
    limits = dict(amounts)
    if spec.resources.gpus > 0:
        limits[spec.resources.gpu_resource_name] = str(spec.resources.gpus)
    resources: dict[str, Any] = {}
    if amounts:
        resources["requests"] = amounts
    if limits:
        resources["limits"] = limits
    return resources


def _volumes_and_mounts(
    spec: SentenceTransformerJobSpec, meta: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    config_volume = {
        "name": "job-config",
        "configMap": {
            "name": naming.configmap_name(meta["name"]),
            "items": [{"key": contract.CONFIG_KEY, "path": contract.CONFIG_KEY}],
        },
    }
    volumes: list[dict[str, Any]] = [config_volume]
    mounts: list[dict[str, Any]] = [{"name": "job-config", "mountPath": contract.CONFIG_DIR, "readOnly": True}]
    data = spec.data.volume
    if data is not None:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": data.claim_name, "readOnly": True}})
        mounts.append(_mount("data", contract.DATA_DIR, read_only=True, sub_path=data.sub_path))
    output = spec.output.volume
    if output is not None:
        claim = {"claimName": output.claim_name, "readOnly": output.read_only}
        volumes.append({"name": "output", "persistentVolumeClaim": claim})
        mounts.append(_mount("output", contract.OUTPUT_DIR, read_only=output.read_only, sub_path=output.sub_path))
    else:
        # The root filesystem is read-only, so the output needs a writable scratch volume.
        volumes.append({"name": "output", "emptyDir": {}})
        mounts.append(_mount("output", contract.OUTPUT_DIR))
    volumes.append({"name": "tmp", "emptyDir": {}})
    mounts.append(_mount("tmp", contract.SCRATCH_DIR))
    shm: dict[str, Any] = {"medium": "Memory"}
    if spec.resources.shm_size:
        shm["sizeLimit"] = spec.resources.shm_size
    volumes.append({"name": "dshm", "emptyDir": shm})
    mounts.append(_mount("dshm", contract.SHM_DIR))
    return volumes, mounts


def _mount(name: str, path: str, *, read_only: bool = False, sub_path: str | None = None) -> dict[str, Any]:
    mount: dict[str, Any] = {"name": name, "mountPath": path}
    if read_only:
        mount["readOnly"] = True
    if sub_path:
        mount["subPath"] = sub_path
    return mount


def pod_failure_policy() -> dict[str, Any]:
    """Fail at once on errors a retry cannot fix; never count disruptions against backoffLimit."""
    return {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": naming.TRAINER_CONTAINER,
                    "operator": "In",
                    "values": list(NON_RETRYABLE_EXIT_CODES),
                },
            },
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        ]
    }


def job_labels(spec: SentenceTransformerJobSpec, name: str) -> dict[str, str]:
    """Job labels: the child labels plus Kueue's queue label when queued.

    No ``kueue.x-k8s.io/priority-class`` label: it names a Kueue *WorkloadPriorityClass*, not the
    PriorityClass in ``scheduling.priorityClassName``, and Kueue refuses to create the Workload when the
    named class does not exist. Without the label Kueue takes the workload's priority from the pod
    template's ``priorityClassName`` (docs/distributed.md, "Kueue").
    """
    labels = naming.child_labels(name)
    if spec.queue_name:
        labels[naming.LABEL_KUEUE_QUEUE] = spec.queue_name
    return labels


def job_backoff_limit(spec: SentenceTransformerJobSpec) -> int:
    """The Job's ``backoffLimit``: ``runPolicy.backoffLimit`` counts restarts of the whole gang.

    A multi-node failure ends every pod (the survivors' collectives fail once a peer is gone), and the
    Job counts each failed pod, so one gang restart costs up to ``nodes`` failures.
    """
    return spec.run_policy.backoff_limit * spec.distributed.nodes


def initial_suspend(spec: SentenceTransformerJobSpec) -> bool:
    """A queued Job starts suspended so that Kueue decides when it runs."""
    return spec.suspend or spec.queue_name is not None


def desired_job_suspend(spec: SentenceTransformerJobSpec) -> bool | None:
    """The Job's ``spec.suspend`` the operator enforces; None: leave it to Kueue."""
    if spec.suspend:
        return True
    if spec.queue_name is not None:
        # Kueue admits by un-suspending the Job; forcing it back would fight Kueue forever.
        return None
    return False


def build_pod_spec(
    spec: SentenceTransformerJobSpec, meta: Mapping[str, Any], settings: OperatorSettings
) -> dict[str, Any]:
    """The trainer pod: restricted Pod Security Standard, read-only root, contract mounts and env."""
    name = meta["name"]
    volumes, mounts = _volumes_and_mounts(spec, meta)
    container: dict[str, Any] = {
        "name": naming.TRAINER_CONTAINER,
        "image": spec.image or settings.trainer_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": trainer_command(spec, name),
        "env": trainer_env(spec, meta),
        "resources": trainer_resources(spec, settings),
        "volumeMounts": mounts,
        "terminationMessagePath": contract.TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": TRAINER_UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": dict(_RESTRICTED_SECCOMP),
        },
    }
    if spec.distributed.nodes > 1:
        container["ports"] = [{"name": "rendezvous", "containerPort": naming.RENDEZVOUS_PORT}]
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": naming.trainer_account_name(name),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": TRAINER_UID,
            "runAsGroup": TRAINER_UID,
            "fsGroup": TRAINER_UID,
            "seccompProfile": dict(_RESTRICTED_SECCOMP),
        },
        "containers": [container],
        "volumes": volumes,
    }
    scheduling = spec.scheduling
    if scheduling.node_selector:
        pod["nodeSelector"] = dict(scheduling.node_selector)
    if scheduling.tolerations:
        pod["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in scheduling.tolerations]
    if scheduling.affinity:
        pod["affinity"] = scheduling.affinity
    if scheduling.priority_class_name:
        pod["priorityClassName"] = scheduling.priority_class_name
    if spec.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": ref.name} for ref in spec.image_pull_secrets]
    if spec.distributed.nodes > 1:
        pod["subdomain"] = naming.service_name(name)
    return pod


def build_job(
    spec: SentenceTransformerJobSpec,
    meta: Mapping[str, Any],
    settings: OperatorSettings,
    support: ServerSupport = CURRENT,
) -> Manifest:
    """``{name}``: the batch/v1 Job; an Indexed Job of ``distributed.nodes`` pods when multi-node.

    On a server without podFailurePolicy (``compat``'s degraded mode) the field is left out rather than
    sent to be dropped silently; the operator then enforces the policy itself."""
    name = meta["name"]
    job_spec: dict[str, Any] = {
        "backoffLimit": job_backoff_limit(spec),
        "suspend": initial_suspend(spec),
        "template": {
            "metadata": {"labels": naming.child_labels(name)},
            "spec": build_pod_spec(spec, meta, settings),
        },
    }
    if support.pod_failure_policy:
        job_spec["podFailurePolicy"] = pod_failure_policy()
    if spec.run_policy.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.run_policy.active_deadline_seconds
    if spec.run_policy.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.run_policy.ttl_seconds_after_finished
    if spec.distributed.nodes > 1:
        # A gang: all indexes run at once and every index must succeed (no successPolicy: rank 0 alone
        # saving does not make the others' exit codes irrelevant). No backoffLimitPerIndex either: it would
        # retry one index on its own while its peers wait for a rendezvous that already ended. The pods
        # find rank 0 through the headless Service (pod template subdomain).
        job_spec.update(
            completionMode="Indexed", completions=spec.distributed.nodes, parallelism=spec.distributed.nodes
        )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(naming.job_name(name), meta, job_labels(spec, name)),
        "spec": job_spec,
    }


def build_children(
    spec: SentenceTransformerJobSpec,
    meta: Mapping[str, Any],
    settings: OperatorSettings,
    support: ServerSupport = CURRENT,
) -> list[Manifest]:
    """Every child, in creation order: the Job last, so its pods find their config and identity."""
    children = [build_configmap(spec, meta), build_service_account(meta), build_role(meta), build_role_binding(meta)]
    if spec.distributed.nodes > 1:
        children.append(build_service(meta))
    children.append(build_job(spec, meta, settings, support))
    return children
