"""One job end to end, for real: our images, the real 1.20 API server, the Pod its Job asks for.

``kubectl apply`` a SentenceTransformerJob → the operator IMAGE (podman, in-cluster credentials: the
chart's ServiceAccount token, nothing else) creates the children → the Job controller makes the Pod →
the stand-in kubelet (``tests/support/kubelet.py``) runs it in the trainer IMAGE as its spec says → the
trainer patches progress onto the resource with its own ServiceAccount token → Succeeded, the model on
the output volume (a PersistentVolume backed by a host folder).

Also a bad dataset (Failed/DataError, no retry: 1.20 has no podFailurePolicy, so the operator's degraded
mode stops the Job itself) and a SIGTERM mid-run (a deleted Pod: checkpoint, exit 143, a second Pod
resumes). Tiny data (a few dozen SICK rows), the packaged MiniLM, one epoch.

Marked ``images`` (and ``kube``): in ``make test``; ``-m "not images"`` leaves it out. Needs root
(buildah/podman); ``make test`` builds the images first (``make images``).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stjob.api import GROUP, PLURAL, VERSION, contract
from stjob.api.status import TERMINAL_PHASES
from stjob.controller import naming
from tests.support import kubelet as kl
from tests.support import operator_on_cluster as oc
from tests.support.kube_cluster import ROOT, KubeCluster

pytestmark = [pytest.mark.images, pytest.mark.slow, pytest.mark.timeout(1800)]

SICK = ROOT / "examples" / "data" / "sick-sample"
TRAINER_UID = 1000  # the image's USER and the Pod's runAsUser
OPERATOR_CONTAINER = "stjob-operator-e2e"


@pytest.fixture(scope="module")
def images() -> kl.Images:
    if os.geteuid() != 0:
        pytest.skip("buildah/podman here need root (deselect with -m 'not images')")
    return kl.ensure_images()


@pytest.fixture(scope="module")
def operator_image_running(
    kube_cluster: KubeCluster, images: kl.Images, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The operator image as the chart runs it: read-only, uid 1000, no capabilities, in-cluster config.

    Its only credential is a TokenRequest token of the chart's ServiceAccount, where a Pod finds it.
    """
    manifests = oc.render_chart()
    oc.install_chart_rbac(kube_cluster, manifests)
    token = oc.mint_token(kube_cluster, oc.OPERATOR_NAMESPACE, oc.service_account_of(manifests))
    secrets = tmp_path_factory.mktemp("operator-sa")
    (secrets / "token").write_text(token)
    (secrets / "ca.crt").write_bytes(kube_cluster.ca_file.read_bytes())
    (secrets / "namespace").write_text(oc.OPERATOR_NAMESPACE)
    for f in secrets.iterdir():
        f.chmod(0o644)
    secrets.chmod(0o755)  # pytest's folders are 0700; the operator runs as uid 1000
    host, port = kl.StandInKubelet.address_of(kube_cluster.server)
    env = {
        **oc.operator_env(manifests),
        **kl.service_env((host, port)),
        "STJOB_TRAINER_IMAGE": images.trainer,
        "STJOB_IMAGE_PULL_POLICY": "Never",
        "STJOB_ALLOW_UNSUPPORTED_KUBERNETES": "true",
        "STJOB_LEADER_ELECTION": "false",
        "STJOB_METRICS_PORT": "0",
        "STJOB_HEALTH_PORT": "0",
    }
    podman_env = {**os.environ, **images.podman_env}
    subprocess.run(["podman", "rm", "-f", OPERATOR_CONTAINER], env=podman_env, capture_output=True, check=False)
    argv = ["podman", "run", "-d", "--name", OPERATOR_CONTAINER, "--network", "host", "--pull", "never"]
    argv += ["--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp", "--user", "1000:1000"]
    argv += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    argv += ["-v", f"{secrets}:{kl.SERVICE_ACCOUNT_DIR}:ro"]
    for name, value in env.items():
        argv += ["--env", f"{name}={value}"]
    subprocess.run([*argv, images.operator], env=podman_env, capture_output=True, text=True, check=True)

    def operator_log() -> str:
        done = subprocess.run(["podman", "logs", OPERATOR_CONTAINER], env=podman_env, capture_output=True, text=True)
        return done.stdout + done.stderr

    def watching() -> bool:
        state = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.Running}}", OPERATOR_CONTAINER],
            env=podman_env, capture_output=True, text=True,
        )  # fmt: skip
        assert state.stdout.strip() == "true", f"the operator container exited:\n{operator_log()[-3000:]}"
        return "watching" in operator_log()

    oc.wait_for("the operator container to watch", watching, timeout=120, interval=0.5)
    yield secrets
    logs = subprocess.run(["podman", "logs", OPERATOR_CONTAINER], env=podman_env, capture_output=True, text=True)
    subprocess.run(["podman", "rm", "-f", "-t", "10", OPERATOR_CONTAINER], env=podman_env, capture_output=True)
    (secrets.parent / "operator.log").write_text(logs.stdout + logs.stderr)
    forbidden = [line for line in (logs.stdout + logs.stderr).splitlines() if " 403 " in line or "Forbidden" in line]
    forbidden = [line for line in forbidden if "is being terminated" not in line]
    assert not forbidden, "the chart's RBAC refused the operator:\n" + "\n".join(forbidden[:10])


class Stage:
    """One namespace with a stand-in kubelet, the data and output volumes, and helpers to follow a job."""

    def __init__(self, cluster: KubeCluster, namespace: str, root: Path, kubelet: kl.StandInKubelet) -> None:
        import kubernetes

        self.cluster, self.namespace, self.root, self.kubelet = cluster, namespace, root, kubelet
        client = cluster.admin_client()
        self.core = kubernetes.client.CoreV1Api(client)
        self.batch = kubernetes.client.BatchV1Api(client)
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.serialize = client.sanitize_for_serialization
        self.data = root / "datasets"
        self.models = root / "models"

    def host_volume(self, claim: str, folder: Path) -> None:
        """A hostPath PersistentVolume and a claim bound to it (as a provisioner and the binder would)."""
        folder.mkdir(parents=True, exist_ok=True)
        pv_name = f"{self.namespace}-{claim}"
        self.core.create_persistent_volume(
            {
                "metadata": {"name": pv_name},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "hostPath": {"path": str(folder)},
                    "claimRef": {"namespace": self.namespace, "name": claim},
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                },
            }
        )
        pvc = {
            "metadata": {"name": claim},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "volumeName": pv_name,
                "storageClassName": "",
            },
        }
        self.core.create_namespaced_persistent_volume_claim(self.namespace, pvc)
        self.core.patch_namespaced_persistent_volume_claim_status(claim, self.namespace, {"status": {"phase": "Bound"}})

    def apply(self, name: str, data_path: str, *, batch_size: int = 8) -> None:
        resource = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SentenceTransformerJob",
            "metadata": {"name": name},
            "spec": {
                "trainer": "pair_score",
                "model": {"name": "sentence-transformers/all-MiniLM-L6-v2", "maxSeqLength": 64},
                "data": {"volume": {"claimName": "datasets"}, "path": data_path, "validSplit": "valid",
                         "columns": {"target": "score"}},
                "training": {"epochs": 1, "batchSize": batch_size, "seed": 42},
                "output": {"projectName": name, "volume": {"claimName": "models"}},
                "resources": {"gpus": 0},
            },
        }  # fmt: skip
        self.cluster.kubectl("apply", "-n", self.namespace, "-f", "-", stdin=yaml.safe_dump(resource))

    def get(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        return found

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.get(name).get("status") or {})

    def pods(self, name: str) -> list[dict[str, Any]]:
        selector = f"{naming.LABEL_JOB_NAME}={name}"
        return [self.serialize(p) for p in self.core.list_namespaced_pod(self.namespace, label_selector=selector).items]

    def until(self, what: str, name: str, probe: Any, timeout: float = 900) -> dict[str, Any]:
        """Wait for ``probe(status)``; fail at once when the kubelet refused or broke on something."""

        def check() -> dict[str, Any] | None:
            assert not self.kubelet.refused, f"the stand-in kubelet refused: {self.kubelet.refused}"
            assert not self.kubelet.errors, f"the stand-in kubelet failed: {self.kubelet.errors}"
            status = self.status(name)
            if probe(status):
                return status
            assert status.get("phase") not in TERMINAL_PHASES, f"{name} ended before {what}: {json.dumps(status)}"
            return None

        found: dict[str, Any] = oc.wait_for(f"{name}: {what}", check, timeout=timeout, interval=0.5)
        return found


def write_sick(folder: Path, train_rows: int, valid_rows: int, *, break_row: int | None = None) -> None:
    """The first rows of the bundled SICK sample (row ``break_row`` of train.csv with a non-numeric score)."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", train_rows), ("valid", valid_rows)):
        with (SICK / f"{split}.csv").open() as source, (folder / f"{split}.csv").open("w", newline="") as out:
            reader = csv.DictReader(source)
            writer = csv.DictWriter(out, fieldnames=list(reader.fieldnames or []))
            writer.writeheader()
            for i, row in zip(range(count), reader, strict=False):
                if split == "train" and break_row is not None and i + 2 == break_row:
                    row["score"] = "high"
                writer.writerow(row)


@pytest.fixture
def stage(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    operator_image_running: Path,
    images: kl.Images,
    tmp_path: Path,
) -> Iterator[Stage]:
    tmp_path.chmod(0o755)
    with kl.StandInKubelet(
        kube_cluster.admin_client(), kube_cluster.server, tmp_path / "kubelet", [kube_namespace],
        env={**os.environ, **images.podman_env},
    ) as kubelet:  # fmt: skip
        s = Stage(kube_cluster, kube_namespace, tmp_path, kubelet)
        s.host_volume("datasets", s.data)
        s.host_volume("models", s.models)
        os.chown(s.models, TRAINER_UID, TRAINER_UID)  # a hostPath volume keeps its owner (no fsGroup)
        yield s
    for pv in (f"{kube_namespace}-datasets", f"{kube_namespace}-models"):
        s.core.delete_persistent_volume(pv)


def kubectl_watch(cluster: KubeCluster, namespace: str) -> subprocess.Popen[str]:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    argv = ["kubectl", "get", "stj", "-n", namespace, "-w"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_a_job_runs_to_succeeded_in_the_trainer_image(stage: Stage, record_property: Any) -> None:
    write_sick(stage.data / "sick", train_rows=48, valid_rows=16)
    watch = kubectl_watch(stage.cluster, stage.namespace)
    started = time.monotonic()
    stage.apply("sick-e2e", "sick")
    stage.until("Running", "sick-e2e", lambda s: s.get("phase") == "Running")
    with_progress = stage.until("progress from the trainer", "sick-e2e", lambda s: s.get("progress"))
    done = stage.until("Succeeded", "sick-e2e", lambda s: s.get("phase") in ("Succeeded", "Failed"))
    wall = time.monotonic() - started
    time.sleep(1)  # let kubectl print the last event
    watch.terminate()
    watched = watch.communicate(timeout=10)[0]
    print(f"kubectl get stj -w ({wall:.0f} s):\n{watched}")
    record_property("kubectl_get_stj_w", watched)
    record_property("e2e_wall_s", round(wall))
    assert done["phase"] == "Succeeded", json.dumps(done, indent=1)
    # Progress and metrics come from the trainer (the operator writes neither), with its own token.
    assert with_progress["progress"]["percent"] < 100
    assert done["progress"]["step"] >= 1 and done["progress"]["percent"] == 100 and done.get("metrics"), done
    lines = watched.splitlines()
    assert any(" Running " in line for line in lines) and " Succeeded " in lines[-1], watched
    run = stage.models / "sick-e2e"
    assert (run / contract.MODEL_DIR / "model.safetensors").is_file()
    result = json.loads((run / contract.RESULT_FILE).read_text())
    assert result["outcome"] == "Succeeded"
    (pod,) = stage.pods("sick-e2e")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and json.loads(terminated["message"])["outcome"] == "Succeeded"


def test_a_bad_dataset_fails_with_data_error_and_no_retry(stage: Stage) -> None:
    write_sick(stage.data / "broken", train_rows=20, valid_rows=8, break_row=3)
    stage.apply("broken", "broken")
    failed = stage.until("Failed", "broken", lambda s: s.get("phase") in ("Failed", "Succeeded"), timeout=600)
    ready = next(c for c in failed["conditions"] if c["type"] == "Failed")
    assert failed["phase"] == "Failed" and ready["reason"] == "DataError", failed
    assert "row 3" in ready["message"] and "score" in ready["message"], ready
    # 1.20 drops podFailurePolicy: the Job controller makes a replacement Pod the moment the first fails;
    # the operator's degraded mode stops the Job (parallelism 0), so the Job controller deletes it again.
    job = stage.serialize(stage.batch.read_namespaced_job("broken", stage.namespace))
    assert job["spec"]["parallelism"] == 0
    (pod,) = oc.wait_for("only the failed Pod left", lambda: p if len(p := stage.pods("broken")) == 1 else None)
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == contract_exit("DataError")
    trainers = [name for name in stage.kubelet.started if name.startswith(f"{stage.namespace}/broken-")]
    print(f"bad data on 1.20: {len(trainers)} trainer container(s) started: {trainers}")
    assert trainers[0].endswith(pod["metadata"]["name"])


def contract_exit(reason: str) -> int:
    from stjob.errors import EXIT_DATA_ERROR, EXIT_INTERRUPTED

    return {"DataError": EXIT_DATA_ERROR, "Interrupted": EXIT_INTERRUPTED}[reason]


def test_sigterm_mid_run_checkpoints_and_a_second_pod_resumes(stage: Stage) -> None:
    write_sick(stage.data / "sick", train_rows=240, valid_rows=16)
    stage.apply("resume", "sick", batch_size=4)
    stage.until("a few steps", "resume", lambda s: (s.get("progress") or {}).get("step", 0) >= 3)
    (first,) = stage.pods("resume")
    # What an eviction or a drain does: delete the Pod; the kubelet sends SIGTERM, grace period 30 s.
    stage.core.delete_namespaced_pod(first["metadata"]["name"], stage.namespace, grace_period_seconds=30)
    done = stage.until("Succeeded after a resume", "resume", lambda s: s.get("phase") in ("Succeeded", "Failed"))
    assert done["phase"] == "Succeeded", json.dumps(done, indent=1)
    run = stage.models / "resume"
    result = json.loads((run / contract.RESULT_FILE).read_text())
    assert result["resumedFrom"], result
    pods = stage.pods("resume")
    assert first["metadata"]["uid"] not in {p["metadata"]["uid"] for p in pods}
    first_log = next((stage.kubelet.work_dir).glob(f"{first['metadata']['name']}-*/container.log")).read_text()
    assert "SIGTERM" in first_log, first_log[-2000:]
